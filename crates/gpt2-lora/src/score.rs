//! Scoring a fixed set of candidate continuations after many prompts at once.
//!
//! [`score_candidates`] returns `log p(candidate | prompt)` for every prompt and candidate,
//! optionally with the probability that the value *ends* there (`log Σ p(end token)` after
//! the candidate's last token), so that a candidate that is a token-prefix of another (`" 7"`
//! of `" 70"`) does not take the longer one's mass (after every candidate, or, with
//! [`EndAfter::Prefixes`], only after those that are a prefix of another). The prompts run
//! once, left-padded; then the prefix tree of the candidates is walked level by level, each
//! node fed as one token on a copy of its parent's key/value cache, so a prefix shared by
//! several candidates is computed once and the LM head is read only over the tokens that can
//! follow. [`score_candidates_shared`] also computes each prompt prefix that several prompts
//! share once: the prompts are sorted and run in blocks of tokens, each distinct block-aligned
//! prefix once. [`score_candidates_resumed`] lets a prompt continue the kept cache
//! ([`PromptCache`]) of an earlier prompt it extends, so only its new tokens run.
//!
//! ```no_run
//! use gpt2_lora::{score_candidates, EndAfter, Gpt2, LoadOptions};
//! # fn main() -> gpt2_lora::Result<()> {
//! let model = Gpt2::from_pretrained("distilgpt2", LoadOptions::default())?;
//! let prompts = vec![vec![464, 3139], vec![40, 588]];
//! let candidates = vec![vec![318], vec![318, 257]];
//! // log p, with the end of the value scored as p("," or ".") after it.
//! let scores = score_candidates(&model, &prompts, &candidates, &[11, 13], EndAfter::Every, 0)?;
//! assert_eq!(scores.len(), 2);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeSet, HashMap};

use tch::{Device, Kind, Tensor};

use crate::cache::KvCache;
use crate::error::{Error, Result};
use crate::model::{CausalLm, ForwardOptions};

/// After which candidates the end tokens are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndAfter {
    /// After every candidate.
    #[default]
    Every,
    /// Only after a candidate that is a token-prefix of another (`" 7"` of `" 70"`), the one
    /// case where the end decides between candidates: it spares a forward row per other
    /// candidate (46 of 47 rows per prompt for ages 18-64 written as two tokens).
    Prefixes,
}

/// A node of the prefix tree of candidate token sequences.
struct Node {
    parent: usize,
    last: i64,
    children: BTreeSet<i64>,
}

/// The prefix tree: nodes by prefix, and the nodes of each depth.
struct Tree {
    nodes: Vec<Node>,
    /// Per candidate, whether the end tokens are scored after it.
    ends: Vec<bool>,
    index: HashMap<Vec<i64>, usize>,
    levels: Vec<Vec<usize>>,
}

impl Tree {
    /// Every prefix that has a token after it becomes a node; with `end` tokens, every whole
    /// candidate they are scored after does too (its children include the end tokens).
    fn build(candidates: &[Vec<i64>], end: &[i64], after: EndAfter) -> Result<Self> {
        if let Some(c) = candidates.iter().position(Vec::is_empty) {
            return Err(Error::invalid(format!("candidate {c} has no tokens")));
        }
        let ends = candidates
            .iter()
            .map(|c| {
                !end.is_empty()
                    && match after {
                        EndAfter::Every => true,
                        EndAfter::Prefixes => candidates.iter().any(|o| o.len() > c.len() && o.starts_with(c)),
                    }
            })
            .collect();
        let mut tree = Tree {
            nodes: vec![Node { parent: 0, last: -1, children: BTreeSet::new() }],
            ends,
            index: HashMap::from([(Vec::new(), 0)]),
            levels: vec![vec![0]],
        };
        for (c, seq) in candidates.iter().enumerate() {
            let mut at = 0;
            for d in 0..seq.len() {
                tree.nodes[at].children.insert(seq[d]);
                if d + 1 == seq.len() && !tree.ends[c] {
                    break;
                }
                at = tree.child(at, &seq[..=d]);
            }
            if tree.ends[c] {
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
    /// Reads the log-probability of every child of every node of `level` off `logits`
    /// (`[rows, vocab]`), whose rows are prompt-major (prompt `i`, node `k` at row
    /// `i * level.len() + k`); the softmax's values are read only at the children's tokens.
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
                if d + 1 < seq.len() || self.ends[c] {
                    at = self.index[&seq[..=d]];
                }
            }
            if self.ends[c] {
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

/// Whether there are no prompts (nothing to score); an empty prompt is an error.
fn check_prompts(prompts: &[Vec<i64>]) -> Result<bool> {
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(Error::invalid(format!("prompt {i} is empty")));
    }
    Ok(prompts.is_empty())
}

/// `[prompt][candidate]` log-likelihoods of `candidates` after `prompts`.
///
/// With `end` non-empty, the score of each candidate `after` names also includes
/// `log Σ_{e ∈ end} p(e | prompt, candidate)`: the probability that the value stops after it.
/// `pad` fills the left of shorter prompts (masked out). Runs without gradients.
pub fn score_candidates<M: CausalLm + ?Sized>(
    model: &M,
    prompts: &[Vec<i64>],
    candidates: &[Vec<i64>],
    end: &[i64],
    after: EndAfter,
    pad: i64,
) -> Result<Vec<Vec<f64>>> {
    if check_prompts(prompts)? {
        return Ok(Vec::new());
    }
    let device = model.device();
    let _guard = tch::no_grad_guard();
    let tree = Tree::build(candidates, end, after)?;
    let b = prompts.len();
    let (ids, mask) = left_padded(prompts, pad, device)?;
    let out = model.forward(&ids, Some(&mask), None, ForwardOptions::eval().last_only())?;
    let lp = tree.walk(model, &out.logits.f_select(1, -1)?, Some(out.cache), b)?;
    Ok(tree.sum_scores(candidates, end, &lp, b))
}

impl Tree {
    /// The log-probabilities of every edge of the tree after `b` prompts, from the logits after
    /// each prompt's last token (`[b, vocab]`) and a cache holding the prompts (`b` rows; only
    /// read when the tree has more than one level): the tree is walked level by level, each
    /// node fed as one token on a copy of its parent's cache row.
    fn walk<M: CausalLm + ?Sized>(
        &self,
        model: &M,
        first: &Tensor,
        cache: Option<KvCache>,
        b: usize,
    ) -> Result<LogProbs> {
        let mut lp = LogProbs::new();
        self.gather(first, &self.levels[0], b, &mut lp)?;
        if self.levels.len() == 1 {
            return Ok(lp);
        }
        let mut cache =
            cache.ok_or_else(|| Error::invalid("a candidate tree of several levels needs the prompts' cache"))?;
        for d in 1..self.levels.len() {
            let (rows, feed) = self.feed(d, b);
            let fanned = cache.select_rows(&rows)?;
            let ids = Tensor::from_slice(&feed).f_view([-1, 1])?.f_to_device(model.device())?;
            let out = model.forward(&ids, None, Some(fanned), ForwardOptions::eval())?;
            self.gather(&out.logits.f_select(1, -1)?, &self.levels[d], b, &mut lp)?;
            cache = out.cache;
        }
        Ok(lp)
    }
}

impl Tree {
    /// Prompts per forward pass of the walk so that its widest level fills about `tree_rows`
    /// rows (at least one prompt).
    fn prompts_per_walk(&self, tree_rows: usize) -> usize {
        let widest = self.levels.iter().map(Vec::len).max().unwrap_or(1).max(1);
        (tree_rows / widest).max(1)
    }

    /// `[prompt][candidate]` scores of the prompts `run` holds (in prompt order), walking the
    /// tree from their logits and cache rows `per` prompts at a time.
    fn walk_prefilled<M: CausalLm + ?Sized>(
        &self,
        model: &M,
        run: &Prefilled,
        candidates: &[Vec<i64>],
        end: &[i64],
        per: usize,
    ) -> Result<Vec<Vec<f64>>> {
        let n = run.place.len();
        let mut out = Vec::with_capacity(n);
        for s in (0..n).step_by(per.max(1)) {
            let e = (s + per.max(1)).min(n);
            let rows = &run.place[s..e];
            let at = Tensor::from_slice(rows).f_to_device(model.device())?;
            let cache = run.cache.as_ref().map(|c| c.select_rows(rows)).transpose()?;
            let lp = self.walk(model, &run.logits.f_index_select(0, &at)?, cache, e - s)?;
            out.extend(self.sum_scores(candidates, end, &lp, e - s));
        }
        Ok(out)
    }
}

/// How [`score_candidates_shared`] splits its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareOptions {
    /// Tokens fed per row and forward pass while the prompts run. Each distinct prefix that
    /// ends on a multiple of `block` tokens is computed once: `1` shares every common token,
    /// larger blocks make fewer, larger forward passes that recompute a little more.
    pub block: usize,
    /// Prompt tokens (counted before sharing) run together: bounds the memory of the prompts'
    /// caches. Prompts are sorted first, so neighbours in a chunk share their prefixes.
    pub chunk_tokens: usize,
    /// Rows (prompts × the widest level of the candidate tree) per forward pass of the walk
    /// over the candidates.
    pub tree_rows: usize,
    /// Threads that score chunks side by side, each with its own handle on the model
    /// ([`CausalLm::shallow_clone`]) and one libtorch thread, for CPUs on which one thread per
    /// product of small matrices does better than every thread on each. `1` (the default)
    /// scores on the calling thread with libtorch's thread count as it is; use `1` on a GPU.
    /// The chunks are the same whatever the count: only how each product is split among
    /// threads changes.
    pub workers: usize,
}

impl ShareOptions {
    /// An error unless the prompts' blocks and the walk's rows are above 0.
    fn check_split(&self) -> Result<()> {
        if self.block == 0 || self.tree_rows == 0 {
            return Err(Error::invalid(format!("share options need a block and tree rows above 0, got {self:?}")));
        }
        Ok(())
    }
}

impl Default for ShareOptions {
    fn default() -> Self {
        Self { block: 8, chunk_tokens: 4096, tree_rows: 256, workers: 1 }
    }
}

/// The prompts run by [`prefill_shared`]: rows in the order the prompts ended, and where each
/// prompt's row is.
struct Prefilled {
    /// `[n, vocab]` logits after each prompt's last token.
    logits: Tensor,
    /// One row per prompt (right-padded to the longest; the padding is masked), when asked for.
    cache: Option<KvCache>,
    /// `place[i]`: the row of prompt `i` in `logits` and `cache`.
    place: Vec<i64>,
    /// Token positions fed to the model (padding included).
    fed: usize,
}

/// Runs `prompts` (non-empty) through the model, each distinct prefix of whole blocks once:
/// the logits after each prompt's last token and, with `keep_cache`, a cache row per prompt.
///
/// Block `k` feeds, for every distinct prefix of `(k + 1) * block` tokens (or a whole shorter
/// prompt), its last `block` tokens on a copy of the cache row of its parent prefix.
fn prefill_shared<M: CausalLm + ?Sized>(
    model: &M,
    prompts: &[&[i64]],
    block: usize,
    pad: i64,
    keep_cache: bool,
) -> Result<Prefilled> {
    let device = model.device();
    let n = prompts.len();
    let longest = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
    let mut prev: Option<KvCache> = None;
    let mut prev_row = vec![0usize; n];
    let mut hidden_parts = Vec::new();
    let mut cache_parts = Vec::new();
    let mut ended = Vec::with_capacity(n);
    let mut fed = 0;
    let mut start = 0;
    while start < longest {
        let stop = start + block;
        let mut index: HashMap<&[i64], usize> = HashMap::new();
        let mut keys: Vec<&[i64]> = Vec::new();
        let mut parents: Vec<i64> = Vec::new();
        let mut row_of = vec![0usize; n];
        for (i, p) in prompts.iter().enumerate() {
            if p.len() <= start {
                continue;
            }
            let key = &p[..p.len().min(stop)];
            row_of[i] = *index.entry(key).or_insert_with(|| {
                keys.push(key);
                parents.push(prev_row[i] as i64);
                keys.len() - 1
            });
        }
        let m = keys.len();
        let mut ids = vec![pad; m * block];
        let mut mask = vec![0i64; m * block];
        for (r, key) in keys.iter().enumerate() {
            let seg = &key[start..];
            ids[r * block..r * block + seg.len()].copy_from_slice(seg);
            mask[r * block..r * block + seg.len()].fill(1);
        }
        let shape = [m as i64, block as i64];
        let ids = Tensor::from_slice(&ids).f_reshape(shape)?.f_to_device(device)?;
        let mask = Tensor::from_slice(&mask).f_reshape(shape)?.f_to_device(device)?;
        let past = match prev.take() {
            None => None,
            // Every parent continues into exactly one row in order: the cache as it is.
            Some(c) if parents.iter().enumerate().all(|(r, &p)| p == r as i64) && c.batch_size() == m => Some(c),
            Some(c) => Some(c.select_rows(&parents)?),
        };
        let (h, cache) = model.hidden(&ids, Some(&mask), past, false)?;
        fed += m * block;
        let mut rows = Vec::new();
        let mut positions = Vec::new();
        for (i, p) in prompts.iter().enumerate() {
            if p.len() > start && p.len() <= stop {
                ended.push(i);
                rows.push(row_of[i] as i64);
                positions.push((row_of[i] * block + p.len() - 1 - start) as i64);
            }
        }
        if !rows.is_empty() {
            let width = h.size().last().copied().unwrap_or(0);
            let at = Tensor::from_slice(&positions).f_to_device(device)?;
            hidden_parts.push(h.f_reshape([-1, width])?.f_index_select(0, &at)?);
            if keep_cache {
                cache_parts.push(cache.select_rows(&rows)?);
            }
        }
        prev = Some(cache);
        prev_row = row_of;
        start = stop;
    }
    let mut place = vec![0i64; n];
    for (k, &i) in ended.iter().enumerate() {
        place[i] = k as i64;
    }
    let logits = model.head(&Tensor::f_cat(&hidden_parts, 0)?)?;
    let cache = if keep_cache { Some(KvCache::cat_rows(&cache_parts)?) } else { None };
    Ok(Prefilled { logits, cache, place, fed })
}

/// [`score_candidates`] computing each shared prompt prefix once: the prompts are sorted, run
/// in chunks of about [`ShareOptions::chunk_tokens`] tokens with every distinct prefix of whole
/// blocks computed once, and the candidates' prefix tree is walked from their caches. The
/// scores equal [`score_candidates`]'s up to floating-point rounding (the same arithmetic
/// in differently shaped batches).
///
/// Where many prompts start alike (rows of a table written cell by cell, sorted), most of a
/// prompt's tokens are shared with its neighbours.
pub fn score_candidates_shared<M: CausalLm + ?Sized>(
    model: &M,
    prompts: &[Vec<i64>],
    candidates: &[Vec<i64>],
    end: &[i64],
    after: EndAfter,
    pad: i64,
    options: ShareOptions,
) -> Result<Vec<Vec<f64>>> {
    if check_prompts(prompts)? {
        return Ok(Vec::new());
    }
    options.check_split()?;
    if options.workers == 0 {
        return Err(Error::invalid("share options need at least one worker, got 0"));
    }
    let tree = Tree::build(candidates, end, after)?;
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    order.sort_by(|&a, &b| prompts[a].cmp(&prompts[b]));
    // Consecutive runs of the sorted prompts, up to `chunk_tokens` tokens each.
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        let mut tokens = prompts[order[i]].len();
        while j < order.len() && tokens + prompts[order[j]].len() <= options.chunk_tokens {
            tokens += prompts[order[j]].len();
            j += 1;
        }
        chunks.push(i..j);
        i = j;
    }
    let job = Job { prompts, candidates, end, pad, options, tree: &tree, order: &order };
    let mut out = vec![Vec::new(); prompts.len()];
    let mut place = |range: &std::ops::Range<usize>, scores: Vec<Vec<f64>>| {
        for (k, s) in range.clone().zip(scores) {
            out[order[k]] = s;
        }
    };
    let workers = options.workers.min(chunks.len());
    if workers <= 1 {
        let _guard = tch::no_grad_guard();
        for range in &chunks {
            place(range, job.chunk(model, range.clone())?);
        }
        return Ok(out);
    }
    for (range, scores) in chunks.iter().zip(job.in_parallel(model, &chunks, workers)?) {
        place(range, scores);
    }
    Ok(out)
}

/// What every chunk of one [`score_candidates_shared`] call reads.
struct Job<'a> {
    prompts: &'a [Vec<i64>],
    candidates: &'a [Vec<i64>],
    end: &'a [i64],
    pad: i64,
    options: ShareOptions,
    tree: &'a Tree,
    /// The prompts' indices, sorted by their tokens.
    order: &'a [usize],
}

impl Job<'_> {
    /// The scores of the sorted prompts `range`, in that order.
    fn chunk<M: CausalLm + ?Sized>(&self, model: &M, range: std::ops::Range<usize>) -> Result<Vec<Vec<f64>>> {
        let tree = self.tree;
        let chunk: Vec<&[i64]> = self.order[range].iter().map(|&k| self.prompts[k].as_slice()).collect();
        let per = tree.prompts_per_walk(self.options.tree_rows);
        // A tree of one level is read off the prompts' logits alone: no cache to keep.
        let run = prefill_shared(model, &chunk, self.options.block, self.pad, tree.levels.len() > 1)?;
        tree.walk_prefilled(model, &run, self.candidates, self.end, per)
    }

    /// Every chunk's scores, the chunks taken in turn by `workers` threads, each with its own
    /// handle on the model and one libtorch thread. The first error stops the others.
    fn in_parallel<M: CausalLm + ?Sized>(
        &self,
        model: &M,
        chunks: &[std::ops::Range<usize>],
        workers: usize,
    ) -> Result<Vec<Vec<Vec<f64>>>> {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        // Read on this thread first: it also fixes this thread's own count before the workers
        // lower libtorch's default for threads that start after them.
        let threads = tch::get_num_threads();
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    let handle = model.shallow_clone();
                    let (next, failed) = (&next, &failed);
                    scope.spawn(move || {
                        let _guard = tch::no_grad_guard();
                        tch::set_num_threads(1);
                        let mut done = Vec::new();
                        while !failed.load(Ordering::Relaxed) {
                            let c = next.fetch_add(1, Ordering::Relaxed);
                            let Some(range) = chunks.get(c) else { break };
                            let scores = self.chunk(handle.as_ref(), range.clone());
                            if scores.is_err() {
                                failed.store(true, Ordering::Relaxed);
                            }
                            done.push((c, scores));
                        }
                        done
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
        });
        tch::set_num_threads(threads);
        let mut out: Vec<Option<Vec<Vec<f64>>>> = vec![None; chunks.len()];
        for done in results {
            let done = done.map_err(|_| Error::invalid("a scoring worker thread panicked"))?;
            for (c, scores) in done {
                out[c] = Some(scores?);
            }
        }
        out.into_iter()
            .enumerate()
            .map(|(c, s)| s.ok_or_else(|| Error::invalid(format!("chunk {c} of the prompts was never scored"))))
            .collect()
    }
}

/// A prompt's keys and values kept after [`score_candidates_resumed`] scored it, so that a
/// later prompt that extends it (the same table row asked for its next gap, with the value just
/// filled written before the new question) runs only its new tokens.
#[derive(Debug)]
pub struct PromptCache {
    /// One row: the prompt's keys and values (right-padded positions masked).
    cache: KvCache,
    tokens: Vec<i64>,
}

impl PromptCache {
    /// The tokens the cache holds.
    pub fn tokens(&self) -> &[i64] {
        &self.tokens
    }
}

/// What one [`score_candidates_resumed`] call ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResumeStats {
    /// Prompts that continued a kept cache (only their new tokens ran).
    pub resumed: usize,
    /// Prompts run from their first token: no cache was offered, or the offered one does not
    /// hold a proper prefix of the prompt.
    pub fresh: usize,
    /// Prompt token positions fed to the model, after sharing, padding included (the
    /// candidates' tokens not counted).
    pub tokens_run: usize,
}

impl std::ops::AddAssign for ResumeStats {
    fn add_assign(&mut self, o: Self) {
        self.resumed += o.resumed;
        self.fresh += o.fresh;
        self.tokens_run += o.tokens_run;
    }
}

/// [`score_candidates_shared`] for prompts that may continue earlier ones: prompt `i` runs on
/// `resume[i]`'s keys and values when that cache holds a proper prefix of it (only the rest of
/// its tokens are fed), else from its first token (the prompts that start afresh share their
/// prefixes as in [`score_candidates_shared`], in one chunk). Returns the scores, a
/// [`PromptCache`] per prompt for the next call, and what ran. The scores equal
/// [`score_candidates`]'s up to floating-point rounding.
///
/// How a table is filled gap after gap without recomputing a row: the prompt that asks a row's
/// second gap is the first one's prompt, the value filled and the new question. Runs on the
/// calling thread (`options.workers` is not read) and holds every prompt's cache at once:
/// callers bound the prompts per call.
#[allow(clippy::too_many_arguments)]
pub fn score_candidates_resumed<M: CausalLm + ?Sized>(
    model: &M,
    prompts: &[Vec<i64>],
    resume: &[Option<&PromptCache>],
    candidates: &[Vec<i64>],
    end: &[i64],
    after: EndAfter,
    pad: i64,
    options: ShareOptions,
) -> Result<(Vec<Vec<f64>>, Vec<PromptCache>, ResumeStats)> {
    if resume.len() != prompts.len() {
        return Err(Error::invalid(format!("{} caches offered for {} prompts", resume.len(), prompts.len())));
    }
    if check_prompts(prompts)? {
        return Ok((Vec::new(), Vec::new(), ResumeStats::default()));
    }
    options.check_split()?;
    let _guard = tch::no_grad_guard();
    let tree = Tree::build(candidates, end, after)?;
    let per = tree.prompts_per_walk(options.tree_rows);
    // The offered caches that hold a proper prefix of their prompt: the others are not used.
    let continued: Vec<Option<&PromptCache>> = (0..prompts.len())
        .map(|i| resume[i].filter(|c| c.tokens.len() < prompts[i].len() && prompts[i].starts_with(&c.tokens)))
        .collect();
    let (resumed, mut fresh): (Vec<usize>, Vec<usize>) = (0..prompts.len()).partition(|&i| continued[i].is_some());
    fresh.sort_by(|&a, &b| prompts[a].cmp(&prompts[b]));
    let mut stats = ResumeStats { resumed: resumed.len(), fresh: fresh.len(), tokens_run: 0 };
    let mut scores = vec![Vec::new(); prompts.len()];
    let mut kept: Vec<Option<PromptCache>> = (0..prompts.len()).map(|_| None).collect();
    let mut finish = |order: &[usize], run: Prefilled| -> Result<()> {
        let cache = run.cache.as_ref().ok_or_else(|| Error::invalid("resumed scoring lost the prompts' cache"))?;
        for (k, &i) in order.iter().enumerate() {
            let row = cache.select_rows(&[run.place[k]])?;
            kept[i] = Some(PromptCache { cache: row, tokens: prompts[i].clone() });
        }
        for (k, s) in tree.walk_prefilled(model, &run, candidates, end, per)?.into_iter().enumerate() {
            scores[order[k]] = s;
        }
        Ok(())
    };
    if !fresh.is_empty() {
        let chunk: Vec<&[i64]> = fresh.iter().map(|&i| prompts[i].as_slice()).collect();
        let run = prefill_shared(model, &chunk, options.block, pad, true)?;
        stats.tokens_run += run.fed;
        finish(&fresh, run)?;
    }
    if !resumed.is_empty() {
        let (parts, rests): (Vec<KvCache>, Vec<&[i64]>) = resumed
            .iter()
            .filter_map(|&i| continued[i].map(|c| (c.cache.share(), &prompts[i][c.tokens.len()..])))
            .unzip();
        let run = extend_prompts(model, KvCache::cat_rows(&parts)?, &rests, pad)?;
        stats.tokens_run += run.fed;
        finish(&resumed, run)?;
    }
    let kept =
        kept.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| Error::invalid("a prompt was never scored"))?;
    Ok((scores, kept, stats))
}

/// Runs the rest of each prompt (`rests[i]`, non-empty) on row `i` of `cache` (the prompt's
/// beginning), right-padded in one batch: the logits after each prompt's last token and the
/// extended cache, in prompt order.
fn extend_prompts<M: CausalLm + ?Sized>(model: &M, cache: KvCache, rests: &[&[i64]], pad: i64) -> Result<Prefilled> {
    let device = model.device();
    let width = rests.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut ids = vec![pad; rests.len() * width];
    let mut mask = vec![0i64; rests.len() * width];
    let mut last = Vec::with_capacity(rests.len());
    for (r, rest) in rests.iter().enumerate() {
        ids[r * width..r * width + rest.len()].copy_from_slice(rest);
        mask[r * width..r * width + rest.len()].fill(1);
        last.push((r * width + rest.len() - 1) as i64);
    }
    let shape = [rests.len() as i64, width as i64];
    let ids = Tensor::from_slice(&ids).f_reshape(shape)?.f_to_device(device)?;
    let mask = Tensor::from_slice(&mask).f_reshape(shape)?.f_to_device(device)?;
    let (h, cache) = model.hidden(&ids, Some(&mask), Some(cache), false)?;
    let e = h.size().last().copied().unwrap_or(0);
    let at = Tensor::from_slice(&last).f_to_device(device)?;
    let logits = model.head(&h.f_reshape([-1, e])?.f_index_select(0, &at)?)?;
    let place = (0..rests.len() as i64).collect();
    Ok(Prefilled { logits, cache: Some(cache), place, fed: rests.len() * width })
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
        let t = Tree::build(&c, &[], EndAfter::Every).unwrap();
        assert_eq!(t.nodes.len(), 2); // root and [5]
        let t = Tree::build(&c, &[9], EndAfter::Every).unwrap();
        assert_eq!(t.nodes.len(), 3); // root, [5], [5, 6]
        assert!(t.nodes[t.index[&vec![5]]].children.contains(&9));
        assert!(t.nodes[t.index[&vec![5]]].children.contains(&6));
        assert!(Tree::build(&[vec![]], &[], EndAfter::Every).is_err());
        // Only `[5]` is a prefix of another: only it gets the end token.
        let t = Tree::build(&[vec![5], vec![5, 6], vec![7, 8]], &[9], EndAfter::Prefixes).unwrap();
        assert_eq!(t.ends, vec![true, false, false]);
        assert!(!t.index.contains_key(&vec![5, 6]) && !t.index.contains_key(&vec![7, 8]));
    }
}
