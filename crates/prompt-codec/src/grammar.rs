//! Grammars of allowed values: what a model may write for a column, at the token level.
//!
//! - Categorical columns (and set elements): the continuations `" label"` as token sequences
//!   in a [`TokenTrie`]; constrained decoding follows the trie, and candidate scoring uses the
//!   same sequences.
//! - Numeric columns: a [`NumberGrammar`] over characters (sign, digits, one point, at most
//!   the fitted decimals) that only admits prefixes of numbers inside the seen range.

use std::collections::BTreeMap;

use rec_table::{ColumnKind, Value};

use crate::codec::RowCodec;
use crate::error::{Error, Result};

/// The tokenizer interface the grammars need.
pub trait Vocab {
    /// Token ids of `text` (no special tokens added).
    fn encode(&self, text: &str) -> Result<Vec<u32>>;
    /// Text of token ids.
    fn decode(&self, ids: &[u32]) -> Result<String>;
    /// Number of token ids.
    fn vocab_size(&self) -> usize;
}

#[cfg(feature = "tokenizers")]
impl Vocab for tokenizers::Tokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>> {
        std::ops::Deref::deref(self)
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::Tokenizer(e.to_string()))
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        std::ops::Deref::deref(self).decode(ids, false).map_err(|e| Error::Tokenizer(e.to_string()))
    }

    fn vocab_size(&self) -> usize {
        self.get_vocab_size(true)
    }
}

/// A prefix tree of token sequences, one per allowed value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenTrie {
    nodes: Vec<Node>,
    sequences: Vec<Vec<u32>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Node {
    children: BTreeMap<u32, usize>,
    /// Index of the value whose sequence ends here.
    value: Option<usize>,
}

impl TokenTrie {
    /// A trie of the given sequences; value `i` is `sequences[i]`.
    pub fn new(sequences: Vec<Vec<u32>>) -> Result<Self> {
        let mut trie = TokenTrie { nodes: vec![Node::default()], sequences: Vec::new() };
        for (i, seq) in sequences.iter().enumerate() {
            if seq.is_empty() {
                return Err(Error::InvalidInput(format!("value {i} has no tokens")));
            }
            let mut at = 0;
            for &tok in seq {
                let next = trie.nodes.len();
                at = *trie.nodes[at].children.entry(tok).or_insert(next);
                if at == next {
                    trie.nodes.push(Node::default());
                }
            }
            trie.nodes[at].value.get_or_insert(i);
        }
        trie.sequences = sequences;
        Ok(trie)
    }

    /// The token sequence of value `i`.
    pub fn sequence(&self, i: usize) -> &[u32] {
        &self.sequences[i]
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.sequences.len()
    }

    /// Whether the trie holds no value.
    pub fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }

    fn walk(&self, prefix: &[u32]) -> Option<usize> {
        prefix.iter().try_fold(0, |at, tok| self.nodes[at].children.get(tok).copied())
    }

    /// Tokens that may follow `prefix`; empty if `prefix` left the trie.
    pub fn allowed(&self, prefix: &[u32]) -> Vec<u32> {
        self.walk(prefix).map_or_else(Vec::new, |at| self.nodes[at].children.keys().copied().collect())
    }

    /// The value `prefix` spells completely, if any.
    pub fn complete(&self, prefix: &[u32]) -> Option<usize> {
        self.walk(prefix).and_then(|at| self.nodes[at].value)
    }
}

/// Which numbers a numeric column may take, checked character by character.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberGrammar {
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
    /// Most digits after the point.
    pub decimals: usize,
}

impl NumberGrammar {
    /// Whether `text` (after an optional single leading space) can still grow into an allowed
    /// number. The empty string is a valid prefix.
    pub fn accepts_prefix(&self, text: &str) -> bool {
        let t = text.strip_prefix(' ').unwrap_or(text);
        let (neg, body) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        if neg && self.min >= 0.0 {
            return false;
        }
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        if !int.chars().all(|c| c.is_ascii_digit()) || frac.is_some_and(|f| !f.chars().all(|c| c.is_ascii_digit())) {
            return false;
        }
        if int.len() > 1 && int.starts_with('0') {
            return false;
        }
        if let Some(f) = frac {
            if int.is_empty() || f.len() > self.decimals || self.decimals == 0 {
                return false;
            }
        }
        if int.is_empty() {
            return true;
        }
        // Magnitudes allowed for this sign, and the closed intervals of magnitudes that the
        // numbers extending this prefix cover.
        let (lo, hi) = if neg { ((-self.max).max(0.0), -self.min) } else { (self.min.max(0.0), self.max) };
        if hi < 0.0 {
            return false;
        }
        let int_val: f64 = int.parse().unwrap_or(f64::INFINITY);
        let frac_width = if self.decimals > 0 { 1.0 } else { 0.0 };
        let mut covered = Vec::new();
        match frac {
            Some(f) => {
                let scale = 10f64.powi(f.len() as i32);
                let v = int_val + f.parse::<f64>().unwrap_or(0.0) / scale;
                let width = if f.len() < self.decimals { 1.0 / scale } else { 0.0 };
                covered.push((v, v + width));
            }
            None => {
                covered.push((int_val, int_val + frac_width));
                if int != "0" {
                    let max_digits = format!("{}", hi.trunc() as u64).len();
                    for j in 1..=max_digits.saturating_sub(int.len()) {
                        let p = 10f64.powi(j as i32);
                        covered.push((int_val * p, (int_val + 1.0) * p - 1.0 + frac_width));
                    }
                }
            }
        }
        covered.iter().any(|&(a, b)| b >= lo - 1e-9 && a <= hi + 1e-9)
    }

    /// Whether `text` is a complete allowed number.
    pub fn accepts(&self, text: &str) -> bool {
        let t = text.trim();
        self.accepts_prefix(text)
            && !t.ends_with('.')
            && t.parse::<f64>().is_ok_and(|x| x >= self.min - 1e-9 && x <= self.max + 1e-9)
    }
}

/// The grammar of one column, built from the codec and a tokenizer.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnGrammar {
    /// One of finitely many continuations (categorical columns).
    Choice {
        /// The values, in the codec's vocabulary order.
        values: Vec<Value>,
        /// Their continuations as token sequences.
        trie: TokenTrie,
    },
    /// Set elements, each a continuation; a set is written `[a, b]`.
    Elements {
        /// The element labels.
        elements: Vec<String>,
    },
    /// A number within the seen range.
    Number(NumberGrammar),
    /// Free quoted text.
    Text,
}

impl ColumnGrammar {
    /// Builds the grammar of column `col`, checking that the tokenizer spells every allowed
    /// value exactly (a continuation must decode back to itself).
    pub fn build(codec: &RowCodec, col: usize, vocab: &dyn Vocab) -> Result<Self> {
        let c = codec
            .columns()
            .get(col)
            .ok_or_else(|| Error::InvalidInput(format!("column index {col} is out of range")))?;
        match c.kind {
            ColumnKind::Categorical => {
                if c.vocabulary.is_empty() {
                    return Err(Error::InvalidInput(format!(
                        "column '{}' has no observed category to choose from",
                        c.name
                    )));
                }
                let mut values = Vec::new();
                let mut seqs = Vec::new();
                for label in &c.vocabulary {
                    let value = Value::Category(label.clone());
                    let text = codec.continuation(col, &value)?;
                    let ids = vocab.encode(&text)?;
                    let decoded = vocab.decode(&ids)?;
                    if decoded != text {
                        return Err(Error::Unspellable { column: c.name.clone(), value: label.clone(), decoded });
                    }
                    values.push(value);
                    seqs.push(ids);
                }
                Ok(ColumnGrammar::Choice { values, trie: TokenTrie::new(seqs)? })
            }
            ColumnKind::SetValued => Ok(ColumnGrammar::Elements { elements: c.vocabulary.clone() }),
            ColumnKind::Numeric => {
                let (min, max) = c
                    .range
                    .ok_or_else(|| Error::InvalidInput(format!("column '{}' has no observed number", c.name)))?;
                Ok(ColumnGrammar::Number(NumberGrammar { min, max, decimals: c.decimals }))
            }
            ColumnKind::Text => Ok(ColumnGrammar::Text),
            ColumnKind::Id => Err(Error::Unsupported { column: c.name.clone(), kind: c.kind, action: "imputed" }),
        }
    }
}
