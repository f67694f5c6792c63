//! Scoring a fixed set of candidate continuations after many prompts at once.
//!
//! [`score_candidates`] returns `log p(candidate | prompt)` for every prompt and candidate,
//! optionally with the probability that the value *ends* there (`log Σ p(end token)` after
//! the candidate's last token), so that a candidate that is a token-prefix of another (`" 7"`
//! of `" 70"`) does not take the longer one's mass. The prompts run once, left-padded; then
//! the prefix tree of the candidates is walked level by level, each node fed as one token on
//! a copy of its parent's key/value cache, so a prefix shared by several candidates is
//! computed once and the LM head is read only over the tokens that can follow.
//!
//! ```no_run
//! use gpt2_lora::{score_candidates, Gpt2, LoadOptions};
//! # fn main() -> gpt2_lora::Result<()> {
//! let model = Gpt2::from_pretrained("distilgpt2", LoadOptions::default())?;
//! let prompts = vec![vec![464, 3139], vec![40, 588]];
//! let candidates = vec![vec![318], vec![318, 257]];
//! // log p, with the end of the value scored as p("," or ".") after it.
//! let scores = score_candidates(&model, &prompts, &candidates, &[11, 13], 0)?;
//! assert_eq!(scores.len(), 2);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeSet, HashMap};

use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::model::{CausalLm, ForwardOptions};

/// A node of the prefix tree of candidate token sequences.
struct Node {
    parent: usize,
    last: i64,
    children: BTreeSet<i64>,
}

/// The prefix tree: nodes by prefix, and the nodes of each depth.
struct Tree {
    nodes: Vec<Node>,
    index: HashMap<Vec<i64>, usize>,
    levels: Vec<Vec<usize>>,
}

impl Tree {
    /// Every prefix that has a token after it becomes a node; with `end` tokens, every whole
    /// candidate does too (its children are the end tokens).
    fn build(candidates: &[Vec<i64>], end: &[i64]) -> Result<Self> {
        let mut tree = Tree {
            nodes: vec![Node { parent: 0, last: -1, children: BTreeSet::new() }],
            index: HashMap::from([(Vec::new(), 0)]),
            levels: vec![vec![0]],
        };
        for (c, seq) in candidates.iter().enumerate() {
            if seq.is_empty() {
                return Err(Error::invalid(format!("candidate {c} has no tokens")));
            }
            let mut at = 0;
            for d in 0..seq.len() {
                tree.nodes[at].children.insert(seq[d]);
                if d + 1 == seq.len() && end.is_empty() {
                    break;
                }
                at = tree.child(at, &seq[..=d]);
            }
            if !end.is_empty() {
                tree.nodes[at].children.extend(end.iter().copied());
            }
        }
        Ok(tree)
    }

    fn child(&mut self, parent: usize, prefix: &[i64]) -> usize {
        if let Some(&n) = self.index.get(prefix) {
            return n;
        }
        let n = self.nodes.len();
        let depth = prefix.len();
        self.nodes.push(Node { parent, last: prefix[depth - 1], children: BTreeSet::new() });
        self.index.insert(prefix.to_vec(), n);
        if self.levels.len() <= depth {
            self.levels.push(Vec::new());
        }
        self.levels[depth].push(n);
        n
    }
}

/// Log-probabilities read off the model: `(node, token)` → one value per prompt.
type LogProbs = HashMap<(usize, i64), Vec<f32>>;

impl Tree {
    /// Reads the log-probability of every child of every node of `level` off the last
    /// position of `logits`, whose rows are prompt-major (prompt `i`, node `k` at row
    /// `i * level.len() + k`); the LM head's softmax is read only over the children's tokens.
    fn gather(&self, logits: &Tensor, level: &[usize], prompts: usize, lp: &mut LogProbs) -> Result<()> {
        let union: Vec<i64> = level
            .iter()
            .flat_map(|&n| self.nodes[n].children.iter().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let pos: HashMap<i64, usize> = union.iter().enumerate().map(|(i, &t)| (t, i)).collect();
        let idx = Tensor::from_slice(&union).f_to_device(logits.device())?;
        let picked = logits
            .f_select(1, -1)?
            .f_to_kind(Kind::Float)?
            .f_log_softmax(-1, Kind::Float)?
            .f_index_select(1, &idx)?
            .f_to_device(Device::Cpu)?
            .f_contiguous()?;
        let host = Vec::<f32>::try_from(&picked.f_view([-1])?)?;
        let width = union.len();
        for i in 0..prompts {
            for (k, &n) in level.iter().enumerate() {
                let row = i * level.len() + k;
                for &t in &self.nodes[n].children {
                    lp.entry((n, t)).or_insert_with(|| vec![0.0; prompts])[i] = host[row * width + pos[&t]];
                }
            }
        }
        Ok(())
    }

    /// What feeds depth `d`: for each prompt and node of the level, the row of its parent in
    /// the previous level's cache and the node's own token.
    fn feed(&self, d: usize, prompts: usize) -> (Vec<i64>, Vec<i64>) {
        let prev = &self.levels[d - 1];
        let prev_pos: HashMap<usize, usize> = prev.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let level = &self.levels[d];
        let mut rows = Vec::with_capacity(prompts * level.len());
        let mut tokens = Vec::with_capacity(prompts * level.len());
        for i in 0..prompts {
            for &n in level {
                rows.push((i * prev.len() + prev_pos[&self.nodes[n].parent]) as i64);
                tokens.push(self.nodes[n].last);
            }
        }
        (rows, tokens)
    }

    /// `[prompt][candidate]` sums of the candidates' token log-probabilities, plus the
    /// log-probability of ending after them when there are `end` tokens.
    fn sum_scores(&self, candidates: &[Vec<i64>], end: &[i64], lp: &LogProbs, prompts: usize) -> Vec<Vec<f64>> {
        let mut scores = vec![vec![0f64; candidates.len()]; prompts];
        for (c, seq) in candidates.iter().enumerate() {
            let mut at = 0;
            for (d, &t) in seq.iter().enumerate() {
                let v = &lp[&(at, t)];
                for (i, row) in scores.iter_mut().enumerate() {
                    row[c] += v[i] as f64;
                }
                if d + 1 < seq.len() || !end.is_empty() {
                    at = self.index[&seq[..=d]];
                }
            }
            if !end.is_empty() {
                for (i, row) in scores.iter_mut().enumerate() {
                    row[c] += logsumexp(end.iter().map(|e| lp[&(at, *e)][i] as f64));
                }
            }
        }
        scores
    }
}

/// The prompts as one left-padded `[B, width]` batch of ids (`pad` on the left) and its
/// attention mask, on `device`.
fn left_padded(prompts: &[Vec<i64>], pad: i64, device: Device) -> Result<(Tensor, Tensor)> {
    let width = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(prompts.len() * width);
    let mut mask = Vec::with_capacity(prompts.len() * width);
    for p in prompts {
        ids.extend(std::iter::repeat_n(pad, width - p.len()));
        mask.extend(std::iter::repeat_n(0i64, width - p.len()));
        ids.extend_from_slice(p);
        mask.extend(std::iter::repeat_n(1i64, p.len()));
    }
    let shape = [prompts.len() as i64, width as i64];
    let ids = Tensor::from_slice(&ids).f_reshape(shape)?.f_to_device(device)?;
    let mask = Tensor::from_slice(&mask).f_reshape(shape)?.f_to_device(device)?;
    Ok((ids, mask))
}

/// `[prompt][candidate]` log-likelihoods of `candidates` after `prompts`.
///
/// With `end` non-empty, each score also includes `log Σ_{e ∈ end} p(e | prompt, candidate)`:
/// the probability that the value stops after the candidate. `pad` fills the left of shorter
/// prompts (masked out). Runs without gradients.
pub fn score_candidates<M: CausalLm + ?Sized>(
    model: &M,
    prompts: &[Vec<i64>],
    candidates: &[Vec<i64>],
    end: &[i64],
    pad: i64,
) -> Result<Vec<Vec<f64>>> {
    if prompts.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(Error::invalid(format!("prompt {i} is empty")));
    }
    let device = model.device();
    let _guard = tch::no_grad_guard();
    let tree = Tree::build(candidates, end)?;
    let b = prompts.len();
    let mut lp = LogProbs::new();
    let (ids, mask) = left_padded(prompts, pad, device)?;
    let out = model.forward(&ids, Some(&mask), None, ForwardOptions::eval().last_only())?;
    tree.gather(&out.logits, &tree.levels[0], b, &mut lp)?;
    let mut cache = out.cache;
    for d in 1..tree.levels.len() {
        let (rows, feed) = tree.feed(d, b);
        let fanned = cache.select_rows(&rows)?;
        let ids = Tensor::from_slice(&feed).f_view([-1, 1])?.f_to_device(device)?;
        let out = model.forward(&ids, None, Some(fanned), ForwardOptions::eval())?;
        tree.gather(&out.logits, &tree.levels[d], b, &mut lp)?;
        cache = out.cache;
    }
    Ok(tree.sum_scores(candidates, end, &lp, b))
}

/// The widest level of the prefix tree of `candidates`: how many rows one prompt needs in the
/// widest forward pass of [`score_candidates`] (with or without end tokens).
pub fn widest_level(candidates: &[Vec<i64>], with_end: bool) -> usize {
    let mut per_depth: Vec<BTreeSet<&[i64]>> = Vec::new();
    for seq in candidates {
        let upto = if with_end { seq.len() + 1 } else { seq.len() };
        for d in 0..upto {
            if per_depth.len() <= d {
                per_depth.push(BTreeSet::new());
            }
            per_depth[d].insert(&seq[..d]);
        }
    }
    per_depth.iter().map(BTreeSet::len).max().unwrap_or(1).max(1)
}

fn logsumexp(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widest_level_counts_shared_prefixes_once() {
        let c = vec![vec![1, 7], vec![1, 9], vec![2]];
        assert_eq!(widest_level(&c, false), 1);
        // With end tokens the whole candidates are fed too: [1,7], [1,9] at depth 2.
        assert_eq!(widest_level(&c, true), 2);
        let c = vec![vec![1, 7, 3], vec![2, 9, 4], vec![3]];
        assert_eq!(widest_level(&c, false), 2);
    }

    #[test]
    fn whole_candidates_become_nodes_only_with_end_tokens() {
        let c = vec![vec![5], vec![5, 6]];
        let t = Tree::build(&c, &[]).unwrap();
        assert_eq!(t.nodes.len(), 2); // root and [5]
        let t = Tree::build(&c, &[9]).unwrap();
        assert_eq!(t.nodes.len(), 3); // root, [5], [5, 6]
        assert!(t.nodes[t.index[&vec![5]]].children.contains(&9));
        assert!(t.nodes[t.index[&vec![5]]].children.contains(&6));
        assert!(Tree::build(&[vec![]], &[]).is_err());
    }
}
