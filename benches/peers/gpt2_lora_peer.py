#!/usr/bin/env python3
"""GPT-2 LoRA fine-tuning throughput: our Rust crate (`gpt2-lora`, on tch) against HF
transformers + PEFT, on the same randomly initialised model and the same data.

The Rust example `gpt2_lora_speed` builds a random GPT-2 (distilgpt2's shape by default: 6
blocks, 768 wide, 12 heads, vocabulary 50257), saves it in HF format, attaches LoRA (rank 8,
alpha 16, no dropout, `c_attn` by default) and trains it; this script then loads that very
checkpoint with `GPT2LMHeadModel.from_pretrained`, attaches the same adapters with
`peft.get_peft_model` and trains it the same way:

* data: random token sequences (prompt 16-48 tokens, completion 2-8 tokens), loss on the
  completion only, written once to a JSON file both sides read;
* batches of `--batch` examples grouped by length (sorted, cut, shuffled; right padding with an
  attention mask), AdamW lr 1e-4 constant, gradient clipping at 1.0, fp32;
* `--warmup` untimed steps, then `--steps` timed steps; tokens/s counts real (non-padding)
  tokens;
* the same number of intra-op threads on both sides, run one after the other.

Run with the Python of the torch virtualenv (cargo needs the libtorch environment it sets):

    ~/.cache/recimpute/torch-venv/bin/python benches/peers/gpt2_lora_peer.py --steps 20 --threads 2

Prints both results as JSON and the ratio of tokens/s (ours / HF+PEFT).

Tested with torch 2.13.0, transformers 5.24.0, peft 0.21.2, safetensors 0.8.0 (Python 3.11).
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F


def make_data(n, vocab, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p, c = rng.randint(16, 48), rng.randint(2, 8)
        ids = [rng.randrange(vocab - 1) for _ in range(p + c)]
        out.append({"input_ids": ids, "loss_mask": [False] * p + [True] * c})
    return out


def plan_batches(lengths, batch, rng):
    order = list(range(len(lengths)))
    rng.shuffle(order)
    order.sort(key=lambda i: lengths[i])
    batches = [order[i:i + batch] for i in range(0, len(order), batch)]
    rng.shuffle(batches)
    return batches


def run_ours(args, data_path, model_dir):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    venv = os.path.dirname(os.path.dirname(sys.executable))
    env = dict(os.environ)
    env.setdefault("VIRTUAL_ENV", venv)
    env.setdefault("LIBTORCH_USE_PYTORCH", "1")
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    torch_lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    env["LD_LIBRARY_PATH"] = torch_lib + os.pathsep + env.get("LD_LIBRARY_PATH", "")
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "gpt2-lora", "--example", "gpt2_lora_speed", "--",
           "--data", data_path, "--save-model", model_dir, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch", str(args.batch), "--rank", str(args.rank),
           "--targets", args.targets, "--n-layer", str(args.n_layer), "--n-embd", str(args.n_embd),
           "--n-head", str(args.n_head), "--threads", str(args.threads), "--device", args.device,
           "--seed", str(args.seed)]
    out = subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_theirs(args, data, model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2LMHeadModel

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if args.device == "cuda" else "cpu")
    base = GPT2LMHeadModel.from_pretrained(model_dir, attn_implementation="sdpa").to(device)
    cfg = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                     target_modules=args.targets.split(","), fan_in_fan_out=True, task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    lengths = [len(e["input_ids"]) for e in data]
    rng = random.Random(args.seed)
    batches = []

    def step():
        nonlocal batches
        if not batches:
            batches = plan_batches(lengths, args.batch, rng)
        idx = batches.pop()
        width = max(lengths[i] for i in idx)
        ids = torch.zeros(len(idx), width, dtype=torch.long)
        mask = torch.zeros(len(idx), width, dtype=torch.long)
        labels = torch.full((len(idx), width), -100, dtype=torch.long)
        for r, i in enumerate(idx):
            e = data[i]
            n = len(e["input_ids"])
            ids[r, :n] = torch.tensor(e["input_ids"])
            mask[r, :n] = 1
            labels[r, :n] = torch.tensor([t if m else -100 for t, m in zip(e["input_ids"], e["loss_mask"])])
        ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
                               ignore_index=-100, reduction="sum") / (labels[:, 1:] != -100).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item(), int(mask.sum())

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, tokens, loss = time.perf_counter(), 0, None
    for _ in range(args.steps):
        loss, n = step()
        tokens += n
    if device.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - start
    return {
        "impl": "transformers + peft",
        "steps": args.steps,
        "batch": args.batch,
        "tokens": tokens,
        "tokens_per_s": tokens / secs,
        "final_loss": loss,
        "trainable_params": sum(p.numel() for p in params),
        "threads": torch.get_num_threads(),
        "device": args.device,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--examples", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--targets", default="c_attn")
    p.add_argument("--n-layer", type=int, default=6)
    p.add_argument("--n-embd", type=int, default=768)
    p.add_argument("--n-head", type=int, default=12)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    data = make_data(args.examples, 50257, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "data.json")
        with open(data_path, "w") as f:
            json.dump(data, f)
        model_dir = os.path.join(tmp, "model")
        ours = run_ours(args, data_path, model_dir)
        theirs = run_theirs(args, data, model_dir)
    print(json.dumps({"ours": ours, "hf_peft": theirs,
                      "ratio_tokens_per_s": ours["tokens_per_s"] / theirs["tokens_per_s"]}, indent=2))


if __name__ == "__main__":
    main()
