//! Template: MovieLens 100K ratings as 5 classes, with the attribute tables filled by a few
//! classical imputers.
//!
//! Hides 5% of the user and item attribute cells completely at random (seeded; never the ids
//! or titles), fills them with each imputer, joins the ratings of the standard u1 split with
//! the filled tables, trains a DLRM to predict the rating as one of 5 classes and prints its
//! test metrics, one row per imputer. The data is read where it lies (its licence forbids
//! copying it into a project): `$RECIMPUTE_DATA`, else `../shared/data` beside the workspace.
//!
//! ```sh
//! eval "$(cargo xtask env)"
//! cargo run --release -p recimpute --features dlrm --example movielens_classification
//! ```
//!
//! Copy this file to start your own pipeline: swap the imputers, the rate, the mechanism
//! (`MissingnessConfig::new(Mechanism::Mar { .. }, ..)`) or the model's settings.

use std::time::Instant;

use anyhow::{Context, Result};
use recimpute::baseline::{CaseDeletion, KnnImputer, SimpleImputer};
use recimpute::datasets::missingness::{inject, MissingnessConfig};
use recimpute::datasets::movielens::{load_ml100k, rating_features, MovieLensOptions};
use recimpute::datasets::split::{ml100k_fold, Ml100kFold};
use recimpute::metrics::{multiclass_report, ranking_report_by_user, RankingConfig};
use recimpute::prelude::*;
use recimpute::recommender::{Dlrm, DlrmConfig, TaskKind};

/// Share of the observed attribute cells to hide.
const RATE: f64 = 0.05;
/// Seeds the holes and the model.
const SEED: u64 = 0;

fn main() -> Result<()> {
    let dir = recimpute::datasets::shared_data_dir()?.join("ml-100k");
    let ml = load_ml100k(&dir, &MovieLensOptions::default())?;
    let users = inject(&ml.users, &MissingnessConfig::mcar(RATE, SEED).with_exclude(["user_id"]))?;
    let items = inject(&ml.items, &MissingnessConfig::mcar(RATE, SEED + 1).with_exclude(["item_id", "title"]))?;
    println!(
        "ml-100k: {} ratings, {} users, {} items; hid {} user and {} item attribute cells (MCAR {:.0}%)",
        ml.ratings.num_rows(),
        ml.users.num_rows(),
        ml.items.num_rows(),
        users.mask.len(),
        items.mask.len(),
        RATE * 100.0
    );
    let split = ml100k_fold(&dir, Ml100kFold::U1, &ml.ratings)?;

    let imputers: Vec<(&str, Box<dyn DynImputer>)> = vec![
        ("deletion", Box::new(CaseDeletion::new())),
        ("mean", Box::new(SimpleImputer::mean())),
        ("knn", Box::new(KnnImputer::new(5))),
    ];
    println!("\n| imputer | macro P | macro R | macro F1 | accuracy | Recall@10 | NDCG@10 | train rows | train s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, imputer) in &imputers {
        let deletion = *name == "deletion";
        // User and item attributes are known at prediction time, so each table is filled by
        // an imputer fitted on the table itself. Deletion fills nothing: it drops the training
        // ratings of incomplete users and items below, and the model sees the test rows' holes.
        let (users_f, items_f) = if deletion {
            (users.table.clone(), items.table.clone())
        } else {
            (
                imputer.fit_boxed(&users.table)?.transform(&users.table)?,
                imputer.fit_boxed(&items.table)?.transform(&items.table)?,
            )
        };
        let prepare = |rows: &[usize]| -> Result<Table> {
            let table = rating_features(&ml.ratings, rows, &users_f, &items_f)?;
            // The rating as a label: the DLRM then predicts a distribution over the 5 classes.
            let schema = table.schema().clone().with_kind("rating", ColumnKind::Categorical)?;
            Ok(table.cast(schema)?)
        };
        let (mut train, test) = (prepare(&split.train)?, prepare(&split.test)?);
        if deletion {
            train = imputer.fit_boxed(&train)?.transform(&train)?;
        }

        let start = Instant::now();
        let config =
            DlrmConfig::default().with_task(TaskKind::MultiClass).with_epochs(5).with_seed(SEED).with_progress(false);
        let model = Dlrm::new(config)?.fit(&train, "rating")?;
        let train_s = start.elapsed().as_secs_f64();

        // Class i of the model is `model.labels()[i]`, a rating from "1" to "5".
        let labels: Vec<String> = model.labels().iter().map(|l| l.as_str().unwrap_or_default().to_string()).collect();
        let values: Vec<f64> = labels.iter().map(|l| l.parse::<f64>()).collect::<Result<_, _>>()?;
        let truth: Vec<usize> = test
            .strings("rating")?
            .into_iter()
            .map(|r| labels.iter().position(|l| Some(l.as_str()) == r).context("a test rating unseen in training"))
            .collect::<Result<_>>()?;
        let proba = model.predict_proba(&test)?;
        let predicted: Vec<usize> = proba
            .iter()
            .map(|p| p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i))
            .collect();
        let report = multiclass_report(&truth, &predicted, labels.len())?;
        // Rank each user's test items by expected rating; a rating of 4 or 5 is relevant.
        let expected: Vec<f64> = proba.iter().map(|p| p.iter().zip(&values).map(|(p, v)| p * v).sum()).collect();
        let true_ratings: Vec<f64> = truth.iter().map(|&i| values[i]).collect();
        let users_of: Vec<String> =
            test.strings("user_id")?.into_iter().map(|u| u.unwrap_or_default().to_string()).collect();
        let ranking = ranking_report_by_user(
            &users_of,
            &expected,
            &true_ratings,
            &RankingConfig::new(10).with_relevance_threshold(4.0),
        )?;
        println!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {train_s:.1} |",
            report.macro_avg.precision,
            report.macro_avg.recall,
            report.macro_avg.f1,
            report.accuracy,
            ranking.recall,
            ranking.ndcg,
            train.num_rows()
        );
    }
    Ok(())
}
