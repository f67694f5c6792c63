//! The LLM imputer in a grid: the grid holds the imputer's own [`LlmImputerConfig`] (from
//! `llm-config`, which needs no libtorch), a config file's `llm` object overrides the fields it
//! names, and each cell runs it with the cell's seed.

pub use llm_config::LlmImputerConfig;

/// The LLM imputer's settings for one cell: the grid's, with the cell's seed (which seeds the
/// fine-tune, its examples and held-out cells), checked.
///
/// ```
/// use rec_experiments::{llm_cell_config, LlmImputerConfig};
///
/// let grid: LlmImputerConfig = serde_json::from_str(r#"{"lora": {"r": 4}}"#)?;
/// let cell = llm_cell_config(&grid, 7)?;
/// assert_eq!((cell.seed(), cell.lora.r), (7, 4));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn llm_cell_config(settings: &LlmImputerConfig, seed: u64) -> crate::Result<LlmImputerConfig> {
    let config = settings.clone().with_seed(seed);
    config.validate().map_err(|e| crate::Error::Config(format!("llm: {e}")))?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use crate::QualityConfig;

    #[test]
    fn a_grid_file_names_only_the_llm_settings_it_changes() {
        let c: QualityConfig = serde_json::from_str(
            r#"{"llm": {"lora": {"r": 4}, "retrieval": {"k": 3}, "train": {"max_steps": 9}, "fill": {"orders": 2}}}"#,
        )
        .unwrap();
        let defaults = super::LlmImputerConfig::default();
        assert_eq!((c.llm.lora.r, c.llm.retrieval.k, c.llm.train.max_steps), (4, 3, Some(9)));
        // The imputer's defaults, not the LoRA/trainer types' own (alpha 16, lr 2e-4).
        assert_eq!(c.llm.lora.alpha, defaults.lora.alpha);
        assert_eq!(c.llm.train.learning_rate, defaults.train.learning_rate);
        // A section given in part keeps the imputer's defaults for the rest (until session 26 a
        // partial `fill` took a saved imputer's `known_order`, the schema order).
        assert_eq!(c.llm.fill, llm_config::FillConfig { orders: 2, ..defaults.fill.clone() });
        assert_eq!(c.llm.retrieval, llm_config::RetrievalConfig { k: 3, ..defaults.retrieval.clone() });
        let cell = super::llm_cell_config(&c.llm, 5).unwrap();
        assert_eq!(cell.seed(), 5);
        let mut bad = c.llm.clone();
        bad.lora.r = 0;
        let e = super::llm_cell_config(&bad, 0).unwrap_err().to_string();
        assert!(e.contains("llm: lora:"), "{e}");
    }
}
