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
    /// bf16 where the hardware computes it natively and fast (CUDA, or a CPU for which
    /// [`cpu_bf16_pays`]), f32 elsewhere: on a CPU with only AVX2, libtorch emulates bf16 and
    /// runs it several times slower than f32, and a CPU may compute bf16 natively yet more
    /// slowly than f32.
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
        self.resolve_where(on_cuda, cpu_bf16_pays())
    }

    /// [`resolve`](Self::resolve) on a CPU for which bf16 pays or not (`bf16_pays`).
    pub(crate) fn resolve_where(self, on_cuda: bool, bf16_pays: bool) -> Precision {
        match self {
            Precision::Auto if on_cuda || bf16_pays => Precision::Bf16,
            Precision::Auto => Precision::F32,
            other => other,
        }
    }
}

/// Whether this CPU has bf16 arithmetic in hardware (x86 `avx512_bf16` or `amx_bf16` in
/// `/proc/cpuinfo`); `false` where that cannot be read.
pub fn cpu_has_native_bf16() -> bool {
    cpuinfo().is_some_and(|info| has_flag(info, "avx512_bf16") || has_flag(info, "amx_bf16"))
}

/// Whether `Precision::Auto` runs the base in bf16 on this CPU: with AMX, or with AVX-512 BF16
/// on an AMD CPU; `false` where `/proc/cpuinfo` cannot be read. Native bf16 alone does not
/// decide it: an Intel Xeon of this project that flags `avx512_bf16` (no AMX) multiplies bf16
/// at about half its f32 rate, and the SmolLM2 fine-tune ran 1.40× faster in f32 there, while
/// an AMD EPYC with AVX-512 BF16 ran bf16 products about 7× faster than f32
/// (docs/BENCHMARKS.md, "Another CPU"). The choice is read from the CPU's flags, not timed,
/// so that one machine always makes the same one: a timed product chose differently in two
/// processes of one test under load.
///
/// A ceiling on the instructions oneDNN (libtorch's bf16 matrix products) may use,
/// `ONEDNN_MAX_CPU_ISA` (or the older `DNNL_MAX_CPU_ISA`), counts too: capped below AMX on an
/// Intel CPU, or below AVX-512 BF16 on an AMD one, bf16 runs on slower kernels, so `Auto`
/// picks f32 (on a CPU with AMX, `ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16` left bf16 products at
/// half the rate of f32 ones, and `AVX2` cut them some 1,500-fold: docs/BENCHMARKS.md, "Older
/// CPUs, emulated").
pub fn cpu_bf16_pays() -> bool {
    let cap = std::env::var("ONEDNN_MAX_CPU_ISA").or_else(|_| std::env::var("DNNL_MAX_CPU_ISA")).ok();
    cpuinfo().is_some_and(|info| bf16_pays_on(info) && onednn_cap_allows_bf16(info, cap.as_deref()))
}

/// Whether oneDNN capped at `cap` (a `ONEDNN_MAX_CPU_ISA` value; `None`: not capped) still
/// reaches the bf16 kernels [`bf16_pays_on`] counts on for this CPU: AMX on Intel, AVX-512 BF16
/// or above on AMD. oneDNN reads the name in any case and ignores one it does not know (or
/// one with spaces around it), and so does this.
fn onednn_cap_allows_bf16(cpuinfo: &str, cap: Option<&str>) -> bool {
    // oneDNN's names below AVX-512 BF16.
    const BELOW_BF16: [&str; 7] =
        ["SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"];
    // Names with AVX-512 BF16 but without AMX.
    const BF16_NO_AMX: [&str; 3] = ["AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512"];
    let Some(cap) = cap.map(str::to_ascii_uppercase) else {
        return true;
    };
    if BELOW_BF16.contains(&cap.as_str()) {
        false
    } else if BF16_NO_AMX.contains(&cap.as_str()) {
        is_amd(cpuinfo)
    } else {
        true
    }
}

/// `/proc/cpuinfo`, read once per process.
fn cpuinfo() -> Option<&'static str> {
    static INFO: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    INFO.get_or_init(|| std::fs::read_to_string("/proc/cpuinfo").ok()).as_deref()
}

/// Whether the first `flags` line of a `/proc/cpuinfo` text names `flag`.
fn has_flag(cpuinfo: &str, flag: &str) -> bool {
    cpuinfo.lines().filter(|l| l.starts_with("flags")).take(1).any(|l| l.split_whitespace().any(|f| f == flag))
}

/// [`cpu_bf16_pays`] for a `/proc/cpuinfo` text.
fn bf16_pays_on(cpuinfo: &str) -> bool {
    has_flag(cpuinfo, "amx_bf16") || (is_amd(cpuinfo) && has_flag(cpuinfo, "avx512_bf16"))
}

/// Whether a `/proc/cpuinfo` text is an AMD CPU's.
fn is_amd(cpuinfo: &str) -> bool {
    cpuinfo.lines().any(|l| l.starts_with("vendor_id") && l.contains("AuthenticAMD"))
}

impl Precision {
    /// The names [`FromStr`](std::str::FromStr) accepts.
    pub const NAMES: [&'static str; 3] = ["auto", "f32", "bf16"];
}

impl std::fmt::Display for Precision {
    /// The name [`FromStr`](std::str::FromStr) reads back: its entry of [`Precision::NAMES`],
    /// which lists the variants in their order.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Self::NAMES[*self as usize])
    }
}

impl std::str::FromStr for Precision {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        crate::overlay::parse_name(s, "precision", &Self::NAMES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(vendor: &str, flags: &str) -> String {
        format!("processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: fpu sse2 avx2 {flags}\n\nprocessor\t: 1\n")
    }

    #[test]
    fn bf16_pays_with_amx_or_with_avx512_bf16_on_amd_only() {
        assert!(bf16_pays_on(&info("AuthenticAMD", "avx512f avx512_bf16")));
        assert!(!bf16_pays_on(&info("GenuineIntel", "avx512f avx512_bf16")));
        assert!(bf16_pays_on(&info("GenuineIntel", "avx512f avx512_bf16 amx_bf16 amx_tile")));
        assert!(!bf16_pays_on(&info("AuthenticAMD", "avx512f")));
        assert!(!bf16_pays_on(&info("GenuineIntel", "")));
        assert!(!bf16_pays_on(""));
        // A flag is a whole word, not a prefix of another.
        assert!(!bf16_pays_on(&info("AuthenticAMD", "avx512_bf16x")));
        assert!(has_flag(&info("GenuineIntel", "avx512_bf16"), "avx512_bf16"));
        // On this machine: `Auto` follows the rule, and never picks bf16 without it in hardware.
        assert_eq!(Precision::Auto.resolve(false) == Precision::Bf16, cpu_bf16_pays());
        assert!(!cpu_bf16_pays() || cpu_has_native_bf16());
        assert_eq!(Precision::Auto.resolve(true), Precision::Bf16);
        assert_eq!(Precision::F32.resolve(true), Precision::F32);
    }

    #[test]
    fn a_precision_prints_the_name_it_is_read_from() {
        for p in [Precision::Auto, Precision::F32, Precision::Bf16] {
            assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
        }
        assert_eq!(Precision::Bf16.to_string(), "bf16");
    }

    #[test]
    fn a_onednn_ceiling_below_the_bf16_kernels_turns_bf16_off() {
        let intel = info("GenuineIntel", "avx512f avx512_bf16 amx_bf16 amx_tile");
        let amd = info("AuthenticAMD", "avx512f avx512_bf16");
        for cpu in [&intel, &amd] {
            assert!(onednn_cap_allows_bf16(cpu, None));
            assert!(onednn_cap_allows_bf16(cpu, Some("ALL")));
            assert!(onednn_cap_allows_bf16(cpu, Some("avx512_core_amx")), "names are case-insensitive");
            assert!(!onednn_cap_allows_bf16(cpu, Some("AVX2")));
            assert!(!onednn_cap_allows_bf16(cpu, Some("avx512_core")));
            // A name oneDNN does not know leaves it uncapped; so do spaces around a known one.
            assert!(onednn_cap_allows_bf16(cpu, Some("AVX9000")));
            assert!(onednn_cap_allows_bf16(cpu, Some(" AVX2")));
        }
        // AVX-512 BF16 without AMX: enough on AMD, not on Intel (bf16 at half f32's rate there).
        assert!(!onednn_cap_allows_bf16(&intel, Some("AVX512_CORE_BF16")));
        assert!(onednn_cap_allows_bf16(&amd, Some("AVX512_CORE_BF16")));
    }
}
