//! PEFT's `adapter_config.json`: the fields this crate reads and writes, and the checks that
//! refuse PEFT features it does not implement (DoRA, biases, `modules_to_save`, patterns).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lora::LoraConfig;
use crate::model::ModelInfo;

/// PEFT's `adapter_config.json`, the fields this crate reads or writes. Unknown fields are
/// ignored on read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PeftConfigFile {
    pub(crate) peft_type: Option<String>,
    pub(crate) task_type: Option<String>,
    pub(crate) r: Option<usize>,
    pub(crate) lora_alpha: Option<f64>,
    pub(crate) lora_dropout: Option<f64>,
    pub(crate) target_modules: Option<serde_json::Value>,
    pub(crate) fan_in_fan_out: Option<bool>,
    pub(crate) bias: Option<String>,
    pub(crate) use_rslora: Option<bool>,
    pub(crate) use_dora: Option<bool>,
    pub(crate) modules_to_save: Option<serde_json::Value>,
    pub(crate) rank_pattern: Option<serde_json::Value>,
    pub(crate) alpha_pattern: Option<serde_json::Value>,
    pub(crate) layers_to_transform: Option<serde_json::Value>,
    pub(crate) layers_pattern: Option<serde_json::Value>,
    pub(crate) base_model_name_or_path: Option<String>,
    pub(crate) inference_mode: Option<bool>,
    pub(crate) init_lora_weights: Option<bool>,
    pub(crate) revision: Option<String>,
}

pub(crate) fn empty_json(v: &Option<serde_json::Value>) -> bool {
    match v {
        None | Some(serde_json::Value::Null) => true,
        Some(serde_json::Value::Array(a)) => a.is_empty(),
        Some(serde_json::Value::Object(o)) => o.is_empty(),
        _ => false,
    }
}

impl PeftConfigFile {
    pub(crate) fn to_lora_config(&self, path: &Path) -> Result<LoraConfig> {
        let bad = |m: String| Error::adapter(Some(path.to_path_buf()), m);
        match self.peft_type.as_deref() {
            Some("LORA") | None => {}
            Some(other) => return Err(bad(format!("peft_type is `{other}`, only LORA is supported"))),
        }
        if self.use_dora == Some(true) {
            return Err(bad("DoRA adapters (use_dora: true) are not supported".into()));
        }
        if let Some(b) = &self.bias {
            if b != "none" {
                return Err(bad(format!("bias `{b}` is not supported, only `none`")));
            }
        }
        for (name, v) in [
            ("modules_to_save", &self.modules_to_save),
            ("rank_pattern", &self.rank_pattern),
            ("alpha_pattern", &self.alpha_pattern),
        ] {
            if !empty_json(v) {
                return Err(bad(format!(
                    "`{name}` is not supported (found {})",
                    v.as_ref().map(|x| x.to_string()).unwrap_or_default()
                )));
            }
        }
        let r = self.r.ok_or_else(|| bad("missing `r`".into()))?;
        let block = |v: &serde_json::Value| {
            v.as_u64()
                .map(|i| i as usize)
                .ok_or_else(|| bad(format!("layers_to_transform entry {v} is not a block index")))
        };
        let target_modules = match &self.target_modules {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("target_modules entry {v} is not a string")))
                })
                .collect::<Result<Vec<_>>>()?,
            Some(serde_json::Value::String(s)) => {
                return Err(bad(format!(
                    "target_modules given as a pattern (`{s}`) is not supported; list the module names"
                )))
            }
            _ => return Err(bad("missing `target_modules`".into())),
        };
        // PEFT writes one block as a number and several as a list.
        let layers_to_transform = match &self.layers_to_transform {
            v if empty_json(v) => None,
            Some(n @ serde_json::Value::Number(_)) => Some(vec![block(n)?]),
            Some(serde_json::Value::Array(a)) => Some(a.iter().map(block).collect::<Result<Vec<_>>>()?),
            other => {
                let shown = other.as_ref().map(|v| v.to_string()).unwrap_or_default();
                return Err(bad(format!("layers_to_transform {shown} is not a block index or a list of them")));
            }
        };
        let cfg = LoraConfig {
            r,
            alpha: self.lora_alpha.unwrap_or(8.0),
            dropout: self.lora_dropout.unwrap_or(0.0),
            target_modules,
            use_rslora: self.use_rslora.unwrap_or(false),
            layers_to_transform,
            last_layers: None,
        };
        cfg.validate().map_err(|e| bad(e.to_string()))?;
        Ok(cfg)
    }

    pub(crate) fn from_lora_config(cfg: &LoraConfig, info: &ModelInfo, base_model: Option<&str>) -> Self {
        Self {
            peft_type: Some("LORA".into()),
            task_type: Some("CAUSAL_LM".into()),
            r: Some(cfg.r),
            lora_alpha: Some(cfg.alpha),
            lora_dropout: Some(cfg.dropout),
            target_modules: Some(serde_json::json!(cfg.target_modules)),
            fan_in_fan_out: Some(info.fan_in_fan_out),
            bias: Some("none".into()),
            use_rslora: Some(cfg.use_rslora),
            use_dora: Some(false),
            modules_to_save: None,
            rank_pattern: Some(serde_json::json!({})),
            alpha_pattern: Some(serde_json::json!({})),
            // Resolved by the time adapters are saved (`LoraModel` holds no `last_layers`).
            layers_to_transform: cfg.layers_to_transform.as_ref().map(|l| serde_json::json!(l)),
            // PEFT then finds the blocks by its common names (`layers`, `h`, ...).
            layers_pattern: None,
            base_model_name_or_path: base_model.map(str::to_string),
            inference_mode: Some(true),
            init_lora_weights: Some(true),
            revision: None,
        }
    }
}
