//! Micro-batches: which training examples go together, in which order, epoch after epoch.
//!
//! Each epoch's order is drawn from the run's seed and the epoch number alone, so a resumed run
//! (which knows only how many micro-batches were done) walks on exactly where it stopped.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::trainer::TrainConfig;

/// Groups example indices into micro-batches in a seeded order. Bucketed: sort by length (ties
/// in random order), cut into batches, shuffle the batches. Otherwise: shuffle, cut.
pub(crate) fn plan_epoch(lengths: &[usize], cfg: &TrainConfig, epoch: usize) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.shuffle(&mut rng);
    if !cfg.bucket_by_length {
        return cut_batches(&order, lengths, cfg);
    }
    order.sort_by_key(|&i| lengths[i]);
    let mut batches = cut_batches(&order, lengths, cfg);
    batches.shuffle(&mut rng);
    batches
}

/// Cuts `order` into consecutive micro-batches of at most `batch_size` examples and, when
/// limited, at most `max_batch_tokens` padded tokens (`rows × longest row`; a row alone always
/// fits).
fn cut_batches(order: &[usize], lengths: &[usize], cfg: &TrainConfig) -> Vec<Vec<usize>> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut width = 0;
    for &i in order {
        let w = width.max(lengths[i]);
        let too_many_tokens = cfg.max_batch_tokens.is_some_and(|m| !cur.is_empty() && (cur.len() + 1) * w > m);
        if cur.len() == cfg.batch_size || too_many_tokens {
            batches.push(std::mem::take(&mut cur));
            width = 0;
        }
        width = width.max(lengths[i]);
        cur.push(i);
    }
    if !cur.is_empty() {
        batches.push(cur);
    }
    batches
}

/// The micro-batches of a run in order, epoch after epoch, one epoch's plan kept at a time.
///
/// Epochs need not have the same number of micro-batches (a token budget without length
/// bucketing cuts each shuffle differently): the cursor walks each epoch's own plan to its end.
pub(crate) struct StepPlan<'a> {
    lengths: &'a [usize],
    cfg: &'a TrainConfig,
    epoch: usize,
    plan: Vec<Vec<usize>>,
    next: usize,
}

impl<'a> StepPlan<'a> {
    /// The plan positioned after the first `done` micro-batches (a resumed run's).
    pub(crate) fn after(lengths: &'a [usize], cfg: &'a TrainConfig, mut done: usize) -> Result<Self> {
        let mut epoch = 0;
        loop {
            let plan = plan_epoch(lengths, cfg, epoch);
            if plan.is_empty() {
                return Err(Error::invalid("no examples to plan micro-batches from"));
            }
            if done < plan.len() {
                return Ok(StepPlan { lengths, cfg, epoch, plan, next: done });
            }
            done -= plan.len();
            epoch += 1;
        }
    }

    /// The next micro-batch (indices into the training examples).
    pub(crate) fn next_batch(&mut self) -> Result<Vec<usize>> {
        if self.next == self.plan.len() {
            self.epoch += 1;
            self.plan = plan_epoch(self.lengths, self.cfg, self.epoch);
            self.next = 0;
        }
        let batch = self.plan.get(self.next).cloned();
        self.next += 1;
        batch.ok_or_else(|| Error::invalid(format!("epoch {} planned no micro-batches", self.epoch)))
    }
}

/// Optimizer steps of a run over `epochs` epochs: each epoch's micro-batches counted from its
/// own plan, then grouped `grad_accum_steps` to a step (the last step may run into the next
/// epoch).
pub(crate) fn steps_for_epochs(lengths: &[usize], cfg: &TrainConfig) -> usize {
    let micro: usize = (0..cfg.epochs).map(|e| plan_epoch(lengths, cfg, e).len()).sum();
    micro.div_ceil(cfg.grad_accum_steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_homogeneous_and_seeded() {
        let lengths: Vec<usize> = (0..40).map(|i| 3 + (i * 7) % 11).collect();
        let cfg = TrainConfig { batch_size: 4, seed: 5, ..TrainConfig::default() };
        let plan = plan_epoch(&lengths, &cfg, 0);
        assert_eq!(plan, plan_epoch(&lengths, &cfg, 0));
        assert_ne!(plan, plan_epoch(&lengths, &cfg, 1));
        let mut all: Vec<usize> = plan.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..40).collect::<Vec<_>>());
        let waste = |batches: &[Vec<usize>]| -> usize {
            batches
                .iter()
                .map(|b| {
                    let w = b.iter().map(|&i| lengths[i]).max().unwrap_or(0);
                    b.iter().map(|&i| w - lengths[i]).sum::<usize>()
                })
                .sum()
        };
        let unsorted: Vec<Vec<usize>> = (0..40).collect::<Vec<_>>().chunks(4).map(|c| c.to_vec()).collect();
        // 40 examples over 11 lengths in batches of 4: bucketing pads far less than arrival order.
        assert!(waste(&plan) * 5 < waste(&unsorted), "{} vs {}", waste(&plan), waste(&unsorted));
    }

    #[test]
    fn token_budget_limits_batches() {
        let lengths = vec![10; 8];
        let cfg = TrainConfig { batch_size: 8, max_batch_tokens: Some(30), ..TrainConfig::default() };
        assert!(plan_epoch(&lengths, &cfg, 0).iter().all(|b| b.len() <= 3));
    }

    #[test]
    fn random_batches_keep_both_limits_and_cover_every_example() {
        let lengths: Vec<usize> = (0..30).map(|i| 4 + (i * 5) % 9).collect();
        let cfg = TrainConfig {
            batch_size: 4,
            max_batch_tokens: Some(30),
            bucket_by_length: false,
            ..TrainConfig::default()
        };
        let plan = plan_epoch(&lengths, &cfg, 0);
        for b in &plan {
            let w = b.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(b.len() <= 4 && (b.len() == 1 || b.len() * w <= 30), "{b:?}");
        }
        let mut all: Vec<usize> = plan.into_iter().flatten().collect();
        all.sort();
        assert_eq!(all, (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn epochs_of_different_lengths_are_walked_whole_and_resume_in_place() {
        // A token budget without bucketing cuts each epoch's shuffle into a different number
        // of micro-batches; each epoch must still cover every example once.
        let lengths: Vec<usize> = (0..30).map(|i| 4 + (i * 5) % 9).collect();
        let cfg = TrainConfig {
            batch_size: 4,
            max_batch_tokens: Some(30),
            bucket_by_length: false,
            epochs: 6,
            ..TrainConfig::default()
        };
        let sizes: Vec<usize> = (0..cfg.epochs).map(|e| plan_epoch(&lengths, &cfg, e).len()).collect();
        assert!(sizes.iter().any(|&n| n != sizes[0]), "the test needs epochs of different lengths: {sizes:?}");
        let mut plan = StepPlan::after(&lengths, &cfg, 0).unwrap();
        for (e, &n) in sizes.iter().enumerate() {
            let mut seen: Vec<usize> = (0..n).flat_map(|_| plan.next_batch().unwrap()).collect();
            seen.sort();
            assert_eq!(seen, (0..30).collect::<Vec<_>>(), "epoch {e}");
        }
        assert_eq!(steps_for_epochs(&lengths, &cfg), sizes.iter().sum::<usize>());
        // Resuming after k micro-batches continues with the batch a straight run takes next.
        let k = sizes[0] + 2;
        let mut straight = StepPlan::after(&lengths, &cfg, 0).unwrap();
        let skipped: Vec<Vec<usize>> = (0..k).map(|_| straight.next_batch().unwrap()).collect();
        assert_eq!(skipped.len(), k);
        let mut resumed = StepPlan::after(&lengths, &cfg, k).unwrap();
        for _ in 0..10 {
            assert_eq!(resumed.next_batch().unwrap(), straight.next_batch().unwrap());
        }
    }
}
