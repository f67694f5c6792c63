#!/usr/bin/env python3
"""Write the reference fixtures that the gguf-file tests compare against.

Needs the PyPI packages `gguf`, `numpy` and `transformers` (see the versions recorded in the
fixtures). Run from anywhere:

    python make_reference.py [--models DIR]

DIR holds SmolLM2-135M-Instruct.Q4_1.gguf; it defaults to $RECIMPUTE_MODELS, else
~/.cache/recimpute/models. Without the model file only the self-contained fixtures are written.

Files written next to this script:

* tiny.gguf / tiny.json: a small GGUF written by gguf.GGUFWriter with metadata of every value
  type and one tensor of each supported type (F32, F16, BF16, Q8_0, Q4_0, Q4_1) plus one
  unsupported (Q4_K); the JSON holds the metadata and each tensor's dequantized values.
* tiny_tokenizer.gguf / tiny_tokenizer.json: the first 1,500 tokens and matching merges of the
  SmolLM2 vocabulary as a GGUF, with a varied corpus and the ids HF transformers gives for it
  under three pre-tokenizers (smollm, gpt-2, llama-bpe).
* smollm2_tensors.json: first values, a window and sums of a few tensors of each type in the
  real file.
* smollm2_tokenizer.json: the corpus and the ids for the real file's tokenizer.

About the reference tokenizer: transformers maps `tokenizer.ggml.pre` values to split regexes
but has no entry for "smollm", so it falls back to the plain GPT-2 split. llama.cpp (and the
tokenizer.json SmolLM2 was trained with) splits every digit off first: llama.cpp's regexes
for "smollm" are `\\p{N}` followed by the GPT-2 regex, i.e. tokenizers' Digits(individual) then
ByteLevel. The "expected" ids below come from the transformers tokenizer with that
pre-tokenizer set; the ids of the unpatched transformers tokenizer are kept too, for the
record ("transformers_unpatched").
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V

HERE = Path(__file__).resolve().parent
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

CORPUS = [
    "The capital of France is",
    "Hello world",
    "",
    " ",
    "   leading and trailing spaces   ",
    "tabs\tand\ttabs\t\t\tend",
    "line one\nline two\n\nline four\r\nwindows\r\n",
    "x   12",
    "In 2024, 3.14159 and 1,000,000 (or 1e6) items cost $42.50.",
    "0123456789 00 007 9999999999",
    "Café, naïve, résumé, Ærøskøbing, São Paulo, Zürich, façade",
    "Ελληνικά, русский, 日本語のテキスト, 한국어, العربية, हिन्दी",
    "Emoji: 😀🎉👍🏽 👨‍👩‍👧‍👦 🇫🇷 ✔️",
    "def add(a, b):\n    return a + b  # sum\n\nprint(add(1, 2))",
    "fn main() { let v: Vec<u32> = (0..10).collect(); println!(\"{v:?}\"); }",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>text<|im_end|><repo_name>x",
    "user_id=17, item_id=4032, rating=?",
    "I'm sure it's what they'll do; you'd've known. We're here, I've seen.",
    "MIXED case WORDS and CamelCaseIdentifiers snake_case_names",
    "!!! ??? ... --- *** ### @@@ ~~~",
    "   \n\n\t  \n",
    "a\u00a0b\u2009c\u3000d",
    "https://example.com/path?q=1&r=2#frag",
    "{\"json\": [1, 2.5, null, true], \"nested\": {\"k\": \"v\"}}",
]

PRE_VARIANTS = ["smollm", "gpt-2", "llama-bpe"]


def f32_list(a):
    return [float(x) for x in np.asarray(a, dtype=np.float32).reshape(-1)]


def versions():
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("gguf", "numpy", "transformers", "tokenizers"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


# ---------------------------------------------------------------------------------------------
# tiny.gguf


def write_tiny():
    rng = np.random.default_rng(20240607)
    path = HERE / "tiny.gguf"
    w = gguf.GGUFWriter(str(path), arch="llama")
    meta = {}

    def kv(key, val, vtype, sub_type=None, expect=None):
        w.add_key_value(key, val, vtype, sub_type)
        meta[key] = expect if expect is not None else {"type": vtype.name, "value": val}

    kv("test.u8", 200, V.UINT8)
    kv("test.i8", -100, V.INT8)
    kv("test.u16", 60000, V.UINT16)
    kv("test.i16", -30000, V.INT16)
    kv("test.u32", 4_000_000_000, V.UINT32)
    kv("test.i32", -2_000_000_000, V.INT32)
    kv("test.f32", 0.1, V.FLOAT32, expect={"type": "FLOAT32", "value": float(np.float32(0.1))})
    kv("test.bool_true", True, V.BOOL)
    kv("test.bool_false", False, V.BOOL)
    kv("test.string", "héllo, wörld ✓", V.STRING)
    kv("test.u64", 18_000_000_000_000_000_000, V.UINT64)
    kv("test.i64", -9_000_000_000_000_000_000, V.INT64)
    kv("test.f64", 2.718281828459045, V.FLOAT64)
    kv("test.array_i32", [1, -2, 3], V.ARRAY, V.INT32,
       expect={"type": "ARRAY", "sub_type": "INT32", "value": [1, -2, 3]})
    kv("test.array_f32", [0.5, -1.25], V.ARRAY, V.FLOAT32,
       expect={"type": "ARRAY", "sub_type": "FLOAT32", "value": [0.5, -1.25]})
    kv("test.array_string", ["a", "", "ü ✓"], V.ARRAY, V.STRING,
       expect={"type": "ARRAY", "sub_type": "STRING", "value": ["a", "", "ü ✓"]})
    kv("test.array_u8", [0, 255], V.ARRAY, V.UINT8,
       expect={"type": "ARRAY", "sub_type": "UINT8", "value": [0, 255]})
    kv("test.array_bool", [True, False, True], V.ARRAY, V.BOOL,
       expect={"type": "ARRAY", "sub_type": "BOOL", "value": [True, False, True]})
    kv("test.array_nested", [[1, 2], [3], [4, 5, 6]], V.ARRAY, V.ARRAY,
       expect={"type": "ARRAY", "sub_type": "ARRAY", "value": [[1, 2], [3], [4, 5, 6]]})
    w.add_block_count(2)
    w.add_context_length(128)
    meta["general.architecture"] = {"type": "STRING", "value": "llama"}
    meta["llama.block_count"] = {"type": "UINT32", "value": 2}
    meta["llama.context_length"] = {"type": "UINT32", "value": 128}

    def values(shape):
        x = rng.standard_normal(shape).astype(np.float32)
        flat = x.reshape(-1)
        flat[:32] = 0.0                      # an all-zero block
        flat[32:64] = 1.5                    # a constant block
        flat[64:96] *= 1000.0                # a block of large values
        return x

    tensors = []
    specs = [
        ("t.f32", Q.F32, (3, 64)),
        ("t.f16", Q.F16, (2, 96)),
        ("t.bf16", Q.BF16, (4, 32)),
        ("t.q8_0", Q.Q8_0, (3, 64)),
        ("t.q4_0", Q.Q4_0, (2, 2, 64)),
        ("t.q4_1", Q.Q4_1, (5, 64)),
        ("t.q4_1_1d", Q.Q4_1, (128,)),
    ]
    for name, qtype, shape in specs:
        x = values(shape)
        q = gguf.quants.quantize(x, qtype)
        if qtype in (Q.F32, Q.F16):
            w.add_tensor(name, q)
        else:
            w.add_tensor(name, q, raw_dtype=qtype)
        deq = gguf.quants.dequantize(q, qtype)
        tensors.append({
            "name": name,
            "type": qtype.name,
            "shape": list(shape),
            "values": f32_list(deq),
        })
    # A tensor whose type the reader knows but cannot dequantize.
    raw = rng.integers(0, 256, size=(1, 144), dtype=np.uint8)
    w.add_tensor("t.q4_k", raw, raw_dtype=Q.Q4_K)
    tensors.append({"name": "t.q4_k", "type": "Q4_K", "shape": [1, 256], "values": None})

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # What GGUFReader itself sees, as a cross-check of what we claim.
    r = gguf.GGUFReader(str(path))
    for t in tensors:
        rt = r.get_tensor([x.name for x in r.tensors].index(t["name"]))
        t["dims"] = [int(d) for d in rt.shape]
        t["offset"] = int(rt.data_offset) - int(r.data_offset)
        if t["values"] is not None:
            got = f32_list(gguf.quants.dequantize(rt.data, rt.tensor_type))
            assert got == t["values"], t["name"]
    out = {
        "versions": versions(),
        "version": 3,
        "alignment": 32,
        "tensor_count": len(r.tensors),
        "kv_count": len(r.fields) - 3,
        "data_offset": int(r.data_offset),
        "metadata": meta,
        "tensors": tensors,
    }
    (HERE / "tiny.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"tiny.gguf: {path.stat().st_size} bytes")


# ---------------------------------------------------------------------------------------------
# tokenizers


def field_strings(reader, key):
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def field_ints(reader, key):
    f = reader.fields[key]
    return [int(f.parts[i][0]) for i in f.data]


def field_scalar(reader, key):
    return reader.fields[key].contents()


def load_hf(directory, name, pre):
    """The transformers tokenizer for a GGUF, and its ids for the corpus under `pre`."""
    from transformers import AutoTokenizer
    from tokenizers import pre_tokenizers

    tok = AutoTokenizer.from_pretrained(str(directory), gguf_file=name)
    unpatched = [tok(text)["input_ids"] for text in CORPUS]
    if pre == "smollm":
        tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ])
    ids = [tok(text)["input_ids"] for text in CORPUS]
    decoded = [tok.decode(x) for x in ids]
    return ids, unpatched, decoded


def write_tiny_tokenizer(model_path):
    n_tokens = 1500
    r = gguf.GGUFReader(str(model_path))
    tokens = field_strings(r, "tokenizer.ggml.tokens")
    merges = field_strings(r, "tokenizer.ggml.merges")
    types = field_ints(r, "tokenizer.ggml.token_type")
    n_merges = n_tokens - (len(tokens) - len(merges))
    # The file lists specials, then the byte alphabet, then one token per merge in merge order.
    assert all(tokens[len(tokens) - len(merges) + i] == m.replace(" ", "")
               for i, m in enumerate(merges[:n_merges]))

    def write(path, pre):
        w = gguf.GGUFWriter(str(path), arch="llama")
        w.add_block_count(1)
        w.add_context_length(64)
        w.add_embedding_length(8)
        w.add_feed_forward_length(16)
        w.add_head_count(1)
        w.add_vocab_size(n_tokens)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(pre)
        w.add_token_list(tokens[:n_tokens])
        w.add_token_merges(merges[:n_merges])
        w.add_token_types(types[:n_tokens])
        w.add_bos_token_id(int(field_scalar(r, "tokenizer.ggml.bos_token_id")))
        w.add_eos_token_id(int(field_scalar(r, "tokenizer.ggml.eos_token_id")))
        w.add_unk_token_id(int(field_scalar(r, "tokenizer.ggml.unknown_token_id")))
        w.add_pad_token_id(int(field_scalar(r, "tokenizer.ggml.padding_token_id")))
        w.add_add_bos_token(False)
        w.add_chat_template(field_scalar(r, "tokenizer.chat_template"))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    main = HERE / "tiny_tokenizer.gguf"
    write(main, "smollm")
    variants = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pre in PRE_VARIANTS:
            name = f"tiny_{pre}.gguf"
            write(Path(tmp) / name, pre)
            ids, unpatched, decoded = load_hf(tmp, name, pre)
            variants[pre] = {"expected": ids, "transformers_unpatched": unpatched,
                             "decoded": decoded}
    out = {"versions": versions(), "n_tokens": n_tokens, "n_merges": n_merges,
           "corpus": CORPUS, "pre": variants}
    (HERE / "tiny_tokenizer.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"tiny_tokenizer.gguf: {main.stat().st_size} bytes")


def write_smollm2_tokenizer(model_path):
    ids, unpatched, decoded = load_hf(model_path.parent, model_path.name, "smollm")
    r = gguf.GGUFReader(str(model_path))
    out = {
        "versions": versions(),
        "model": MODEL_NAME,
        "sha256": MODEL_SHA256,
        "pre": str(field_scalar(r, "tokenizer.ggml.pre")),
        "corpus": CORPUS,
        "expected": ids,
        "transformers_unpatched": unpatched,
        "decoded": decoded,
    }
    differ = sum(a != b for a, b in zip(ids, unpatched))
    print(f"smollm2 tokenizer: {differ} of {len(CORPUS)} corpus lines differ without the digit split")
    (HERE / "smollm2_tokenizer.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------
# tensors of the real file


def write_smollm2_tensors(model_path):
    r = gguf.GGUFReader(str(model_path))
    wanted = ["token_embd.weight", "output_norm.weight", "blk.0.attn_norm.weight",
              "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight",
              "blk.29.ffn_gate.weight", "blk.29.attn_v.weight"]
    tensors = []
    for t in r.tensors:
        if t.name not in wanted:
            continue
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        mid = x.size // 2
        tensors.append({
            "name": t.name,
            "type": t.tensor_type.name,
            "dims": [int(d) for d in t.shape],
            "n_elements": int(x.size),
            "first": f32_list(x[:64]),
            "window_start": int(mid),
            "window": f32_list(x[mid:mid + 64]),
            "last": f32_list(x[-32:]),
            "sum": float(x.astype(np.float64).sum()),
            "abs_sum": float(np.abs(x.astype(np.float64)).sum()),
        })
    counts = {}
    for t in r.tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    out = {
        "versions": versions(),
        "model": MODEL_NAME,
        "sha256": MODEL_SHA256,
        "tensor_count": len(r.tensors),
        "kv_count": len(r.fields) - 3,
        "alignment": 32,
        "data_offset": int(r.data_offset),
        "type_counts": counts,
        "total_elements": int(sum(int(t.n_elements) for t in r.tensors)),
        "tensors": tensors,
    }
    (HERE / "smollm2_tensors.json").write_text(json.dumps(out, indent=1) + "\n")


def main():
    default = os.environ.get("RECIMPUTE_MODELS") or str(Path.home() / ".cache/recimpute/models")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=default)
    args = ap.parse_args()

    write_tiny()
    model_path = Path(args.models) / MODEL_NAME
    if not model_path.exists():
        print(f"{model_path} not found: skipping the fixtures that need it")
        return
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        sys.exit(f"{model_path}: sha256 {digest}, expected {MODEL_SHA256}")
    write_tiny_tokenizer(model_path)
    write_smollm2_tokenizer(model_path)
    write_smollm2_tensors(model_path)


if __name__ == "__main__":
    main()
