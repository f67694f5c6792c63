//! Helpers shared by the integration tests: fixture paths and a GGUF image builder.
#![allow(dead_code)]

use std::path::PathBuf;

/// A file in `tests/reference/`.
pub fn reference(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference").join(name)
}

/// A parsed JSON fixture from `tests/reference/`.
pub fn fixture(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(reference(name)).expect("fixture present");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Directory holding the SmolLM2 GGUF, resolved as the setup and the library resolve it.
pub fn models_dir() -> PathBuf {
    rec_cache::models_dir().expect("RECIMPUTE_MODELS, RECIMPUTE_CACHE, XDG_CACHE_HOME or HOME locates the models")
}

/// Path of the SmolLM2 GGUF, with a helpful panic if it is absent.
pub fn smollm2_path() -> PathBuf {
    let path = models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(path.exists(), "{} not found: run `cargo xtask fetch-model` or set RECIMPUTE_MODELS", path.display());
    path
}

/// Builds GGUF images byte by byte, so tests can write exactly the bad field they want.
#[derive(Default)]
pub struct Builder {
    pub bytes: Vec<u8>,
}

impl Builder {
    pub fn header(version: u32, n_tensors: u64, n_kv: u64) -> Self {
        let mut b = Self::default();
        b.bytes.extend_from_slice(b"GGUF");
        b.u32(version).u64(n_tensors).u64(n_kv);
        b
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(v);
        self
    }
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64).raw(s.as_bytes())
    }
    /// A `UINT32` key/value pair.
    pub fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.string(key).u32(4).u32(v)
    }
    /// A `STRING` key/value pair.
    pub fn kv_str(&mut self, key: &str, v: &str) -> &mut Self {
        self.string(key).u32(8).string(v)
    }
    /// A tensor info.
    pub fn tensor(&mut self, name: &str, dims: &[u64], ggml_type: u32, offset: u64) -> &mut Self {
        self.string(name).u32(dims.len() as u32);
        for &d in dims {
            self.u64(d);
        }
        self.u32(ggml_type).u64(offset)
    }
    /// Zero padding up to the next multiple of `align`.
    pub fn pad(&mut self, align: usize) -> &mut Self {
        while !self.bytes.len().is_multiple_of(align) {
            self.bytes.push(0);
        }
        self
    }
    pub fn build(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}
