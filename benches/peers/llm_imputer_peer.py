#!/usr/bin/env python3
"""The LLM imputer against GReaT (PyPI `be-great`): speed and accuracy on the same hidden cells,
with the same backbone, side by side in one run.

Both sides start from SmolLM2-135M-Instruct read from the same GGUF file (ours through its
GGUF reader, GReaT through transformers' GGUF loader, saved once as an HF directory because
GReaT takes a model name or directory), fine-tune LoRA adapters of the same shape on the same
rows and impute the same cells:

* table: the MovieLens 100K user table (`u.user`) as recimpute loads it: age (numeric), gender,
  occupation and region (the first digit of the zip code, `zip0`..`zip9`, else `other`);
* hidden cells: MCAR at `--rate` over those four columns (seeded; a row keeps at least one
  value); the masked table is written once as CSV and both sides read it;
* fine-tuning: the complete rows of the masked table, at most `--max-train-rows` of them
  (one seeded sample, written as a CSV both sides train on). GReaT: `--epochs` passes, batch 16,
  AdamW at lr `--lr`, LoRA rank 8, alpha 16, no dropout, on `q_proj` and `v_proj`, its
  full-row objective with columns shuffled per example, f32 weights. Ours runs that same recipe
  twice, with the frozen base in f32 (GReaT's precision) and in bf16 (what this library picks
  on a CPU with fast bf16), and once more with its own defaults (`--ours` picks among the three);
* imputation: ours is `recimpute fit-adapter` then `recimpute impute --method llm` (scoring of
  categorical and small numeric columns, the base at the precision it was fitted with; the
  count of cells that fell back is parsed from its output, the count left unfilled read from
  the file it wrote); GReaT is `GReaT.impute` with its defaults (temperature 0.7, one row
  at a time, up to 15 retries until a row parses; a row that never parses is dropped by
  GReaT: its cells count as unfilled and are scored with the column's training mode/median);
* accuracy: per column, accuracy for the categorical columns, MAE and RMSE for age;
* speed: imputation cells/s, fine-tuning seconds; both with `--threads` intra-op threads and
  `OMP_WAIT_POLICY=PASSIVE`, one after the other; `uptime` recorded before each.

Run with the Python of the torch virtualenv after `cargo xtask peers` (it installs be-great)
and a release build of the CLI (`cargo xtask cargo build --release -p recimpute-cli --features
full --bin recimpute`):

    ~/.cache/recimpute/torch-venv/bin/python benches/peers/llm_imputer_peer.py \
        --recimpute target/release/recimpute --out results/imputer-peer
"""

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["age", "gender", "occupation", "region"]


def zip_region(z: str) -> str:
    z = z.strip()
    head = z[:5]
    return f"zip{head[0]}" if len(head) == 5 and head.isdigit() else "other"


def users_table(data: Path) -> pd.DataFrame:
    rows = []
    with open(data / "ml-100k" / "u.user", encoding="latin-1") as f:
        for line in f:
            parts = line.rstrip("\n").split("|")
            if len(parts) != 5:
                raise SystemExit(f"{data / 'ml-100k' / 'u.user'}: bad line {line!r}")
            _, age, gender, occupation, z = parts
            rows.append({"age": float(age), "gender": gender, "occupation": occupation, "region": zip_region(z)})
    return pd.DataFrame(rows, columns=COLUMNS)


def mask_mcar(df: pd.DataFrame, rate: float, seed: int):
    rng = np.random.default_rng(seed)
    hide = rng.random(df.shape) < rate
    # Keep at least one value per row.
    full = hide.all(axis=1)
    hide[full, rng.integers(0, df.shape[1], size=full.sum())] = False
    masked = df.mask(hide)
    return masked, hide


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def score(truth: pd.DataFrame, filled: pd.DataFrame, hide: np.ndarray) -> dict:
    out = {}
    for j, col in enumerate(COLUMNS):
        rows = np.nonzero(hide[:, j])[0]
        if len(rows) == 0:
            continue
        t = truth[col].iloc[rows]
        p = filled[col].iloc[rows]
        if col == "age":
            err = pd.to_numeric(p, errors="coerce").to_numpy(float) - t.to_numpy(float)
            out[col] = {"cells": int(len(rows)), "mae": float(np.nanmean(np.abs(err))),
                        "rmse": float(np.sqrt(np.nanmean(err ** 2)))}
        else:
            out[col] = {"cells": int(len(rows)), "accuracy": float((p.astype(str).to_numpy() == t.astype(str).to_numpy()).mean())}
    return out


def write_csv(df: pd.DataFrame, path: Path):
    out = df.copy()
    out["age"] = out["age"].astype("Int64")  # "24", not "24.0"
    out.to_csv(path, index=False)


# Our runs: GReaT's recipe (the LoRA shape, objective, epochs and learning rate it is given
# here) with the frozen base in f32, as GReaT's, and in bf16, then the imputer's own defaults.
GREAT_RECIPE = ["--llm-objective", "full_row", "--llm-lora-r", "8", "--llm-lora-alpha", "16",
                "--llm-lora-targets", "q_proj,v_proj", "--llm-holdout", "0", "--llm-no-prior-correction"]
OURS = {
    "f32": ["--llm-precision", "f32", *GREAT_RECIPE],
    "bf16": ["--llm-precision", "bf16", *GREAT_RECIPE],
    "default": [],
}


def run_ours(args, name: str, masked_csv: Path, train_csv: Path, hide: np.ndarray, work: Path, env: dict) -> dict:
    exe = str(Path(args.recimpute).resolve())
    flags = ["--backbone", args.gguf, "--llm-max-train-rows", str(args.max_train_rows), *OURS[name]]
    if name != "default":
        flags += ["--llm-epochs", str(args.epochs), "--llm-lr", str(args.lr)]
    adapter = work / f"ours-{name}.llm"
    filled_csv = work / f"ours-{name}_filled.csv"
    print(f"ours ({name}): fine-tuning ({uptime()})", flush=True)
    t0 = time.perf_counter()
    subprocess.run([exe, "fit-adapter", str(train_csv), "--out", str(adapter), "--seed", str(args.seed), *flags],
                   check=True, env=env)
    fit_s = time.perf_counter() - t0
    print(f"ours ({name}): imputing ({uptime()})", flush=True)
    t0 = time.perf_counter()
    run = subprocess.run([exe, "impute", str(masked_csv), str(filled_csv), "--method", "llm", "--imputer", str(adapter),
                          "--backbone", args.gguf], check=True, env=env, capture_output=True, text=True)
    impute_wall_s = time.perf_counter() - t0
    sys.stderr.write(run.stderr)
    m = re.search(r"imputed (\d+) cells at ([0-9.]+) cells/s \((\d+) fell back", run.stderr + run.stdout)
    if not m:
        raise SystemExit(f"ours: no 'imputed N cells at X cells/s (K fell back ...' line in the output:\n{run.stderr}")
    cells, rate, fallbacks = int(m.group(1)), float(m.group(2)), int(m.group(3))
    filled = pd.read_csv(filled_csv)
    # Unfilled: hidden cells still empty in the file we wrote (read, not assumed).
    unfilled = int(filled[COLUMNS].isna().to_numpy()[hide].sum())
    return {"fit_s": fit_s, "impute_wall_s": impute_wall_s, "cells": cells, "cells_per_s": rate,
            "impute_s": cells / rate, "filled": filled, "unfilled": unfilled, "fallbacks": fallbacks}


def hf_dir_from_gguf(gguf: str, work: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    out = work / "smollm2-hf"
    if (out / "config.json").exists():
        return out
    folder, name = os.path.split(os.path.abspath(gguf))
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype="float32")
    # transformers refuses to save a model it read from GGUF: copy the dequantized weights
    # into a plain model of the same configuration.
    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    tmp = Path(tempfile.mkdtemp(dir=work))
    plain.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)
    return out


def run_great(args, masked: pd.DataFrame, train: pd.DataFrame, fallback: dict, work: Path) -> dict:
    import torch
    from be_great import GReaT

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    model_dir = hf_dir_from_gguf(args.gguf, work)
    great = GReaT(
        str(model_dir),
        experiment_dir=str(work / "great_trainer"),
        epochs=args.epochs,
        batch_size=16,
        efficient_finetuning="lora",
        lora_config={"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "lora_dropout": 0.0},
        float_precision=0,
        learning_rate=args.lr,
        save_strategy="no",
        logging_steps=10,
        seed=args.seed,
    )
    print(f"GReaT: fine-tuning on {len(train)} rows ({uptime()})", flush=True)
    t0 = time.perf_counter()
    great.fit(train)
    fit_s = time.perf_counter() - t0
    todo = masked[masked.isna().any(axis=1)]
    if args.great_max_rows:
        todo = todo.iloc[: args.great_max_rows]
    cells = int(todo.isna().sum().sum())
    print(f"GReaT: imputing {cells} cells in {len(todo)} rows ({uptime()})", flush=True)
    t0 = time.perf_counter()
    out = great.impute(todo, max_length=args.great_max_length, device="cpu")
    impute_s = time.perf_counter() - t0
    filled = masked.copy()
    unfilled = 0
    for idx in todo.index:
        if idx in out.index:
            for col in COLUMNS:
                if pd.isna(filled.at[idx, col]):
                    filled.at[idx, col] = out.at[idx, col]
        else:
            unfilled += int(todo.loc[idx].isna().sum())
    for col in COLUMNS:
        filled[col] = filled[col].fillna(fallback[col])
    return {"fit_s": fit_s, "impute_s": impute_s, "cells": cells, "cells_per_s": cells / impute_s,
            "filled": filled, "unfilled": unfilled, "rows": len(todo)}


def main():
    cache = Path(os.environ.get("RECIMPUTE_CACHE", Path.home() / ".cache" / "recimpute"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recimpute", default="target/release/recimpute", help="the release CLI binary")
    p.add_argument("--gguf", default=str(Path(os.environ.get("RECIMPUTE_MODELS", cache / "models")) / "SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--data", default="../shared/data", help="holds ml-100k/")
    p.add_argument("--rate", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--max-train-rows", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--great-max-rows", type=int, default=0, help="impute only the first N incomplete rows with GReaT (0: all)")
    p.add_argument("--great-max-length", type=int, default=100, help="GReaT's max_length (prompt + generated tokens)")
    p.add_argument("--out", default="results/imputer-peer")
    p.add_argument("--ours", default="f32,bf16,default", type=lambda s: s.split(","),
                   help=f"our runs, comma-separated, from {', '.join(OURS)}")
    p.add_argument("--markdown", help="also write the table to this file")
    args = p.parse_args()
    if unknown := [n for n in args.ours if n not in OURS]:
        raise SystemExit(f"--ours: unknown run(s) {unknown}; known: {', '.join(OURS)}")
    if not Path(args.gguf).exists():
        raise SystemExit(f"{args.gguf}: no such model (run `cargo xtask fetch-model`)")

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    torch.set_num_threads(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), RAYON_NUM_THREADS=str(args.threads))

    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    truth = users_table(Path(args.data))
    masked, hide = mask_mcar(truth, args.rate, args.seed)
    masked_csv = work / "users_masked.csv"
    write_csv(masked, masked_csv)
    complete = masked.dropna()
    train = complete.sample(n=min(args.max_train_rows, len(complete)), random_state=args.seed)
    train_csv = work / "users_train.csv"
    write_csv(train, train_csv)
    fallback = {c: (train[c].median() if c == "age" else train[c].mode().iloc[0]) for c in COLUMNS}
    print(f"{int(hide.sum())} hidden cells in {int(hide.any(axis=1).sum())} rows; {len(complete)} complete rows", flush=True)

    ours = {name: run_ours(args, name, masked_csv, train_csv, hide, work, env) for name in args.ours}
    great = run_great(args, masked, train, fallback, work)
    if args.great_max_rows:
        # Score both on the rows GReaT imputed.
        keep = np.zeros(len(truth), bool)
        keep[masked[masked.isna().any(axis=1)].index[: args.great_max_rows]] = True
        hide = hide & keep[:, None]
    result = {
        "machine": uptime(),
        "threads": args.threads,
        "hidden_cells": int(hide.sum()),
        "settings": {k: getattr(args, k) for k in ["rate", "seed", "epochs", "max_train_rows", "lr", "great_max_rows", "great_max_length"]},
    }
    runs = {f"recimpute-{name}": r for name, r in ours.items()}
    runs["great"] = great
    for name, r in runs.items():
        result[name] = {k: v for k, v in r.items() if k != "filled"}
        result[name]["quality"] = score(truth, r["filled"], hide)
    result["speedup_cells_per_s"] = {name: r["cells_per_s"] / great["cells_per_s"] for name, r in runs.items()}
    result["fine_tune_ratio"] = {name: great["fit_s"] / r["fit_s"] for name, r in runs.items()}
    (work / "result.json").write_text(json.dumps(result, indent=2))

    names = list(runs)
    head = {"recimpute-f32": "ours, GReaT's recipe, f32", "recimpute-bf16": "ours, GReaT's recipe, bf16",
            "recimpute-default": "ours, default recipe", "great": "GReaT (f32)"}
    lines = ["| | " + " | ".join(head[n] for n in names) + " |", "|---|" + "---|" * len(names)]

    def row(label, cell):
        lines.append(f"| {label} | " + " | ".join(cell(n) for n in names) + " |")

    row("fine-tune s (GReaT's ÷ ours)", lambda n: f"{runs[n]['fit_s']:.0f}" + ("" if n == "great" else f" ({result['fine_tune_ratio'][n]:.2f}×)"))
    row("impute cells/s (ours ÷ GReaT's)", lambda n: f"{runs[n]['cells_per_s']:.3f}" + ("" if n == "great" else f" ({result['speedup_cells_per_s'][n]:.1f}×)"))
    row("cells left unfilled", lambda n: str(runs[n]["unfilled"]))
    row("cells that fell back to the mode/median", lambda n: str(runs[n].get("fallbacks", "–")))
    for col in COLUMNS:
        q = {n: result[n]["quality"].get(col) for n in names}
        if not q[names[0]]:
            continue
        cells = q[names[0]]["cells"]
        if col == "age":
            row(f"age MAE / RMSE ({cells} cells)", lambda n: f"{q[n]['mae']:.2f} / {q[n]['rmse']:.2f}")
        else:
            row(f"{col} accuracy ({cells} cells)", lambda n: f"{q[n]['accuracy']:.3f}")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")


if __name__ == "__main__":
    main()
