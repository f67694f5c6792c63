//! State shared by the chained imputers (iterative and MissForest): the initial fill, the
//! order of visiting columns, and a dense design matrix of the current values (numeric as is,
//! categorical one-hot, set-valued multi-hot) updated as columns are imputed.

use rec_table::{Cell, Value};
use serde::{Deserialize, Serialize};

use crate::common::{self, Column, ColumnStats, Encoder};

/// The initial fill of one feature column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Init {
    Number(f64),
    Code(u32),
    Set(Vec<u32>),
    /// Soft fill of a one- or multi-hot block: label or element frequencies.
    Probs(Vec<f64>),
}

/// How one feature column sits in the design matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum BlockKind {
    Numeric,
    /// One-hot over this many labels.
    OneHot(usize),
    /// Multi-hot over this many elements.
    MultiHot(usize),
}

/// A feature column's place in the design matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Block {
    /// The column in the table.
    pub(crate) col: usize,
    pub(crate) start: usize,
    pub(crate) kind: BlockKind,
}

impl Block {
    pub(crate) fn width(&self) -> usize {
        match self.kind {
            BlockKind::Numeric => 1,
            BlockKind::OneHot(k) | BlockKind::MultiHot(k) => k,
        }
    }
}

/// The classes a label model predicts for a categorical column of more labels than the cap:
/// each of the most frequent labels is a class of its own, the others are one pooled class,
/// written as its most frequent label. The column's one-hot block in the inputs keeps every
/// label; only the model's outputs shrink, and with them its cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Classes {
    /// The class of each label code.
    class_of: Vec<u32>,
    /// The label code each class writes.
    code_of: Vec<u32>,
}

impl Classes {
    /// The classes of a column with these label counts, `None` when it has at most
    /// `max_labels` labels.
    fn pooled(counts: &[usize], max_labels: usize) -> Option<Classes> {
        let max_labels = max_labels.max(2);
        if counts.len() <= max_labels {
            return None;
        }
        let mut by_count: Vec<u32> = (0..counts.len() as u32).collect();
        // Most frequent first; ties by code (labels are sorted).
        by_count.sort_by_key(|&c| std::cmp::Reverse(counts[c as usize]));
        let (kept, pooled) = by_count.split_at(max_labels - 1);
        let pool = kept.len() as u32;
        let mut class_of = vec![pool; counts.len()];
        for (class, &code) in kept.iter().enumerate() {
            class_of[code as usize] = class as u32;
        }
        let mut code_of = kept.to_vec();
        code_of.push(pooled[0]);
        Some(Classes { class_of, code_of })
    }

    /// Number of classes.
    pub(crate) fn len(&self) -> usize {
        self.code_of.len()
    }

    /// The class of a label code (codes outside the vocabulary have none).
    pub(crate) fn class(&self, code: u32) -> Option<u32> {
        self.class_of.get(code as usize).copied()
    }

    /// The label code a class writes.
    pub(crate) fn code(&self, class: usize) -> u32 {
        self.code_of[class]
    }

    /// Class probabilities spread back over the block's labels: each class's probability on
    /// the label it writes, zero elsewhere.
    pub(crate) fn expand(&self, probs: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (class, &p) in probs.iter().enumerate() {
            out[self.code(class) as usize] = p;
        }
    }
}

/// What fit learned about the layout of the chain: blocks, initial fills and visiting order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Plan {
    /// The usable feature columns (observed at least once at fit), in table order.
    pub(crate) blocks: Vec<Block>,
    pub(crate) width: usize,
    pub(crate) init: Vec<Init>,
    /// Indices into `blocks`, by ascending number of missing cells at fit.
    pub(crate) order: Vec<usize>,
    /// Per block, the pooled classes of a categorical column beyond the label cap (empty in
    /// files saved before the cap existed).
    #[serde(default)]
    pub(crate) classes: Vec<Option<Classes>>,
}

impl Plan {
    /// Lays out the usable feature columns; `median` picks the median instead of the mean as
    /// the initial numeric fill; `soft` starts categorical and set-valued cells from the label
    /// (element) frequencies instead of the most frequent label (set).
    pub(crate) fn new(encoder: &Encoder, columns: &[Column], median: bool, soft: bool) -> Plan {
        let (mut blocks, mut init, mut width) = (vec![], vec![], 0);
        for c in encoder.features() {
            let stats = &encoder.stats[c];
            if stats.observed() == 0 {
                continue;
            }
            let (kind, fill) = match (stats, &columns[c]) {
                (ColumnStats::Numeric { mean, .. }, Column::Numeric(xs)) => {
                    let fill = if median {
                        common::median(xs.iter().copied().filter(|x| !x.is_nan()).collect()).unwrap_or(*mean)
                    } else {
                        *mean
                    };
                    (BlockKind::Numeric, Init::Number(fill))
                }
                (ColumnStats::Categorical { vocab, counts }, _) if soft => {
                    let total = counts.iter().sum::<usize>().max(1) as f64;
                    (BlockKind::OneHot(vocab.len()), Init::Probs(counts.iter().map(|&c| c as f64 / total).collect()))
                }
                (ColumnStats::Categorical { vocab, counts }, _) => {
                    (BlockKind::OneHot(vocab.len()), Init::Code(common::mode_code(counts).unwrap_or(0)))
                }
                (ColumnStats::Set { vocab, observed }, Column::Set(cells)) if soft => {
                    let mut freq = vec![0.0; vocab.len()];
                    for &c in cells.iter().flatten().flatten() {
                        freq[c as usize] += 1.0 / (*observed).max(1) as f64;
                    }
                    (BlockKind::MultiHot(vocab.len()), Init::Probs(freq))
                }
                (ColumnStats::Set { vocab, .. }, Column::Set(cells)) => {
                    (BlockKind::MultiHot(vocab.len()), Init::Set(common::mode_set(cells).unwrap_or_default()))
                }
                _ => continue,
            };
            let block = Block { col: c, start: width, kind };
            width += block.width();
            blocks.push(block);
            init.push(fill);
        }
        let missing: Vec<usize> =
            blocks.iter().map(|b| (0..n_rows(columns)).filter(|&r| columns[b.col].is_missing(r)).count()).collect();
        let mut order: Vec<usize> = (0..blocks.len()).collect();
        order.sort_by_key(|&i| missing[i]);
        Plan { blocks, width, init, order, classes: Vec::new() }
    }

    /// Pools the outputs of every categorical block with more than `max_labels` labels (see
    /// [`Classes`]); `None` pools nothing.
    pub(crate) fn with_label_cap(mut self, encoder: &Encoder, max_labels: Option<usize>) -> Plan {
        self.classes = self
            .blocks
            .iter()
            .map(|b| match (&encoder.stats[b.col], max_labels) {
                (ColumnStats::Categorical { counts, .. }, Some(k)) => Classes::pooled(counts, k),
                _ => None,
            })
            .collect();
        self
    }

    /// The pooled classes of block `b`, if its outputs are pooled.
    pub(crate) fn classes(&self, b: usize) -> Option<&Classes> {
        self.classes.get(b).and_then(Option::as_ref)
    }

    /// Design columns used to predict block `b`: every column outside it.
    pub(crate) fn predictors(&self, b: usize) -> Vec<usize> {
        let block = self.blocks[b];
        (0..self.width).filter(|&j| j < block.start || j >= block.start + block.width()).collect()
    }
}

fn n_rows(columns: &[Column]) -> usize {
    columns
        .iter()
        .map(|c| match c {
            Column::Numeric(v) => v.len(),
            Column::Categorical(v) => v.len(),
            Column::Set(v) => v.len(),
            Column::Skip => 0,
        })
        .max()
        .unwrap_or(0)
}

/// The current values of a table during chained imputation.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) rows: usize,
    pub(crate) width: usize,
    /// Row-major `rows × width`.
    pub(crate) design: Vec<f64>,
    /// Per block: rows missing in the original table.
    pub(crate) missing: Vec<Vec<usize>>,
    /// Per block: rows observed in the original table.
    pub(crate) observed: Vec<Vec<usize>>,
}

impl State {
    /// The design of `columns` with the plan's initial fills in the missing cells.
    pub(crate) fn new(plan: &Plan, columns: &[Column], rows: usize) -> State {
        let width = plan.width;
        let mut state = State { rows, width, design: vec![0.0; rows * width], missing: vec![], observed: vec![] };
        for (b, block) in plan.blocks.iter().enumerate() {
            let column = &columns[block.col];
            let (missing, observed): (Vec<usize>, Vec<usize>) = (0..rows).partition(|&r| column.is_missing(r));
            for r in 0..rows {
                match (column, &plan.init[b]) {
                    (Column::Numeric(xs), Init::Number(fill)) => {
                        state.set_number(block, r, if xs[r].is_nan() { *fill } else { xs[r] });
                    }
                    (Column::Categorical(codes), Init::Probs(fill)) if codes[r] == common::MISSING => {
                        state.set_probs(block, r, fill);
                    }
                    (Column::Set(cells), Init::Probs(fill)) if cells[r].is_none() => {
                        state.set_probs(block, r, fill);
                    }
                    (Column::Categorical(codes), Init::Code(_) | Init::Probs(_)) => {
                        let fill = match &plan.init[b] {
                            Init::Code(c) => *c,
                            _ => common::MISSING,
                        };
                        let code = if codes[r] == common::MISSING { fill } else { codes[r] };
                        state.set_code(block, r, code);
                    }
                    (Column::Set(cells), Init::Set(fill)) => {
                        state.set_elements(block, r, cells[r].as_deref().unwrap_or(fill));
                    }
                    (Column::Set(cells), Init::Probs(_)) => {
                        state.set_elements(block, r, cells[r].as_deref().unwrap_or_default());
                    }
                    _ => {}
                }
            }
            state.missing.push(missing);
            state.observed.push(observed);
        }
        state
    }

    /// The values of `cols` for `rows`, row-major.
    pub(crate) fn gather(&self, rows: &[usize], cols: &[usize]) -> Vec<f64> {
        let mut out = Vec::with_capacity(rows.len() * cols.len());
        for &r in rows {
            let line = &self.design[r * self.width..(r + 1) * self.width];
            out.extend(cols.iter().map(|&j| line[j]));
        }
        out
    }

    /// Sets a numeric cell; returns the absolute change.
    pub(crate) fn set_number(&mut self, block: &Block, row: usize, v: f64) -> f64 {
        let cell = &mut self.design[row * self.width + block.start];
        let change = (*cell - v).abs();
        *cell = v;
        change
    }

    /// Sets a categorical cell's one-hot block (all zero for an unseen label); returns whether
    /// it changed.
    pub(crate) fn set_code(&mut self, block: &Block, row: usize, code: u32) -> bool {
        let k = block.width();
        let line = &mut self.design[row * self.width + block.start..row * self.width + block.start + k];
        let before = line.iter().position(|&v| v != 0.0);
        line.iter_mut().for_each(|v| *v = 0.0);
        if (code as usize) < k {
            line[code as usize] = 1.0;
        }
        before != Some(code as usize).filter(|&c| c < k)
    }

    /// Sets a set-valued cell's multi-hot block (unknown elements ignored); returns whether it
    /// changed.
    pub(crate) fn set_elements(&mut self, block: &Block, row: usize, codes: &[u32]) -> bool {
        let k = block.width();
        let line = &mut self.design[row * self.width + block.start..row * self.width + block.start + k];
        let before: Vec<f64> = line.to_vec();
        line.iter_mut().for_each(|v| *v = 0.0);
        for &c in codes {
            if (c as usize) < k {
                line[c as usize] = 1.0;
            }
        }
        before != line
    }

    /// Writes soft values (class or element probabilities) into a one- or multi-hot block;
    /// returns whether the decision (arg-max label, or elements above 1/2) changed.
    pub(crate) fn set_probs(&mut self, block: &Block, row: usize, probs: &[f64]) -> bool {
        let k = block.width();
        let at = row * self.width + block.start;
        let before = decision(block.kind, &self.design[at..at + k]);
        self.design[at..at + k].copy_from_slice(&probs[..k]);
        before != decision(block.kind, &self.design[at..at + k])
    }

    /// The values of block `b` at `row`, for writing.
    pub(crate) fn value(&self, encoder: &Encoder, block: &Block, row: usize) -> Option<Value> {
        let line = &self.design[row * self.width + block.start..row * self.width + block.start + block.width()];
        match block.kind {
            BlockKind::Numeric => Some(Value::Number(line[0])),
            BlockKind::OneHot(_) => decision(block.kind, line).first().and_then(|&c| encoder.category(block.col, c)),
            BlockKind::MultiHot(_) => encoder.set(block.col, &decision(block.kind, line)),
        }
    }

    /// Every originally missing cell of the usable columns with its current value.
    pub(crate) fn fills(&self, plan: &Plan, encoder: &Encoder) -> Vec<(Cell, Value)> {
        let mut out = Vec::new();
        for (b, block) in plan.blocks.iter().enumerate() {
            for &row in &self.missing[b] {
                if let Some(v) = self.value(encoder, block, row) {
                    out.push((Cell { row, col: block.col }, v));
                }
            }
        }
        out
    }
}

/// The labels a block's values stand for: the arg-max (first on ties; none when all are
/// zero) of a one-hot block, the elements above 1/2 of a multi-hot one.
pub(crate) fn decision(kind: BlockKind, line: &[f64]) -> Vec<u32> {
    match kind {
        BlockKind::Numeric => vec![],
        BlockKind::OneHot(_) => {
            let best = line
                .iter()
                .enumerate()
                .fold((None, 0.0), |acc, (c, &v)| if v > acc.1 { (Some(c as u32), v) } else { acc });
            best.0.into_iter().collect()
        }
        BlockKind::MultiHot(_) => (0..line.len()).filter(|&c| line[c] > 0.5).map(|c| c as u32).collect(),
    }
}

/// The target of block `b` on its observed rows: numbers, or one-/multi-hot rows (one-hot
/// over `classes` when the block's outputs are pooled).
pub(crate) fn targets(block: &Block, column: &Column, rows: &[usize], classes: Option<&Classes>) -> Vec<f64> {
    match column {
        Column::Numeric(xs) => rows.iter().map(|&r| xs[r]).collect(),
        Column::Categorical(codes) => {
            let k = classes.map_or(block.width(), Classes::len);
            let mut y = vec![0.0; rows.len() * k];
            for (i, &r) in rows.iter().enumerate() {
                let class = match classes {
                    Some(c) => c.class(codes[r]),
                    None => Some(codes[r]).filter(|&c| (c as usize) < k),
                };
                if let Some(class) = class {
                    y[i * k + class as usize] = 1.0;
                }
            }
            y
        }
        Column::Set(cells) => {
            let k = block.width();
            let mut y = vec![0.0; rows.len() * k];
            for (i, &r) in rows.iter().enumerate() {
                for &c in cells[r].iter().flatten() {
                    if (c as usize) < k {
                        y[i * k + c as usize] = 1.0;
                    }
                }
            }
            y
        }
        Column::Skip => vec![],
    }
}
