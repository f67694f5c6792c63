//! [`RowCodec`]: rows as sentences ("age is 24, gender is M, ...") and generated text back
//! into typed values.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::Rng;
use rec_table::{ColumnKind, Schema, Table, Value};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How rows are written as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodecConfig {
    /// Between two cells (default `", "`).
    pub separator: String,
    /// Between a column's phrase and its value (default `" is "`).
    pub connector: String,
    /// After the last cell (default `"."`).
    pub terminator: String,
    /// Most decimals a numeric column is written with (default 3).
    pub max_decimals: usize,
    /// Numbers written by quantile bin: a numeric column with more distinct observed values
    /// than this is cut into this many bins of about equal counts, and each of its numbers is
    /// written as its bin's median (see [`NumberBins`]). `0` (the default) writes every number
    /// as it is. Codecs saved before this option existed read `0`.
    #[serde(default)]
    pub numeric_bins: usize,
}

impl Default for CodecConfig {
    fn default() -> Self {
        CodecConfig {
            separator: ", ".into(),
            connector: " is ".into(),
            terminator: ".".into(),
            max_decimals: 3,
            numeric_bins: 0,
        }
    }
}

/// The quantile bins a numeric column's numbers are written by ([`CodecConfig::numeric_bins`]).
///
/// ```
/// use prompt_codec::NumberBins;
///
/// // Ten observed values in three bins of ranks 0-3, 4-6, 7-9 (copies of a value never split).
/// let bins = NumberBins::fit(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 3).unwrap();
/// assert_eq!(bins.values, vec![2.0, 6.0, 9.0]);
/// assert_eq!(bins.cuts, vec![4.5, 7.5]);
/// assert_eq!(bins.snap(3.4), 2.0);
/// assert_eq!(bins.snap(7.7), 9.0);
/// assert_eq!(bins.snap(-50.0), 2.0);
/// assert!(NumberBins::fit(&[1.0, 2.0, 2.0], 3).is_none(), "two distinct values need no bins");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberBins {
    /// The number each bin is written as, ascending: its median observed value (the lower
    /// median, so always a value that was observed).
    pub values: Vec<f64>,
    /// The bounds between neighbouring bins, `values.len() - 1` of them: midway between one
    /// bin's largest observed value and the next bin's smallest.
    pub cuts: Vec<f64>,
}

impl NumberBins {
    /// Bins of about equal counts over the observed numbers `xs` (a value's copies always
    /// share a bin, so there may be fewer than `bins`); `None` when `xs` holds at most `bins`
    /// distinct values (each is then its own bin) or `bins < 2`.
    pub fn fit(xs: &[f64], bins: usize) -> Option<NumberBins> {
        let mut sorted: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let mut distinct: Vec<(f64, usize)> = Vec::new();
        for x in sorted.iter().copied() {
            match distinct.last_mut() {
                Some((v, n)) if *v == x => *n += 1,
                _ => distinct.push((x, 1)),
            }
        }
        if bins < 2 || distinct.len() <= bins {
            return None;
        }
        // Each distinct value goes to the bin its first copy's rank falls in.
        let total = sorted.len();
        let mut groups: Vec<Vec<(f64, usize)>> = Vec::new();
        let (mut before, mut current) = (0, usize::MAX);
        for (x, n) in distinct {
            let b = (before * bins / total).min(bins - 1);
            if b != current {
                groups.push(Vec::new());
                current = b;
            }
            groups.last_mut().expect("a group was just pushed").push((x, n));
            before += n;
        }
        let values = groups
            .iter()
            .map(|g| {
                let half = g.iter().map(|p| p.1).sum::<usize>().div_ceil(2);
                let mut seen = 0;
                g.iter()
                    .find(|p| {
                        seen += p.1;
                        seen >= half
                    })
                    .map_or(g[0].0, |p| p.0)
            })
            .collect();
        let cuts = groups.windows(2).map(|w| (w[0][w[0].len() - 1].0 + w[1][0].0) / 2.0).collect();
        Some(NumberBins { values, cuts })
    }

    /// The number `x` is written as: its bin's value (`x` itself for bins without values, which
    /// [`fit`](Self::fit) never makes but a hand-edited save could hold).
    pub fn snap(&self, x: f64) -> f64 {
        let i = self.cuts.partition_point(|&c| c <= x);
        self.values.get(i).or(self.values.last()).copied().unwrap_or(x)
    }
}

/// What the codec learnt about one column at fit time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnCodec {
    /// The column name.
    pub name: String,
    /// The readable phrase used in text: `device_type` → `device type`.
    pub phrase: String,
    /// The column's kind.
    pub kind: ColumnKind,
    /// Decimals numbers are written with (numeric columns).
    pub decimals: usize,
    /// Smallest and largest observed number (numeric columns).
    pub range: Option<(f64, f64)>,
    /// Observed categories, or set elements, most frequent first (ties by label).
    pub vocabulary: Vec<String>,
    /// The bins its numbers are written by, when [`CodecConfig::numeric_bins`] asked for them
    /// and the column has more distinct observed values than that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bins: Option<NumberBins>,
}

impl ColumnCodec {
    /// Whether values of this column can be imputed through the codec.
    pub fn imputable(&self) -> bool {
        matches!(self.kind, ColumnKind::Numeric | ColumnKind::Categorical | ColumnKind::SetValued | ColumnKind::Text)
    }

    /// `x` rounded to the decimals the column's numbers are written with (before any bins).
    pub fn rounded(&self, x: f64) -> f64 {
        round_to(x, self.decimals)
    }
}

/// `x` rounded to `decimals` decimals.
fn round_to(x: f64, decimals: usize) -> f64 {
    let scale = 10f64.powi(decimals as i32);
    (x * scale).round() / scale
}

/// Serializes rows of tables of one schema as text and parses generated values back.
///
/// ```
/// use prompt_codec::{CodecConfig, RowCodec};
/// use rec_table::{read_csv_bytes, CsvOptions};
///
/// let table = read_csv_bytes(b"age,device_type\n24,Mobile\n31.5,Desktop\n,Mobile\n", "t.csv", &CsvOptions::default())?;
/// let codec = RowCodec::fit(&table, CodecConfig::default())?;
/// assert_eq!(codec.serialize_row(&table, 0, &[0, 1])?, "age is 24.0, device type is Mobile.");
/// assert_eq!(codec.prompt(&table, 2, 0)?, "device type is Mobile, age is");
/// assert_eq!(codec.parse_value(0, " 27.5")?, rec_table::Value::Number(27.5));
/// # Ok::<(), prompt_codec::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowCodec {
    config: CodecConfig,
    schema: Schema,
    columns: Vec<ColumnCodec>,
}

impl RowCodec {
    /// Learns phrases, number formats and vocabularies from a training table.
    pub fn fit(table: &Table, config: CodecConfig) -> Result<Self> {
        if table.num_rows() == 0 {
            return Err(Error::InvalidInput("the codec cannot be fitted on an empty table".into()));
        }
        let mut columns = Vec::with_capacity(table.num_columns());
        for (j, spec) in table.schema().columns().iter().enumerate() {
            let values = table.column_values(j);
            let mut decimals = 0;
            let mut range: Option<(f64, f64)> = None;
            let mut counts: HashMap<String, usize> = HashMap::new();
            let mut numbers = Vec::new();
            for v in values.iter().flatten() {
                match v {
                    Value::Number(x) => {
                        numbers.push(*x);
                        decimals = decimals.max(decimals_of(*x, config.max_decimals));
                        range = Some(range.map_or((*x, *x), |(lo, hi)| (lo.min(*x), hi.max(*x))));
                    }
                    Value::Category(s) if spec.kind == ColumnKind::Categorical => {
                        *counts.entry(s.clone()).or_default() += 1
                    }
                    Value::Set(items) => {
                        for i in items {
                            *counts.entry(i.clone()).or_default() += 1;
                        }
                    }
                    _ => {}
                }
            }
            let mut vocabulary: Vec<(String, usize)> = counts.into_iter().collect();
            vocabulary.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            // Bins over the numbers as they are written (rounded to the column's decimals).
            let written: Vec<f64> = numbers.iter().map(|&x| round_to(x, decimals)).collect();
            let bins =
                if spec.kind == ColumnKind::Numeric { NumberBins::fit(&written, config.numeric_bins) } else { None };
            columns.push(ColumnCodec {
                name: spec.name.clone(),
                phrase: phrase(&spec.name),
                kind: spec.kind,
                decimals,
                range,
                vocabulary: vocabulary.into_iter().map(|(s, _)| s).collect(),
                bins,
            });
        }
        Ok(RowCodec { config, schema: table.schema().clone(), columns })
    }

    /// The schema the codec was fitted on.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The configuration.
    pub fn config(&self) -> &CodecConfig {
        &self.config
    }

    /// What was learnt about each column.
    pub fn columns(&self) -> &[ColumnCodec] {
        &self.columns
    }

    /// The text of one value of column `col`, as it appears after the connector.
    pub fn format_value(&self, col: usize, value: &Value) -> Result<String> {
        let c = self.column(col)?;
        let mismatch = || Error::Parse { column: c.name.clone(), text: value.to_string(), expected: expected(c) };
        Ok(match (c.kind, value) {
            (ColumnKind::Numeric, Value::Number(x)) => {
                format!("{:.*}", c.decimals, c.bins.as_ref().map_or(*x, |b| b.snap(*x)))
            }
            (ColumnKind::Categorical | ColumnKind::Id, Value::Category(s) | Value::Text(s)) => s.clone(),
            (ColumnKind::Text, Value::Text(s) | Value::Category(s)) => format!("\"{}\"", s.replace('"', "'")),
            (ColumnKind::SetValued, Value::Set(items)) => format!("[{}]", items.join(", ")),
            _ => return Err(mismatch()),
        })
    }

    /// Reads generated text (leading/trailing spaces and a trailing separator or terminator
    /// ignored) as a value of column `col`; the value must lie in the column's grammar:
    /// a known category, known set elements, a number (any, range is the grammar's job), or
    /// quoted text.
    pub fn parse_value(&self, col: usize, text: &str) -> Result<Value> {
        let c = self.column(col)?;
        let err = || Error::Parse { column: c.name.clone(), text: text.to_string(), expected: expected(c) };
        let t = text.trim();
        let t = t
            .strip_suffix(self.config.terminator.trim())
            .or_else(|| t.strip_suffix(self.config.separator.trim()))
            .unwrap_or(t)
            .trim();
        match c.kind {
            ColumnKind::Numeric => t.parse::<f64>().ok().filter(|x| x.is_finite()).map(Value::Number).ok_or_else(err),
            ColumnKind::Categorical => {
                c.vocabulary.iter().find(|v| v.as_str() == t).map(|v| Value::Category(v.clone())).ok_or_else(err)
            }
            ColumnKind::SetValued => {
                let inner = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')).ok_or_else(err)?;
                let mut items = Vec::new();
                for part in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let known = c.vocabulary.iter().find(|v| v.as_str() == part).ok_or_else(err)?;
                    if !items.contains(known) {
                        items.push(known.clone());
                    }
                }
                Ok(Value::Set(items))
            }
            ColumnKind::Text => {
                let inner = t.strip_prefix('"').and_then(|s| s.strip_suffix('"')).ok_or_else(err)?;
                Ok(Value::Text(inner.to_string()))
            }
            ColumnKind::Id => Err(Error::Unsupported { column: c.name.clone(), kind: c.kind, action: "imputed" }),
        }
    }

    /// One cell as text: `age is 24`.
    pub fn cell_text(&self, col: usize, value: &Value) -> Result<String> {
        let c = self.column(col)?;
        Ok(format!("{}{}{}", c.phrase, self.config.connector, self.format_value(col, value)?))
    }

    /// The observed cells of `row` in the order `order` (missing ones skipped, id columns
    /// skipped), joined and terminated: `"age is 24, gender is M."`.
    pub fn serialize_row(&self, table: &Table, row: usize, order: &[usize]) -> Result<String> {
        self.check(table)?;
        let mut parts = Vec::with_capacity(order.len());
        for &col in order {
            if self.column(col)?.kind == ColumnKind::Id {
                continue;
            }
            if let Some(v) = table.value(row, col) {
                parts.push(self.cell_text(col, &v)?);
            }
        }
        Ok(format!("{}{}", parts.join(&self.config.separator), self.config.terminator))
    }

    /// A training sentence for `row` with the columns in a random order, so that any subset of
    /// cells learns to condition any other.
    pub fn training_text(&self, table: &Table, row: usize, rng: &mut impl Rng) -> Result<String> {
        let mut order: Vec<usize> = (0..self.columns.len()).collect();
        order.shuffle(rng);
        self.serialize_row(table, row, &order)
    }

    /// The prompt that asks for column `target` of `row`: the observed cells first (schema
    /// order), then the target's phrase and connector without its trailing space:
    /// `"gender is M, occupation is"`. The value is expected to follow as `" value"`.
    pub fn prompt(&self, table: &Table, row: usize, target: usize) -> Result<String> {
        self.prompt_with(table, row, target, &[])
    }

    /// Like [`prompt`](Self::prompt), with cells filled earlier (for rows with several gaps)
    /// appended after the observed ones.
    pub fn prompt_with(&self, table: &Table, row: usize, target: usize, filled: &[(usize, Value)]) -> Result<String> {
        self.prompt_parts::<rand_chacha::ChaCha8Rng>(table, row, target, filled, None, None)
    }

    /// Like [`prompt_with`](Self::prompt_with), with the observed cells written in `order` (a
    /// permutation of the columns, e.g. [`fewest_values_first`](Self::fewest_values_first))
    /// instead of the schema's; the filled cells follow in the order given, then the target.
    ///
    /// ```
    /// use prompt_codec::{CodecConfig, RowCodec};
    /// use rec_table::{read_csv_bytes, CsvOptions};
    ///
    /// let table = read_csv_bytes(b"age,device,click\n24,Mobile,1\n31,Desktop,0\n40,,1\n", "t.csv", &CsvOptions::default())?;
    /// let codec = RowCodec::fit(&table, CodecConfig::default())?;
    /// assert_eq!(codec.fewest_values_first(), vec![1, 2, 0]);
    /// assert_eq!(codec.prompt_ordered(&table, 2, 1, &[], &[2, 0, 1])?, "click is 1, age is 40, device is");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prompt_ordered(
        &self,
        table: &Table,
        row: usize,
        target: usize,
        filled: &[(usize, Value)],
        order: &[usize],
    ) -> Result<String> {
        let n = self.columns.len();
        let mut seen = vec![false; n];
        let permutation = order.len() == n && order.iter().all(|&c| c < n && !std::mem::replace(&mut seen[c], true));
        if !permutation {
            return Err(Error::InvalidInput(format!("column order {order:?} is not a permutation of the {n} columns")));
        }
        self.prompt_parts::<rand_chacha::ChaCha8Rng>(table, row, target, filled, Some(order), None)
    }

    /// The columns ordered by how many distinct values they can take, fewest first (ties in
    /// schema order): categories by their vocabulary, numbers by the values their range and
    /// decimals allow; set-valued and text columns last. Rows written in this order share
    /// longer beginnings with their neighbours once sorted: a 0/1 column splits the rows in two,
    /// an age column in dozens.
    pub fn fewest_values_first(&self) -> Vec<usize> {
        let count = |c: &ColumnCodec| -> f64 {
            match c.kind {
                ColumnKind::Categorical => c.vocabulary.len() as f64,
                ColumnKind::Numeric => match &c.bins {
                    Some(b) => b.values.len() as f64,
                    None => c
                        .range
                        .map_or(f64::INFINITY, |(lo, hi)| (hi - lo) * 10f64.powi(c.decimals.min(300) as i32) + 1.0),
                },
                ColumnKind::SetValued | ColumnKind::Text | ColumnKind::Id => f64::INFINITY,
            }
        };
        let mut order: Vec<usize> = (0..self.columns.len()).collect();
        order.sort_by(|&a, &b| count(&self.columns[a]).total_cmp(&count(&self.columns[b])).then(a.cmp(&b)));
        order
    }

    /// Like [`prompt_with`](Self::prompt_with), with the known cells (observed and filled) in
    /// a random order drawn from `rng`; the target's phrase stays last. Training shows the model
    /// its cells in random orders, so a question asked in several orders gives several views
    /// of one cell whose scores can be averaged.
    pub fn prompt_shuffled(
        &self,
        table: &Table,
        row: usize,
        target: usize,
        filled: &[(usize, Value)],
        rng: &mut impl Rng,
    ) -> Result<String> {
        self.prompt_parts(table, row, target, filled, None, Some(rng))
    }

    fn prompt_parts<R: Rng>(
        &self,
        table: &Table,
        row: usize,
        target: usize,
        filled: &[(usize, Value)],
        order: Option<&[usize]>,
        rng: Option<&mut R>,
    ) -> Result<String> {
        self.check(table)?;
        let c = self.column(target)?;
        if !c.imputable() {
            return Err(Error::Unsupported { column: c.name.clone(), kind: c.kind, action: "imputed" });
        }
        let mut parts = Vec::new();
        let schema: Vec<usize>;
        let order = match order {
            Some(o) => o,
            None => {
                schema = (0..self.columns.len()).collect();
                &schema
            }
        };
        for &col in order {
            if col == target || self.columns[col].kind == ColumnKind::Id {
                continue;
            }
            if let Some(v) = table.value(row, col) {
                parts.push(self.cell_text(col, &v)?);
            }
        }
        for (col, v) in filled {
            if *col != target {
                parts.push(self.cell_text(*col, v)?);
            }
        }
        if let Some(rng) = rng {
            parts.shuffle(rng);
        }
        parts.push(format!("{}{}", c.phrase, self.config.connector.trim_end()));
        Ok(parts.join(&self.config.separator))
    }

    /// The continuation text of a value after a prompt: `" " + value` (what the model writes).
    pub fn continuation(&self, col: usize, value: &Value) -> Result<String> {
        let lead = &self.config.connector[self.config.connector.trim_end().len()..];
        Ok(format!("{lead}{}", self.format_value(col, value)?))
    }

    fn column(&self, col: usize) -> Result<&ColumnCodec> {
        self.columns.get(col).ok_or_else(|| {
            Error::InvalidInput(format!("column index {col} is out of range ({} columns)", self.columns.len()))
        })
    }

    fn check(&self, table: &Table) -> Result<()> {
        self.schema.ensure_same(table.schema(), "prompt codec").map_err(Error::from)
    }
}

fn expected(c: &ColumnCodec) -> String {
    match c.kind {
        ColumnKind::Numeric => "a number".into(),
        ColumnKind::Categorical => {
            let shown: Vec<&str> = c.vocabulary.iter().take(8).map(String::as_str).collect();
            let more = if c.vocabulary.len() > 8 { ", ..." } else { "" };
            format!("one of {}{more}", shown.join(", "))
        }
        ColumnKind::SetValued => "a list like [a, b] of known elements".into(),
        ColumnKind::Text => "quoted text".into(),
        ColumnKind::Id => "an identifier".into(),
    }
}

/// Decimals needed to write `x` exactly, up to `max`.
fn decimals_of(x: f64, max: usize) -> usize {
    (0..=max)
        .find(|&d| {
            let scaled = x * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-9 * scaled.abs().max(1.0)
        })
        .unwrap_or(max)
}

/// `device_type` → `device type`, `releaseYear` → `release year`.
pub fn phrase(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if ch == '_' || ch == '-' || ch == '.' {
            if !out.ends_with(' ') {
                out.push(' ');
            }
            prev_lower = false;
        } else if ch.is_uppercase() && prev_lower {
            out.push(' ');
            out.extend(ch.to_lowercase());
            prev_lower = false;
        } else {
            prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
            out.extend(ch.to_lowercase());
        }
    }
    out.trim().to_string()
}
