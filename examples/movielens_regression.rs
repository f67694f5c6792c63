//! Template: MovieLens 100K rating regression, with the attribute tables filled by a few
//! classical imputers.
//!
//! Hides 5% of the user and item attribute cells completely at random (seeded; never the ids
//! or titles), fills them with each imputer, joins the ratings of the standard u1 split with
//! the filled tables, trains a DLRM to predict the rating and prints its test metrics, one row
//! per imputer. The data is read where it lies (its licence forbids copying it into a
//! project): `$RECIMPUTE_DATA`, else `../shared/data` beside the workspace.
//!
//! ```sh
//! eval "$(cargo xtask env)"
//! cargo run --release -p recimpute --features dlrm --example movielens_regression
//! ```
//!
//! Copy this file to start your own pipeline: swap the imputers, the rate, the mechanism
//! (`MissingnessConfig::new(Mechanism::Mnar { .. }, ..)`) or the model's settings.

use std::time::Instant;

use anyhow::{Context, Result};
use recimpute::baseline::{KnnImputer, MissForestImputer, SimpleImputer};
use recimpute::datasets::missingness::{inject, MissingnessConfig};
use recimpute::datasets::movielens::{load_ml100k, rating_features, MovieLensOptions};
use recimpute::datasets::split::{ml100k_fold, Ml100kFold};
use recimpute::metrics::{ranking_report_by_user, regression_report, RankingConfig};
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
        ("mean", Box::new(SimpleImputer::mean())),
        ("knn", Box::new(KnnImputer::new(5))),
        ("missforest", Box::new(MissForestImputer::new().with_seed(SEED))),
    ];
    println!("\n| imputer | MAE | MSE | RMSE | Recall@10 | NDCG@10 | impute s | train s |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, imputer) in &imputers {
        // User and item attributes are known at prediction time, so each table is filled by
        // an imputer fitted on the table itself.
        let start = Instant::now();
        let users_f = imputer.fit_boxed(&users.table)?.transform(&users.table)?;
        let items_f = imputer.fit_boxed(&items.table)?.transform(&items.table)?;
        let impute_s = start.elapsed().as_secs_f64();

        let prepare = |rows: &[usize]| -> Result<Table> { Ok(rating_features(&ml.ratings, rows, &users_f, &items_f)?) };
        let (train, test) = (prepare(&split.train)?, prepare(&split.test)?);

        let start = Instant::now();
        let config =
            DlrmConfig::default().with_task(TaskKind::Regression).with_epochs(5).with_seed(SEED).with_progress(false);
        let model = Dlrm::new(config)?.fit(&train, "rating")?;
        let train_s = start.elapsed().as_secs_f64();

        let predicted: Vec<f64> = model.predict_proba(&test)?.iter().map(|p| p[0]).collect();
        let truth: Vec<f64> = test
            .numeric("rating")?
            .into_iter()
            .map(|r| r.context("a test rating is missing"))
            .collect::<Result<_>>()?;
        let users_of: Vec<String> =
            test.strings("user_id")?.into_iter().map(|u| u.unwrap_or_default().to_string()).collect();
        let errors = regression_report(&truth, &predicted)?;
        // Rank each user's test items by predicted rating; a rating of 4 or 5 is relevant.
        let ranking = ranking_report_by_user(
            &users_of,
            &predicted,
            &truth,
            &RankingConfig::new(10).with_relevance_threshold(4.0),
        )?;
        println!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {impute_s:.2} | {train_s:.1} |",
            errors.mae, errors.mse, errors.rmse, ranking.recall, ranking.ndcg
        );
    }
    Ok(())
}
