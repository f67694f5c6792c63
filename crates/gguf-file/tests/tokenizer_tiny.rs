//! The tokenizer built from a small GGUF (the first 1,500 SmolLM2 tokens and their merges)
//! against HF transformers loading the same file, for three `tokenizer.ggml.pre` values.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use gguf_file::{GgufFile, GgufTokenizer, Metadata, PreTokenizerKind, Value};

fn metadata() -> Metadata {
    GgufFile::open(common::reference("tiny_tokenizer.gguf")).unwrap().metadata().clone()
}

fn check(pre: &str, kind: PreTokenizerKind) {
    let fx = common::fixture("tiny_tokenizer.json");
    let mut meta = metadata();
    meta.insert("tokenizer.ggml.pre", Value::String(pre.to_string()));
    let tok = GgufTokenizer::from_metadata(&meta).unwrap();
    assert_eq!(tok.pre_kind(), kind);
    assert_eq!(tok.vocab_size(), fx["n_tokens"].as_u64().unwrap() as usize);
    let corpus = fx["corpus"].as_array().unwrap();
    let expected = fx["pre"][pre]["expected"].as_array().unwrap();
    let decoded = fx["pre"][pre]["decoded"].as_array().unwrap();
    assert!(corpus.len() >= 20);
    for ((text, want), dec) in corpus.iter().zip(expected).zip(decoded) {
        let text = text.as_str().unwrap();
        let want: Vec<u32> = want.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text, true).unwrap();
        assert_eq!(got, want, "pre {pre}, text {text:?}");
        assert_eq!(tok.decode(&got, false).unwrap(), dec.as_str().unwrap(), "pre {pre}, text {text:?}");
    }
}

#[test]
fn smollm_pre_matches_reference() {
    check("smollm", PreTokenizerKind::DigitsThenGpt2);
}

#[test]
fn gpt2_pre_matches_reference() {
    check("gpt-2", PreTokenizerKind::Gpt2);
}

#[test]
fn llama_bpe_pre_matches_reference() {
    check("llama-bpe", PreTokenizerKind::Llama3);
}

#[test]
fn digits_are_split_before_whitespace_runs() {
    // The one case in the corpus where the digit split changes the ids: "x   12" is
    // x / "   " / 1 / 2 with it, and x / "  " / " 1" / 2 (→ x, ĠĠ, Ġ, 1, 2) without.
    let tok = GgufFile::open(common::reference("tiny_tokenizer.gguf")).unwrap().tokenizer().unwrap();
    assert_eq!(tok.encode("x   12", false).unwrap(), vec![104, 333, 33, 34]);
}

#[test]
fn special_ids_and_settings() {
    let tok = GgufFile::open(common::reference("tiny_tokenizer.gguf")).unwrap().tokenizer().unwrap();
    assert_eq!(tok.pre(), Some("smollm"));
    assert_eq!((tok.bos_id(), tok.eos_id(), tok.unk_id(), tok.pad_id()), (Some(1), Some(2), Some(0), Some(2)));
    assert!(!tok.add_bos() && !tok.add_eos());
    assert!(tok.chat_template().unwrap().contains("<|im_start|>"));
    // Control tokens are matched whole and can be skipped when decoding.
    let ids = tok.encode("<|im_start|>hi<|im_end|>", false).unwrap();
    assert_eq!((ids[0], *ids.last().unwrap()), (1, 2));
    assert_eq!(tok.decode(&ids, true).unwrap(), "hi");
}

#[test]
fn add_bos_and_eos_when_the_file_says_so() {
    let mut meta = metadata();
    meta.insert("tokenizer.ggml.add_bos_token", Value::Bool(true));
    meta.insert("tokenizer.ggml.add_eos_token", Value::Bool(true));
    let tok = GgufTokenizer::from_metadata(&meta).unwrap();
    let plain = tok.encode("hi", false).unwrap();
    let with = tok.encode("hi", true).unwrap();
    assert_eq!(with, [vec![1], plain, vec![2]].concat());
}

#[test]
fn bad_tokenizer_metadata_is_named() {
    let mut meta = metadata();
    meta.insert("tokenizer.ggml.pre", Value::String("qwen2".into()));
    let err = GgufTokenizer::from_metadata(&meta).unwrap_err().to_string();
    assert!(err.contains("qwen2"), "{err}");

    let mut meta = metadata();
    meta.insert("tokenizer.ggml.model", Value::String("llama".into()));
    let err = GgufTokenizer::from_metadata(&meta).unwrap_err().to_string();
    assert!(err.contains("llama"), "{err}");

    let mut meta = metadata();
    meta.insert("tokenizer.ggml.bos_token_id", Value::U32(1_000_000));
    let err = GgufTokenizer::from_metadata(&meta).unwrap_err().to_string();
    assert!(err.contains("tokenizer.ggml.bos_token_id"), "{err}");

    let mut meta = metadata();
    meta.insert("tokenizer.ggml.tokens", Value::U32(0));
    let err = GgufTokenizer::from_metadata(&meta).unwrap_err().to_string();
    assert!(err.contains("tokenizer.ggml.tokens"), "{err}");
}
