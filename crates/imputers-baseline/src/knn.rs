//! K-nearest-neighbour imputation over mixed columns.

use rayon::prelude::*;
use rec_table::{Cell, FittedImputer, Imputer, Schema, Table, Value};
use serde::{Deserialize, Serialize};

use crate::common::{self, Column, ColumnStats, Encoder, MISSING};
use crate::error::{Error, Result};

/// Donors scanned per block; a block's columns stay in cache while a chunk of receivers
/// measures its distances to them.
const DONOR_BLOCK: usize = 512;

/// How the k nearest donors' values are averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnnWeights {
    /// Every donor counts the same.
    #[default]
    Uniform,
    /// A donor counts `1 / distance`; donors at distance zero, if any, take all the weight.
    Distance,
}

/// K-nearest-neighbour imputation with a distance over mixed columns.
///
/// **Distance.** Between two rows, each feature column observed in both contributes a squared
/// difference: numeric values are standardised with the training mean and standard deviation
/// (a constant column divides by one) and contribute `(z_a - z_b)^2`; categorical cells
/// contribute 0 when equal and 1 otherwise (a label unseen at fit differs from every donor);
/// set-valued cells contribute the squared Jaccard distance. As in scikit-learn's
/// `nan_euclidean_distances`, the sum is rescaled by `features / features observed in both` and
/// square-rooted; two rows sharing no observed feature have no distance and never donate to
/// each other. With numeric columns only and standardisation off, the distance is exactly
/// scikit-learn's.
///
/// **Donors.** The rows of the training table. For a missing cell of column `c`, the donors are
/// the training rows where `c` is observed; the `k` nearest give a (weighted) mean for a
/// numeric cell, a (weighted) vote for a categorical one (ties to the smallest label) and, for
/// a set-valued one, the elements held by more than half of the donor weight. Ties in distance
/// keep the donor that comes first in the training table. When no donor has a distance to the
/// row, the cell gets the training mean (numeric) or mode (categorical, set-valued), like
/// scikit-learn's fallback to the mean. With fewer than `k` donors, all of them are used.
///
/// **Columns.** A column with no observed cell at fit has no donor and is left missing. Id and
/// text columns are neither features nor imputed.
///
/// **Cost.** Receivers (rows with a gap) are processed in parallel chunks with rayon; each keeps
/// only its `k` best donors per missing column, so memory is `O(rows × features)` for the data
/// plus `O(threads × chunk × k)`: no receiver × donor matrix is ever stored. Time is
/// `O(receivers × donors × features)`.
///
/// ```
/// use imputers_baseline::{KnnImputer, KnnWeights};
/// use rec_table::{read_csv_bytes, CsvOptions, FittedImputer, Imputer, Value};
///
/// let table = read_csv_bytes(b"x,y\n1,10\n2,20\n10,100\n1.1,\n", "t.csv", &CsvOptions::default())?;
/// let knn = KnnImputer::new(2).with_weights(KnnWeights::Uniform).fit(&table)?;
/// assert_eq!(knn.transform(&table)?.value(3, 1), Some(Value::Number(15.0)));
/// # Ok::<(), rec_table::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnImputer {
    /// Number of donors (at least 1).
    pub k: usize,
    /// Donor weighting.
    pub weights: KnnWeights,
    /// Whether numeric columns are standardised before measuring distances (default `true`).
    pub standardize: bool,
    /// Receivers per parallel task (default 64).
    pub chunk_rows: usize,
}

impl Default for KnnImputer {
    fn default() -> Self {
        KnnImputer { k: 5, weights: KnnWeights::Uniform, standardize: true, chunk_rows: 64 }
    }
}

impl KnnImputer {
    /// `k` nearest donors, uniform weights, standardised numeric columns.
    pub fn new(k: usize) -> Self {
        KnnImputer { k, ..Self::default() }
    }

    /// Sets the donor weighting.
    pub fn with_weights(mut self, weights: KnnWeights) -> Self {
        self.weights = weights;
        self
    }

    /// Sets whether numeric columns are standardised.
    pub fn with_standardize(mut self, standardize: bool) -> Self {
        self.standardize = standardize;
        self
    }

    /// Sets the number of receivers per parallel task.
    pub fn with_chunk_rows(mut self, chunk_rows: usize) -> Self {
        self.chunk_rows = chunk_rows;
        self
    }
}

impl Imputer for KnnImputer {
    type Fitted = FittedKnn;
    type Error = crate::Error;

    fn name(&self) -> String {
        match self.weights {
            KnnWeights::Uniform => format!("knn(k={})", self.k),
            KnnWeights::Distance => format!("knn(k={},distance)", self.k),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(Error::param("k", "must be at least 1"));
        }
        if self.chunk_rows == 0 {
            return Err(Error::param("chunk_rows", "must be at least 1"));
        }
        Ok(())
    }

    fn fit(&self, train: &Table) -> Result<FittedKnn> {
        Imputer::validate(self)?;
        let encoder = Encoder::fit(train);
        let columns = encoder.encode(train)?;
        let layout = Layout::new(&encoder, self.standardize);
        let donors = Points::build(&layout, &columns);
        let fallback = layout
            .features
            .iter()
            .map(|&c| match (&encoder.stats[c], &columns[c]) {
                (ColumnStats::Numeric { observed, mean, .. }, _) if *observed > 0 => Some(Value::Number(*mean)),
                (ColumnStats::Categorical { counts, .. }, _) => {
                    common::mode_code(counts).and_then(|code| encoder.category(c, code))
                }
                (ColumnStats::Set { .. }, Column::Set(cells)) => {
                    common::mode_set(cells).and_then(|s| encoder.set(c, &s))
                }
                _ => None,
            })
            .collect();
        Ok(FittedKnn { params: self.clone(), encoder, layout, donors, values: columns, fallback })
    }
}

/// Where each feature column sits in the distance computation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Layout {
    /// Feature columns (table indices), in table order.
    features: Vec<usize>,
    /// Per feature: its slot among the numeric, categorical or set columns.
    slots: Vec<Slot>,
    numeric: Vec<usize>,
    categorical: Vec<usize>,
    sets: Vec<usize>,
    /// Per numeric column: shift and scale of the standardisation.
    scale: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Slot {
    Num(usize),
    Cat(usize),
    Set(usize),
}

impl Layout {
    fn new(encoder: &Encoder, standardize: bool) -> Layout {
        let features = encoder.features();
        let (mut numeric, mut categorical, mut sets, mut slots, mut scale) = (vec![], vec![], vec![], vec![], vec![]);
        for &c in &features {
            match &encoder.stats[c] {
                ColumnStats::Numeric { mean, std, .. } => {
                    slots.push(Slot::Num(numeric.len()));
                    numeric.push(c);
                    scale.push(if standardize { (*mean, *std) } else { (0.0, 1.0) });
                }
                ColumnStats::Categorical { .. } => {
                    slots.push(Slot::Cat(categorical.len()));
                    categorical.push(c);
                }
                _ => {
                    slots.push(Slot::Set(sets.len()));
                    sets.push(c);
                }
            }
        }
        Layout { features, slots, numeric, categorical, sets, scale }
    }
}

/// Rows encoded column by column for distances: standardised numbers (0 where missing) with a
/// 0/1 mask, categorical codes, sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Points {
    z: Vec<Vec<f64>>,
    mask: Vec<Vec<f64>>,
    cat: Vec<Vec<u32>>,
    sets: Vec<Vec<Option<Vec<u32>>>>,
    rows: usize,
}

impl Points {
    fn build(layout: &Layout, columns: &[Column]) -> Points {
        let mut rows = 0;
        let (mut z, mut mask) = (vec![], vec![]);
        for (&c, &(shift, scale)) in layout.numeric.iter().zip(&layout.scale) {
            if let Column::Numeric(xs) = &columns[c] {
                rows = xs.len();
                z.push(xs.iter().map(|&x| if x.is_nan() { 0.0 } else { (x - shift) / scale }).collect());
                mask.push(xs.iter().map(|&x| if x.is_nan() { 0.0 } else { 1.0 }).collect());
            }
        }
        let mut cat = vec![];
        for &c in &layout.categorical {
            if let Column::Categorical(codes) = &columns[c] {
                rows = codes.len();
                cat.push(codes.clone());
            }
        }
        let mut sets = vec![];
        for &c in &layout.sets {
            if let Column::Set(cells) = &columns[c] {
                rows = cells.len();
                sets.push(cells.clone());
            }
        }
        Points { z, mask, cat, sets, rows }
    }

    fn observed(&self, slot: Slot, row: usize) -> bool {
        match slot {
            Slot::Num(j) => self.mask[j][row] != 0.0,
            Slot::Cat(j) => self.cat[j][row] != MISSING,
            Slot::Set(j) => self.sets[j][row].is_some(),
        }
    }

    /// Adds, for donors `start..start + s.len()`, the squared differences to row `r` of
    /// `receivers` into `s` and the number of features observed in both into `cnt`.
    fn accumulate(&self, receivers: &Points, r: usize, start: usize, s: &mut [f64], cnt: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports the features the function is compiled for (checked
                // just above); the function itself is safe code.
                unsafe { self.accumulate_avx2(receivers, r, start, s, cnt) };
                return;
            }
        }
        self.accumulate_generic(receivers, r, start, s, cnt);
    }

    /// [`Points::accumulate`] compiled for AVX2 and FMA (4-wide `f64` lanes instead of SSE2's 2).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn accumulate_avx2(&self, receivers: &Points, r: usize, start: usize, s: &mut [f64], cnt: &mut [f64]) {
        self.accumulate_generic(receivers, r, start, s, cnt);
    }

    #[inline(always)]
    fn accumulate_generic(&self, receivers: &Points, r: usize, start: usize, s: &mut [f64], cnt: &mut [f64]) {
        let end = start + s.len();
        for j in 0..self.z.len() {
            if receivers.mask[j][r] == 0.0 {
                continue;
            }
            let za = receivers.z[j][r];
            let (zb, mb) = (&self.z[j][start..end], &self.mask[j][start..end]);
            for (((s, c), &zb), &mb) in s.iter_mut().zip(cnt.iter_mut()).zip(zb).zip(mb) {
                let d = za - zb;
                *s += mb * d * d;
                *c += mb;
            }
        }
        for j in 0..self.cat.len() {
            let ca = receivers.cat[j][r];
            if ca == MISSING {
                continue;
            }
            for ((s, c), &cb) in s.iter_mut().zip(cnt.iter_mut()).zip(&self.cat[j][start..end]) {
                let both = (cb != MISSING) as u32 as f64;
                *s += both * ((ca != cb) as u32 as f64);
                *c += both;
            }
        }
        for j in 0..self.sets.len() {
            let Some(a) = &receivers.sets[j][r] else { continue };
            for ((s, c), b) in s.iter_mut().zip(cnt.iter_mut()).zip(&self.sets[j][start..end]) {
                if let Some(b) = b {
                    let d = jaccard_distance(a, b);
                    *s += d * d;
                    *c += 1.0;
                }
            }
        }
    }
}

/// Jaccard distance of two sorted, deduplicated code lists (0 for two empty sets).
pub(crate) fn jaccard_distance(a: &[u32], b: &[u32]) -> f64 {
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    if union == 0 {
        0.0
    } else {
        1.0 - inter as f64 / union as f64
    }
}

/// The `k` best (smallest squared distance) donors seen so far, sorted.
#[derive(Debug, Clone)]
struct Best {
    k: usize,
    items: Vec<(f64, u32)>,
}

impl Best {
    fn new(k: usize) -> Best {
        Best { k, items: Vec::with_capacity(k + 1) }
    }

    #[inline]
    fn worst(&self) -> f64 {
        if self.items.len() < self.k {
            f64::INFINITY
        } else {
            self.items[self.k - 1].0
        }
    }

    #[inline]
    fn offer(&mut self, d2: f64, donor: u32) {
        if d2 >= self.worst() {
            return;
        }
        let pos = self.items.partition_point(|&(d, _)| d <= d2);
        self.items.insert(pos, (d2, donor));
        self.items.truncate(self.k);
    }
}

/// A fitted [`KnnImputer`]: the encoded training rows (the donors) and the fallbacks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FittedKnn {
    params: KnnImputer,
    encoder: Encoder,
    layout: Layout,
    donors: Points,
    values: Vec<Column>,
    fallback: Vec<Option<Value>>,
}

impl FittedKnn {
    /// The hyperparameters it was fitted with.
    pub fn params(&self) -> &KnnImputer {
        &self.params
    }

    /// Number of training rows (potential donors).
    pub fn donors(&self) -> usize {
        self.donors.rows
    }

    fn impute_chunk(&self, receivers: &Points, chunk: &[usize], imputable: &[bool]) -> Vec<(Cell, Value)> {
        let nf = self.layout.features.len();
        let total = nf as f64;
        // Per receiver: its missing imputable features and their best donors.
        let mut wanted: Vec<Vec<(usize, Best)>> = chunk
            .iter()
            .map(|&r| {
                (0..nf)
                    .filter(|&f| imputable[f] && !receivers.observed(self.layout.slots[f], r))
                    .map(|f| (f, Best::new(self.params.k)))
                    .collect()
            })
            .collect();
        let (mut s, mut cnt) = (vec![0.0; DONOR_BLOCK], vec![0.0; DONOR_BLOCK]);
        for start in (0..self.donors.rows).step_by(DONOR_BLOCK) {
            let len = DONOR_BLOCK.min(self.donors.rows - start);
            for (i, &r) in chunk.iter().enumerate() {
                let (s, cnt) = (&mut s[..len], &mut cnt[..len]);
                s.fill(0.0);
                cnt.fill(0.0);
                self.donors.accumulate(receivers, r, start, s, cnt);
                // The largest of the receiver's k-th best distances: a donor farther than that
                // cannot enter any list, and is skipped without a division.
                let mut bound = wanted[i].iter().map(|(_, b)| b.worst()).fold(0.0f64, f64::max);
                for (b, (&sb, &cb)) in s.iter().zip(cnt.iter()).enumerate() {
                    if cb == 0.0 || sb * total >= bound * cb {
                        continue;
                    }
                    let d2 = sb * total / cb;
                    let donor = start + b;
                    for (f, best) in wanted[i].iter_mut() {
                        if d2 < best.worst() && self.donors.observed(self.layout.slots[*f], donor) {
                            best.offer(d2, donor as u32);
                        }
                    }
                    bound = wanted[i].iter().map(|(_, b)| b.worst()).fold(0.0f64, f64::max);
                }
            }
        }
        let mut out = Vec::new();
        for (i, &row) in chunk.iter().enumerate() {
            for (f, best) in &wanted[i] {
                let col = self.layout.features[*f];
                let value =
                    if best.items.is_empty() { self.fallback[*f].clone() } else { self.combine(*f, &best.items) };
                if let Some(v) = value {
                    out.push((Cell { row, col }, v));
                }
            }
        }
        out
    }

    /// The donors' weights, by the chosen scheme.
    fn weights(&self, items: &[(f64, u32)]) -> Vec<f64> {
        match self.params.weights {
            KnnWeights::Uniform => vec![1.0; items.len()],
            KnnWeights::Distance if items.iter().any(|&(d, _)| d == 0.0) => {
                items.iter().map(|&(d, _)| (d == 0.0) as u32 as f64).collect()
            }
            KnnWeights::Distance => items.iter().map(|&(d2, _)| 1.0 / d2.sqrt()).collect(),
        }
    }

    fn combine(&self, f: usize, items: &[(f64, u32)]) -> Option<Value> {
        let col = self.layout.features[f];
        let w = self.weights(items);
        let total: f64 = w.iter().sum();
        match &self.values[col] {
            Column::Numeric(xs) => {
                let sum: f64 = items.iter().zip(&w).map(|(&(_, d), w)| w * xs[d as usize]).sum();
                Some(Value::Number(sum / total))
            }
            Column::Categorical(codes) => {
                let mut votes: Vec<(u32, f64)> = Vec::new();
                for (&(_, d), &w) in items.iter().zip(&w) {
                    let code = codes[d as usize];
                    match votes.iter_mut().find(|(c, _)| *c == code) {
                        Some(v) => v.1 += w,
                        None => votes.push((code, w)),
                    }
                }
                let best = votes.into_iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0))).map(|(c, _)| c)?;
                self.encoder.category(col, best)
            }
            Column::Set(cells) => {
                let mut votes: Vec<(u32, f64)> = Vec::new();
                for (&(_, d), &w) in items.iter().zip(&w) {
                    for &e in cells[d as usize].iter().flatten() {
                        match votes.iter_mut().find(|(c, _)| *c == e) {
                            Some(v) => v.1 += w,
                            None => votes.push((e, w)),
                        }
                    }
                }
                let mut chosen: Vec<u32> =
                    votes.into_iter().filter(|&(_, v)| v > 0.5 * total).map(|(e, _)| e).collect();
                chosen.sort_unstable();
                self.encoder.set(col, &chosen)
            }
            Column::Skip => None,
        }
    }
}

impl FittedImputer for FittedKnn {
    type Error = crate::Error;

    fn schema(&self) -> &Schema {
        &self.encoder.schema
    }

    fn transform(&self, table: &Table) -> Result<Table> {
        let columns = self.encoder.encode(table)?;
        let receivers = Points::build(&self.layout, &columns);
        let nf = self.layout.features.len();
        // A feature can be imputed if some training row observes it (or has a fallback).
        let imputable: Vec<bool> = self.layout.features.iter().map(|&c| self.encoder.stats[c].observed() > 0).collect();
        let rows: Vec<usize> = (0..table.num_rows())
            .filter(|&r| (0..nf).any(|f| imputable[f] && !receivers.observed(self.layout.slots[f], r)))
            .collect();
        let fills: Vec<(Cell, Value)> = rows
            .par_chunks(self.params.chunk_rows)
            .flat_map_iter(|chunk| self.impute_chunk(&receivers, chunk, &imputable))
            .collect();
        common::write_fills(table, fills)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaccard() {
        assert_eq!(jaccard_distance(&[], &[]), 0.0);
        assert_eq!(jaccard_distance(&[1, 2], &[2, 3]), 1.0 - 1.0 / 3.0);
        assert_eq!(jaccard_distance(&[1], &[]), 1.0);
    }

    #[test]
    fn best_keeps_k_smallest_first_on_ties() {
        let mut b = Best::new(2);
        for (d, i) in [(3.0, 0), (1.0, 1), (1.0, 2), (0.5, 3), (1.0, 4)] {
            b.offer(d, i);
        }
        assert_eq!(b.items, vec![(0.5, 3), (1.0, 1)]);
    }
}
