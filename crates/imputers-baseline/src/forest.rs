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
        self.cost_over(s, 1..s.len())
    }

    /// [`Task::cost`] with the class and label sums taken over `outputs` (ascending entries of
    /// `s`): the same to the last bit when the entries left out are 0.
    fn cost_over(self, s: &[f64], outputs: impl Iterator<Item = usize>) -> f64 {
        let n = s[0];
        if n <= 0.0 {
            return 0.0;
        }
        match self {
            Task::Regression => (s[2] - s[1] * s[1] / n).max(0.0),
            Task::Classes(_) => n - outputs.map(|e| s[e] * s[e]).sum::<f64>() / n,
            Task::Labels(_) => outputs.map(|e| s[e] - s[e] * s[e] / n).sum(),
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
        Self::fit_prepared(&Prepared::new(problem), params, seed)
    }

    fn fit_prepared(prepared: &Prepared<'_, '_>, params: &ForestParams, seed: u64) -> Forest {
        let problem = prepared.problem;
        let trees = (0..params.n_trees.max(1))
            .into_par_iter()
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                grow(prepared, params, &mut rng)
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
///
/// It also lists, for each two-bin feature (a one-hot or multi-hot column), the samples in its
/// upper bin: a node then gets that bin's statistics from the few samples there instead of
/// from all of its own (a city's indicator is 1 on a few rows of a thousand), and the lower
/// bin's as the node's total minus those. Only where every sum is exact in any order (see
/// [`exact_sums`]), so that the splits are the ones the full scan finds, bit for bit.
struct Prepared<'p, 'a> {
    problem: &'p Problem<'a>,
    /// Class and label tasks: `nz[start[i]..start[i + 1]]` are the outputs where sample `i`'s
    /// target is not 0. Empty for regression.
    start: Vec<usize>,
    nz: Vec<u32>,
    /// Per design column of two bins: the samples (positions in `problem.rows`) in its upper
    /// bin, ascending. `None` for other columns, and for all of them when the sums are not
    /// exact.
    upper: Vec<Option<Vec<u32>>>,
}

impl<'p, 'a> Prepared<'p, 'a> {
    fn new(problem: &'p Problem<'a>) -> Self {
        Self::with_upper_lists(problem, true)
    }

    /// `upper_lists = false` keeps every split search on the full scan (to test the lists).
    fn with_upper_lists(problem: &'p Problem<'a>, upper_lists: bool) -> Self {
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
        let mut upper = vec![None; problem.bins.len()];
        if upper_lists && exact_sums(problem) {
            for &f in problem.features {
                if problem.n_bins[f] == 2 {
                    let col = &problem.bins[f];
                    let list = (0..problem.rows.len() as u32).filter(|&i| col[problem.rows[i as usize]] == 1).collect();
                    upper[f] = Some(list);
                }
            }
        }
        Prepared { problem, start, nz, upper }
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

/// Whether every node statistic is a sum of whole numbers below 2^53, which floating point
/// adds and subtracts exactly in any order: 0/1 class and label targets, or whole-number
/// regression targets (ages, counts, 0/1 flags) with `n · max y²` below 2^53 (a bootstrap
/// draws `n` samples). Sums of fractional targets round differently in another order, and a
/// split whose gain ties another's to the last bit could then change.
fn exact_sums(problem: &Problem<'_>) -> bool {
    match problem.task {
        Task::Regression => {
            let max = problem.y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            problem.y.iter().all(|v| v.fract() == 0.0) && problem.rows.len() as f64 * max * max < 2f64.powi(53)
        }
        Task::Classes(_) | Task::Labels(_) => problem.y.iter().all(|&v| v == 0.0 || v == 1.0),
    }
}

/// The best split found so far at a node: (gain, feature, last bin of the left side).
type Split = Option<(f64, usize, u8)>;

/// Scans the splits of one node, feature by feature, with buffers reused by every node of a
/// tree.
struct SplitSearch<'q, 'p, 'a> {
    prepared: &'q Prepared<'p, 'a>,
    min_leaf: usize,
    /// Per-bin statistics, `n_bins × stats_len`; all zero between uses.
    hist: Vec<f64>,
    /// The entries of a node's statistics that can be non-zero: all of them for regression;
    /// the count and the outputs the node's samples have for class and label tasks (a node
    /// deep in a tree of a 320-label column holds a few labels). Ascending, so that sums over
    /// them add the same terms in the same order as sums over every entry.
    active: Vec<usize>,
    /// How many times each sample (position in `problem.rows`) is in the node: a bootstrap
    /// repeats some. Filled only while a node uses an upper-bin list; all zero between nodes.
    copies: Vec<u32>,
    /// Left and right statistics of a candidate split.
    left: Vec<f64>,
    right: Vec<f64>,
}

impl<'q, 'p, 'a> SplitSearch<'q, 'p, 'a> {
    fn new(prepared: &'q Prepared<'p, 'a>, min_leaf: usize) -> Self {
        let m = prepared.problem.task.stats_len();
        SplitSearch {
            prepared,
            min_leaf,
            hist: Vec::new(),
            active: Vec::new(),
            copies: vec![0; prepared.problem.rows.len()],
            left: vec![0.0; m],
            right: vec![0.0; m],
        }
    }

    /// Impurity times count of `s`, summed over the active entries (see [`Task::cost_over`]).
    fn cost(&self, s: &[f64]) -> f64 {
        self.prepared.problem.task.cost_over(s, self.active[1..].iter().copied())
    }

    /// Finds the best split of the node `samples` (statistics `total`, cost `parent`) among
    /// the design columns `features`.
    fn node(&mut self, features: &[usize], samples: &[u32], total: &[f64], parent: f64) -> Split {
        let problem = self.prepared.problem;
        self.active.clear();
        if matches!(problem.task, Task::Regression) {
            self.active.extend(0..total.len());
        } else {
            self.active.push(0);
            self.active.extend((1..total.len()).filter(|&e| total[e] != 0.0));
        }
        // An upper-bin list pays when it is shorter than the node.
        let prepared = self.prepared;
        let listed = |f: usize| prepared.upper[f].as_ref().is_some_and(|list| list.len() < samples.len());
        let use_lists = features.iter().any(|&f| listed(f));
        if use_lists {
            for &s in samples {
                self.copies[s as usize] += 1;
            }
        }
        let mut best: Split = None;
        for &f in features {
            if listed(f) {
                self.listed_feature(f, total, parent, &mut best);
            } else {
                self.feature(f, samples, total, parent, &mut best);
            }
        }
        if use_lists {
            for &s in samples {
                self.copies[s as usize] = 0;
            }
        }
        best
    }

    /// Updates `best` with the split of a two-bin column `f`, its upper bin's statistics
    /// summed over the column's upper-bin list (the samples of the node among them, each as
    /// often as the node holds it) and the lower bin's as the rest of `total`.
    fn listed_feature(&mut self, f: usize, total: &[f64], parent: f64, best: &mut Split) {
        let prepared = self.prepared;
        let Some(list) = prepared.upper[f].as_ref() else { return };
        for &e in &self.active {
            self.right[e] = 0.0;
        }
        for &s in list {
            for _ in 0..self.copies[s as usize] {
                prepared.add_stat(s as usize, &mut self.right);
            }
        }
        // Both bins occupied, as the full scan requires before it tries the split.
        if self.right[0] == 0.0 || self.right[0] == total[0] {
            return;
        }
        for &e in &self.active {
            self.left[e] = total[e] - self.right[e];
        }
        let min_leaf = self.min_leaf as f64;
        if self.left[0] < min_leaf || self.right[0] < min_leaf {
            return;
        }
        let gain = parent - self.cost(&self.left) - self.cost(&self.right);
        if gain > 1e-12 * parent.max(1.0) && best.is_none_or(|(g, _, _)| gain > g) {
            *best = Some((gain, f, 0));
        }
    }

    /// Updates `best` with the best split of `samples` (statistics `total`, cost `parent`) on
    /// design column `f`, from the histogram of the node's samples over its bins.
    fn feature(&mut self, f: usize, samples: &[u32], total: &[f64], parent: f64, best: &mut Split) {
        let problem = self.prepared.problem;
        let m = problem.task.stats_len();
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
        for &e in &self.active {
            self.left[e] = 0.0;
        }
        for b in first..last {
            let bin = &self.hist[b * m..(b + 1) * m];
            for &e in &self.active {
                self.left[e] += bin[e];
            }
            if self.left[0] < min_leaf {
                continue;
            }
            if total[0] - self.left[0] < min_leaf {
                break;
            }
            for &e in &self.active {
                self.right[e] = total[e] - self.left[e];
            }
            let gain = parent - self.cost(&self.left) - self.cost(&self.right);
            if gain > 1e-12 * parent.max(1.0) && best.is_none_or(|(g, _, _)| gain > g) {
                *best = Some((gain, f, b as u8));
            }
        }
        // The entries outside the active ones were never added to.
        for b in first..=last {
            let bin = &mut self.hist[b * m..(b + 1) * m];
            for &e in &self.active {
                bin[e] = 0.0;
            }
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
    let mut search = SplitSearch::new(prepared, min_leaf);
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
            best = search.node(&candidates[..mtry.min(candidates.len())], &samples[lo..hi], &total, parent);
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

    /// Class and label forests on a design with one-hot blocks (two bins each) and a binned
    /// number: the upper-bin lists must give the very trees of the full scan.
    #[test]
    fn upper_bin_lists_grow_the_trees_of_the_full_scan() {
        let (n, groups, k) = (400, 30, 12);
        let mut columns: Vec<Vec<f64>> = vec![(0..n).map(|i| ((i * 37) % 101) as f64).collect()];
        // One-hot group of 30 (the upper bin of each is ~13 rows of 400) and a 50/50 indicator.
        for g in 0..groups {
            columns.push((0..n).map(|i| f64::from(u8::from((i * 7 + i / 13) % groups == g))).collect());
        }
        columns.push((0..n).map(|i| f64::from(u8::from(i % 2 == 0))).collect());
        let binner = Binner::fit(&columns, 16);
        let bins: Vec<Vec<u8>> =
            columns.iter().enumerate().map(|(j, c)| c.iter().map(|&v| binner.bin(j, v)).collect()).collect();
        let features: Vec<usize> = (0..columns.len()).collect();
        // Train on a subset of the rows, so that positions and rows differ.
        let rows: Vec<usize> = (0..n).filter(|i| i % 5 != 1).collect();
        let class_of = |r: usize| ((r * 7 + r / 13) % groups + r % 3) % k;
        let classes: Vec<f64> =
            rows.iter().flat_map(|&r| (0..k).map(move |c| f64::from(u8::from(c == class_of(r))))).collect();
        let labels: Vec<f64> = rows
            .iter()
            .flat_map(|&r| (0..k).map(move |c| f64::from(u8::from((r / 3 + c) % 4 == 0 || c == class_of(r)))))
            .collect();
        for (y, task) in [(&classes, Task::Classes(k)), (&labels, Task::Labels(k))] {
            let problem = Problem { bins: &bins, n_bins: binner.all_bins(), features: &features, rows: &rows, y, task };
            let lists = Prepared::new(&problem);
            let listed = lists.upper.iter().filter(|u| u.is_some()).count();
            assert_eq!(listed, groups + 1, "{task:?}: every two-bin column has its list");
            let full = Prepared::with_upper_lists(&problem, false);
            for params in [
                ForestParams { n_trees: 8, ..ForestParams::default() },
                ForestParams {
                    n_trees: 4,
                    max_features: MaxFeatures::All,
                    min_samples_leaf: 3,
                    ..ForestParams::default()
                },
                ForestParams { n_trees: 4, bootstrap: false, max_depth: Some(4), ..ForestParams::default() },
            ] {
                let a = Forest::fit_prepared(&lists, &params, 11);
                let b = Forest::fit_prepared(&full, &params, 11);
                assert!(a.trees.iter().map(|t| t.nodes.len()).sum::<usize>() > 8, "{task:?}: the trees split");
                assert_eq!(a, b, "{task:?} {params:?}");
            }
        }
        // Regression on whole numbers (an age) gets the lists and the same trees; on fractions
        // it keeps the full scan, whose sums depend on their order.
        let whole: Vec<f64> = rows.iter().map(|&r| (18 + (r * 13 + r / 7) % 60) as f64).collect();
        let fractions: Vec<f64> = whole.iter().map(|v| v * 0.3).collect();
        for (y, listed) in [(&whole, true), (&fractions, false)] {
            let problem = Problem {
                bins: &bins,
                n_bins: binner.all_bins(),
                features: &features,
                rows: &rows,
                y,
                task: Task::Regression,
            };
            let lists = Prepared::new(&problem);
            assert_eq!(lists.upper.iter().any(Option::is_some), listed);
            let params = ForestParams { n_trees: 6, ..ForestParams::default() };
            let full = Forest::fit_prepared(&Prepared::with_upper_lists(&problem, false), &params, 5);
            assert_eq!(Forest::fit_prepared(&lists, &params, 5), full, "regression, lists {listed}");
        }
        // Whole numbers too large for exact sums of squares, and a fractional class target.
        let huge = vec![3e7; rows.len()];
        let problem = Problem {
            bins: &bins,
            n_bins: binner.all_bins(),
            features: &features,
            rows: &rows,
            y: &huge,
            task: Task::Regression,
        };
        assert!(!exact_sums(&problem));
        let soft: Vec<f64> = classes.iter().map(|v| v * 0.5).collect();
        let problem = Problem { y: &soft, task: Task::Classes(k), ..problem };
        assert!(!exact_sums(&problem));
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
