//! Compact random forests on binned features: CART trees (variance reduction for regression,
//! Gini for classes, summed Gini for multi-label targets), bagging and per-node feature
//! subsampling, seeded and built in parallel.
//!
//! Written here rather than taken from a crate: smartcore and linfa-trees take one dense
//! matrix and one target type per model, have no multi-label (summed Gini) trees for
//! set-valued columns, would re-sort features at every node of every tree of every round of
//! the imputer (MissForest fits `rounds × columns × trees` trees), and add their own linear
//! algebra stacks to the build. Trees on pre-binned `u8` features (histogram splits, as in
//! LightGBM or scikit-learn's `HistGradientBoosting`) cost `O(rows × features tried)` per
//! level and take one-hot and multi-hot columns as they are.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How many candidate features each split looks at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxFeatures {
    /// The square root of the number of features (rounded down, at least 1), as R's
    /// `missForest` does.
    Sqrt,
    /// Every feature.
    All,
    /// A fraction of the features (at least 1).
    Fraction(f64),
}

impl MaxFeatures {
    fn count(self, p: usize) -> usize {
        let m = match self {
            MaxFeatures::Sqrt => (p as f64).sqrt().floor() as usize,
            MaxFeatures::All => p,
            MaxFeatures::Fraction(f) => (f * p as f64).floor() as usize,
        };
        m.clamp(1, p.max(1))
    }
}

/// Hyperparameters of a random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Trees per forest (default 100).
    pub n_trees: usize,
    /// Deepest level of a tree; `None` grows until leaves are pure or too small.
    pub max_depth: Option<usize>,
    /// Fewest samples in a leaf (default 1).
    pub min_samples_leaf: usize,
    /// Candidate features per split (default square root).
    pub max_features: MaxFeatures,
    /// Whether each tree sees a bootstrap sample (default `true`).
    pub bootstrap: bool,
    /// Most bins per numeric feature, 2 to 256 (default 64).
    pub max_bins: usize,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 100,
            max_depth: None,
            min_samples_leaf: 1,
            max_features: MaxFeatures::Sqrt,
            bootstrap: true,
            max_bins: 64,
        }
    }
}

/// What a forest predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Task {
    /// One real value.
    Regression,
    /// One class out of `k` (targets one-hot); predicts class probabilities.
    Classes(usize),
    /// `k` yes/no labels (targets 0/1); predicts label frequencies.
    Labels(usize),
}

impl Task {
    fn outputs(self) -> usize {
        match self {
            Task::Regression => 1,
            Task::Classes(k) | Task::Labels(k) => k,
        }
    }

    /// Length of a node's statistics: count, sums of the outputs, and for regression the sum
    /// of squares.
    fn stats_len(self) -> usize {
        1 + self.outputs() + matches!(self, Task::Regression) as usize
    }

    /// Impurity times count: squared error, Gini, or summed Gini of the labels.
    fn cost(self, s: &[f64]) -> f64 {
        let n = s[0];
        if n <= 0.0 {
            return 0.0;
        }
        match self {
            Task::Regression => (s[2] - s[1] * s[1] / n).max(0.0),
            Task::Classes(_) => n - s[1..].iter().map(|c| c * c).sum::<f64>() / n,
            Task::Labels(_) => s[1..].iter().map(|c| c - c * c / n).sum(),
        }
    }
}

/// Quantile bin edges of each design column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Binner {
    edges: Vec<Vec<f64>>,
}

impl Binner {
    /// Edges from the values of each column (`columns[j]` holds column `j`'s values).
    pub(crate) fn fit(columns: &[Vec<f64>], max_bins: usize) -> Binner {
        let max_bins = max_bins.clamp(2, 256);
        let edges = columns
            .iter()
            .map(|values| {
                let mut v = values.clone();
                v.sort_unstable_by(f64::total_cmp);
                v.dedup();
                let cuts: Vec<f64> = if v.len() <= max_bins {
                    v.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect()
                } else {
                    let mut all = values.clone();
                    all.sort_unstable_by(f64::total_cmp);
                    let mut q: Vec<f64> =
                        (1..max_bins).map(|i| all[(i * all.len() / max_bins).min(all.len() - 1)]).collect();
                    q.dedup();
                    q
                };
                cuts
            })
            .collect();
        Binner { edges }
    }

    /// The bin of `value` in column `j`.
    #[inline]
    pub(crate) fn bin(&self, j: usize, value: f64) -> u8 {
        self.edges[j].partition_point(|&e| e < value) as u8
    }

    fn bins(&self, j: usize) -> usize {
        self.edges[j].len() + 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Node {
    /// Split feature, or `u32::MAX` for a leaf.
    feature: u32,
    /// Samples whose bin is at most this go left.
    bin: u8,
    left: u32,
    right: u32,
    /// Offset of a leaf's outputs in `Tree::values`.
    value: u32,
}

/// One fitted CART tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    values: Vec<f64>,
}

impl Tree {
    fn leaf_of(&self, bins: &[Vec<u8>], row: usize) -> usize {
        let mut i = 0;
        loop {
            let node = self.nodes[i];
            if node.feature == u32::MAX {
                return node.value as usize;
            }
            i = if bins[node.feature as usize][row] <= node.bin { node.left } else { node.right } as usize;
        }
    }
}

/// A fitted random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Forest {
    task: Task,
    trees: Vec<Tree>,
}

/// The training problem of one forest.
pub(crate) struct Problem<'a> {
    /// Binned design, column-major (`bins[j][row]`).
    pub(crate) bins: &'a [Vec<u8>],
    /// Number of bins of each design column.
    pub(crate) n_bins: Vec<usize>,
    /// Design columns to split on.
    pub(crate) features: &'a [usize],
    /// Rows (of `bins`) to train on.
    pub(crate) rows: &'a [usize],
    /// Targets, row-major `rows.len() × task.outputs()`.
    pub(crate) y: &'a [f64],
    pub(crate) task: Task,
}

impl Binner {
    /// Number of bins of every column.
    pub(crate) fn all_bins(&self) -> Vec<usize> {
        (0..self.edges.len()).map(|j| self.bins(j)).collect()
    }
}

impl Forest {
    /// Fits `params.n_trees` trees in parallel; tree `t` draws from a generator seeded with
    /// `seed` and `t`, so the forest does not depend on the number of threads.
    pub(crate) fn fit(problem: &Problem<'_>, params: &ForestParams, seed: u64) -> Forest {
        let prepared = Prepared::new(problem);
        let trees = (0..params.n_trees.max(1))
            .into_par_iter()
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                grow(&prepared, params, &mut rng)
            })
            .collect();
        Forest { task: problem.task, trees }
    }

    /// The averaged leaf outputs for `row` of `bins` (mean, class or label probabilities).
    pub(crate) fn predict(&self, bins: &[Vec<u8>], row: usize, out: &mut [f64]) {
        let k = self.task.outputs();
        out[..k].iter_mut().for_each(|o| *o = 0.0);
        for tree in &self.trees {
            let at = tree.leaf_of(bins, row);
            for (o, v) in out[..k].iter_mut().zip(&tree.values[at..at + k]) {
                *o += v;
            }
        }
        let n = self.trees.len() as f64;
        out[..k].iter_mut().for_each(|o| *o /= n);
    }
}

impl Problem<'_> {
    /// Adds sample `i` (a position in `rows`) to the node statistics `out`: its count, its
    /// target sums and, for regression, its squared target.
    fn add_stat(&self, i: usize, out: &mut [f64]) {
        let k = self.task.outputs();
        out[0] += 1.0;
        let y = &self.y[i * k..(i + 1) * k];
        for (o, v) in out[1..=k].iter_mut().zip(y) {
            *o += v;
        }
        if matches!(self.task, Task::Regression) {
            out[2] += y[0] * y[0];
        }
    }
}

/// A problem with the non-zero target entries of each sample listed, so that adding a sample of
/// a class or label task to a node's statistics costs its non-zeros (one for a class), not
/// the number of classes: a column of 320 labels would otherwise make every histogram update
/// 320 additions, nearly all of zeros. Sums are the same to the last bit (adding 0.0 changes
/// nothing).
struct Prepared<'p, 'a> {
    problem: &'p Problem<'a>,
    /// Class and label tasks: `nz[start[i]..start[i + 1]]` are the outputs where sample `i`'s
    /// target is not 0. Empty for regression.
    start: Vec<usize>,
    nz: Vec<u32>,
}

impl<'p, 'a> Prepared<'p, 'a> {
    fn new(problem: &'p Problem<'a>) -> Self {
        let k = problem.task.outputs();
        let (mut start, mut nz) = (vec![0], Vec::new());
        if !matches!(problem.task, Task::Regression) {
            // Row by row (not `chunks_exact(k)`): a column without classes, every cell of it
            // missing say, has k = 0 and an empty row for every sample.
            for i in 0..problem.rows.len() {
                let y = &problem.y[i * k..(i + 1) * k];
                nz.extend(y.iter().enumerate().filter(|(_, v)| **v != 0.0).map(|(c, _)| c as u32));
                start.push(nz.len());
            }
        }
        Prepared { problem, start, nz }
    }

    /// [`Problem::add_stat`], touching only the non-zero targets of class and label tasks.
    fn add_stat(&self, i: usize, out: &mut [f64]) {
        if matches!(self.problem.task, Task::Regression) {
            return self.problem.add_stat(i, out);
        }
        let k = self.problem.task.outputs();
        out[0] += 1.0;
        let y = &self.problem.y[i * k..(i + 1) * k];
        for &c in &self.nz[self.start[i]..self.start[i + 1]] {
            out[1 + c as usize] += y[c as usize];
        }
    }
}

/// The best split found so far at a node: (gain, feature, last bin of the left side).
type Split = Option<(f64, usize, u8)>;

/// Scans the splits of one node, feature by feature, with one histogram buffer reused by every
/// node of a tree.
struct SplitSearch<'q, 'p, 'a> {
    prepared: &'q Prepared<'p, 'a>,
    min_leaf: usize,
    /// Per-bin statistics, `n_bins × stats_len`; all zero between uses.
    hist: Vec<f64>,
}

impl SplitSearch<'_, '_, '_> {
    /// Updates `best` with the best split of `samples` (statistics `total`, cost `parent`) on
    /// design column `f`.
    fn feature(&mut self, f: usize, samples: &[u32], total: &[f64], parent: f64, best: &mut Split) {
        let (problem, task) = (self.prepared.problem, self.prepared.problem.task);
        let m = task.stats_len();
        let nb = problem.n_bins[f];
        if nb < 2 {
            return;
        }
        // Only the occupied bins are scanned and cleared, which keeps small nodes cheap.
        if self.hist.len() < nb * m {
            self.hist.resize(nb * m, 0.0);
        }
        let col = &problem.bins[f];
        let (mut first, mut last) = (nb, 0);
        for &s in samples {
            let b = col[problem.rows[s as usize]] as usize;
            first = first.min(b);
            last = last.max(b);
            self.prepared.add_stat(s as usize, &mut self.hist[b * m..(b + 1) * m]);
        }
        let min_leaf = self.min_leaf as f64;
        let mut left = vec![0.0; m];
        let mut right = vec![0.0; m];
        for b in first..last {
            for (l, h) in left.iter_mut().zip(&self.hist[b * m..(b + 1) * m]) {
                *l += h;
            }
            if left[0] < min_leaf {
                continue;
            }
            if total[0] - left[0] < min_leaf {
                break;
            }
            for ((r, t), l) in right.iter_mut().zip(total).zip(&left) {
                *r = t - l;
            }
            let gain = parent - task.cost(&left) - task.cost(&right);
            if gain > 1e-12 * parent.max(1.0) && best.is_none_or(|(g, _, _)| gain > g) {
                *best = Some((gain, f, b as u8));
            }
        }
        if first <= last {
            self.hist[first * m..(last + 1) * m].iter_mut().for_each(|h| *h = 0.0);
        }
    }
}

/// A leaf, or a split node before its children are known.
const LEAF: Node = Node { feature: u32::MAX, bin: 0, left: 0, right: 0, value: 0 };

fn grow(prepared: &Prepared<'_, '_>, params: &ForestParams, rng: &mut ChaCha8Rng) -> Tree {
    let problem = prepared.problem;
    let task = problem.task;
    let n = problem.rows.len();
    // Samples are positions in `problem.rows`; a bootstrap repeats some.
    let mut samples: Vec<u32> = if params.bootstrap {
        (0..n).map(|_| rng.random_range(0..n) as u32).collect()
    } else {
        (0..n as u32).collect()
    };
    let mtry = params.max_features.count(problem.features.len());
    let max_depth = params.max_depth.unwrap_or(usize::MAX);
    let min_leaf = params.min_samples_leaf.max(1);
    let mut search = SplitSearch { prepared, min_leaf, hist: Vec::new() };
    let mut tree = Tree { nodes: vec![LEAF], values: vec![] };
    let mut candidates: Vec<usize> = problem.features.to_vec();
    // (node index, sample range, depth)
    let mut stack = vec![(0usize, 0usize, samples.len(), 0usize)];
    while let Some((node, lo, hi, depth)) = stack.pop() {
        let mut total = vec![0.0; task.stats_len()];
        for &s in &samples[lo..hi] {
            prepared.add_stat(s as usize, &mut total);
        }
        let parent = task.cost(&total);
        let mut best: Split = None;
        if depth < max_depth && hi - lo >= 2 * min_leaf && parent > 1e-12 {
            // Partial Fisher-Yates: the first `mtry` candidates are a random subset.
            for i in 0..mtry.min(candidates.len()) {
                let j = rng.random_range(i..candidates.len());
                candidates.swap(i, j);
            }
            for &f in &candidates[..mtry.min(candidates.len())] {
                search.feature(f, &samples[lo..hi], &total, parent, &mut best);
            }
        }
        match best {
            Some((_, f, b)) => {
                let col = &problem.bins[f];
                let mid = partition(&mut samples[lo..hi], |s| col[problem.rows[s as usize]] <= b) + lo;
                let (l, r) = (tree.nodes.len(), tree.nodes.len() + 1);
                tree.nodes.extend([LEAF, LEAF]);
                tree.nodes[node] = Node { feature: f as u32, bin: b, left: l as u32, right: r as u32, value: 0 };
                stack.push((r, mid, hi, depth + 1));
                stack.push((l, lo, mid, depth + 1));
            }
            None => {
                tree.nodes[node].value = tree.values.len() as u32;
                let count = total[0].max(1.0);
                tree.values.extend(total[1..=task.outputs()].iter().map(|s| s / count));
            }
        }
    }
    tree
}

/// Moves the samples for which `left` holds to the front; returns how many there are.
fn partition(samples: &mut [u32], left: impl Fn(u32) -> bool) -> usize {
    let mut i = 0;
    for j in 0..samples.len() {
        if left(samples[j]) {
            samples.swap(i, j);
            i += 1;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forest_learns_a_step_and_classes() {
        let n = 200;
        let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let binner = Binner::fit(std::slice::from_ref(&x), 64);
        let bins = vec![x.iter().map(|&v| binner.bin(0, v)).collect::<Vec<u8>>()];
        let rows: Vec<usize> = (0..n).collect();
        let y: Vec<f64> = x.iter().map(|&v| if v < 100.0 { 1.0 } else { 5.0 }).collect();
        let params = ForestParams { n_trees: 10, ..ForestParams::default() };
        let problem = Problem {
            bins: &bins,
            n_bins: binner.all_bins(),
            features: &[0],
            rows: &rows,
            y: &y,
            task: Task::Regression,
        };
        let forest = Forest::fit(&problem, &params, 7);
        let mut out = [0.0];
        forest.predict(&bins, 10, &mut out);
        assert!((out[0] - 1.0).abs() < 0.5, "{out:?}");
        forest.predict(&bins, 190, &mut out);
        assert!((out[0] - 5.0).abs() < 0.5, "{out:?}");
        assert_eq!(Forest::fit(&problem, &params, 7), forest, "seeded");

        let y: Vec<f64> = x.iter().flat_map(|&v| if v < 50.0 { [1.0, 0.0] } else { [0.0, 1.0] }).collect();
        let problem = Problem { y: &y, task: Task::Classes(2), ..problem };
        let forest = Forest::fit(&problem, &params, 1);
        let mut out = [0.0; 2];
        forest.predict(&bins, 3, &mut out);
        assert!(out[0] > 0.8, "{out:?}");
    }

    #[test]
    fn sparse_target_sums_equal_the_dense_ones() {
        let (n, k) = (60, 7);
        let bins = vec![vec![0u8; n]];
        let rows: Vec<usize> = (0..n).collect();
        // Classes (one 1 per row, some rows with none) and labels (several 1s per row).
        let classes: Vec<f64> =
            (0..n).flat_map(|i| (0..k).map(move |c| f64::from(u8::from(i % 9 != 0 && c == i % k)))).collect();
        let labels: Vec<f64> =
            (0..n).flat_map(|i| (0..k).map(move |c| f64::from(u8::from((i + c) % 3 == 0)))).collect();
        for (y, task) in [(&classes, Task::Classes(k)), (&labels, Task::Labels(k))] {
            let problem = Problem { bins: &bins, n_bins: vec![1], features: &[0], rows: &rows, y, task };
            let prepared = Prepared::new(&problem);
            let (mut dense, mut sparse) = (vec![0.0; task.stats_len()], vec![0.0; task.stats_len()]);
            for i in (0..n).chain([5, 5, 17]) {
                problem.add_stat(i, &mut dense);
                prepared.add_stat(i, &mut sparse);
                assert_eq!(dense, sparse, "{task:?} after sample {i}");
            }
            assert!(dense[1..].iter().any(|&v| v > 1.0), "the sums saw the targets");
        }
        // No classes at all (a column whose cells are all missing): counts only, no panic.
        let problem =
            Problem { bins: &bins, n_bins: vec![1], features: &[0], rows: &rows, y: &[], task: Task::Classes(0) };
        let prepared = Prepared::new(&problem);
        let (mut dense, mut sparse) = (vec![0.0; 1], vec![0.0; 1]);
        for i in 0..n {
            problem.add_stat(i, &mut dense);
            prepared.add_stat(i, &mut sparse);
        }
        assert_eq!(sparse, dense);
        assert_eq!(sparse, [n as f64]);
        let forest = Forest::fit(&problem, &ForestParams { n_trees: 2, ..ForestParams::default() }, 3);
        assert_eq!(forest.trees.len(), 2);
    }
}
