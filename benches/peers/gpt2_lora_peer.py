#!/usr/bin/env python3
"""GPT-2 LoRA training and generation throughput: our Rust crate (`gpt2-lora`, on tch) against
HF transformers + PEFT, side by side in one run, on the same checkpoint and data.

The Rust example `gpt2_lora_speed` builds a random GPT-2 (distilgpt2's shape by default: 6
blocks, 768 wide, 12 heads, vocabulary 50257), saves it in HF format together with its freshly
initialised LoRA adapters (rank 8, alpha 16, no dropout, `c_attn` by default, PEFT format) and
the batch plan its trainer follows. This script loads that very checkpoint with
`GPT2LMHeadModel.from_pretrained`, the same adapters with `PeftModel.from_pretrained` and
replays the same batches, so both sides start equal and should end at the same loss:

* data: random token sequences (prompt 16-48 tokens, completion 2-8 tokens), loss on the
  completion only (mean over target tokens), written once to a JSON file both sides read;
* batches of `--batch` examples grouped by length as our trainer plans them (right padding;
  HF gets the usual attention mask), AdamW lr 1e-4 constant, weight decay 0, gradient clipping
  at 1.0;
* `--warmup` untimed steps, then `--steps` timed steps from a fresh optimizer, both from batch
  0 of the plan (what the example does); tokens/s counts real (non-padding) tokens;
* precisions: `f32`, and `bf16`: ours keeps the frozen base in bf16 and adapters and AdamW
  state in f32; HF runs both ways PyTorch offers, the model cast to bf16 (PEFT keeps the
  adapters in f32) and f32 weights under `torch.autocast("cpu", torch.bfloat16)`; the faster of
  the two is its bf16 figure;
* generation: greedy, KV cache, the base model alone, `--gen-batches` rows of `--prompt-len`
  tokens, exactly `--new-tokens` new tokens per row (no stop token), ours `generate` vs HF
  `model.generate`, in f32 and bf16 (best of two timed calls after a warm-up call);
* GEMM peak: libtorch matmul GFLOP/s of 1024-4096 square matrices, f32 and bf16, measured by
  the example (through tch) and here (through torch); the training step's achieved GFLOP/s
  counts 4·N·T for the frozen linear layers (forward 2·N·T plus activation gradients 2·N·T, N
  their weights, T real tokens) plus 4·V·E per loss position for the tied LM head (forward and
  input gradient), the same useful work for both sides; attention scores and the LoRA matrices
  (< 3% here) are left out;
* `OMP_WAIT_POLICY=PASSIVE` for both sides unless set otherwise (spinning OpenMP threads
  slow both sides by up to 10x when other processes share the cores);
* each side runs in turn with the same number of intra-op threads, interleaved, `--repeats`
  times; medians are reported and `uptime` is recorded before each run.

Run with the Python of the torch virtualenv (cargo needs the libtorch environment it sets):

    ~/.cache/recimpute/torch-venv/bin/python benches/peers/gpt2_lora_peer.py --threads 2 --repeats 3

Prints every run as JSON (`--json` writes it to a file too) and a summary with the ratios
(ours / HF).

Tested with torch 2.13.0, transformers 5.24.0, peft 0.21.2, safetensors 0.8.0 (Python 3.11).
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

# OpenMP threads that spin while waiting starve each other when other processes share the
# cores (this project's 2-core machine runs builds beside the benchmark): both sides get
# passive waiting unless the caller sets OMP_WAIT_POLICY. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def uptime():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def make_data(n, vocab, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p, c = rng.randint(16, 48), rng.randint(2, 8)
        ids = [rng.randrange(vocab - 1) for _ in range(p + c)]
        out.append({"input_ids": ids, "loss_mask": [False] * p + [True] * c})
    return out


def cargo_env():
    venv = os.path.dirname(os.path.dirname(sys.executable))
    env = dict(os.environ)
    env.setdefault("VIRTUAL_ENV", venv)
    env.setdefault("LIBTORCH_USE_PYTORCH", "1")
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    torch_lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    env["LD_LIBRARY_PATH"] = torch_lib + os.pathsep + env.get("LD_LIBRARY_PATH", "")
    return env


def build_example(env):
    cmd = ["cargo", "build", "--release", "-p", "gpt2-lora", "--example", "gpt2_lora_speed",
           "--message-format", "json"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") \
                and msg["target"]["name"] == "gpt2_lora_speed":
            return msg["executable"]
    raise RuntimeError("cargo did not report the example's executable")


def run_ours(exe, env, args, extra):
    cmd = [exe, "--batch", str(args.batch), "--rank", str(args.rank),
           "--targets", args.targets, "--n-layer", str(args.n_layer), "--n-embd", str(args.n_embd),
           "--n-head", str(args.n_head), "--threads", str(args.threads), "--seed", str(args.seed),
           "--new-tokens", str(args.new_tokens), "--prompt-len", str(args.prompt_len)] + extra
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def hf_model(model_dir, kind, mode):
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if (kind == "bf16" and mode == "cast") else torch.float32
    return AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa", dtype=dtype)


def run_hf_train(args, data, plan, model_dir, adapter_dir, kind, mode):
    """HF + PEFT training over `plan`; mode: 'cast' (model in the kind) or 'autocast'."""
    from peft import PeftModel

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    base = hf_model(model_dir, kind, mode)
    model = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    autocast = kind == "bf16" and mode == "autocast"

    def batch_tensors(idx):
        width = max(len(data[i]["input_ids"]) for i in idx)
        ids = torch.zeros(len(idx), width, dtype=torch.long)
        mask = torch.zeros(len(idx), width, dtype=torch.long)
        labels = torch.full((len(idx), width), -100, dtype=torch.long)
        for r, i in enumerate(idx):
            e = data[i]
            n = len(e["input_ids"])
            ids[r, :n] = torch.tensor(e["input_ids"])
            mask[r, :n] = 1
            labels[r, :n] = torch.tensor([t if m else -100 for t, m in zip(e["input_ids"], e["loss_mask"])])
        return ids, mask, labels

    def train(steps):
        opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
        losses, tokens = [], 0
        for s in range(steps):
            ids, mask, labels = batch_tensors(plan[s])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = model(input_ids=ids, attention_mask=mask).logits
            logits = logits.float()
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
                                   ignore_index=-100, reduction="sum") / (labels[:, 1:] != -100).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(loss.item())
            tokens += int(mask.sum())
        return losses, tokens

    if args.warmup:
        train(args.warmup)
    start = time.perf_counter()
    losses, tokens = train(args.steps)
    secs = time.perf_counter() - start
    return {
        "impl": "transformers + peft",
        "kind": kind,
        "mode": mode,
        "adapter_dtype": str(params[0].dtype),
        "base_dtype": str(base.dtype),
        "tokens": tokens,
        "seconds": secs,
        "tokens_per_s": tokens / secs,
        "final_loss": losses[-1],
        "losses": losses,
        "trainable_params": sum(p.numel() for p in params),
        "threads": torch.get_num_threads(),
    }


def gen_prompts(batch, prompt_len, vocab):
    return [[(r * 7919 + j * 104729 + 17) % (vocab - 1) for j in range(prompt_len)] for r in range(batch)]


def run_hf_generate(args, model_dir, kind, vocab):
    torch.set_num_threads(args.threads)
    model = hf_model(model_dir, kind, "cast").eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    rows = []
    for b in [int(x) for x in args.gen_batches.split(",")]:
        ids = torch.tensor(gen_prompts(b, args.prompt_len, vocab))
        mask = torch.ones_like(ids)
        kw = dict(attention_mask=mask, do_sample=False, use_cache=True)
        with torch.inference_mode():
            model.generate(ids, max_new_tokens=2, min_new_tokens=2, **kw)
            best, toks = float("inf"), None
            for _ in range(2):
                t = time.perf_counter()
                out = model.generate(ids, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, **kw)
                best = min(best, time.perf_counter() - t)
                toks = out[:, ids.shape[1]:].tolist()
        rows.append({"batch": b, "seconds": best, "tokens_per_s": b * args.new_tokens / best, "tokens": toks})
    return rows


def torch_gemm_peak(threads):
    torch.set_num_threads(threads)
    res = {}
    for name, dt in [("f32", torch.float32), ("bf16", torch.bfloat16)]:
        best = 0.0
        for n in [1024, 2048, 4096]:
            a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
            a @ b
            reps = max(2, min(50, int(2e11 / (2 * n ** 3))))
            for _ in range(3):
                t = time.perf_counter()
                for _ in range(reps):
                    a @ b
                best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9)
        res[name] = best
    return res


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--examples", type=int, default=256)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--targets", default="c_attn")
    p.add_argument("--n-layer", type=int, default=6)
    p.add_argument("--n-embd", type=int, default=768)
    p.add_argument("--n-head", type=int, default=12)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--kinds", default="f32,bf16")
    p.add_argument("--hf-bf16-modes", default="cast,autocast",
                   help="HF bf16 variants to time: cast (model in bf16) and/or autocast")
    p.add_argument("--gen-batches", default="1,8")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-generate", action="store_true")
    p.add_argument("--gguf", help="a Llama-family GGUF (e.g. SmolLM2) instead of the random GPT-2; "
                   "ours converts it to HF safetensors once and both sides load that (pass --targets q_proj,v_proj)")
    p.add_argument("--json", help="also write all results here")
    args = p.parse_args()

    env = cargo_env()
    exe = build_example(env)
    kinds = args.kinds.split(",")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, adapter_dir = os.path.join(tmp, "model"), os.path.join(tmp, "adapters")
        if args.gguf:
            run_ours(exe, env, args, ["--gguf", args.gguf, "--save-model", model_dir, "--steps", "0"])
            with open(os.path.join(model_dir, "config.json")) as f:
                cfg = json.load(f)
            vocab, args.n_embd = cfg["vocab_size"], cfg["hidden_size"]
        else:
            vocab = 50257
        data = make_data(args.examples, vocab, args.seed)
        data_path = os.path.join(tmp, "data.json")
        with open(data_path, "w") as f:
            json.dump(data, f)
        plan_path = os.path.join(tmp, "plan.json")
        # The checkpoint, initial adapters and batch plan, once (not timed).
        source = ["--load-model", model_dir] if args.gguf else ["--save-model", model_dir]
        prep = run_ours(exe, env, args, ["--data", data_path] + source +
                        ["--save-adapters", adapter_dir, "--write-plan", plan_path,
                         "--steps", str(args.steps), "--warmup", str(args.warmup), "--prepare-only"])
        with open(plan_path) as f:
            plan = json.load(f)
        common = ["--data", data_path, "--load-model", model_dir, "--steps", str(args.steps),
                  "--warmup", str(args.warmup)]
        for rep in range(args.repeats if not args.skip_train else 0):
            for kind in kinds:
                load = uptime()
                log(f"train rep {rep} {kind} ours, load {load}")
                r = run_ours(exe, env, args, common + ["--kind", kind])
                runs.append({"what": "train", "side": "ours", "kind": kind, "mode": "-", "rep": rep,
                             "load": load, **r["train"]})
                for mode in (["cast"] if kind == "f32" else args.hf_bf16_modes.split(",")):
                    load = uptime()
                    log(f"train rep {rep} {kind} hf {mode}, load {load}")
                    r = run_hf_train(args, data, plan, model_dir, adapter_dir, kind, mode)
                    runs.append({"what": "train", "side": "hf", "rep": rep, "load": load, **r})
        for rep in range(args.repeats if not args.skip_generate else 0):
            for kind in kinds:
                load = uptime()
                log(f"generate rep {rep} {kind} ours, load {load}")
                r = run_ours(exe, env, args, ["--load-model", model_dir, "--steps", "0", "--kind", kind,
                                              "--generate", args.gen_batches])
                for g in r["generate"]:
                    runs.append({"what": "generate", "side": "ours", "kind": kind, "rep": rep, "load": load, **g})
                load = uptime()
                log(f"generate rep {rep} {kind} hf, load {load}")
                for g in run_hf_generate(args, model_dir, kind, vocab):
                    runs.append({"what": "generate", "side": "hf", "kind": kind, "rep": rep, "load": load, **g})
        load = uptime()
        gemm = {"load": load, "tch": run_ours(exe, env, args, ["--steps", "0", "--gemm"])["gemm_gflop_per_s"],
                "torch": torch_gemm_peak(args.threads)}

    # Summary.
    # Weights of the targetable linear layers, as the example counts them.
    lin = prep["linear_params"]
    loss_tokens = sum(sum(m for m in data[i]["loss_mask"][1:]) for b in plan[:args.steps] for i in b)
    summary = {"gemm_gflop_per_s": gemm, "train": {}, "generate": {}}
    peak = {k: max(gemm["tch"][k], gemm["torch"][k]) for k in ("f32", "bf16")}
    for kind in kinds:
        ours = [r for r in runs if r["what"] == "train" and r["side"] == "ours" and r["kind"] == kind]
        if not ours:
            continue
        hf_modes = {}
        for r in runs:
            if r["what"] == "train" and r["side"] == "hf" and r["kind"] == kind:
                hf_modes.setdefault(r["mode"], []).append(r)
        best_mode = max(hf_modes, key=lambda m: med([r["tokens_per_s"] for r in hf_modes[m]]))
        hf = hf_modes[best_mode]
        flop = 4 * lin * ours[0]["tokens"] + 4 * vocab * args.n_embd * loss_tokens
        o, h = med([r["tokens_per_s"] for r in ours]), med([r["tokens_per_s"] for r in hf])
        to, th = med([r["seconds"] for r in ours]), med([r["seconds"] for r in hf])
        summary["train"][kind] = {
            "ours_tokens_per_s": o, "hf_tokens_per_s": h, "ratio": o / h, "hf_mode": best_mode,
            "hf_modes_tokens_per_s": {m: med([r["tokens_per_s"] for r in rs]) for m, rs in hf_modes.items()},
            "ours_final_loss": ours[0]["final_loss"], "hf_final_loss": hf[0]["final_loss"],
            "ours_gflop_per_s": flop / to / 1e9, "hf_gflop_per_s": flop / th / 1e9,
            "peak_gflop_per_s": peak[kind], "ours_fraction_of_peak": flop / to / 1e9 / peak[kind],
            "hf_fraction_of_peak": flop / th / 1e9 / peak[kind],
            "ours_all": [r["tokens_per_s"] for r in ours], "hf_all": [r["tokens_per_s"] for r in hf],
        }
    for kind in kinds:
        for b in [int(x) for x in args.gen_batches.split(",")]:
            sel = lambda side: [r for r in runs if r["what"] == "generate" and r["side"] == side
                                and r["kind"] == kind and r["batch"] == b]
            ours, hf = sel("ours"), sel("hf")
            if not ours or not hf:
                continue
            o, h = med([r["tokens_per_s"] for r in ours]), med([r["tokens_per_s"] for r in hf])
            same = sum(x == y for ro, rh in zip(ours[0]["tokens"], hf[0]["tokens"]) for x, y in zip(ro, rh))
            total = sum(len(ro) for ro in ours[0]["tokens"])
            summary["generate"][f"{kind} batch {b}"] = {
                "ours_tokens_per_s": o, "hf_tokens_per_s": h, "ratio": o / h,
                "same_tokens": f"{same}/{total}",
                "ours_all": [r["tokens_per_s"] for r in ours], "hf_all": [r["tokens_per_s"] for r in hf],
            }
    for r in runs:
        r.pop("tokens", None) if r["what"] == "generate" else None
    result = {"args": vars(args), "nproc": os.cpu_count(), "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
              "summary": summary, "runs": runs}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
