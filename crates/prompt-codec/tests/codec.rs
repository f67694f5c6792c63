//! The codec round-trips values, builds grammars with the real GPT-2 tokenizer, and its number
//! grammar admits exactly the numbers in range.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

use std::path::PathBuf;

use prompt_codec::{CodecConfig, ColumnGrammar, NumberBins, NumberGrammar, RowCodec, Vocab};
use proptest::prelude::*;
use rec_table::{read_csv_bytes, ColumnKind, CsvOptions, Value};

fn users() -> rec_table::Table {
    let csv = "user_id,age,gender,occupation,genres,title\n\
               1,24,M,technician,Action|Comedy,\"Toy Story\"\n\
               2,53,F,other,Drama,\"Amélie\"\n\
               3,23,M,writer,[],\"Heat\"\n\
               4,,F,writer,Drama|Romance,\n\
               5,33.5,,technician,,\"Fargo\"\n";
    read_csv_bytes(
        csv.as_bytes(),
        "users.csv",
        &CsvOptions::default().with_kind("title", ColumnKind::Text).with_kind("genres", ColumnKind::SetValued),
    )
    .unwrap()
}

fn gpt2_tokenizer() -> tokenizers::Tokenizer {
    let shared = std::env::var_os("RECIMPUTE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("models/gpt2-tokenizer");
    assert!(
        dir.join("vocab.json").exists(),
        "GPT-2 tokenizer files missing under {} (set RECIMPUTE_SHARED)",
        dir.display()
    );
    let bpe = tokenizers::models::bpe::BPE::from_file(
        &dir.join("vocab.json").to_string_lossy(),
        &dir.join("merges.txt").to_string_lossy(),
    )
    .build()
    .unwrap();
    let mut tok = tokenizers::Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::byte_level::ByteLevel::new(false, true, true)));
    tok.with_decoder(Some(tokenizers::decoders::byte_level::ByteLevel::default()));
    tok
}

#[test]
fn sentences_prompts_and_parsing() {
    let t = users();
    let codec = RowCodec::fit(&t, CodecConfig::default()).unwrap();
    assert_eq!(codec.columns()[1].decimals, 1);
    assert_eq!(codec.columns()[3].vocabulary, ["technician", "writer", "other"]);
    assert_eq!(
        codec.serialize_row(&t, 0, &[0, 1, 2, 3, 4, 5]).unwrap(),
        "age is 24.0, gender is M, occupation is technician, genres is [Action, Comedy], title is \"Toy Story\"."
    );
    assert_eq!(
        codec.prompt(&t, 3, 1).unwrap(),
        "gender is F, occupation is writer, genres is [Drama, Romance], age is"
    );
    let filled = [(5, Value::Text("Up".into()))];
    assert_eq!(
        codec.prompt_with(&t, 3, 1, &filled).unwrap(),
        "gender is F, occupation is writer, genres is [Drama, Romance], title is \"Up\", age is"
    );
    assert_eq!(codec.parse_value(4, " [Drama, Action]").unwrap(), Value::Set(vec!["Drama".into(), "Action".into()]));
    let e = codec.parse_value(4, " [Drama, Horror]").unwrap_err().to_string();
    assert!(e.contains("column 'genres'") && e.contains("Horror"), "{e}");
    let e = codec.parse_value(3, " pilot").unwrap_err().to_string();
    assert!(e.contains("one of technician, writer, other"), "{e}");
    let e = codec.prompt(&t, 0, 0).unwrap_err().to_string();
    assert!(e.contains("'user_id' (id) cannot be imputed"), "{e}");
}

#[test]
fn binned_numbers_are_written_as_their_bins_median_everywhere() {
    // Ages 20..=39 once each and 30 four more times: quantile bins never split the 30s.
    let mut csv = String::from("age,device\n");
    for a in 20..40 {
        csv.push_str(&format!("{a},{}\n", if a < 30 { "Mobile" } else { "Desktop" }));
    }
    for _ in 0..4 {
        csv.push_str("30,Desktop\n");
    }
    csv.push_str(",Mobile\n");
    let t = read_csv_bytes(csv.as_bytes(), "ages.csv", &CsvOptions::default()).unwrap();
    let plain = RowCodec::fit(&t, CodecConfig::default()).unwrap();
    assert!(plain.columns()[0].bins.is_none());
    assert_eq!(plain.serialize_row(&t, 3, &[0, 1]).unwrap(), "age is 23, device is Mobile.");

    let codec = RowCodec::fit(&t, CodecConfig { numeric_bins: 4, ..CodecConfig::default() }).unwrap();
    let bins = codec.columns()[0].bins.clone().expect("20 distinct ages in 4 bins");
    // 24 ages, a value going to the bin of its first copy's rank (÷ 6): 20-25, 26-30 (30 five
    // times), 31-33, 34-39; each written as its lower median.
    assert_eq!(bins.values, vec![22.0, 30.0, 32.0, 36.0]);
    assert_eq!(bins.cuts, vec![25.5, 30.5, 33.5]);
    assert_eq!(codec.serialize_row(&t, 3, &[0, 1]).unwrap(), "age is 22, device is Mobile.");
    assert_eq!(codec.format_value(0, &Value::Number(33.4)).unwrap(), "32");
    // A filled number in a prompt is written by its bin too; parsing reads a number as is.
    assert_eq!(codec.prompt_with(&t, 24, 1, &[(0, Value::Number(37.2))]).unwrap(), "age is 36, device is");
    assert_eq!(codec.parse_value(0, " 31").unwrap(), Value::Number(31.0));
    // Fewer distinct values than bins: written as they are.
    let few = RowCodec::fit(&t, CodecConfig { numeric_bins: 64, ..CodecConfig::default() }).unwrap();
    assert!(few.columns()[0].bins.is_none());
    // A codec saved before the option existed reads without bins.
    let mut json = serde_json::to_value(&plain).unwrap();
    json["config"].as_object_mut().unwrap().remove("numeric_bins");
    let old: RowCodec = serde_json::from_value(json).unwrap();
    assert_eq!(old, plain);
    let saved: RowCodec = serde_json::from_str(&serde_json::to_string(&codec).unwrap()).unwrap();
    assert_eq!(saved, codec);
    // A hand-edited save with cuts but no values writes numbers as they are, without a panic.
    let broken = NumberBins { values: vec![], cuts: vec![25.5] };
    assert_eq!(broken.snap(31.0), 31.0);
}

#[test]
fn prompts_in_another_order_keep_the_filled_cells_and_the_target_last() {
    let t = users();
    let codec = RowCodec::fit(&t, CodecConfig::default()).unwrap();
    // gender (2 values), occupation (3), age (23.0-53.0 in tenths: 301), then the id, the set
    // and the text in schema order.
    let order = codec.fewest_values_first();
    assert_eq!(order, [2, 3, 1, 0, 4, 5]);
    assert_eq!(codec.prompt(&t, 4, 2).unwrap(), "age is 33.5, occupation is technician, title is \"Fargo\", gender is");
    let filled = [(4, Value::Set(vec!["Drama".into()]))];
    assert_eq!(
        codec.prompt_ordered(&t, 4, 2, &filled, &order).unwrap(),
        "occupation is technician, age is 33.5, title is \"Fargo\", genres is [Drama], gender is"
    );
    // The schema order gives the schema-order prompt.
    assert_eq!(
        codec.prompt_ordered(&t, 4, 2, &filled, &[0, 1, 2, 3, 4, 5]).unwrap(),
        codec.prompt_with(&t, 4, 2, &filled).unwrap()
    );
    for bad in [&[2, 3, 1, 0, 4][..], &[2, 3, 1, 0, 4, 4], &[2, 3, 1, 0, 4, 6]] {
        let e = codec.prompt_ordered(&t, 4, 2, &[], bad).unwrap_err().to_string();
        assert!(e.contains("not a permutation of the 6 columns"), "{bad:?}: {e}");
    }
}

#[test]
fn every_observed_value_round_trips_through_text() {
    let t = users();
    let codec = RowCodec::fit(&t, CodecConfig::default()).unwrap();
    for col in 1..t.num_columns() {
        for row in 0..t.num_rows() {
            if let Some(v) = t.value(row, col) {
                let text = codec.continuation(col, &v).unwrap();
                assert_eq!(codec.parse_value(col, &text).unwrap(), v, "column {col}, row {row}: {text:?}");
            }
        }
    }
}

#[test]
fn shuffled_training_text_is_seeded() {
    use rand::SeedableRng;
    let t = users();
    let codec = RowCodec::fit(&t, CodecConfig::default()).unwrap();
    let text = |seed| codec.training_text(&t, 0, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed)).unwrap();
    assert_eq!(text(7), text(7));
    let variants: std::collections::HashSet<String> = (0..20).map(text).collect();
    assert!(variants.len() > 5, "orders should vary across seeds: {variants:?}");
    for v in &variants {
        assert!(v.contains("occupation is technician") && v.ends_with('.'));
    }
}

#[test]
fn a_shuffled_prompt_keeps_every_known_cell_and_asks_last() {
    use rand::SeedableRng;
    let t = users();
    let codec = RowCodec::fit(&t, CodecConfig::default()).unwrap();
    let filled = [(5, Value::Text("Up".into()))];
    let plain = codec.prompt_with(&t, 3, 1, &filled).unwrap();
    let cells = |p: &str| {
        let mut v: Vec<String> = p.split(", ").map(str::to_string).collect();
        let last = v.pop().unwrap();
        v.sort();
        (v, last)
    };
    let shuffled =
        |seed| codec.prompt_shuffled(&t, 3, 1, &filled, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed)).unwrap();
    assert_eq!(shuffled(3), shuffled(3));
    let variants: std::collections::HashSet<String> = (0..20).map(shuffled).collect();
    assert!(variants.len() > 5, "orders should vary across seeds: {variants:?}");
    for v in &variants {
        assert_eq!(cells(v), cells(&plain), "{v} against {plain}");
        assert!(v.ends_with("age is"), "{v}");
    }
}

#[test]
fn categorical_grammar_with_the_gpt2_tokenizer() {
    let tok = gpt2_tokenizer();
    assert_eq!(Vocab::encode(&tok, "Hello world").unwrap(), [15496, 995]);
    let t = users();
    let codec = RowCodec::fit(&t, CodecConfig::default()).unwrap();
    let ColumnGrammar::Choice { values, trie } = ColumnGrammar::build(&codec, 3, &tok).unwrap() else {
        panic!("occupation should be a choice")
    };
    assert_eq!(values.len(), 3);
    // Walking the trie along each value's tokens ends on that value, and only there.
    for (i, v) in values.iter().enumerate() {
        let seq = trie.sequence(i).to_vec();
        assert_eq!(Vocab::decode(&tok, &seq).unwrap(), codec.continuation(3, v).unwrap());
        assert_eq!(trie.complete(&seq), Some(i));
        for k in 0..seq.len() {
            assert!(trie.allowed(&seq[..k]).contains(&seq[k]));
        }
    }
    let first: Vec<u32> = trie.allowed(&[]);
    assert!(first.len() <= 3 && !first.is_empty());
    assert!(trie.allowed(&[15496]).is_empty(), "a token outside the trie leads nowhere");
    assert!(
        matches!(ColumnGrammar::build(&codec, 1, &tok).unwrap(), ColumnGrammar::Number(g) if g.min == 23.0 && g.max == 53.0)
    );
}

#[test]
fn a_tokenizer_that_cannot_spell_a_category_is_an_error() {
    // A vocabulary without byte fallback: characters it does not know become [UNK].
    let vocab: std::collections::HashMap<String, u32> =
        [("[UNK]", 0), ("Ġ", 1), ("M", 2), ("F", 3)].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let wp = tokenizers::models::wordlevel::WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tok = tokenizers::Tokenizer::new(wp);
    tok.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::whitespace::Whitespace {}));
    let t = users();
    let codec = RowCodec::fit(&t, CodecConfig::default()).unwrap();
    let e = ColumnGrammar::build(&codec, 3, &tok).unwrap_err().to_string();
    assert!(e.contains("cannot spell") && e.contains("occupation"), "{e}");
}

proptest! {
    #[test]
    fn bins_cover_the_values_in_order_and_never_split_ties(xs in prop::collection::vec(0u8..60, 1..200), k in 2usize..20) {
        let xs: Vec<f64> = xs.into_iter().map(f64::from).collect();
        let mut distinct = xs.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        match NumberBins::fit(&xs, k) {
            None => prop_assert!(distinct.len() <= k),
            Some(b) => {
                prop_assert!(distinct.len() > k && b.values.len() <= k && b.values.len() >= 2);
                prop_assert_eq!(b.cuts.len(), b.values.len() - 1);
                prop_assert!(b.values.windows(2).all(|w| w[0] < w[1]) && b.cuts.windows(2).all(|w| w[0] < w[1]));
                for (i, v) in b.values.iter().enumerate() {
                    // Each bin's value was observed and lies between its cuts, and snaps to itself.
                    prop_assert!(distinct.contains(v));
                    prop_assert!(i == 0 || b.cuts[i - 1] < *v);
                    prop_assert!(i == b.cuts.len() || *v < b.cuts[i]);
                    prop_assert_eq!(b.snap(*v), *v);
                }
                // Snapping keeps order.
                let snapped: Vec<f64> = distinct.iter().map(|&x| b.snap(x)).collect();
                prop_assert!(snapped.windows(2).all(|w| w[0] <= w[1]));
            }
        }
    }
}

proptest! {
    #[test]
    fn number_grammar_admits_every_prefix_of_allowed_numbers(min in -50i32..50, span in 0i32..500, pick in 0.0f64..1.0, decimals in 0usize..3) {
        let g = NumberGrammar { min: min as f64, max: (min + span) as f64, decimals };
        let x = g.min + pick * (g.max - g.min);
        let text = format!(" {:.*}", decimals, x);
        let value: f64 = text.trim().parse().unwrap();
        prop_assume!(value >= g.min && value <= g.max);
        for end in 0..=text.len() {
            prop_assert!(g.accepts_prefix(&text[..end]), "prefix {:?} of {:?} refused by {:?}", &text[..end], text, g);
        }
        prop_assert!(g.accepts(&text));
    }

    #[test]
    fn number_grammar_refuses_numbers_out_of_range(min in -50i32..50, span in 0i32..500, above in 1i32..1000, decimals in 0usize..3) {
        let g = NumberGrammar { min: min as f64, max: (min + span) as f64, decimals };
        let text = format!(" {}", min + span + above);
        prop_assert!(!g.accepts(&text), "{:?} accepted by {:?}", text, g);
        let below = format!(" {}", min - above);
        prop_assert!(!g.accepts(&below), "{:?} accepted by {:?}", below, g);
    }
}

/// Text a model might write for a cell: arbitrary Unicode, or pieces of the grammar's own
/// alphabet (brackets, commas, quotes, digits, signs, known labels) in any order.
fn model_text() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "[",
        "]",
        ",",
        ", ",
        " ",
        "\"",
        ".",
        "-",
        "0",
        "7",
        "24",
        "53",
        "1e3",
        "inf",
        "NaN",
        "M",
        "F",
        "writer",
        "technician",
        "Action",
        "Comedy",
        "Drama",
        "Toy Story",
        "\n",
        "é",
        "\u{0}",
    ]);
    prop_oneof![".{0,40}", prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Fuzz-style (issue #19): whatever a model writes, reading it as a cell gives a value of
    /// the column or an error naming the column; the text the codec writes for that value reads
    /// back to the same text (reading is lenient: `0.05` in a one-decimal column, or a quote
    /// inside quoted text, is read, and written in the codec's own form).
    #[test]
    fn any_text_parses_to_a_value_that_round_trips_or_an_error_naming_the_column(text in model_text()) {
        let t = users();
        let codec = RowCodec::fit(&t, CodecConfig::default()).unwrap();
        for (col, spec) in t.schema().columns().iter().enumerate() {
            match codec.parse_value(col, &text) {
                Ok(value) => {
                    let written = codec.format_value(col, &value).unwrap();
                    let again = codec.format_value(col, &codec.parse_value(col, &written).unwrap()).unwrap();
                    prop_assert_eq!(&again, &written, "{:?} read as {:?}", text, value);
                }
                Err(e) => prop_assert!(e.to_string().contains(&spec.name), "{}: {}", spec.name, e),
            }
        }
    }

    /// The number grammar's prefix test agrees with its full test: every prefix of a text it
    /// accepts is an accepted prefix, and what it accepts parses to a number in range.
    #[test]
    fn number_grammar_accepts_only_numbers_in_range_with_every_prefix(
        text in model_text(), min in -50i32..50, span in 0i32..500, decimals in 0usize..3,
    ) {
        let g = NumberGrammar { min: min as f64, max: (min + span) as f64, decimals };
        if g.accepts(&text) {
            let x: f64 = text.trim().parse().unwrap();
            prop_assert!(x >= g.min && x <= g.max, "{:?} accepted by {:?}", text, g);
            for (end, _) in text.char_indices() {
                prop_assert!(g.accepts_prefix(&text[..end]), "prefix {:?} of {:?}", &text[..end], text);
            }
        }
    }
}
