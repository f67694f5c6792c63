//! Which pretrained model the imputer fine-tunes, and in what precision.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the SmolLM2 checkpoint `cargo xtask fetch-model` unpacks.
pub const SMOLLM2_GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// A pretrained causal language model on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backbone {
    /// A Llama-family GGUF file (SmolLM2 by default); the tokenizer comes from its metadata.
    Gguf(PathBuf),
    /// A Hugging Face model directory: `config.json` (`model_type` `gpt2` or `llama`),
    /// `model.safetensors`, and `tokenizer.json` or `vocab.json` + `merges.txt`.
    HfDir(PathBuf),
}

impl Backbone {
    /// SmolLM2-135M-Instruct where the setup puts it: in [`default_models_dir`].
    pub fn default_smollm2() -> Self {
        Backbone::Gguf(default_models_dir().join(SMOLLM2_GGUF))
    }

    /// The backbone at `path`: a directory is read as a Hugging Face model directory, anything
    /// else as a GGUF file.
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        if path.is_dir() {
            Backbone::HfDir(path)
        } else {
            Backbone::Gguf(path)
        }
    }

    /// The path the backbone is read from.
    pub fn path(&self) -> &Path {
        match self {
            Backbone::Gguf(p) | Backbone::HfDir(p) => p,
        }
    }

    /// A short name for reports: the file or directory name.
    pub fn name(&self) -> String {
        self.path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path().display().to_string())
    }
}

/// Where `cargo xtask fetch-model` keeps models ([`rec_cache::models_dir`]:
/// `$RECIMPUTE_MODELS`, else `$RECIMPUTE_CACHE/models`, else `$XDG_CACHE_HOME/recimpute/models`,
/// else `$HOME/.cache/recimpute/models`); `.cache/recimpute/models` under the working
/// directory when none of these variables is set.
pub fn default_models_dir() -> PathBuf {
    rec_cache::models_dir().unwrap_or_else(|| PathBuf::from(".cache/recimpute/models"))
}

/// Floating-point kind of the frozen base weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// bf16 where the hardware computes it natively (CUDA, or a CPU with AVX-512 BF16 or AMX),
    /// f32 elsewhere: on a CPU with only AVX2, libtorch emulates bf16 and runs it several times
    /// slower than f32.
    #[default]
    Auto,
    /// 32-bit floats everywhere.
    F32,
    /// The frozen base in bfloat16 (adapters stay in f32).
    Bf16,
}

impl Precision {
    /// The precision `Auto` stands for on a CUDA device (`on_cuda`) or this CPU (others are
    /// returned as they are).
    pub fn resolve(self, on_cuda: bool) -> Precision {
        match self {
            Precision::Auto if on_cuda || cpu_has_native_bf16() => Precision::Bf16,
            Precision::Auto => Precision::F32,
            other => other,
        }
    }
}

/// Whether this CPU has bf16 arithmetic in hardware (x86 `avx512_bf16` or `amx_bf16` in
/// `/proc/cpuinfo`); `false` where that cannot be read.
pub fn cpu_has_native_bf16() -> bool {
    static NATIVE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *NATIVE.get_or_init(|| {
        std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
            info.lines()
                .filter(|l| l.starts_with("flags"))
                .take(1)
                .any(|l| l.split_whitespace().any(|f| f == "avx512_bf16" || f == "amx_bf16"))
        })
    })
}

impl Precision {
    /// The names [`FromStr`](std::str::FromStr) accepts.
    pub const NAMES: [&'static str; 3] = ["auto", "f32", "bf16"];
}

impl std::str::FromStr for Precision {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        crate::overlay::parse_name(s, "precision", &Self::NAMES)
    }
}
