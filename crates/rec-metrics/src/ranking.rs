//! Top-K ranking metrics per user — Recall@K, NDCG@K and HR@K — averaged over users.
//!
//! Each user contributes a list of `(score, relevance)` pairs: the model's score for an item and
//! the item's true relevance (a rating, a click, a 0/1 label). Items are ranked by descending
//! score. Definitions, for one user with `R` relevant items:
//!
//! - An item is **relevant** when `relevance >= relevance_threshold` ([`RankingConfig`]).
//! - **Recall@K** = (relevant items in the top K) / `R`. The denominator is all of the user's
//!   relevant items, so Recall@K can stay below 1 when `R > K`.
//! - **HR@K** (hit rate) = 1 if at least one relevant item is in the top K, else 0.
//! - **NDCG@K** = DCG@K / IDCG@K with `DCG@K = Σ_{i<K} gain_i / log2(i + 2)` (positions from 0)
//!   and IDCG@K the DCG@K of the best possible order. The gain is chosen by [`NdcgGain`]:
//!   `Binary` (1 for a relevant item, else 0; the default), `Linear` (the relevance itself:
//!   scikit-learn's `ndcg_score`) or `Exponential` (`2^relevance - 1`). NDCG is 0 when IDCG is 0.
//!
//! **Ties** in scores are resolved by averaging over every order of the tied items (McSherry &
//! Najork, 2008; scikit-learn's `ndcg_score` with `ignore_ties=False`): every metric is its
//! expected value under a uniformly random tie-break, so the result never depends on the input
//! order, and a model that scores every item alike gets the score of a random ranking. For
//! HR@K this is the probability of a hit, so per-user values can lie strictly between 0 and 1.
//!
//! **Users with no relevant item** are skipped — they count in
//! [`RankingReport::n_users_skipped`] and not in any mean — because Recall@K is undefined for
//! them. The means run over the remaining users (each user weighs the same), and having none
//! left is an error.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::error::{check_finite_parameter, check_same_len};
use crate::{Error, Result};

/// The gain of an item in NDCG; see the [module docs](self).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NdcgGain {
    /// 1 for a relevant item (`relevance >= relevance_threshold`), else 0.
    #[default]
    Binary,
    /// The relevance itself, as in scikit-learn's `ndcg_score`; relevances must be `>= 0`.
    Linear,
    /// `2^relevance - 1`; relevances must be `>= 0`.
    Exponential,
}

impl NdcgGain {
    fn name(self) -> &'static str {
        match self {
            NdcgGain::Binary => "binary",
            NdcgGain::Linear => "linear",
            NdcgGain::Exponential => "exponential",
        }
    }
}

/// The cut-off, relevance threshold and NDCG gain of a ranking evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankingConfig {
    /// The cut-off K, at least 1. Lists shorter than K are evaluated on all their items.
    pub k: usize,
    /// Items with `relevance >= relevance_threshold` are relevant. Must be finite.
    pub relevance_threshold: f64,
    /// The gain used by NDCG.
    pub gain: NdcgGain,
}

impl Default for RankingConfig {
    /// K = 10, relevance threshold 1 (so 0/1 labels work as they are), binary gain.
    fn default() -> Self {
        Self { k: 10, relevance_threshold: 1.0, gain: NdcgGain::Binary }
    }
}

impl RankingConfig {
    /// The default configuration with cut-off `k`.
    pub fn new(k: usize) -> Self {
        Self { k, ..Self::default() }
    }

    /// Sets the relevance threshold.
    pub fn with_relevance_threshold(mut self, threshold: f64) -> Self {
        self.relevance_threshold = threshold;
        self
    }

    /// Sets the NDCG gain.
    pub fn with_gain(mut self, gain: NdcgGain) -> Self {
        self.gain = gain;
        self
    }

    /// Checks that `k >= 1` and the threshold is finite.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::InvalidParameter { name: "k", reason: "must be at least 1".into() });
        }
        check_finite_parameter("relevance_threshold", self.relevance_threshold)
    }

    /// The gain of an item of relevance `rel`.
    fn gain_of(&self, rel: f64) -> f64 {
        match self.gain {
            NdcgGain::Binary => f64::from(u8::from(rel >= self.relevance_threshold)),
            NdcgGain::Linear => rel,
            NdcgGain::Exponential => rel.exp2() - 1.0,
        }
    }

    /// Checks one `(score, relevance)` pair found at `index`.
    fn check_item(&self, index: usize, score: f64, rel: f64) -> Result<()> {
        if !score.is_finite() {
            return Err(Error::NonFinite { what: "scores", index, value: score });
        }
        if !rel.is_finite() {
            return Err(Error::NonFinite { what: "relevances", index, value: rel });
        }
        if self.gain != NdcgGain::Binary && rel < 0.0 {
            return Err(Error::NegativeRelevance { index, value: rel, gain: self.gain.name() });
        }
        if !self.gain_of(rel).is_finite() {
            return Err(Error::NonFinite { what: "NDCG gains (2^relevance - 1)", index, value: rel });
        }
        Ok(())
    }
}

/// The metrics of one user.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UserRankingMetrics {
    /// Number of items in the user's list.
    pub n_items: usize,
    /// Number of relevant items (at least 1; users without any are skipped).
    pub n_relevant: usize,
    /// Recall@K (expected over tie-breaks).
    pub recall: f64,
    /// NDCG@K (expected over tie-breaks).
    pub ndcg: f64,
    /// HR@K: the probability that a random tie-break puts a relevant item in the top K.
    pub hit_rate: f64,
}

/// Mean ranking metrics over users, ready to be saved as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankingReport {
    /// The configuration evaluated.
    pub config: RankingConfig,
    /// Users that entered the means (at least one relevant item).
    pub n_users: u64,
    /// Users left out because they had no relevant item.
    pub n_users_skipped: u64,
    /// Mean Recall@K.
    pub recall: f64,
    /// Mean NDCG@K.
    pub ndcg: f64,
    /// Mean HR@K.
    pub hit_rate: f64,
}

/// The metrics of one user's list of `(score, relevance)` pairs; `None` when the list holds no
/// relevant item (including an empty list). See the [module docs](self) for the definitions.
pub fn user_ranking_metrics(items: &[(f64, f64)], config: &RankingConfig) -> Result<Option<UserRankingMetrics>> {
    config.validate()?;
    for (index, &(score, rel)) in items.iter().enumerate() {
        config.check_item(index, score, rel)?;
    }
    Ok(user_metrics_unchecked(items, config))
}

/// [`user_ranking_metrics`] on input already checked.
fn user_metrics_unchecked(items: &[(f64, f64)], config: &RankingConfig) -> Option<UserRankingMetrics> {
    let is_relevant = |rel: f64| rel >= config.relevance_threshold;
    let n_relevant = items.iter().filter(|&&(_, rel)| is_relevant(rel)).count();
    if n_relevant == 0 {
        return None;
    }
    let k = config.k.min(items.len());
    let discount = |pos: usize| 1.0 / ((pos + 2) as f64).log2();

    let mut ranked: Vec<(f64, f64)> = items.to_vec();
    ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));

    let (mut dcg, mut expected_hits, mut p_no_hit) = (0.0, 0.0, 1.0);
    let mut start = 0;
    while start < k {
        // The tied group ranked[start..end]; `==` makes -0.0 and 0.0 the same score.
        let score = ranked[start].0;
        let end = start + ranked[start..].iter().take_while(|(s, _)| *s == score).count();
        let group = &ranked[start..end];
        let size = group.len();
        let slots = (k - start).min(size);
        let relevant = group.iter().filter(|&&(_, rel)| is_relevant(rel)).count();
        let mean_gain = group.iter().map(|&(_, rel)| config.gain_of(rel)).sum::<f64>() / size as f64;
        dcg += mean_gain * (start..start + slots).map(discount).sum::<f64>();
        expected_hits += relevant as f64 * slots as f64 / size as f64;
        // P(none of the `relevant` tied items lands in the `slots` places) = C(size - relevant,
        // slots) / C(size, slots).
        for i in 0..slots {
            p_no_hit *= (size - relevant).saturating_sub(i) as f64 / (size - i) as f64;
        }
        start = end;
    }

    let mut gains: Vec<f64> = items.iter().map(|&(_, rel)| config.gain_of(rel)).collect();
    gains.sort_unstable_by(|a, b| b.total_cmp(a));
    let idcg: f64 = gains.iter().take(k).enumerate().map(|(pos, g)| g * discount(pos)).sum();
    Some(UserRankingMetrics {
        n_items: items.len(),
        n_relevant,
        recall: expected_hits / n_relevant as f64,
        ndcg: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        hit_rate: 1.0 - p_no_hit,
    })
}

/// Mean metrics over users given one list of `(score, relevance)` pairs per user.
///
/// Errors on an empty slice of users, an invalid configuration, non-finite values (naming the
/// user and item), negative relevances with a non-binary gain, and when no user has a relevant
/// item.
pub fn ranking_report<L: AsRef<[(f64, f64)]>>(users: &[L], config: &RankingConfig) -> Result<RankingReport> {
    let mut acc = RankingAccumulator::try_new(*config)?;
    for (user, items) in users.iter().enumerate() {
        acc.add_user(items.as_ref()).map_err(|e| e.in_user(user))?;
    }
    acc.finish()
}

/// Mean metrics over users given flat, aligned columns: the user of each row, the model's score
/// and the true relevance (rating).
///
/// Rows are grouped by user id (rows of one user need not be adjacent); error indices refer to
/// the flat rows. Otherwise as [`ranking_report`].
pub fn ranking_report_by_user<U: Hash + Eq>(
    user_ids: &[U],
    scores: &[f64],
    relevances: &[f64],
    config: &RankingConfig,
) -> Result<RankingReport> {
    const WHAT: &str = "ranking_report_by_user";
    check_same_len(WHAT, ("user_ids", user_ids.len()), ("scores", scores.len()))?;
    check_same_len(WHAT, ("user_ids", user_ids.len()), ("relevances", relevances.len()))?;
    let mut acc = RankingAccumulator::try_new(*config)?;
    for (index, (&score, &rel)) in scores.iter().zip(relevances).enumerate() {
        config.check_item(index, score, rel)?;
    }
    let mut slot_of: HashMap<&U, usize> = HashMap::new();
    let mut lists: Vec<Vec<(f64, f64)>> = Vec::new();
    for (row, user) in user_ids.iter().enumerate() {
        let slot = *slot_of.entry(user).or_insert_with(|| {
            lists.push(Vec::new());
            lists.len() - 1
        });
        lists[slot].push((scores[row], relevances[row]));
    }
    for items in &lists {
        acc.record(user_metrics_unchecked(items, config));
    }
    acc.finish()
}

/// Streaming ranking metrics: add one user's complete list at a time with
/// [`add_user`](Self::add_user), read the means with [`finish`](Self::finish).
///
/// ```
/// use rec_metrics::{RankingAccumulator, RankingConfig};
///
/// let mut acc = RankingAccumulator::try_new(RankingConfig::new(2))?;
/// // The relevant item is ranked 2nd: recall 1, NDCG 1/log2(3), hit.
/// acc.add_user(&[(0.9, 0.0), (0.8, 1.0), (0.1, 0.0)])?;
/// // No relevant item: skipped.
/// acc.add_user(&[(0.5, 0.0)])?;
/// let report = acc.finish()?;
/// assert_eq!((report.n_users, report.n_users_skipped), (1, 1));
/// assert!((report.ndcg - 1.0 / 3f64.log2()).abs() < 1e-12);
/// # Ok::<(), rec_metrics::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RankingAccumulator {
    config: RankingConfig,
    n_users: u64,
    n_skipped: u64,
    recall_sum: f64,
    ndcg_sum: f64,
    hit_sum: f64,
}

impl RankingAccumulator {
    /// An empty accumulator; fails if the configuration is invalid.
    pub fn try_new(config: RankingConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config, n_users: 0, n_skipped: 0, recall_sum: 0.0, ndcg_sum: 0.0, hit_sum: 0.0 })
    }

    /// The configuration in use.
    pub fn config(&self) -> &RankingConfig {
        &self.config
    }

    /// Adds one user's complete list of `(score, relevance)` pairs and returns its metrics
    /// (`None` if the user was skipped for having no relevant item). A user split over two
    /// calls would count as two users. On error nothing is counted.
    pub fn add_user(&mut self, items: &[(f64, f64)]) -> Result<Option<UserRankingMetrics>> {
        let metrics = user_ranking_metrics(items, &self.config)?;
        self.record(metrics);
        Ok(metrics)
    }

    fn record(&mut self, metrics: Option<UserRankingMetrics>) {
        match metrics {
            None => self.n_skipped += 1,
            Some(m) => {
                self.n_users += 1;
                self.recall_sum += m.recall;
                self.ndcg_sum += m.ndcg;
                self.hit_sum += m.hit_rate;
            }
        }
    }

    /// Adds everything `other` has seen. Fails if the configurations differ.
    pub fn merge(&mut self, other: &RankingAccumulator) -> Result<()> {
        if self.config != other.config {
            return Err(Error::InvalidParameter {
                name: "config",
                reason: format!(
                    "cannot merge accumulators with configurations {:?} and {:?}",
                    self.config, other.config
                ),
            });
        }
        self.n_users += other.n_users;
        self.n_skipped += other.n_skipped;
        self.recall_sum += other.recall_sum;
        self.ndcg_sum += other.ndcg_sum;
        self.hit_sum += other.hit_sum;
        Ok(())
    }

    /// The means over the users counted so far.
    ///
    /// [`Error::Empty`] if no user was added, or if every user was skipped.
    pub fn finish(&self) -> Result<RankingReport> {
        if self.n_users == 0 {
            let what = if self.n_skipped == 0 {
                "ranking metrics (users)"
            } else {
                "ranking metrics (users with a relevant item)"
            };
            return Err(Error::Empty { what });
        }
        let n = self.n_users as f64;
        Ok(RankingReport {
            config: self.config,
            n_users: self.n_users,
            n_users_skipped: self.n_skipped,
            recall: self.recall_sum / n,
            ndcg: self.ndcg_sum / n,
            hit_rate: self.hit_sum / n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn d(pos: usize) -> f64 {
        1.0 / ((pos + 2) as f64).log2()
    }

    #[test]
    fn hand_computed_without_ties() {
        // Ranked relevances: 0, 1, 0, 1, 1 (3 relevant). K = 3.
        let items = [(0.5, 1.0), (0.9, 0.0), (0.8, 1.0), (0.6, 0.0), (0.1, 1.0)];
        let m = user_ranking_metrics(&items, &RankingConfig::new(3)).unwrap().unwrap();
        assert_eq!((m.n_items, m.n_relevant), (5, 3));
        assert!(close(m.recall, 1.0 / 3.0));
        assert!(close(m.hit_rate, 1.0));
        assert!(close(m.ndcg, d(1) / (d(0) + d(1) + d(2))));
    }

    #[test]
    fn graded_gains() {
        // Ranked relevances: 1, 3, 0. K = 2, threshold 1.
        let items = [(0.9, 1.0), (0.5, 3.0), (0.1, 0.0)];
        let linear = RankingConfig::new(2).with_gain(NdcgGain::Linear);
        let m = user_ranking_metrics(&items, &linear).unwrap().unwrap();
        assert!(close(m.ndcg, (1.0 * d(0) + 3.0 * d(1)) / (3.0 * d(0) + 1.0 * d(1))));
        let exp = linear.with_gain(NdcgGain::Exponential);
        let m = user_ranking_metrics(&items, &exp).unwrap().unwrap();
        assert!(close(m.ndcg, (1.0 * d(0) + 7.0 * d(1)) / (7.0 * d(0) + 1.0 * d(1))));
        assert!(close(m.recall, 1.0));
    }

    #[test]
    fn ties_are_averaged_over_orders() {
        // Four items with one score; one relevant. K = 1: each order puts it first with
        // probability 1/4.
        let items = [(0.3, 0.0), (0.3, 1.0), (0.3, 0.0), (0.3, 0.0)];
        let m = user_ranking_metrics(&items, &RankingConfig::new(1)).unwrap().unwrap();
        assert!(close(m.recall, 0.25));
        assert!(close(m.hit_rate, 0.25));
        assert!(close(m.ndcg, 0.25));
        // Two relevant among four tied, K = 2: P(no hit) = C(2,2)/C(4,2) = 1/6; expected hits 1.
        let items = [(0.3, 1.0), (0.3, 1.0), (0.3, 0.0), (0.3, 0.0)];
        let m = user_ranking_metrics(&items, &RankingConfig::new(2)).unwrap().unwrap();
        assert!(close(m.hit_rate, 5.0 / 6.0));
        assert!(close(m.recall, 0.5));
        assert!(close(m.ndcg, 0.5));
    }

    #[test]
    fn threshold_selects_relevant_items() {
        let items = [(0.9, 3.0), (0.8, 5.0), (0.7, 4.0)];
        let cfg = RankingConfig::new(1).with_relevance_threshold(4.0);
        let m = user_ranking_metrics(&items, &cfg).unwrap().unwrap();
        assert_eq!(m.n_relevant, 2);
        assert!(close(m.recall, 0.0));
        assert!(close(m.hit_rate, 0.0));
    }

    #[test]
    fn short_lists_and_skipped_users() {
        let users = vec![vec![(0.2, 1.0)], vec![(0.9, 0.0), (0.1, 0.0)], vec![]];
        let r = ranking_report(&users, &RankingConfig::new(10)).unwrap();
        assert_eq!((r.n_users, r.n_users_skipped), (1, 2));
        assert!(close(r.ndcg, 1.0) && close(r.recall, 1.0) && close(r.hit_rate, 1.0));
        let none: Vec<Vec<(f64, f64)>> = vec![vec![(0.5, 0.0)]];
        assert!(matches!(ranking_report(&none, &RankingConfig::new(5)), Err(Error::Empty { .. })));
        let empty: Vec<Vec<(f64, f64)>> = vec![];
        assert!(matches!(ranking_report(&empty, &RankingConfig::new(5)), Err(Error::Empty { .. })));
    }

    #[test]
    fn grouped_input_equals_lists() {
        let ids = ["b", "a", "b", "a", "c", "b"];
        let scores = [0.1, 0.9, 0.8, 0.2, 0.5, 0.3];
        let rels = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0];
        let cfg = RankingConfig::new(1);
        let grouped = ranking_report_by_user(&ids, &scores, &rels, &cfg).unwrap();
        let lists = vec![vec![(0.1, 1.0), (0.8, 0.0), (0.3, 0.0)], vec![(0.9, 0.0), (0.2, 1.0)], vec![(0.5, 1.0)]];
        assert_eq!(grouped, ranking_report(&lists, &cfg).unwrap());
        assert!(close(grouped.hit_rate, 1.0 / 3.0));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let cfg = RankingConfig::new(3);
        assert!(matches!(RankingAccumulator::try_new(RankingConfig::new(0)), Err(Error::InvalidParameter { .. })));
        let bad_threshold = cfg.with_relevance_threshold(f64::NAN);
        assert!(matches!(user_ranking_metrics(&[], &bad_threshold), Err(Error::InvalidParameter { .. })));
        let users = vec![vec![(0.1, 1.0)], vec![(0.2, 1.0), (f64::NAN, 0.0)]];
        let err = ranking_report(&users, &cfg).unwrap_err();
        assert_eq!(err.to_string(), "user 1: scores: value at index 1 is not finite (NaN)");
        let linear = cfg.with_gain(NdcgGain::Linear);
        assert!(matches!(user_ranking_metrics(&[(0.1, -1.0)], &linear), Err(Error::NegativeRelevance { .. })));
        assert!(user_ranking_metrics(&[(0.1, -1.0)], &cfg).unwrap().is_none());
        let exp = cfg.with_gain(NdcgGain::Exponential);
        assert!(matches!(user_ranking_metrics(&[(0.1, 5000.0)], &exp), Err(Error::NonFinite { .. })));
        assert!(matches!(
            ranking_report_by_user(&[1, 2], &[0.1], &[1.0, 1.0], &cfg),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(matches!(
            ranking_report_by_user(&[1, 2], &[0.1, 0.2], &[1.0, f64::INFINITY], &cfg),
            Err(Error::NonFinite { what: "relevances", index: 1, .. })
        ));
    }

    #[test]
    fn merge_requires_equal_configs() {
        let mut a = RankingAccumulator::try_new(RankingConfig::new(2)).unwrap();
        a.add_user(&[(0.9, 1.0), (0.1, 0.0)]).unwrap();
        let mut b = RankingAccumulator::try_new(RankingConfig::new(2)).unwrap();
        b.add_user(&[(0.9, 0.0), (0.1, 1.0)]).unwrap();
        a.merge(&b).unwrap();
        let r = a.finish().unwrap();
        assert_eq!(r.n_users, 2);
        assert!(close(r.ndcg, (1.0 + d(1)) / 2.0));
        assert!(a.merge(&RankingAccumulator::try_new(RankingConfig::new(3)).unwrap()).is_err());
    }
}
