//! Where an estimator's tensors live: one choice shared by every model of the workspace (the
//! DLRM and the LLM imputer), kept free of libtorch so that configs can be read without it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// Where a model runs. Written in configs and on command lines as `auto`, `cpu`, `cuda` (device
/// 0) or `cuda:N`.
///
/// Configs saved by earlier versions of the DLRM spelled it as an object (`{"kind": "cuda",
/// "index": 1}`); that form still reads, so old models and result directories load.
///
/// ```
/// use rec_table::DeviceChoice;
///
/// let choice: DeviceChoice = "cuda:1".parse()?;
/// assert_eq!(choice, DeviceChoice::Cuda(1));
/// assert_eq!(choice.cuda_index(true), Some(1));
/// // `auto` takes CUDA device 0 when there is one, else the CPU.
/// assert_eq!(DeviceChoice::Auto.cuda_index(false), None);
/// assert_eq!(serde_json::to_string(&choice)?, r#""cuda:1""#);
/// let old: DeviceChoice = serde_json::from_str(r#"{"kind": "cuda", "index": 1}"#)?;
/// assert_eq!(old, choice);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceChoice {
    /// CUDA device 0 when libtorch sees one, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The CUDA device of this ordinal.
    Cuda(usize),
}

impl DeviceChoice {
    /// The names [`FromStr`] accepts (besides `cuda:N`).
    pub const NAMES: [&'static str; 3] = ["auto", "cpu", "cuda"];

    /// The CUDA ordinal this choice resolves to on a machine where CUDA is (or is not)
    /// `available`; `None` means the CPU. An explicit `cuda` stays CUDA even when it is not
    /// available, so that libtorch reports the missing device instead of a silent CPU run.
    pub fn cuda_index(self, available: bool) -> Option<usize> {
        match self {
            DeviceChoice::Auto => available.then_some(0),
            DeviceChoice::Cpu => None,
            DeviceChoice::Cuda(index) => Some(index),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(index) => write!(f, "cuda:{index}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidInput(format!("unknown device {s:?} (expected auto, cpu, cuda or cuda:N)"));
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => {
                let index = other.strip_prefix("cuda:").ok_or_else(bad)?;
                index.parse().map(DeviceChoice::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl Serialize for DeviceChoice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The two spellings a config may hold: the name, or the DLRM's earlier tagged object.
#[derive(Deserialize)]
#[serde(untagged)]
enum Spelling {
    Name(String),
    Tagged {
        kind: String,
        #[serde(default)]
        index: usize,
    },
}

impl<'de> Deserialize<'de> for DeviceChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let choice = match Spelling::deserialize(deserializer)? {
            Spelling::Name(name) => name.parse(),
            Spelling::Tagged { kind, index } => match kind.as_str() {
                "cuda" => Ok(DeviceChoice::Cuda(index)),
                other => other.parse(),
            },
        };
        choice.map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_back() {
        for choice in [DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Cuda(0), DeviceChoice::Cuda(3)] {
            let json = serde_json::to_string(&choice).unwrap();
            assert_eq!(serde_json::from_str::<DeviceChoice>(&json).unwrap(), choice, "{json}");
            assert_eq!(choice.to_string().parse::<DeviceChoice>().unwrap(), choice);
        }
        assert_eq!("CUDA".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(0));
        let old: DeviceChoice = serde_json::from_str(r#"{"kind":"auto"}"#).unwrap();
        assert_eq!(old, DeviceChoice::Auto);
    }

    #[test]
    fn bad_names_are_refused_with_the_name() {
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", ""] {
            let err = bad.parse::<DeviceChoice>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        let err = serde_json::from_str::<DeviceChoice>(r#"{"kind":"tpu"}"#).unwrap_err().to_string();
        assert!(err.contains("tpu"), "{err}");
    }

    #[test]
    fn auto_resolves_by_availability_and_cuda_stays_cuda() {
        assert_eq!(DeviceChoice::Auto.cuda_index(true), Some(0));
        assert_eq!(DeviceChoice::Auto.cuda_index(false), None);
        assert_eq!(DeviceChoice::Cpu.cuda_index(true), None);
        assert_eq!(DeviceChoice::Cuda(2).cuda_index(false), Some(2));
    }
}
