//! Hyperparameters: [`DlrmConfig`] and its option enums.

pub use rec_table::DeviceChoice;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the embedded feature vectors are combined before the top MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Interaction {
    /// Pairwise dot products of all feature vectors (bottom-MLP output and embeddings), strict
    /// lower triangle, concatenated to the bottom-MLP output: the reference
    /// `interact_features` with `arch_interaction_itself=False`. Needs the last bottom layer
    /// to equal the embedding dimension.
    #[default]
    Dot,
    /// Plain concatenation of all feature vectors.
    Cat,
}

/// How a multi-hot (set-valued) bag of embeddings is reduced to one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BagMode {
    /// Sum of the element embeddings.
    Sum,
    /// Mean of the element embeddings.
    #[default]
    Mean,
}

impl BagMode {
    /// libtorch's `mode` code for `embedding_bag`.
    pub(crate) fn code(self) -> i64 {
        match self {
            BagMode::Sum => 0,
            BagMode::Mean => 1,
        }
    }
}

/// The optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Optimizer {
    /// Adam (β₁ 0.9, β₂ 0.999, ε 1e-8); `weight_decay` is an L2 term in the gradient.
    #[default]
    Adam,
    /// Adam with decoupled weight decay (Loshchilov and Hutter, ICLR 2019): each step shrinks
    /// every weight by `lr × weight_decay` apart from the gradient, so the decay does not pass
    /// through Adam's per-weight scaling.
    #[serde(rename = "adamw")]
    AdamW,
    /// Adagrad (initial accumulator 0, ε 1e-10), as the reference DLRM offers.
    Adagrad,
    /// Plain or momentum SGD.
    Sgd {
        /// Momentum factor (0 for plain SGD).
        momentum: f64,
    },
}

/// The learning rate as a function of progress; applied once per mini-batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LrSchedule {
    /// The configured rate throughout.
    #[default]
    Constant,
    /// Multiply the rate by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays (≥ 1).
        every: usize,
        /// Factor per decay, in (0, 1].
        gamma: f64,
    },
    /// Linear warm-up over `warmup_steps` mini-batches, then cosine decay to 0 at the last
    /// mini-batch of the last epoch.
    Cosine {
        /// Mini-batches of linear warm-up from 0.
        warmup_steps: usize,
    },
}

impl LrSchedule {
    /// The rate at mini-batch `step` (0-based) of `total` in epoch `epoch` (0-based).
    pub fn rate(&self, base: f64, epoch: usize, step: usize, total: usize) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { every, gamma } => base * gamma.powi((epoch / every.max(1)) as i32),
            LrSchedule::Cosine { warmup_steps } => {
                if step < warmup_steps {
                    return base * (step + 1) as f64 / warmup_steps as f64;
                }
                let span = total.saturating_sub(warmup_steps).max(1) as f64;
                let t = (step - warmup_steps) as f64 / span;
                base * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
            }
        }
    }
}

/// A bag feature learnt from the training rows: for each value of the column `key`, the
/// values of the column `of` that occur with it (for `user_id → item_id`, the items the user
/// rated). Each row gets the mean embedding of its key's bag, leaving out the row's own `of`
/// value, so a training row sees what a test row sees: the rest of the history. This is the
/// implicit feedback of SVD++ (Koren, KDD 2008) as an embedding bag of the DLRM.
///
/// The bags come from the rows the model trains on (never the validation slice) and are saved
/// with the feature map. A key unseen in training, or one whose bag is empty once the row's
/// own value is left out, gets the empty-set index; a missing key gets the missing index.
///
/// ```
/// use dlrm::{DlrmConfig, HistoryBag};
/// let config = DlrmConfig::default()
///     .with_history(vec![HistoryBag::new("user_id", "item_id"), HistoryBag::new("item_id", "user_id")]);
/// config.validate()?;
/// # Ok::<(), dlrm::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryBag {
    /// The column whose value picks the bag (an id or categorical column).
    pub key: String,
    /// The column whose values fill the bag (an id or categorical column).
    pub of: String,
}

impl HistoryBag {
    /// The bag of `of` values per `key` value.
    pub fn new(key: impl Into<String>, of: impl Into<String>) -> Self {
        HistoryBag { key: key.into(), of: of.into() }
    }
}

/// The task to train for; `Auto` infers it from the target column at fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Numeric target with values 0 and 1 only, or categorical with exactly two labels →
    /// binary; other categorical → multi-class; other numeric → regression.
    #[default]
    Auto,
    /// Binary classification, BCE with logits; predicts the probability of the larger label.
    Binary,
    /// Multi-class classification, cross-entropy; classes are the sorted distinct labels.
    MultiClass,
    /// Regression, MSE on the standardised target.
    Regression,
}

/// The device of a tch tensor for a [`DeviceChoice`] on this machine.
pub(crate) fn device_of(choice: DeviceChoice) -> tch::Device {
    match choice.cuda_index(tch::Cuda::is_available()) {
        Some(index) => tch::Device::Cuda(index),
        None => tch::Device::Cpu,
    }
}

/// Hyperparameters of a DLRM and its training; saved as `config.json` beside the weights.
///
/// Build with [`Default`] and the `with_*` setters; [`Dlrm::new`](crate::Dlrm::new) validates
/// once.
///
/// ```
/// use dlrm::{DlrmConfig, Interaction, TaskKind};
/// let config = DlrmConfig::default()
///     .with_task(TaskKind::Regression)
///     .with_embedding_dim(8)
///     .with_bottom_mlp(vec![32, 8])
///     .with_interaction(Interaction::Dot)
///     .with_epochs(3);
/// config.validate()?;
/// # Ok::<(), dlrm::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DlrmConfig {
    /// Width of every embedding vector (16).
    pub embedding_dim: usize,
    /// Bottom-MLP layer widths for the dense features, each followed by ReLU ([64, 16]).
    pub bottom_mlp: Vec<usize>,
    /// Top-MLP hidden widths, each followed by ReLU, before the output layer ([64, 32]).
    pub top_mlp: Vec<usize>,
    /// Feature interaction (dot).
    pub interaction: Interaction,
    /// Reduction of set-valued bags (mean).
    pub bag_mode: BagMode,
    /// Learning rate (1e-3).
    pub lr: f64,
    /// Weight decay (0): an L2 term in the gradient, or decoupled with
    /// [`Optimizer::AdamW`].
    pub weight_decay: f64,
    /// Optimizer (Adam).
    pub optimizer: Optimizer,
    /// Learning-rate schedule (constant).
    pub lr_schedule: LrSchedule,
    /// Mini-batch size (256).
    pub batch_size: usize,
    /// Maximum number of epochs (10).
    pub epochs: usize,
    /// Stop after this many epochs without a better validation loss; 0 disables early stopping
    /// (3). The weights of the best epoch are kept.
    pub patience: usize,
    /// When no validation table is given, the fraction of training rows held out for
    /// validation (0 = none, in which case no early stopping happens).
    pub validation_fraction: f64,
    /// Labels seen fewer times in training go to the out-of-vocabulary bucket (1 = keep all).
    pub min_count: usize,
    /// Probability that an id (a column of kind id, such as `user_id`) of a training row is
    /// replaced by the out-of-vocabulary index in a mini-batch (0). Above 0 the unknown-id
    /// embedding is trained, and with it the model learns to predict from the other features
    /// alone: what it needs for users or items unseen in training (cold start).
    pub id_dropout: f64,
    /// Weight of an L2 penalty on the embeddings of ids looked up in a mini-batch (0): the
    /// batch mean of `‖e_user‖² + ‖e_item‖² + …` over the id columns, times this weight, is
    /// added to the loss (the regulariser of matrix factorisation). Unlike `weight_decay` it
    /// reaches only the id tables, and a row only when its id occurs, so frequent users are
    /// held back no more than their data warrants.
    pub id_embedding_l2: f64,
    /// Dropout probability after each hidden layer of the top MLP, in training only (0).
    pub dropout: f64,
    /// History bags ([`HistoryBag`]), each one more embedded feature (none).
    pub history: Vec<HistoryBag>,
    /// Seed of weight initialisation, shuffling and hold-out (42).
    pub seed: u64,
    /// The task (auto).
    pub task: TaskKind,
    /// The device (auto: CUDA when available).
    pub device: DeviceChoice,
    /// Show a progress bar with samples/s on standard error (true; hidden when it is not a
    /// terminal).
    pub progress: bool,
}

impl Default for DlrmConfig {
    fn default() -> Self {
        DlrmConfig {
            embedding_dim: 16,
            bottom_mlp: vec![64, 16],
            top_mlp: vec![64, 32],
            interaction: Interaction::Dot,
            bag_mode: BagMode::Mean,
            lr: 1e-3,
            weight_decay: 0.0,
            optimizer: Optimizer::Adam,
            lr_schedule: LrSchedule::Constant,
            batch_size: 256,
            epochs: 10,
            patience: 3,
            validation_fraction: 0.0,
            min_count: 1,
            id_dropout: 0.0,
            id_embedding_l2: 0.0,
            dropout: 0.0,
            history: Vec::new(),
            seed: 42,
            task: TaskKind::Auto,
            device: DeviceChoice::Auto,
            progress: true,
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident, $field:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, $field: $ty) -> Self {
            self.$field = $field;
            self
        }
    };
}

impl DlrmConfig {
    setter!(/// Sets [`embedding_dim`](Self::embedding_dim).
        with_embedding_dim, embedding_dim: usize);
    setter!(/// Sets [`bottom_mlp`](Self::bottom_mlp).
        with_bottom_mlp, bottom_mlp: Vec<usize>);
    setter!(/// Sets [`top_mlp`](Self::top_mlp).
        with_top_mlp, top_mlp: Vec<usize>);
    setter!(/// Sets [`interaction`](Self::interaction).
        with_interaction, interaction: Interaction);
    setter!(/// Sets [`bag_mode`](Self::bag_mode).
        with_bag_mode, bag_mode: BagMode);
    setter!(/// Sets [`lr`](Self::lr).
        with_lr, lr: f64);
    setter!(/// Sets [`weight_decay`](Self::weight_decay).
        with_weight_decay, weight_decay: f64);
    setter!(/// Sets [`optimizer`](Self::optimizer).
        with_optimizer, optimizer: Optimizer);
    setter!(/// Sets [`lr_schedule`](Self::lr_schedule).
        with_lr_schedule, lr_schedule: LrSchedule);
    setter!(/// Sets [`batch_size`](Self::batch_size).
        with_batch_size, batch_size: usize);
    setter!(/// Sets [`epochs`](Self::epochs).
        with_epochs, epochs: usize);
    setter!(/// Sets [`patience`](Self::patience).
        with_patience, patience: usize);
    setter!(/// Sets [`validation_fraction`](Self::validation_fraction).
        with_validation_fraction, validation_fraction: f64);
    setter!(/// Sets [`min_count`](Self::min_count).
        with_min_count, min_count: usize);
    setter!(/// Sets [`id_dropout`](Self::id_dropout).
        with_id_dropout, id_dropout: f64);
    setter!(/// Sets [`id_embedding_l2`](Self::id_embedding_l2).
        with_id_embedding_l2, id_embedding_l2: f64);
    setter!(/// Sets [`dropout`](Self::dropout).
        with_dropout, dropout: f64);
    setter!(/// Sets [`history`](Self::history).
        with_history, history: Vec<HistoryBag>);
    setter!(/// Sets [`seed`](Self::seed).
        with_seed, seed: u64);
    setter!(/// Sets [`task`](Self::task).
        with_task, task: TaskKind);
    setter!(/// Sets [`progress`](Self::progress).
        with_progress, progress: bool);
    setter!(/// Sets [`device`](Self::device).
        with_device, device: DeviceChoice);

    /// Checks every value once; [`Dlrm::new`](crate::Dlrm::new) calls it.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.embedding_dim == 0 {
            return bad("embedding_dim must be at least 1".into());
        }
        if self.bottom_mlp.contains(&0) || self.top_mlp.contains(&0) {
            return bad("MLP layer widths must be at least 1".into());
        }
        if self.interaction == Interaction::Dot {
            if let Some(&last) = self.bottom_mlp.last() {
                if last != self.embedding_dim {
                    return bad(format!(
                        "dot interaction needs the last bottom-MLP width ({last}) to equal embedding_dim ({})",
                        self.embedding_dim
                    ));
                }
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!("weight_decay must be ≥ 0, got {}", self.weight_decay));
        }
        if let Optimizer::Sgd { momentum } = self.optimizer {
            if !(0.0..1.0).contains(&momentum) {
                return bad(format!("SGD momentum must be in [0, 1), got {momentum}"));
            }
        }
        match self.lr_schedule {
            LrSchedule::Step { every, gamma } if every == 0 || !(gamma > 0.0 && gamma <= 1.0) => {
                return bad(format!("step schedule needs every ≥ 1 and gamma in (0, 1], got {every}, {gamma}"));
            }
            _ => {}
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return bad(format!("validation_fraction must be in [0, 1), got {}", self.validation_fraction));
        }
        if self.min_count == 0 {
            return bad("min_count must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.id_dropout) {
            return bad(format!("id_dropout must be in [0, 1), got {}", self.id_dropout));
        }
        if !(self.id_embedding_l2.is_finite() && self.id_embedding_l2 >= 0.0) {
            return bad(format!("id_embedding_l2 must be ≥ 0, got {}", self.id_embedding_l2));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        for (i, h) in self.history.iter().enumerate() {
            if h.key.is_empty() || h.of.is_empty() || h.key == h.of {
                return bad(format!(
                    "history[{i}] needs two different column names, got key '{}' and of '{}'",
                    h.key, h.of
                ));
            }
            if self.history[..i].contains(h) {
                return bad(format!("history[{i}] ({} → {}) is listed twice", h.key, h.of));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_round_trips_through_json() {
        let c = DlrmConfig::default();
        c.validate().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<DlrmConfig>(&json).unwrap(), c);
        // Missing fields take their defaults.
        let partial: DlrmConfig = serde_json::from_str(r#"{"lr": 0.01}"#).unwrap();
        assert_eq!(partial.embedding_dim, 16);
        let adamw: DlrmConfig = serde_json::from_str(r#"{"optimizer": {"kind": "adamw"}}"#).unwrap();
        assert_eq!(adamw.optimizer, Optimizer::AdamW);
    }

    #[test]
    fn validation_names_the_field() {
        let e = DlrmConfig::default().with_bottom_mlp(vec![64, 8]).validate().unwrap_err();
        assert!(e.to_string().contains("embedding_dim"), "{e}");
        assert!(DlrmConfig::default().with_interaction(Interaction::Cat).with_bottom_mlp(vec![8]).validate().is_ok());
        assert!(DlrmConfig::default().with_lr(f64::NAN).validate().is_err());
        assert!(DlrmConfig::default().with_batch_size(0).validate().is_err());
        let e = DlrmConfig::default().with_id_dropout(1.0).validate().unwrap_err();
        assert!(e.to_string().contains("id_dropout"), "{e}");
        let e = DlrmConfig::default().with_id_embedding_l2(-1.0).validate().unwrap_err();
        assert!(e.to_string().contains("id_embedding_l2"), "{e}");
        let e = DlrmConfig::default().with_dropout(1.0).validate().unwrap_err();
        assert!(e.to_string().contains("dropout must"), "{e}");
        let e = DlrmConfig::default().with_history(vec![HistoryBag::new("u", "u")]).validate().unwrap_err();
        assert!(e.to_string().contains("history[0]"), "{e}");
        let twice = vec![HistoryBag::new("u", "i"), HistoryBag::new("u", "i")];
        let e = DlrmConfig::default().with_history(twice).validate().unwrap_err();
        assert!(e.to_string().contains("history[1]"), "{e}");
    }

    #[test]
    fn schedules() {
        let s = LrSchedule::Step { every: 2, gamma: 0.5 };
        assert_eq!(s.rate(1.0, 3, 0, 10), 0.5);
        let c = LrSchedule::Cosine { warmup_steps: 2 };
        assert_eq!(c.rate(1.0, 0, 0, 10), 0.5);
        assert!((c.rate(1.0, 0, 2, 10) - 1.0).abs() < 1e-12);
        assert!(c.rate(1.0, 0, 9, 10) < 0.1);
    }
}
