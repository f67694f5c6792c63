//! Parses arbitrary bytes as GGUF; whatever parses must also be safe to read and dequantize.
//!
//! Run with `cargo +nightly fuzz run parse` from `crates/gguf-file` (seed the corpus with
//! `tests/reference/*.gguf`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = gguf_file::GgufFile::from_bytes(data) {
        for view in file.tensor_views() {
            if view.info().n_elements() <= 1 << 20 {
                let _ = view.to_f32();
            }
        }
        let _ = file.tokenizer();
    }
});
