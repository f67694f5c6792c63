#!/usr/bin/env python3
"""DLRM training throughput: our Rust crate (`dlrm`, on tch) against the same model in PyTorch.

Both sides train the same network (dense -> bottom MLP [64, 16]; one embedding bag of width 16
per categorical column; pairwise dot interaction, strict lower triangle, as the reference
facebookresearch/dlrm `interact_features` with arch_interaction_itself=False; top MLP [64, 32]
-> 1; BCE with logits; Adam lr 1e-3; batch 256), on the same generated CSV, with the same
number of intra-op threads, one after the other in one run. Data encoding is not timed on either
side: the PyTorch side gets pre-built tensors, ours encodes the table before its first epoch.
Each epoch shuffles, slices mini-batches from tensors in memory and steps the optimizer; the
first epoch is a warm-up and is not counted.

Run with the Python of the torch virtualenv (it sets the libtorch environment cargo needs):

    ~/.cache/recimpute/torch-venv/bin/python benches/peers/dlrm_peer.py --rows 100000 --threads 2

Each side runs --repeats times, interleaved, and its best run counts (on a shared machine a busy
spell otherwise decides the ratio). Prints both results as JSON and the ratio of samples/s
(ours / PyTorch); inference is timed on the training rows, ours including the table encoding.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def generate(path, rows, dense, sparse, card, seed):
    """Writes a CSV with dense columns d*, categorical columns c* (labels v0..), a 0/1 label."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, dense)).astype(np.float32)
    c = rng.zipf(1.2, size=(rows, sparse)) % card
    w = rng.standard_normal(dense)
    logit = x @ w * 0.5 + ((c[:, 0] % 3) == 0) - 0.3
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    with open(path, "w") as f:
        f.write(",".join([f"d{i}" for i in range(dense)] + [f"c{j}" for j in range(sparse)] + ["label"]) + "\n")
        for r in range(rows):
            f.write(",".join([f"{v:.6g}" for v in x[r]] + [f"v{v}" for v in c[r]] + [str(y[r])]) + "\n")
    return x, c, y


class Dlrm(nn.Module):
    def __init__(self, dense_in, table_rows, dim, bottom, top):
        super().__init__()
        layers, width = [], dense_in
        for out in bottom:
            layers += [nn.Linear(width, out), nn.ReLU()]
            width = out
        self.bottom = nn.Sequential(*layers)
        self.embs = nn.ModuleList(nn.EmbeddingBag(n, dim, mode="sum") for n in table_rows)
        f = 1 + len(table_rows)
        li, lj = torch.tril_indices(f, f, offset=-1)
        self.register_buffer("li", li)
        self.register_buffer("lj", lj)
        layers, width = [], dim + f * (f - 1) // 2
        for out in top:
            layers += [nn.Linear(width, out), nn.ReLU()]
            width = out
        layers.append(nn.Linear(width, 1))
        self.top = nn.Sequential(*layers)

    def forward(self, x, idx, offsets):
        x = self.bottom(x)
        ly = [emb(i, offsets) for emb, i in zip(self.embs, idx)]
        t = torch.stack([x] + ly, dim=1)
        z = torch.bmm(t, t.transpose(1, 2))
        return self.top(torch.cat([x, z[:, self.li, self.lj]], dim=1))


def run_pytorch(x, c, y, args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    # Vocabularies as ours: sorted labels after two reserved indices (missing, out-of-vocabulary).
    cols, rows = [], []
    for j in range(c.shape[1]):
        labels = sorted({f"v{v}" for v in c[:, j]})
        index = {int(label[1:]): k + 2 for k, label in enumerate(labels)}
        cols.append(torch.tensor([index[v] for v in c[:, j]], dtype=torch.int64, device=device))
        rows.append(len(labels) + 2)
    dense = torch.from_numpy(x).to(device)
    dense = (dense - dense.mean(0)) / dense.std(0, unbiased=False)
    target = torch.from_numpy(y).float().to(device)
    model = Dlrm(x.shape[1], rows, args.dim, [64, args.dim], [64, 32]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n, bs = len(y), args.batch
    gen = torch.Generator().manual_seed(args.seed)
    speeds, loss_sum = [], 0.0
    for _ in range(args.epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            offsets = torch.arange(len(idx), device=device)
            logits = model(dense[idx], [col[idx] for col in cols], offsets)
            loss = F.binary_cross_entropy_with_logits(logits.view(-1), target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(idx)
        final = loss_sum.item() / n
        speeds.append(n / (time.perf_counter() - t0))
    counted = speeds[1:] if len(speeds) > 1 else speeds
    model.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        for start in range(0, n, 8192):
            sl = slice(start, start + 8192)
            torch.sigmoid(model(dense[sl], [col[sl] for col in cols], torch.arange(len(dense[sl]), device=device)))
        if device.type == "cuda":
            torch.cuda.synchronize()
        predict = n / (time.perf_counter() - t0)
    return {
        "impl": f"PyTorch {torch.__version__}",
        "rows": n,
        "epochs": args.epochs,
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_samples_per_sec": sum(counted) / len(counted),
        "predict_samples_per_sec": predict,
        "final_train_loss": final,
    }


def run_ours(csv, args, root):
    torch_lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    env = dict(os.environ)
    env.update(
        VIRTUAL_ENV=sys.prefix,
        PATH=os.path.join(sys.prefix, "bin") + os.pathsep + env.get("PATH", ""),
        LIBTORCH_USE_PYTORCH="1",
        LD_LIBRARY_PATH=torch_lib,
    )
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "dlrm", "--example", "dlrm_speed", "--",
           "--csv", csv, "--target", "label", "--epochs", str(args.epochs), "--batch", str(args.batch),
           "--dim", str(args.dim), "--threads", str(args.threads), "--device", args.device]
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--dense", type=int, default=8)
    p.add_argument("--sparse", type=int, default=8)
    p.add_argument("--card", type=int, default=1000, help="labels per categorical column (at most)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="interleaved runs per side; the best counts")
    args = p.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "dlrm_peer.csv")
        x, c, y = generate(csv, args.rows, args.dense, args.sparse, args.card, args.seed)
        runs = {"ours": [], "pytorch": []}
        for _ in range(args.repeats):  # interleaved, so that a busy spell hits both sides
            runs["ours"].append(run_ours(csv, args, root))
            runs["pytorch"].append(run_pytorch(x, c, y, args))
    # The best of the repeats: the least disturbed run of each side.
    best = lambda rs, key: max(r[key] for r in rs)
    ours = dict(runs["ours"][-1], train_samples_per_sec=best(runs["ours"], "train_samples_per_sec"),
                predict_samples_per_sec=best(runs["ours"], "predict_samples_per_sec"))
    theirs = dict(runs["pytorch"][-1], train_samples_per_sec=best(runs["pytorch"], "train_samples_per_sec"),
                  predict_samples_per_sec=best(runs["pytorch"], "predict_samples_per_sec"))
    for side in runs:
        print(side, "train samples/s per repeat:", [round(r["train_samples_per_sec"]) for r in runs[side]])
    print(json.dumps({"ours": ours, "pytorch": theirs}, indent=2))
    print(f"train samples/s ratio (ours / PyTorch): {ours['train_samples_per_sec'] / theirs['train_samples_per_sec']:.2f}x")
    print(f"predict samples/s ratio (ours / PyTorch): {ours['predict_samples_per_sec'] / theirs['predict_samples_per_sec']:.2f}x")


if __name__ == "__main__":
    main()
