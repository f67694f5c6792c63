//! DLRM, the deep learning recommendation model of Naumov et al. (2019), on libtorch through
//! `tch`, implementing [`rec_table::Recommender`].
//!
//! Numeric columns are standardised and go through a bottom MLP; categorical and id columns
//! (one label per row) and set-valued columns (multi-hot bags, reduced by sum or mean) go
//! through `embedding_bag` tables; the bottom-MLP output and the embeddings meet in a pairwise
//! dot interaction (the strict lower triangle, as the reference `interact_features` with
//! `arch_interaction_itself=False`) or a concatenation, then a top MLP and a head: binary (BCE
//! with logits), multi-class (cross-entropy) or regression (MSE on the standardised target).
//! Text columns are ignored.
//!
//! - [`DlrmConfig`] holds the hyperparameters (serde, `Default`, `with_*` setters, validated
//!   once by [`Dlrm::new`]).
//! - [`Dlrm`] trains ([`Recommender::fit`], or [`Dlrm::fit_with_validation`] for early
//!   stopping on a validation table): seeded mini-batch shuffling, Adam/AdamW/Adagrad/SGD, a
//!   learning-rate schedule, a progress bar with samples/s; deterministic on the CPU for a
//!   seed; CUDA when available unless [`DlrmConfig::device`] says otherwise.
//! - [`FittedDlrm`] predicts ([`FittedRecommender::predict`]), exposes its feature mapping
//!   ([`FeatureMap`], [`TargetMap`]: how labels map to classes) and saves/loads itself as a
//!   directory of safetensors weights and JSON ([`FittedDlrm::save`], [`FittedDlrm::load`]).
//!
//! - [`HistoryBag`]s in [`DlrmConfig::history`] add SVD++-style implicit feedback: per row,
//!   the mean embedding of the items its user rated (or any `key → of` pair of columns) in
//!   the training rows, the row's own item left out.
//!
//! How missing cells and unseen labels are encoded is documented in [`features`].
//!
//! ```
//! use dlrm::{Dlrm, DlrmConfig, TaskKind};
//! use rec_table::{read_csv_bytes, CsvOptions, FittedRecommender, Recommender, Task};
//!
//! let csv = b"age,device,genres,click\n\
//!     25,mobile,a|b,1\n40,desktop,b,0\n31,,a,1\n52,desktop,[],0\n";
//! let table = read_csv_bytes(csv, "inline.csv", &CsvOptions::default())?;
//! let config = DlrmConfig::default()
//!     .with_embedding_dim(4)
//!     .with_bottom_mlp(vec![8, 4])
//!     .with_top_mlp(vec![8])
//!     .with_epochs(2)
//!     .with_progress(false)
//!     .with_device(dlrm::DeviceChoice::Cpu);
//! let model = Dlrm::new(config)?.fit(&table, "click")?;
//! assert_eq!(model.task(), Task::Binary);
//! let p = model.predict(&table)?; // probabilities of click = 1, Float64
//! assert_eq!(p.len(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod error;
pub mod features;
mod fitted;
mod io;
mod model;
mod target;
mod train;

pub use config::{BagMode, DeviceChoice, DlrmConfig, HistoryBag, Interaction, LrSchedule, Optimizer, TaskKind};
pub use error::{Error, Result};
pub use features::{FeatureMap, NumericFeature, SparseFeature};
pub use fitted::FittedDlrm;
pub use io::{CONFIG_FILE, FEATURES_FILE, WEIGHTS_FILE};
pub use model::interact;
pub use target::TargetMap;
pub use train::{validation_split, Dlrm, EpochStats};

#[doc(no_inline)]
pub use rec_table::{FittedRecommender, Recommender};
