//! Damaged PEFT adapters (cut short, bytes flipped, in the weights or the config): loading one
//! is an error naming what is wrong, or a working adapter when the damage hit only values;
//! never a panic.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]

mod common;

use common::*;
use gpt2_lora::LoraModel;
use proptest::prelude::*;

const WEIGHTS: &str = "adapter_model.safetensors";
const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_damaged_adapter_is_an_error_never_a_panic(
        in_config in any::<bool>(),
        cut in 0.0f64..1.0,
        flips in proptest::collection::vec((0.0f64..1.0, 1u8..=255), 0..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        for name in [WEIGHTS, ADAPTER_CONFIG_FILE] {
            std::fs::copy(tiny_lora_dir().join(name), dir.path().join(name)).unwrap();
        }
        let damaged = if in_config { ADAPTER_CONFIG_FILE } else { WEIGHTS };
        let path = dir.path().join(damaged);
        let mut bytes = std::fs::read(&path).unwrap();
        let len = bytes.len();
        for (at, mask) in &flips {
            let i = ((at * len as f64) as usize).min(len - 1);
            bytes[i] ^= mask;
        }
        // Half the cases also lose the file's tail.
        if cut < 0.5 {
            bytes.truncate((cut * 2.0 * len as f64) as usize);
        }
        let truncated = bytes.len() < len;
        std::fs::write(&path, &bytes).unwrap();
        match LoraModel::from_pretrained(tiny(), dir.path()) {
            Ok(_) => prop_assert!(!truncated, "a truncated {damaged} loaded"),
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(!msg.is_empty());
                if truncated {
                    prop_assert!(msg.contains(damaged), "the error names the file: {msg}");
                }
            }
        }
    }
}
