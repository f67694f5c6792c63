#!/usr/bin/env python3
"""Write a Llama model directory with random weights in the shape of SmolLM2-135M.

For timing on a machine where the SmolLM2 GGUF cannot be fetched (no registry, or a device
tool that carries at most 64 MiB while the file is 98 MB): the cost of a fine-tune or a fill
depends on the model's shape and the tokenizer, not on the values of the weights, so a random
model of the same shape times the same. Its imputations are of course worthless.

    python3 benches/random_llama.py OUT_DIR TOKENIZER_JSON

writes OUT_DIR/config.json, OUT_DIR/model.safetensors (bf16, tied embeddings as in SmolLM2)
and copies TOKENIZER_JSON (the SmolLM2 tokenizer: `cargo run -p gguf-file --example
export_tokenizer -- MODEL.gguf tokenizer.json` writes it from the GGUF file) beside them.
Needs torch and safetensors.
"""
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

# SmolLM2-135M-Instruct, as its GGUF metadata gives it (llama.* keys).
SHAPE = {
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "vocab_size": 49152,
    "max_position_embeddings": 8192,
    "rope_theta": 100000.0,
    "rms_norm_eps": 1e-5,
}


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out, tokenizer = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    s = SHAPE
    head_dim = s["hidden_size"] // s["num_attention_heads"]
    kv = s["num_key_value_heads"] * head_dim
    h, f = s["hidden_size"], s["intermediate_size"]
    gen = torch.Generator().manual_seed(0)

    def normal(*shape):
        return (torch.randn(*shape, generator=gen) * 0.02).to(torch.bfloat16)

    tensors = {"model.embed_tokens.weight": normal(s["vocab_size"], h), "model.norm.weight": torch.ones(h, dtype=torch.bfloat16)}
    for i in range(s["num_hidden_layers"]):
        p = f"model.layers.{i}."
        tensors[p + "self_attn.q_proj.weight"] = normal(h, h)
        tensors[p + "self_attn.k_proj.weight"] = normal(kv, h)
        tensors[p + "self_attn.v_proj.weight"] = normal(kv, h)
        tensors[p + "self_attn.o_proj.weight"] = normal(h, h)
        tensors[p + "mlp.gate_proj.weight"] = normal(f, h)
        tensors[p + "mlp.up_proj.weight"] = normal(f, h)
        tensors[p + "mlp.down_proj.weight"] = normal(h, f)
        tensors[p + "input_layernorm.weight"] = torch.ones(h, dtype=torch.bfloat16)
        tensors[p + "post_attention_layernorm.weight"] = torch.ones(h, dtype=torch.bfloat16)
    save_file(tensors, str(out / "model.safetensors"))
    config = dict(s, model_type="llama", architectures=["LlamaForCausalLM"], hidden_act="silu",
                  tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, torch_dtype="bfloat16")
    (out / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copy(tokenizer, out / "tokenizer.json")
    n = sum(t.numel() for t in tensors.values())
    print(f"{out}: random Llama, {n / 1e6:.1f} M parameters")


if __name__ == "__main__":
    main()
