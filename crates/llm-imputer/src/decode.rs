//! How one column's missing cells are read off the model: scoring every allowed value after the
//! prompt, or generating under a grammar so that only valid values can come out.

use std::collections::{BTreeSet, HashMap};

use gpt2_lora::{generate, CausalLm, GenerateConfig, LogitsProcessor, StepContext, StopReason};
use prompt_codec::{NumberGrammar, TokenTrie};
use rec_table::Value;
use tch::{Device, Kind, Tensor};

use crate::error::Result;

/// The text of every token on its own; `None` for tokens that are not whole UTF-8 text (byte
/// fragments) and so never appear in a value the grammars check character by character.
pub(crate) struct TokenTexts {
    texts: Vec<Option<String>>,
    /// Tokens whose text starts with `,` or `.`: what the model writes after a finished value.
    stop_like: Vec<i64>,
    /// Tokens with `,` or `.` after their first character (`].`, `"),`): they can finish a
    /// value and start what follows it in one token.
    closers: Vec<i64>,
}

impl TokenTexts {
    pub(crate) fn new(tokenizer: &tokenizers::Tokenizer, vocab_size: usize) -> Result<Self> {
        let mut texts = Vec::with_capacity(vocab_size);
        let mut stop_like = Vec::new();
        let mut closers = Vec::new();
        for id in 0..vocab_size as u32 {
            let text = tokenizer.decode(&[id], false).ok().filter(|t| !t.is_empty() && !t.contains('\u{FFFD}'));
            if text.as_deref().is_some_and(|t| t.starts_with(',') || t.starts_with('.')) {
                stop_like.push(id as i64);
            }
            if text.as_deref().is_some_and(|t| t.char_indices().skip(1).any(|(_, c)| c == ',' || c == '.')) {
                closers.push(id as i64);
            }
            texts.push(text);
        }
        Ok(Self { texts, stop_like, closers })
    }

    pub(crate) fn text(&self, id: i64) -> Option<&str> {
        usize::try_from(id).ok().and_then(|i| self.texts.get(i)).and_then(|t| t.as_deref())
    }

    /// Tokens whose every character is in `chars`.
    pub(crate) fn made_of(&self, chars: &BTreeSet<char>) -> Vec<i64> {
        self.texts
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_deref().filter(|t| t.chars().all(|c| chars.contains(&c))).map(|_| i as i64))
            .collect()
    }

    /// Every token that is whole text.
    pub(crate) fn all_text(&self) -> Vec<i64> {
        (0..self.texts.len() as i64).filter(|&i| self.texts[i as usize].is_some()).collect()
    }
}

/// A character-level grammar for values generated freely.
#[derive(Debug, Clone)]
pub(crate) enum Acceptor {
    /// A number inside the seen range.
    Number(NumberGrammar),
    /// `" [a, b]"` with known, distinct elements.
    Set(Vec<String>),
    /// `" \"...\""`: quoted text without inner quotes.
    Text,
}

impl Acceptor {
    /// Whether `text` can still grow into a valid value.
    pub(crate) fn accepts_prefix(&self, text: &str) -> bool {
        match self {
            Acceptor::Number(g) => g.accepts_prefix(text),
            Acceptor::Set(elements) => set_state(text, elements).is_some(),
            Acceptor::Text => {
                let t = text.strip_prefix(' ').unwrap_or(text);
                match t.strip_prefix('"') {
                    None => t.is_empty(),
                    Some(inner) => match inner.find('"') {
                        None => true,
                        Some(at) => at + 1 == inner.len(),
                    },
                }
            }
        }
    }

    /// Whether `text` is a whole valid value.
    pub(crate) fn accepts(&self, text: &str) -> bool {
        match self {
            Acceptor::Number(g) => g.accepts(text),
            Acceptor::Set(elements) => set_state(text, elements) == Some(true),
            Acceptor::Text => {
                let t = text.strip_prefix(' ').unwrap_or(text);
                t.len() >= 2 && self.accepts_prefix(text) && t.ends_with('"')
            }
        }
    }
}

/// The part of `token` that completes `cur` into a valid value when the rest of the token
/// starts with `,` or `.` (what follows a value): `Some(k)` for `token[..k]`.
fn closing_split(acceptor: &Acceptor, cur: &str, token: &str) -> Option<usize> {
    token
        .char_indices()
        .filter(|&(k, c)| k > 0 && (c == ',' || c == '.'))
        .map(|(k, _)| k)
        .find(|&k| acceptor.accepts(&format!("{cur}{}", &token[..k])))
}

/// Parses a (partial) set literal: `None` if it cannot become valid, `Some(true)` when it is a
/// closed valid set, `Some(false)` when it is a valid prefix.
fn set_state(text: &str, elements: &[String]) -> Option<bool> {
    let t = text.strip_prefix(' ').unwrap_or(text);
    if t.is_empty() {
        return Some(false);
    }
    let body = t.strip_prefix('[')?;
    let (inner, closed) = match body.find(']') {
        Some(at) if at + 1 == body.len() => (&body[..at], true),
        Some(_) => return None,
        None => (body, false),
    };
    if inner.is_empty() {
        return Some(closed);
    }
    let parts: Vec<&str> = inner.split(", ").collect();
    let mut used: Vec<&str> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if last && !closed {
            // A partial element (or one spelt whole, or a lone comma about to become ", ").
            let partial = part.strip_suffix(',').unwrap_or(part);
            let whole_with_comma = part.ends_with(',');
            let ok = if whole_with_comma {
                elements.iter().any(|e| e == partial) && !used.contains(&partial)
            } else {
                elements.iter().any(|e| e.starts_with(part) && !used.contains(&e.as_str()))
            };
            return ok.then_some(false);
        }
        if !elements.iter().any(|e| e == part) || used.contains(part) {
            return None;
        }
        used.push(part);
    }
    Some(closed)
}

/// What constrains generation of one column.
pub(crate) enum GenGrammar<'a> {
    /// Values as token sequences: follow the trie.
    Trie(&'a TokenTrie),
    /// Characters checked by an acceptor, among these candidate tokens.
    Chars(&'a Acceptor, &'a [i64]),
}

/// One generated value: its text (or trie index), and the probability of the choices made.
pub(crate) struct Generated {
    pub tokens: Vec<i64>,
    pub text: String,
    pub logprob: f64,
    pub finished: bool,
}

struct Constrain<'a> {
    grammar: &'a GenGrammar<'a>,
    texts: &'a TokenTexts,
    eos: i64,
    /// Text generated so far per original row.
    cur: Vec<String>,
    /// Tokens already folded into `cur` per row.
    seen: Vec<usize>,
    /// Log-probabilities (after masking) of the tokens allowed at the last step, per row.
    last: Vec<HashMap<i64, f32>>,
    logprob: Vec<f64>,
    /// Rows whose value a closing token finished: only the end token is left to write.
    done: Vec<bool>,
}

fn logsumexp(xs: impl Iterator<Item = f32>) -> f32 {
    let v: Vec<f32> = xs.filter(|x| x.is_finite()).collect();
    let Some(m) = v.iter().copied().reduce(f32::max) else {
        return f32::NEG_INFINITY;
    };
    m + v.iter().map(|x| (x - m).exp()).sum::<f32>().ln()
}

impl Constrain<'_> {
    /// Brings row `r`'s text and probability up to date with its generated tokens.
    fn catch_up(&mut self, r: usize, generated: &[i64]) {
        while self.seen[r] < generated.len() {
            let t = generated[self.seen[r]];
            self.logprob[r] += self.last[r].get(&t).copied().unwrap_or(f32::NEG_INFINITY) as f64;
            if t != self.eos {
                if let Some(s) = self.texts.text(t) {
                    let closing = match self.grammar {
                        GenGrammar::Chars(acceptor, _) => {
                            let whole = format!("{}{s}", self.cur[r]);
                            if acceptor.accepts_prefix(&whole) {
                                None
                            } else {
                                closing_split(acceptor, &self.cur[r], s)
                            }
                        }
                        GenGrammar::Trie(_) => None,
                    };
                    match closing {
                        Some(k) => {
                            self.cur[r].push_str(&s[..k]);
                            self.done[r] = true;
                        }
                        None => self.cur[r].push_str(s),
                    }
                }
            }
            self.seen[r] += 1;
        }
    }
}

impl LogitsProcessor for Constrain<'_> {
    fn process(&mut self, ctx: &StepContext<'_>, logits: &Tensor) -> gpt2_lora::Result<Tensor> {
        let v = logits.size()[1] as usize;
        let host = Vec::<f32>::try_from(
            &logits.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?.f_contiguous()?.f_view([-1])?,
        )?;
        let mut out = vec![f32::NEG_INFINITY; host.len()];
        for (b, &r) in ctx.rows.iter().enumerate() {
            self.catch_up(r, &ctx.generated[r]);
            let row = &host[b * v..(b + 1) * v];
            let mut allowed: Vec<(i64, f32)> = Vec::new();
            if self.done[r] {
                self.last[r] = HashMap::from([(self.eos, 0.0)]);
                out[b * v + self.eos as usize] = 0.0;
                continue;
            }
            let complete = match self.grammar {
                GenGrammar::Trie(trie) => {
                    let prefix: Vec<u32> = ctx.generated[r].iter().map(|&t| t as u32).collect();
                    for t in trie.allowed(&prefix) {
                        allowed.push((t as i64, row[t as usize]));
                    }
                    trie.complete(&prefix).is_some()
                }
                GenGrammar::Chars(acceptor, candidates) => {
                    let cur = &self.cur[r];
                    let mut probe = String::with_capacity(cur.len() + 16);
                    for &t in candidates.iter() {
                        let Some(s) = self.texts.text(t) else { continue };
                        probe.clear();
                        probe.push_str(cur);
                        probe.push_str(s);
                        if acceptor.accepts_prefix(&probe) {
                            allowed.push((t, row[t as usize]));
                        }
                    }
                    // Tokens that finish the value and go on with `,` or `.` ("]." after a list).
                    let known: BTreeSet<i64> = allowed.iter().map(|a| a.0).collect();
                    for &t in &self.texts.closers {
                        if known.contains(&t) {
                            continue;
                        }
                        if let Some(s) = self.texts.text(t) {
                            if closing_split(acceptor, cur, s).is_some() {
                                allowed.push((t, row[t as usize]));
                            }
                        }
                    }
                    acceptor.accepts(cur)
                }
            };
            if complete || allowed.is_empty() {
                // Ending here takes the mass of every way the model would close the value.
                let cont: BTreeSet<i64> = allowed.iter().map(|a| a.0).collect();
                let stop = logsumexp(
                    self.texts
                        .stop_like
                        .iter()
                        .filter(|t| !cont.contains(t))
                        .map(|&t| row[t as usize])
                        .chain(std::iter::once(row[self.eos as usize])),
                );
                let stop = if stop.is_finite() { stop } else { 0.0 };
                allowed.retain(|a| a.0 != self.eos);
                allowed.push((self.eos, stop));
            }
            let norm = logsumexp(allowed.iter().map(|a| a.1));
            self.last[r] = allowed.iter().map(|&(t, x)| (t, x - norm)).collect();
            for (t, x) in allowed {
                out[b * v + t as usize] = x;
            }
        }
        Ok(Tensor::from_slice(&out).f_view([ctx.rows.len() as i64, v as i64])?.f_to_device(logits.device())?)
    }
}

/// Generates one value per prompt under `grammar`.
pub(crate) fn generate_batch(
    model: &dyn CausalLm,
    prompts: &[Vec<i64>],
    grammar: &GenGrammar<'_>,
    texts: &TokenTexts,
    eos: i64,
    config: &GenerateConfig,
) -> Result<Vec<Generated>> {
    let n = prompts.len();
    let mut proc = Constrain {
        grammar,
        texts,
        eos,
        cur: vec![String::new(); n],
        seen: vec![0; n],
        last: vec![HashMap::new(); n],
        logprob: vec![0.0; n],
        done: vec![false; n],
    };
    let config = config.clone().with_stop_tokens([eos]);
    let gens = generate(model, prompts, &config, Some(&mut proc))?;
    let mut out = Vec::with_capacity(n);
    for (r, g) in gens.into_iter().enumerate() {
        proc.catch_up(r, &g.tokens);
        let finished = g.stop_reason == StopReason::StopToken;
        let mut tokens = g.tokens;
        if finished {
            tokens.pop();
        }
        out.push(Generated { tokens, text: std::mem::take(&mut proc.cur[r]), logprob: proc.logprob[r], finished });
    }
    Ok(out)
}

/// Softmax of log-likelihoods.
pub(crate) fn normalise(scores: &[f64]) -> Vec<f64> {
    let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
    let z: f64 = e.iter().sum();
    e.into_iter().map(|x| x / z).collect()
}

/// A value picked from scored candidates: the most likely one, or the probability-weighted
/// mean for numbers.
pub(crate) fn pick(values: &[Value], probs: &[f64], mean: bool, decimals: usize) -> (Value, f64) {
    let (best, p) =
        probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, &p)| (i, p)).unwrap_or((0, 0.0));
    if mean {
        let m: f64 = values.iter().zip(probs).filter_map(|(v, p)| v.as_f64().map(|x| x * p)).sum();
        let scale = 10f64.powi(decimals as i32);
        return (Value::Number((m * scale).round() / scale), p);
    }
    (values[best].clone(), p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_acceptor_follows_the_literal() {
        let a = Acceptor::Set(vec!["Action".into(), "Drama".into(), "Comedy".into()]);
        for ok in [" ", " [", " [Ac", " [Action", " [Action,", " [Action, ", " [Action, Dr", " []"] {
            assert!(a.accepts_prefix(ok), "{ok:?}");
        }
        for bad in [" x", " [X", " [Action, Action", " [Action]]", " [Action] x", " [Action,,"] {
            assert!(!a.accepts_prefix(bad), "{bad:?}");
        }
        assert!(a.accepts(" [Action, Drama]"));
        assert!(a.accepts(" []"));
        assert!(!a.accepts(" [Action, Dra]"));
        assert!(!a.accepts(" [Action"));
    }

    #[test]
    fn closing_tokens_finish_a_value() {
        let a = Acceptor::Set(vec!["Action".into(), "Drama".into()]);
        assert_eq!(closing_split(&a, " [Drama", "]."), Some(1));
        assert_eq!(closing_split(&a, " [Drama", "],"), Some(1));
        assert_eq!(closing_split(&a, " [Dra", "]."), None);
        let n = Acceptor::Number(NumberGrammar { min: 0.0, max: 100.0, decimals: 0 });
        assert_eq!(closing_split(&n, " 4", "2,"), Some(1));
        assert_eq!(closing_split(&n, " 4", "2"), None);
    }

    #[test]
    fn text_acceptor_wants_one_quoted_string() {
        let a = Acceptor::Text;
        assert!(a.accepts_prefix(" \"Toy St"));
        assert!(a.accepts(" \"Toy Story\""));
        assert!(!a.accepts_prefix(" \"Toy\" Story"));
        assert!(!a.accepts_prefix(" Toy"));
        assert!(!a.accepts(" \"Toy"));
    }

    #[test]
    fn pick_mean_and_mode() {
        let values = vec![Value::Number(20.0), Value::Number(30.0)];
        let (v, p) = pick(&values, &[0.25, 0.75], true, 0);
        assert_eq!(v, Value::Number(28.0));
        assert_eq!(p, 0.75);
        let (v, _) = pick(&values, &[0.25, 0.75], false, 0);
        assert_eq!(v, Value::Number(30.0));
        let p = normalise(&[0.0, (3f64).ln()]);
        assert!((p[1] - 0.75).abs() < 1e-12);
    }
}
