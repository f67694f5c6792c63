//! Loading a Llama from a llama.cpp GGUF file.
//!
//! llama.cpp names tensors `token_embd`, `blk.{i}.attn_norm`, `blk.{i}.attn_{q,k,v,output}`,
//! `blk.{i}.ffn_norm`, `blk.{i}.ffn_{gate,up,down}`, `output_norm` and (untied only) `output`.
//! GGUF stores dimensions fastest-first; `gguf_file::TensorInfo::shape` reverses them, which
//! gives the row-major `[out, in]` of `nn.Linear`. Its converter permutes the rows of the query
//! and key projections from HF's rotate-half layout to interleaved pairs, per head:
//! `[heads, 2, head_dim / 2, in]` → `[heads, head_dim / 2, 2, in]`; [`unpermute`] undoes that.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gguf_file::GgufFile;
use tch::{Kind, Tensor};

use super::{Llama, LlamaConfig, LINEAR_NAMES};
use crate::error::{Error, Result};
use crate::gpt2::LoadOptions;
use crate::weights::{Init, WeightSource};

/// GGUF names of a layer's linear weights, in the order of `super::LINEAR_NAMES`.
const GGUF_LINEARS: [&str; 7] = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

/// The tensors of an opened GGUF file, handed out by name with shape checks.
struct GgufWeights {
    file: GgufFile,
    path: PathBuf,
    options: LoadOptions,
    taken: BTreeSet<String>,
    /// Query and key heads, to undo the permutation of their projections.
    heads: (i64, i64),
}

impl GgufWeights {
    /// Dequantizes tensor `name`, checking its (row-major) shape.
    fn take(&mut self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let view = self
            .file
            .tensor(name)
            .map_err(|_| Error::MissingTensor { name: name.to_string(), path: self.path.clone() })?;
        let actual: Vec<i64> = view.info().shape().iter().map(|&d| d as i64).collect();
        if actual != shape {
            return Err(Error::ShapeMismatch {
                name: name.to_string(),
                path: self.path.clone(),
                expected: shape.to_vec(),
                actual,
            });
        }
        let values = view.to_f32().map_err(|source| Error::Gguf { path: self.path.clone(), source })?;
        self.taken.insert(name.to_string());
        let t = Tensor::f_from_slice(&values)?.f_reshape(shape)?;
        Ok(t.f_to_kind(self.options.kind)?.f_to_device(self.options.device)?)
    }

    /// Errors on the first tensor of the file that was not taken.
    fn finish(self) -> Result<()> {
        match self.file.tensors().iter().find(|t| !self.taken.contains(&t.name)) {
            Some(t) => Err(Error::UnexpectedTensor { name: t.name.clone(), path: self.path }),
            None => Ok(()),
        }
    }
}

/// llama.cpp's name of HF tensor `name`, and the head count to unpermute it by (query and key
/// projections).
fn gguf_name(name: &str, (q_heads, kv_heads): (i64, i64)) -> Result<(String, Option<i64>)> {
    let fixed = match name {
        "embed_tokens.weight" => Some("token_embd.weight"),
        "norm.weight" => Some("output_norm.weight"),
        "lm_head.weight" => Some("output.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Ok((f.to_string(), None));
    }
    let unknown = || Error::invalid(format!("no GGUF name for tensor `{name}`"));
    let rest = name.strip_prefix("layers.").ok_or_else(unknown)?;
    let (layer, part) = rest.split_once('.').ok_or_else(unknown)?;
    let part = part.strip_suffix(".weight").ok_or_else(unknown)?;
    let (gguf, heads) = match part {
        "input_layernorm" => ("attn_norm", None),
        "post_attention_layernorm" => ("ffn_norm", None),
        _ => {
            let k = LINEAR_NAMES.iter().position(|n| *n == part).ok_or_else(unknown)?;
            (GGUF_LINEARS[k], [Some(q_heads), Some(kv_heads)].get(k).copied().flatten())
        }
    };
    Ok((format!("blk.{layer}.{gguf}.weight"), heads))
}

impl WeightSource for GgufWeights {
    fn tensor(&mut self, name: &str, shape: &[i64], _: Init) -> Result<Tensor> {
        let (gguf, heads) = gguf_name(name, self.heads)?;
        let t = self.take(&gguf, shape)?;
        match heads {
            Some(h) => unpermute(&t, h),
            None => Ok(t),
        }
    }
}

/// Undoes llama.cpp's row permutation of a `[heads * head_dim, in]` query or key weight.
pub(super) fn unpermute(w: &Tensor, heads: i64) -> Result<Tensor> {
    let size = w.size();
    let [rows, cols] = size[..] else {
        return Err(Error::invalid(format!("expected a matrix to unpermute, got {size:?}")));
    };
    let half = rows / heads / 2;
    Ok(w.f_reshape([heads, half, 2, cols])?.f_transpose(1, 2)?.f_contiguous()?.f_reshape([rows, cols])?)
}

pub(super) fn load(path: &Path, options: LoadOptions) -> Result<Llama> {
    let gg = |source| Error::Gguf { path: path.to_path_buf(), source };
    let kind_ok = matches!(options.kind, Kind::Float | Kind::Half | Kind::BFloat16 | Kind::Double);
    if !kind_ok {
        return Err(Error::invalid(format!("cannot load weights as {:?}", options.kind)));
    }
    let file = GgufFile::open(path).map_err(gg)?;
    let arch = file.architecture().map_err(gg)?;
    if arch != "llama" {
        return Err(Error::Config {
            path: Some(path.to_path_buf()),
            message: format!("general.architecture is `{arch}`, expected `llama`"),
        });
    }
    let embd_rows = file.tensor_info("token_embd.weight").ok().and_then(|t| t.shape().first().copied()).unwrap_or(0);
    let tied = file.tensor_info("output.weight").is_err();
    let config = LlamaConfig::from_gguf(file.metadata(), embd_rows, tied).map_err(|e| match e {
        Error::Config { path: None, message } => Error::Config { path: Some(path.to_path_buf()), message },
        e => e,
    })?;
    let heads = (config.num_attention_heads as i64, config.num_key_value_heads as i64);
    let mut w = GgufWeights { file, path: path.to_path_buf(), options, taken: BTreeSet::new(), heads };
    let model = Llama::build(config, &mut w, options.device)?;
    w.finish()?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama.cpp's permutation (convert_hf_to_gguf.py's `permute`), for the round trip.
    fn permute(w: &Tensor, heads: i64) -> Tensor {
        let (rows, cols) = (w.size()[0], w.size()[1]);
        w.reshape([heads, 2, rows / heads / 2, cols]).transpose(1, 2).reshape([rows, cols])
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        let w = Tensor::arange(2 * 8 * 3, (Kind::Float, tch::Device::Cpu)).reshape([16, 3]);
        let back = unpermute(&permute(&w, 2), 2).unwrap();
        assert!(back.equal(&w));
        // Row 1 of head 0 (first half) moves to row 2 (the second of the first pair).
        let p = permute(&w, 2);
        assert!(p.get(2).equal(&w.get(1)));
        assert!(p.get(1).equal(&w.get(4)));
    }
}
