//! Training examples: rows written as text with a loss mask that says which tokens the model
//! must predict (see [`Objective`]).

use std::collections::HashSet;

use gpt2_lora::Example;
use prompt_codec::RowCodec;
use rand::seq::SliceRandom;
use rand::Rng;
use rec_table::{Cell, Table};

use crate::config::Objective;
use crate::error::{Error, Result};
use crate::plan::Core;

/// What building the examples of one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PassStats {
    /// Rows written as examples.
    pub rows: usize,
    /// Rows left out: fewer than two observed cells (one for [`Objective::Values`]), or (full
    /// row objective) a missing cell.
    pub skipped: usize,
    /// Values the loss covers.
    pub targets: usize,
    /// Retrieval examples whose retrieved rows were cut to fit the model's context.
    pub trimmed: usize,
}

/// Builds one pass of examples over `rows` (a fresh random order of cells per row).
///
/// `cols` are the imputable columns; cells in `held` are treated as missing (they are the
/// held-out check). The loss mask is [`masked_example`]'s.
#[allow(clippy::too_many_arguments)]
pub(crate) fn one_pass(
    codec: &RowCodec,
    tokenizer: &tokenizers::Tokenizer,
    eos: i64,
    table: &Table,
    rows: &[usize],
    cols: &[usize],
    held: &HashSet<Cell>,
    objective: Objective,
    rng: &mut impl Rng,
) -> Result<(Vec<Example>, PassStats)> {
    let sep = &codec.config().separator;
    let term = &codec.config().terminator;
    let mut out = Vec::with_capacity(rows.len());
    let mut stats = PassStats::default();
    for &r in rows {
        let mut observed: Vec<usize> = cols
            .iter()
            .copied()
            .filter(|&j| !table.is_missing(r, j) && !held.contains(&Cell { row: r, col: j }))
            .collect();
        let least = if objective == Objective::Values { 1 } else { 2 };
        let complete = observed.len() == cols.len();
        if observed.len() < least || (objective == Objective::FullRow && !complete) {
            stats.skipped += 1;
            continue;
        }
        observed.shuffle(rng);
        if objective == Objective::FullRow {
            let mut ids = encode(tokenizer, &codec.serialize_row(table, r, &observed)?)?.0;
            ids.push(eos);
            stats.targets += observed.len();
            out.push(Example::language_model(&ids));
            stats.rows += 1;
            continue;
        }
        // Text and the character span of each value (with its leading space).
        let mut text = String::new();
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(observed.len());
        for (k, &j) in observed.iter().enumerate() {
            if k > 0 {
                text.push_str(sep);
            }
            let value = table.value(r, j).ok_or_else(|| Error::Config(format!("row {r} column {j} is missing")))?;
            let phrase = &codec.columns()[j].phrase;
            text.push_str(phrase);
            text.push_str(codec.config().connector.trim_end());
            let start = text.chars().count();
            text.push_str(&codec.continuation(j, &value)?);
            spans.push((start, text.chars().count()));
        }
        text.push_str(term);
        let targets: &[(usize, usize)] = match objective {
            Objective::Values => &spans,
            _ => &spans[spans.len() - 1..],
        };
        out.push(masked_example(tokenizer, &text, targets)?);
        stats.targets += targets.len();
        stats.rows += 1;
    }
    Ok((out, stats))
}

/// Builds one pass of retrieval examples over `rows` of `table` (the fit table with its
/// held-out cells blanked): per row one observed target cell drawn at random, the prompt that
/// imputation would write for it (the similar reference rows, the row's own row excluded, then
/// the row's other observed cells), the value and its end; the loss covers the value and the
/// token that ends it. Rows with fewer than two observed cells are skipped.
pub(crate) fn retrieval_pass(
    fitted: &Core,
    table: &Table,
    rows: &[usize],
    cols: &[usize],
    rng: &mut impl Rng,
) -> Result<(Vec<Example>, PassStats)> {
    let codec = &fitted.saved.codec;
    let mut out = Vec::with_capacity(rows.len());
    let mut stats = PassStats::default();
    for &r in rows {
        let observed: Vec<usize> = cols.iter().copied().filter(|&j| !table.is_missing(r, j)).collect();
        if observed.len() < 2 {
            stats.skipped += 1;
            continue;
        }
        let target = observed[rng.random_range(0..observed.len())];
        let value =
            table.value(r, target).ok_or_else(|| Error::Config(format!("row {r} column {target} is missing")))?;
        let (mut text, trimmed) = fitted.prompt(table, r, target, &[], Some(r), 0)?;
        stats.trimmed += usize::from(trimmed);
        let start = text.chars().count();
        text.push_str(&codec.continuation(target, &value)?);
        let end = text.chars().count();
        text.push_str(&codec.config().terminator);
        out.push(masked_example(&fitted.tokenizer, &text, &[(start, end)])?);
        stats.targets += 1;
        stats.rows += 1;
    }
    Ok((out, stats))
}

/// `text` tokenized whole, as prompts are at imputation, with the loss mask read off the
/// tokens' character offsets: a token is a target when it overlaps one of the `targets` spans
/// of characters, or is the first token after one (the `,` or `.` that ends the value).
fn masked_example(tokenizer: &tokenizers::Tokenizer, text: &str, targets: &[(usize, usize)]) -> Result<Example> {
    let (ids, offsets) = encode(tokenizer, text)?;
    let mut mask = vec![false; ids.len()];
    for &(start, end) in targets {
        let mut hit = false;
        for (t, &(a, b)) in offsets.iter().enumerate() {
            if a < end && b > start {
                mask[t] = true;
                hit = true;
            } else if a >= end {
                // The first token after the value ends it.
                mask[t] = true;
                break;
            }
        }
        if !hit {
            return Err(Error::Tokenizer(format!("no token covers a value in {text:?}")));
        }
    }
    Ok(Example::try_new(ids, mask)?)
}

/// Token ids and the `(start, end)` character offsets of each token.
type Encoded = (Vec<i64>, Vec<(usize, usize)>);

fn encode(tokenizer: &tokenizers::Tokenizer, text: &str) -> Result<Encoded> {
    let enc = tokenizer.encode_char_offsets(text, false).map_err(|e| Error::Tokenizer(e.to_string()))?;
    Ok((enc.get_ids().iter().map(|&t| t as i64).collect(), enc.get_offsets().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prompt_codec::CodecConfig;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rec_table::{read_csv_bytes, CsvOptions};
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::Whitespace;

    /// A word-level tokenizer over the words and punctuation of the test table.
    fn tokenizer() -> tokenizers::Tokenizer {
        let words = ["age", "is", "24", "31", "device", "type", "Mobile", "Desktop", ",", ".", "[UNK]"];
        let vocab = words.iter().enumerate().map(|(i, w)| (w.to_string(), i as u32)).collect();
        let model = WordLevel::builder().vocab(vocab).unk_token("[UNK]".into()).build().unwrap();
        let mut tok = tokenizers::Tokenizer::new(model);
        tok.with_pre_tokenizer(Some(Whitespace {}));
        tok
    }

    fn table() -> Table {
        read_csv_bytes(b"age,device_type\n24,Mobile\n31,\n", "t.csv", &CsvOptions::default()).unwrap()
    }

    #[test]
    fn the_loss_covers_values_and_their_end_token_only() {
        let t = table();
        let codec = RowCodec::fit(&t, CodecConfig::default()).unwrap();
        let tok = tokenizer();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (ex, stats) =
            one_pass(&codec, &tok, 99, &t, &[0, 1], &[0, 1], &HashSet::new(), Objective::Values, &mut rng).unwrap();
        assert_eq!(stats, PassStats { rows: 2, skipped: 0, targets: 3, trimmed: 0 });
        let vocab = tok.get_vocab(false);
        let id = |w: &str| vocab[w] as i64;
        for e in &ex {
            let targets: Vec<i64> = e.input_ids.iter().zip(&e.loss_mask).filter(|(_, &m)| m).map(|(&t, _)| t).collect();
            // Never a column name or the connector.
            assert!(targets.iter().all(|&t| t != id("age") && t != id("is") && t != id("device")), "{targets:?}");
            assert!(targets.contains(&id(".")), "the last value's end is a target");
        }
        // Row 1 has one observed cell: "age is 31." with targets 31 and ".".
        assert_eq!(ex[1].input_ids, vec![id("age"), id("is"), id("31"), id(".")]);
        assert_eq!(ex[1].loss_mask, vec![false, false, true, true]);
    }

    #[test]
    fn target_last_marks_one_value_and_full_row_needs_complete_rows() {
        let t = table();
        let codec = RowCodec::fit(&t, CodecConfig::default()).unwrap();
        let tok = tokenizer();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (ex, stats) =
            one_pass(&codec, &tok, 99, &t, &[0, 1], &[0, 1], &HashSet::new(), Objective::TargetLast, &mut rng).unwrap();
        assert_eq!((stats.rows, stats.skipped, stats.targets), (1, 1, 1));
        // "x is v, y is w." : the target is w and ".".
        let m = &ex[0].loss_mask;
        assert_eq!(m.iter().filter(|&&b| b).count(), 2);
        assert!(m[m.len() - 1] && m[m.len() - 2]);
        let (ex, stats) =
            one_pass(&codec, &tok, 99, &t, &[0, 1], &[0, 1], &HashSet::new(), Objective::FullRow, &mut rng).unwrap();
        assert_eq!((stats.rows, stats.skipped), (1, 1));
        assert_eq!(*ex[0].input_ids.last().unwrap(), 99);
        // A held-out cell is not trained on.
        let held = HashSet::from([Cell { row: 0, col: 1 }]);
        let (ex, _) = one_pass(&codec, &tok, 99, &t, &[0], &[0, 1], &held, Objective::Values, &mut rng).unwrap();
        assert!(!ex[0].input_ids.contains(&(tok.get_vocab(false)["Mobile"] as i64)));
    }
}
