//! Reader for GGUF v3 model files (being written for issue #7; nothing is implemented yet).
