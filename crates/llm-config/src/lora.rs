//! LoRA hyperparameters (PEFT's names and meaning).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// LoRA hyperparameters. Missing fields of a JSON config take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank `r` of the update.
    pub r: usize,
    /// Scale numerator: the update is multiplied by `alpha / r` (or `alpha / sqrt(r)` with
    /// `use_rslora`).
    pub alpha: f64,
    /// Dropout on the adapter's input during training.
    pub dropout: f64,
    /// Module names to adapt; a layer matches when its path equals a name or ends with
    /// `.name` (PEFT's rule). GPT-2: `c_attn` (default), `c_proj` (both attention and MLP
    /// output projections), `c_fc`.
    pub target_modules: Vec<String>,
    /// Rank-stabilised scaling `alpha / sqrt(r)`.
    pub use_rslora: bool,
    /// Indices of the transformer blocks whose targeted modules get adapters (PEFT's
    /// `layers_to_transform`); `None`: every block. A module's block is the first all-digit
    /// part of its path: `model.layers.12.mlp.up_proj` is in block 12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers_to_transform: Option<Vec<usize>>,
    /// Adapters only on the last `n` blocks (every block of a model with fewer), the other way
    /// to limit the blocks, by depth from the top: resolved into `layers_to_transform` when the
    /// adapters are attached to a model ([`LoraConfig::resolve_layers`]). Gradients then stop at
    /// the lowest adapted block, so a training step skips the backward pass through the blocks
    /// below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_layers: Option<usize>,
}

impl Default for LoraConfig {
    /// r = 8, alpha = 16, dropout 0.05, targets `c_attn`.
    fn default() -> Self {
        Self {
            r: 8,
            alpha: 16.0,
            dropout: 0.05,
            target_modules: vec!["c_attn".into()],
            use_rslora: false,
            layers_to_transform: None,
            last_layers: None,
        }
    }
}

impl LoraConfig {
    /// Sets the rank.
    pub fn with_r(mut self, r: usize) -> Self {
        self.r = r;
        self
    }

    /// Sets alpha.
    pub fn with_alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets the adapter dropout.
    pub fn with_dropout(mut self, dropout: f64) -> Self {
        self.dropout = dropout;
        self
    }

    /// Sets the target modules.
    pub fn with_target_modules<S: Into<String>>(mut self, targets: impl IntoIterator<Item = S>) -> Self {
        self.target_modules = targets.into_iter().map(Into::into).collect();
        self
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        if self.r == 0 {
            return Err(Error::invalid("LoRA rank r must be positive"));
        }
        if !self.alpha.is_finite() || self.alpha <= 0.0 {
            return Err(Error::invalid(format!("LoRA alpha must be positive, got {}", self.alpha)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::invalid(format!("LoRA dropout must be in [0, 1), got {}", self.dropout)));
        }
        if self.target_modules.is_empty() {
            return Err(Error::invalid("LoRA target_modules is empty"));
        }
        if self.layers_to_transform.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid("LoRA layers_to_transform is empty (leave it out for every block)"));
        }
        if self.last_layers == Some(0) {
            return Err(Error::invalid("LoRA last_layers must be positive (leave it out for every block)"));
        }
        if self.layers_to_transform.is_some() && self.last_layers.is_some() {
            return Err(Error::invalid(
                "LoRA layers_to_transform and last_layers are both set; give one (set the other to null)",
            ));
        }
        Ok(())
    }

    /// Sets the blocks to adapt by index.
    pub fn with_layers_to_transform(mut self, layers: impl IntoIterator<Item = usize>) -> Self {
        self.layers_to_transform = Some(layers.into_iter().collect());
        self.last_layers = None;
        self
    }

    /// Adapts only the last `n` blocks.
    pub fn with_last_layers(mut self, n: usize) -> Self {
        self.last_layers = Some(n);
        self.layers_to_transform = None;
        self
    }

    /// `self` with `last_layers` turned into the `layers_to_transform` of a model with `blocks`
    /// transformer blocks (the last `min(n, blocks)` indices); unchanged without `last_layers`.
    ///
    /// ```
    /// use llm_config::LoraConfig;
    ///
    /// let c = LoraConfig::default().with_target_modules(["q_proj"]).with_last_layers(2).resolve_layers(30);
    /// assert_eq!((c.layers_to_transform.clone(), c.last_layers), (Some(vec![28, 29]), None));
    /// assert!(c.targets("model.layers.29.self_attn.q_proj"));
    /// assert!(!c.targets("model.layers.27.self_attn.q_proj"));
    /// ```
    pub fn resolve_layers(mut self, blocks: usize) -> Self {
        if let Some(n) = self.last_layers.take() {
            self.layers_to_transform = Some((blocks.saturating_sub(n)..blocks).collect());
        }
        self
    }

    /// The factor the update `B A x` is multiplied by.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }

    /// Whether module path `name` is targeted: its name by PEFT's suffix rule, and its block
    /// ([`block_index`]) by `layers_to_transform` when that is set. A config with
    /// `last_layers` unresolved ([`resolve_layers`](Self::resolve_layers)) targets every block.
    pub fn targets(&self, name: &str) -> bool {
        let module = self.target_modules.iter().any(|t| name == t || name.ends_with(&format!(".{t}")));
        let block = match &self.layers_to_transform {
            Some(layers) => block_index(name).is_some_and(|i| layers.contains(&i)),
            None => true,
        };
        module && block
    }
}

/// The transformer block a module path is in: its first all-digit part
/// (`transformer.h.3.attn.c_attn` → 3, `model.layers.12.mlp.up_proj` → 12); `None` outside the
/// blocks (an LM head, an embedding).
pub fn block_index(name: &str) -> Option<usize> {
    name.split('.').find(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).and_then(|p| p.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_read_off_module_paths() {
        assert_eq!(block_index("transformer.h.3.attn.c_attn"), Some(3));
        assert_eq!(block_index("model.layers.12.mlp.up_proj"), Some(12));
        assert_eq!(block_index("lm_head"), None);
    }

    #[test]
    fn layers_to_transform_limits_the_targeted_blocks() {
        let c = LoraConfig::default().with_target_modules(["q_proj", "down_proj"]).with_layers_to_transform([1, 3]);
        c.validate().unwrap();
        assert!(c.targets("model.layers.1.self_attn.q_proj"));
        assert!(c.targets("model.layers.3.mlp.down_proj"));
        assert!(!c.targets("model.layers.2.self_attn.q_proj"), "block 2 is not listed");
        assert!(!c.targets("model.layers.13.self_attn.q_proj"), "13 is not 1 or 3");
        assert!(!c.targets("model.layers.1.self_attn.k_proj"), "k_proj is not a target");
        assert!(!c.targets("lm_head"), "no block");
        let all = LoraConfig::default().with_target_modules(["q_proj"]);
        assert!(all.targets("model.layers.13.self_attn.q_proj"));
    }

    #[test]
    fn last_layers_resolve_by_the_models_depth() {
        let c = LoraConfig::default().with_last_layers(10);
        assert_eq!(c.clone().resolve_layers(30).layers_to_transform, Some((20..30).collect()));
        assert_eq!(c.clone().resolve_layers(2).layers_to_transform, Some(vec![0, 1]), "fewer blocks than n: all");
        // Unresolved, it limits nothing.
        assert!(c.targets("transformer.h.0.attn.c_attn"));
        let plain = LoraConfig::default();
        assert_eq!(plain.clone().resolve_layers(30), plain);
    }

    #[test]
    fn contradictory_or_empty_layer_choices_are_refused() {
        let mut both = LoraConfig::default().with_last_layers(2);
        both.layers_to_transform = Some(vec![0]);
        let e = both.validate().unwrap_err().to_string();
        assert!(e.contains("both set"), "{e}");
        assert!(LoraConfig::default().with_last_layers(0).validate().is_err());
        assert!(LoraConfig::default().with_layers_to_transform([]).validate().is_err());
        // Configs written before the fields existed read as every block.
        let old: LoraConfig = serde_json::from_str(r#"{"r": 4, "target_modules": ["c_attn"]}"#).unwrap();
        assert_eq!((old.layers_to_transform, old.last_layers), (None, None));
    }
}
