//! Downstream metrics of a cell, by task, and the headline numbers the report shows.

use rec_metrics::{BinaryReport, MulticlassReport, RankingReport, RegressionReport};
use serde::{Deserialize, Serialize};

/// The recommender's measured quality on the test rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "task")]
pub enum Downstream {
    /// Click prediction at threshold 0.5.
    Binary(BinaryReport),
    /// Rating as 5 classes; ranking by expected rating per user.
    MultiClass {
        /// Classification metrics.
        report: MulticlassReport,
        /// Recall@10, NDCG@10 and HR@10 per user (MovieLens: relevant when the rating is ≥ 4);
        /// `None` when the task names no user column to rank for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ranking: Option<RankingReport>,
    },
    /// Rating as a number; ranking by predicted rating per user.
    Regression {
        /// Error metrics.
        report: RegressionReport,
        /// Recall@10, NDCG@10 and HR@10 per user, as for `MultiClass`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ranking: Option<RankingReport>,
    },
}

impl Downstream {
    /// The metrics a report table shows, in order: (name, value, higher is better).
    pub fn headline(&self) -> Vec<(&'static str, f64, bool)> {
        match self {
            Downstream::Binary(r) => vec![
                ("precision", r.precision, true),
                ("recall", r.recall, true),
                ("F1", r.f1, true),
                ("accuracy", r.accuracy, true),
                ("AUC", r.roc_auc.unwrap_or(f64::NAN), true),
            ],
            Downstream::MultiClass { report, ranking } => {
                let mut v = vec![
                    ("macro P", report.macro_avg.precision, true),
                    ("macro R", report.macro_avg.recall, true),
                    ("macro F1", report.macro_avg.f1, true),
                    ("accuracy", report.accuracy, true),
                ];
                v.extend(ranking_headline(ranking.as_ref()));
                v
            }
            Downstream::Regression { report, ranking } => {
                let mut v = vec![("MAE", report.mae, false), ("MSE", report.mse, false), ("RMSE", report.rmse, false)];
                v.extend(ranking_headline(ranking.as_ref()));
                v
            }
        }
    }
}

fn ranking_headline(ranking: Option<&RankingReport>) -> Vec<(&'static str, f64, bool)> {
    ranking.map_or_else(Vec::new, |r| vec![("Recall@10", r.recall, true), ("NDCG@10", r.ndcg, true)])
}
