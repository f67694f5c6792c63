//! Reads arbitrary text as a cell of every kind of column (what a model may write): a value
//! whose written form reads back to the same text, or an error naming the column, never a
//! panic; the number grammar accepts only numbers in range, with every prefix.
//!
//! Run with `cargo +nightly fuzz run parse_value` from `crates/prompt-codec`.
//! `tests/codec.rs` checks the same properties on every `cargo test`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prompt_codec::{CodecConfig, NumberGrammar, RowCodec};
use rec_table::{read_csv_bytes, ColumnKind, CsvOptions, Table};

fn table() -> &'static (Table, RowCodec) {
    static T: OnceLock<(Table, RowCodec)> = OnceLock::new();
    T.get_or_init(|| {
        let csv = "age,gender,genres,title\n24,M,Action|Comedy,\"Toy Story\"\n53.5,F,Drama,\"Heat\"\n";
        let opts =
            CsvOptions::default().with_kind("title", ColumnKind::Text).with_kind("genres", ColumnKind::SetValued);
        let t = read_csv_bytes(csv.as_bytes(), "t.csv", &opts).expect("the fixture reads");
        let codec = RowCodec::fit(&t, CodecConfig::default()).expect("the codec fits");
        (t, codec)
    })
}

fuzz_target!(|text: &str| {
    let (t, codec) = table();
    for (col, spec) in t.schema().columns().iter().enumerate() {
        match codec.parse_value(col, text) {
            Ok(v) => {
                let written = codec.format_value(col, &v).expect("a parsed value formats");
                let back = codec.parse_value(col, &written).expect("written text parses");
                assert_eq!(codec.format_value(col, &back).expect("it formats"), written);
            }
            Err(e) => assert!(e.to_string().contains(&spec.name), "{e}"),
        }
    }
    let g = NumberGrammar { min: -5.0, max: 120.0, decimals: 1 };
    if g.accepts(text) {
        let x: f64 = text.trim().parse().expect("accepted text is a number");
        assert!((g.min..=g.max).contains(&x));
        for (end, _) in text.char_indices() {
            assert!(g.accepts_prefix(&text[..end]));
        }
    }
});
