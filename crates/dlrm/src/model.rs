//! The network: bottom MLP, embedding bags, feature interaction, top MLP.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Kind, Tensor};

use crate::config::{DlrmConfig, Interaction};
use crate::error::{Error, Result};
use crate::features::{BagBatch, FeatureMap};

/// Combines the bottom-MLP output `dense` (`[B, d]`, if any) and the embedded vectors
/// (`[B, d]` each) into the top MLP's input.
///
/// - [`Interaction::Dot`]: with `T` the `[B, F, d]` stack of all `F` vectors (dense first),
///   the dot products `T Tᵀ` below the diagonal (pairs `i > j`, row-major, as the reference
///   `interact_features` with `arch_interaction_itself=False`), appended to `dense`:
///   width `d + F(F−1)/2`, or `F(F−1)/2` without `dense`.
/// - [`Interaction::Cat`]: the concatenation of all vectors.
///
/// Works in any floating kind (the tests check gradients in f64).
/// No vectors at all is an error.
pub fn interact(interaction: Interaction, dense: Option<&Tensor>, embedded: &[Tensor]) -> Result<Tensor> {
    let vectors: Vec<&Tensor> = dense.into_iter().chain(embedded).collect();
    let Some(first) = vectors.first() else {
        return Err(Error::Config("the interaction needs at least one feature vector".into()));
    };
    match interaction {
        Interaction::Cat => Ok(Tensor::f_cat(&vectors, 1)?),
        Interaction::Dot => {
            let pairs = lower_triangle(vectors.len(), first.device())?;
            dot_with_pairs(dense, &vectors, &pairs)
        }
    }
}

/// Flat indices `i·F + j` of the strict lower triangle of an `F × F` matrix, row-major.
fn lower_triangle(f: usize, device: Device) -> Result<Tensor> {
    let idx: Vec<i64> = (0..f).flat_map(|i| (0..i).map(move |j| (i * f + j) as i64)).collect();
    Ok(Tensor::from_slice(&idx).f_to_device(device)?)
}

fn dot_with_pairs(dense: Option<&Tensor>, vectors: &[&Tensor], pairs: &Tensor) -> Result<Tensor> {
    let f = vectors.len() as i64;
    let t = Tensor::f_stack(vectors, 1)?; // [B, F, d]
    let z = t.f_bmm(&t.f_transpose(1, 2)?)?.f_view([-1, f * f])?;
    let flat = z.f_index_select(1, pairs)?;
    Ok(match dense {
        Some(x) => Tensor::f_cat(&[x, &flat], 1)?,
        None => flat,
    })
}

/// One embedding table, reduced per bag with libtorch's `embedding_bag`.
#[derive(Debug)]
struct EmbeddingBag {
    weight: Tensor,
    mode: i64,
    padding_idx: Option<i64>,
}

impl EmbeddingBag {
    /// One reduced vector per bag of `bags` (`[B, dim]`).
    fn forward(&self, bags: &BagBatch) -> Result<Tensor> {
        let (out, _, _, _) = Tensor::f_embedding_bag_padding_idx(
            &self.weight,
            &bags.values,
            &bags.offsets,
            false,
            self.mode,
            false,
            None::<Tensor>,
            false,
            self.padding_idx,
        )?;
        Ok(out)
    }
}

/// The DLRM network. Its variables live in the [`nn::VarStore`] it was built in, named
/// `bottom.{i}.weight|bias`, `emb.{j}.weight` (j-th embedded feature of the feature map) and
/// `top.{i}.weight|bias` (the last `top` layer is the output layer).
#[derive(Debug)]
pub(crate) struct DlrmNet {
    bottom: Vec<(Tensor, Tensor)>,
    tables: Vec<EmbeddingBag>,
    top: Vec<(Tensor, Tensor)>,
    interaction: Interaction,
    pairs: Tensor,
    /// Which embedded features are ids (the tables `id_embedding_l2` reaches).
    is_id: Vec<bool>,
}

/// What one training forward pass gives: the logits and, when asked for, the batch mean of
/// the squared norms of the looked-up id embeddings (summed over the id columns; 0 without id
/// columns).
pub(crate) struct TrainPass {
    pub logits: Tensor,
    pub id_sq_norm: Option<Tensor>,
}

/// A `[rows, cols]` tensor of samples from a seeded generator.
fn init(rows: usize, cols: usize, rng: &mut ChaCha8Rng, sample: impl Fn(&mut ChaCha8Rng) -> f64) -> Result<Tensor> {
    let data: Vec<f32> = (0..rows * cols).map(|_| sample(rng) as f32).collect();
    Ok(Tensor::from_slice(&data).f_view([rows as i64, cols as i64])?)
}

fn normal(rng: &mut ChaCha8Rng, std: f64) -> f64 {
    // Box-Muller; 1 - u keeps the logarithm finite.
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    std * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// A linear layer initialised as the reference DLRM: weights N(0, √(2/(m+n))), biases
/// N(0, √(1/m)) for `m` outputs and `n` inputs.
fn linear(path: &nn::Path, name: usize, n_in: usize, n_out: usize, rng: &mut ChaCha8Rng) -> Result<(Tensor, Tensor)> {
    let w_std = (2.0 / (n_in + n_out) as f64).sqrt();
    let b_std = (1.0 / n_out as f64).sqrt();
    let w = init(n_out, n_in, rng, |r| normal(r, w_std))?;
    let b = init(n_out, 1, rng, |r| normal(r, b_std))?.f_view([n_out as i64])?;
    let p = path.sub(name.to_string());
    Ok((p.var_copy("weight", &w), p.var_copy("bias", &b)))
}

impl DlrmNet {
    /// Builds the network for `features` under `path`, initialised from `config.seed`.
    pub(crate) fn new(path: &nn::Path, features: &FeatureMap, config: &DlrmConfig) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let d = config.embedding_dim;
        let dense_in = features.dense_width();
        let has_dense = dense_in > 0;
        let mut bottom = Vec::new();
        let mut width = dense_in;
        if has_dense {
            for (i, &out) in config.bottom_mlp.iter().enumerate() {
                bottom.push(linear(&path.sub("bottom"), i, width, out, &mut rng)?);
                width = out;
            }
        }
        let n_vectors = usize::from(has_dense) + features.sparse.len();
        let top_in = match config.interaction {
            Interaction::Dot => {
                if has_dense && width != d {
                    return Err(Error::Config(format!(
                        "dot interaction needs the dense vector ({width} wide) to match embedding_dim ({d}); \
                         give bottom_mlp a last layer of {d}"
                    )));
                }
                if n_vectors < 2 {
                    return Err(Error::Config(
                        "dot interaction needs at least two feature vectors (dense and/or embedded); use Interaction::Cat"
                            .into(),
                    ));
                }
                (if has_dense { d } else { 0 }) + n_vectors * (n_vectors - 1) / 2
            }
            Interaction::Cat => (if has_dense { width } else { 0 }) + features.sparse.len() * d,
        };
        let emb_path = path.sub("emb");
        let mut tables = Vec::new();
        for (j, f) in features.sparse.iter().enumerate() {
            let rows = f.table_rows() as usize;
            let bound = (1.0 / rows as f64).sqrt();
            let w = init(rows, d, &mut rng, |r| r.random_range(-bound..bound))?;
            if let Some(pad) = f.padding_idx() {
                let _ = w.f_get(pad)?.f_zero_()?;
            }
            let weight = emb_path.sub(j.to_string()).var_copy("weight", &w);
            let mode = if f.kind == rec_table::ColumnKind::SetValued { config.bag_mode.code() } else { 0 };
            tables.push(EmbeddingBag { weight, mode, padding_idx: f.padding_idx() });
        }
        let mut top = Vec::new();
        let mut width = top_in;
        for (i, &out) in config.top_mlp.iter().chain(std::iter::once(&features.target_map.out_dim())).enumerate() {
            top.push(linear(&path.sub("top"), i, width, out, &mut rng)?);
            width = out;
        }
        let pairs = lower_triangle(n_vectors, path.device())?;
        let is_id = features.sparse.iter().map(|f| f.kind == rec_table::ColumnKind::Id).collect();
        Ok(DlrmNet { bottom, tables, top, interaction: config.interaction, pairs, is_id })
    }

    /// Logits `[B, out]` for a batch: dense inputs `[B, dense_width]` and per embedded feature
    /// the batch's bags (evaluation: no dropout).
    pub(crate) fn forward(&self, dense: Option<&Tensor>, sparse: &[BagBatch]) -> Result<Tensor> {
        Ok(self.pass(dense, sparse, 0.0, false)?.logits)
    }

    /// A forward pass with dropout `p` after each hidden top layer (training when `p > 0`),
    /// with the id embeddings' squared norm when `id_norm` is set.
    pub(crate) fn pass(&self, dense: Option<&Tensor>, sparse: &[BagBatch], p: f64, id_norm: bool) -> Result<TrainPass> {
        let x = match dense {
            Some(d) => Some(self.bottom.iter().try_fold(d.shallow_clone(), |h, (w, b)| -> Result<Tensor> {
                Ok(h.f_linear(w, Some(b))?.f_relu()?)
            })?),
            None => None,
        };
        let embedded: Vec<Tensor> =
            self.tables.iter().zip(sparse).map(|(t, idx)| t.forward(idx)).collect::<Result<_>>()?;
        let id_sq_norm = if id_norm {
            let mut sum = Tensor::f_zeros([], (Kind::Float, self.pairs.device()))?;
            for (e, _) in embedded.iter().zip(&self.is_id).filter(|(_, &is_id)| is_id) {
                sum = sum.f_add(&e.f_square()?.f_sum_dim_intlist(1, false, Kind::Float)?.f_mean(Kind::Float)?)?;
            }
            Some(sum)
        } else {
            None
        };
        let z = match self.interaction {
            Interaction::Cat => interact(Interaction::Cat, x.as_ref(), &embedded)?,
            Interaction::Dot => {
                let vectors: Vec<&Tensor> = x.iter().chain(&embedded).collect();
                dot_with_pairs(x.as_ref(), &vectors, &self.pairs)?
            }
        };
        let last = self.top.len().saturating_sub(1);
        let mut h = z;
        for (i, (w, b)) in self.top.iter().enumerate() {
            h = h.f_linear(w, Some(b))?;
            if i != last {
                h = h.f_relu()?;
                if p > 0.0 {
                    h = h.f_dropout(p, true)?;
                }
            }
        }
        Ok(TrainPass { logits: h, id_sq_norm })
    }
}
