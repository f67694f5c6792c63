//! Malformed input: every failure is an error that says what is wrong, never a panic.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use common::Builder;
use gguf_file::{GgufError, GgufFile};
use proptest::prelude::*;

fn tiny() -> Vec<u8> {
    std::fs::read(common::reference("tiny.gguf")).unwrap()
}

/// A file with one tensor `w` (dims, type code, offset) followed by `data` bytes of data.
fn one_tensor(dims: &[u64], ggml_type: u32, offset: u64, data: usize) -> Vec<u8> {
    let mut b = Builder::header(3, 1, 1);
    b.kv_str("general.architecture", "llama").tensor("w", dims, ggml_type, offset).pad(32);
    b.raw(&vec![0u8; data]);
    b.build()
}

fn err(bytes: Vec<u8>) -> GgufError {
    GgufFile::from_bytes(bytes).expect_err("input should be refused")
}

#[test]
fn a_well_formed_hand_built_file_parses() {
    let file = GgufFile::from_bytes(one_tensor(&[8], 0, 0, 32)).unwrap();
    assert_eq!(file.dequantize_f32("w").unwrap(), vec![0.0; 8]);
    // Version 2 shares the layout.
    let mut v2 = one_tensor(&[8], 0, 0, 32);
    v2[4] = 2;
    assert_eq!(GgufFile::from_bytes(v2).unwrap().version(), 2);
}

#[test]
fn wrong_magic_and_version() {
    let mut bytes = tiny();
    bytes[0..4].copy_from_slice(b"GGML");
    assert!(matches!(err(bytes), GgufError::BadMagic { .. }));
    assert!(matches!(err(b"GG".to_vec()), GgufError::BadMagic { .. }));
    assert!(matches!(err(Vec::new()), GgufError::BadMagic { .. }));
    for version in [0u32, 1, 4, 0x0300_0000] {
        let mut bytes = tiny();
        bytes[4..8].copy_from_slice(&version.to_le_bytes());
        let e = err(bytes);
        assert!(matches!(e, GgufError::UnsupportedVersion(v) if v == version), "{e}");
    }
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = tiny();
    for len in 0..bytes.len() {
        // Cutting inside the final padding of the last tensor's data still leaves its bytes;
        // everything shorter than the data end must fail.
        match GgufFile::from_bytes(&bytes[..len]) {
            Ok(file) => {
                let end = file.tensors().iter().map(|t| file.data_offset() + t.offset as usize + t.n_bytes()).max();
                assert!(end.unwrap_or(0) <= len, "prefix of {len} bytes parsed");
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    let data_offset = GgufFile::from_bytes(bytes.as_slice()).unwrap().data_offset();
    let e = err(bytes[..data_offset + 10].to_vec());
    assert!(matches!(e, GgufError::TensorOutOfBounds { .. }), "{e}");
    let e = err(bytes[..1000].to_vec());
    assert!(matches!(e, GgufError::Truncated { .. } | GgufError::ImplausibleCount { .. }), "{e}");
    let e = err(bytes[..100].to_vec());
    assert!(matches!(e, GgufError::ImplausibleCount { .. }), "{e}");
}

#[test]
fn absurd_counts_are_refused_before_allocating() {
    let e = err(Builder::header(3, 1 << 60, 0).build());
    assert!(
        matches!(&e, GgufError::ImplausibleCount { what, value, .. } if what == "tensor count" && *value == 1 << 60),
        "{e}"
    );
    let e = err(Builder::header(3, 0, u64::MAX).build());
    assert!(matches!(e, GgufError::ImplausibleCount { .. }), "{e}");
    // An array claiming 2^60 elements.
    let mut b = Builder::header(3, 0, 1);
    b.string("k").u32(9).u32(5).u64(1 << 60).raw(&[0; 64]);
    let e = err(b.build());
    assert!(matches!(e, GgufError::ImplausibleCount { ref what, .. } if what.contains("\"k\"")), "{e}");
    // A string claiming 2^63 bytes.
    let mut b = Builder::header(3, 0, 1);
    b.string("k").u32(8).u64(1 << 63).raw(b"abc");
    assert!(matches!(err(b.build()), GgufError::Truncated { .. }));
    // A key length past the end.
    let mut b = Builder::header(3, 0, 1);
    b.u64(u64::MAX).raw(&[0; 16]);
    assert!(matches!(err(b.build()), GgufError::Truncated { .. }));
}

#[test]
fn bad_metadata() {
    let mut b = Builder::header(3, 0, 1);
    b.string("k").u32(13).u32(0);
    assert!(matches!(err(b.build()), GgufError::UnknownValueType { code: 13, .. }));
    let mut b = Builder::header(3, 0, 2);
    b.kv_u32("k", 1).kv_u32("k", 2);
    assert!(matches!(err(b.build()), GgufError::DuplicateKey(k) if k == "k"));
    let mut bad_utf8 = Builder::header(3, 0, 1);
    bad_utf8.string("k").u32(8).u64(2).raw(&[0xff, 0xfe]);
    assert!(matches!(err(bad_utf8.build()), GgufError::InvalidUtf8 { .. }));
    let mut b = Builder::header(3, 0, 1);
    b.kv_u32("general.alignment", 24);
    assert!(matches!(err(b.build()), GgufError::InvalidValue { key, .. } if key == "general.alignment"));
    let mut b = Builder::header(3, 0, 1);
    b.kv_str("general.alignment", "32");
    assert!(matches!(err(b.build()), GgufError::WrongType { key, .. } if key == "general.alignment"));
}

#[test]
fn bad_tensor_infos() {
    // Data out of bounds: 8 f32 need 32 bytes, 16 given.
    let e = err(one_tensor(&[8], 0, 0, 16));
    assert!(matches!(&e, GgufError::TensorOutOfBounds { tensor, end: 32, data_len: 16, .. } if tensor == "w"), "{e}");
    // Offset far past the end, and offset + size overflowing.
    assert!(matches!(err(one_tensor(&[8], 0, 1 << 40, 32)), GgufError::TensorOutOfBounds { .. }));
    assert!(matches!(
        err(one_tensor(&[8], 0, u64::MAX - 31, 32)),
        GgufError::InvalidTensor { .. } | GgufError::TensorOutOfBounds { .. }
    ));
    // Misaligned offset.
    let e = err(one_tensor(&[8], 0, 4, 64));
    assert!(e.to_string().contains("alignment"), "{e}");
    // Unknown type code, partial blocks, too many dims, dimension overflow.
    assert!(matches!(err(one_tensor(&[8], 4, 0, 32)), GgufError::UnknownTensorType { code: 4, .. }));
    assert!(matches!(err(one_tensor(&[8], 99, 0, 32)), GgufError::UnknownTensorType { code: 99, .. }));
    let e = err(one_tensor(&[8], 8, 0, 64));
    assert!(e.to_string().contains("block size"), "{e}");
    let e = err(one_tensor(&[1, 1, 1, 1, 8], 0, 0, 32));
    assert!(e.to_string().contains("dimensions"), "{e}");
    let e = err(one_tensor(&[1 << 32, 1 << 32, 1 << 32], 0, 0, 32));
    assert!(e.to_string().contains("overflow"), "{e}");
    // Duplicate names.
    let mut b = Builder::header(3, 2, 0);
    b.tensor("w", &[8], 0, 0).tensor("w", &[8], 0, 32).pad(32).raw(&[0; 64]);
    assert!(matches!(err(b.build()), GgufError::DuplicateTensor(n) if n == "w"));
}

#[test]
fn a_metadata_only_file_without_padding_parses() {
    let mut b = Builder::header(3, 0, 1);
    b.kv_u32("general.alignment", 64);
    let file = GgufFile::from_bytes(b.build()).unwrap();
    assert_eq!(file.alignment(), 64);
    assert!(file.tensors().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = GgufFile::from_bytes(bytes);
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(
        version in 2u32..4, n_tensors in 0u64..4, n_kv in 0u64..4,
        rest in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut b = Builder::header(version, n_tensors, n_kv);
        b.raw(&rest);
        let _ = GgufFile::from_bytes(b.build());
    }

    #[test]
    fn corrupted_tiny_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = tiny();
        for (at, bit) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(file) = GgufFile::from_bytes(bytes) {
            // Whatever parsed must be safe to use.
            for view in file.tensor_views() {
                let _ = view.to_f32();
                prop_assert_eq!(view.data().len(), view.info().n_bytes());
            }
            let _ = file.tokenizer();
        }
    }
}
