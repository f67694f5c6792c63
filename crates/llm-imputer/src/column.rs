//! How one column's cells are read off the model: scored candidates, a token trie, or
//! grammar-constrained generation; and reading a generation back as a value.

use prompt_codec::{ColumnGrammar, RowCodec, TokenTrie};
use rec_table::{ColumnKind, Value};

use crate::decode::{self, Acceptor, TokenTexts};
use crate::encode;
use crate::error::Result;
use crate::fitted::Saved;

/// How a column's cells are read off the model.
pub(crate) enum Plan {
    /// Every allowed value scored after the prompt.
    Score { values: Vec<Value>, seqs: Vec<Vec<i64>>, mean: bool, decimals: usize },
    /// Categories generated along their token trie.
    Trie { values: Vec<Value>, trie: TokenTrie },
    /// Characters generated under a grammar, among these candidate tokens.
    Chars { acceptor: Acceptor, candidates: Vec<i64> },
}

/// The value a generation under `plan` wrote for column `j`, and whether it was salvaged from
/// a list cut off by the token budget (which keeps its complete elements); `None` when it
/// wrote nothing valid.
pub(crate) fn read_generated(plan: &Plan, codec: &RowCodec, j: usize, g: &decode::Generated) -> Option<(Value, bool)> {
    if !g.finished {
        if let Plan::Chars { acceptor: acceptor @ Acceptor::Set(_), .. } = plan {
            let cut = g.text.rfind(", ").map_or(g.text.as_str(), |at| &g.text[..at]);
            let closed = format!("{cut}]");
            if acceptor.accepts(&closed) {
                return codec.parse_value(j, &closed).ok().map(|v| (v, true));
            }
        }
        return None;
    }
    match plan {
        Plan::Trie { values, trie } => {
            let toks: Vec<u32> = g.tokens.iter().map(|&t| t as u32).collect();
            trie.complete(&toks).map(|i| (values[i].clone(), false))
        }
        Plan::Chars { acceptor, .. } if acceptor.accepts(&g.text) => {
            codec.parse_value(j, &g.text).ok().map(|v| (v, false))
        }
        Plan::Chars { .. } | Plan::Score { .. } => None,
    }
}

/// How column `j` is read off the model: scored when its values are few enough (categories,
/// or numbers with few distinct values), generated along a trie or under a grammar otherwise;
/// `None` for columns that are not imputed (ids, empty columns).
pub(crate) fn column_plan(
    saved: &Saved,
    j: usize,
    tokenizer: &tokenizers::Tokenizer,
    texts: &TokenTexts,
) -> Result<Option<Plan>> {
    let (codec, cfg) = (&saved.codec, &saved.config);
    let c = &codec.columns()[j];
    if !c.imputable() || c.kind == ColumnKind::Numeric && c.range.is_none() {
        return Ok(None);
    }
    if c.kind == ColumnKind::Categorical && c.vocabulary.is_empty() {
        return Ok(None);
    }
    let plan = match ColumnGrammar::build(codec, j, tokenizer)? {
        ColumnGrammar::Choice { values, trie } => {
            if values.len() <= cfg.fill.max_choices {
                let seqs = (0..trie.len()).map(|i| trie.sequence(i).iter().map(|&t| t as i64).collect()).collect();
                Plan::Score { values, seqs, mean: false, decimals: 0 }
            } else {
                Plan::Trie { values, trie }
            }
        }
        ColumnGrammar::Number(g) => match saved.numeric_values.get(j).cloned().flatten() {
            Some(xs) if !xs.is_empty() => {
                let values: Vec<Value> = xs.into_iter().map(Value::Number).collect();
                let seqs =
                    values.iter().map(|v| encode(tokenizer, &codec.continuation(j, v)?)).collect::<Result<Vec<_>>>()?;
                Plan::Score { values, seqs, mean: cfg.fill.numeric_mean, decimals: c.decimals }
            }
            _ => {
                let chars = " -.0123456789".chars().collect();
                Plan::Chars { acceptor: Acceptor::Number(g), candidates: texts.made_of(&chars) }
            }
        },
        ColumnGrammar::Elements { elements } => {
            let mut chars: std::collections::BTreeSet<char> = "[], ".chars().collect();
            chars.extend(elements.iter().flat_map(|e| e.chars()));
            Plan::Chars { acceptor: Acceptor::Set(elements), candidates: texts.made_of(&chars) }
        }
        ColumnGrammar::Text => Plan::Chars { acceptor: Acceptor::Text, candidates: texts.all_text() },
    };
    Ok(Some(plan))
}

/// The tokens that end a value: the first character of the separator and of the terminator,
/// when each is one token of its own.
pub(crate) fn end_tokens(codec: &RowCodec, tokenizer: &tokenizers::Tokenizer) -> Result<Vec<i64>> {
    let mut end = Vec::new();
    for s in [&codec.config().separator, &codec.config().terminator] {
        let first: String = s.chars().take(1).collect();
        if let [t] = encode(tokenizer, &first)?[..] {
            if !end.contains(&t) {
                end.push(t);
            }
        }
    }
    Ok(end)
}

/// The longest answer any plan reads: a scored candidate and its end token, a trie path, or a
/// generation of `max_new_tokens`.
pub(crate) fn longest_answer(plans: &[Option<Plan>], max_new_tokens: usize) -> usize {
    plans
        .iter()
        .flatten()
        .map(|p| match p {
            Plan::Score { seqs, .. } => seqs.iter().map(Vec::len).max().unwrap_or(0) + 1,
            Plan::Trie { trie, .. } => (0..trie.len()).map(|i| trie.sequence(i).len()).max().unwrap_or(0) + 1,
            Plan::Chars { .. } => max_new_tokens,
        })
        .max()
        .unwrap_or(0)
}
