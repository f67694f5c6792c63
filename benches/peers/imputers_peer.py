"""Quality parity and speed of the baseline imputers (crate `imputers-baseline`) against
scikit-learn's KNNImputer and IterativeImputer, on identical masked cells.

Tested with: Python 3, scikit-learn 1.9.1, numpy 2.4.6, pandas 3.1.1.
Install: `<venv>/bin/pip install scikit-learn pandas`.

Run from the repository root:

    python benches/peers/imputers_peer.py --repeats 3 --markdown docs/BENCHMARKS-imputers.md

Data: `--data DIR` or the environment variable RECIMPUTE_DATA, default `../shared/data`
relative to the repository root; it must hold `adclick/ad_click_dataset.csv` and
`ml-100k/u.user`. `--quick` skips the 100,000-row table.

For every dataset the script builds one masked table (MCAR holes, seeded), writes it as CSV
into a temporary directory, and runs

- ours: `cargo run --release -p imputers-baseline --example baseline_impute`, which prints the
  median of its fit + transform times and its peak RSS;
- scikit-learn: this script in a fresh process (`--worker`), timing `fit_transform` only
  (median of the same number of runs) and reporting `ru_maxrss`.

Both outputs are scored on the same masked cells: RMSE on numeric cells (original units),
accuracy on categorical cells.

Matching settings:
- KNN: k = 5, uniform weights. We standardise numeric columns; scikit-learn gets the same
  standardised numbers (train mean / population std of the observed values) and the output is
  scaled back, so on numeric tables both use the same nan-Euclidean distance. Categorical
  columns go to scikit-learn one-hot (all NaN when missing) scaled by 1/sqrt(2), so that a
  label mismatch adds 1 to the squared distance as in our mismatch distance; the imputed label
  is the arg-max of the averaged one-hot block (a donor vote, like ours). The rescaling by
  observed coordinates differs (a one-hot block counts as several coordinates there).
- Iterative: IterativeImputer(estimator=BayesianRidge(), max_iter=10, tol=1e-3,
  initial_strategy="mean", imputation_order="ascending", sample_posterior=False) vs ours with
  the same settings. Categorical columns: scikit-learn imputes each one-hot column by Bayesian
  ridge from all other columns (its sibling one-hot columns included) and we take the arg-max;
  row `iterative` runs ours with `LabelModel::OneHotRegression`, the same model, and row
  `iterative-logistic` runs our default multinomial logistic label model against the same
  scikit-learn run.
"""

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- datasets

def mcar(df, rate, rng, columns):
    """Masks `rate` of the observed cells of `columns`; returns the masked frame and the mask."""
    mask = pd.DataFrame(False, index=df.index, columns=df.columns)
    out = df.copy()
    for c in columns:
        hit = (rng.random(len(df)) < rate) & df[c].notna().to_numpy()
        mask[c] = hit
        out.loc[hit, c] = np.nan
    return out, mask


def synthetic(rows, rate, seed):
    rng = np.random.default_rng(seed)
    p = 8
    cov = np.array([[0.7 ** abs(i - j) for j in range(p)] for i in range(p)])
    x = rng.multivariate_normal(np.zeros(p), cov, size=rows)
    x = x * np.linspace(1.0, 20.0, p) + np.linspace(0.0, 100.0, p)
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(p)])
    masked, mask = mcar(df, rate, rng, df.columns)
    return df, masked, mask, list(df.columns), []


def adclick(data_dir, seed):
    df = pd.read_csv(data_dir / "adclick" / "ad_click_dataset.csv")
    cats = ["gender", "device_type", "ad_position", "browsing_history", "time_of_day"]
    df = df[["age"] + cats]
    masked, mask = mcar(df, 0.10, np.random.default_rng(seed), df.columns)
    return df, masked, mask, ["age"], cats


def ml100k_users(data_dir, seed):
    df = pd.read_csv(data_dir / "ml-100k" / "u.user", sep="|", header=None,
                     names=["user_id", "age", "gender", "occupation", "zip"], encoding="latin-1")
    df = df[["age", "gender", "occupation"]].astype({"age": float})
    masked, mask = mcar(df, 0.10, np.random.default_rng(seed), df.columns)
    return df, masked, mask, ["age"], ["gender", "occupation"]


# ----------------------------------------------------------------------------- scikit-learn side

def sklearn_worker(args):
    """Runs in a fresh process: imputes `args.input` with scikit-learn, writes `args.output`."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer

    df = pd.read_csv(args.input)
    numeric = [c for c in args.numeric.split(",") if c]
    cats = [c for c in args.categorical.split(",") if c]
    blocks, names = [], []
    mean = df[numeric].mean()
    std = df[numeric].std(ddof=0).replace(0.0, 1.0)
    num = df[numeric].to_numpy(float)
    if args.method == "knn":
        num = (num - mean.to_numpy()) / std.to_numpy()
    blocks.append(num)
    onehot_scale = 1.0 / math.sqrt(2.0) if args.method == "knn" else 1.0
    for c in cats:
        labels = sorted(df[c].dropna().unique())
        block = np.full((len(df), len(labels)), np.nan)
        seen = df[c].notna().to_numpy()
        for j, label in enumerate(labels):
            block[seen, j] = (df.loc[seen, c] == label).to_numpy(float) * onehot_scale
        blocks.append(block)
        names.append((c, labels))
    x = np.hstack(blocks)
    times = []
    for _ in range(args.repeats):
        if args.method == "knn":
            imp = KNNImputer(n_neighbors=args.k, weights="uniform")
        else:
            imp = IterativeImputer(max_iter=10, tol=1e-3, random_state=0)
        start = time.perf_counter()
        out = imp.fit_transform(x)
        times.append(time.perf_counter() - start)
    result = df.copy()
    num_out = out[:, : len(numeric)]
    if args.method == "knn":
        num_out = num_out * std.to_numpy() + mean.to_numpy()
    result[numeric] = num_out
    at = len(numeric)
    for c, labels in names:
        block = out[:, at: at + len(labels)]
        at += len(labels)
        result[c] = [labels[i] for i in block.argmax(axis=1)]
    result.to_csv(args.output, index=False)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"time_s": statistics.median(times), "peak_rss_kb": rss}))


def run_sklearn(method, inp, out, numeric, cats, repeats, k):
    cmd = [sys.executable, __file__, "--worker", "--method", method, "--input", str(inp), "--output", str(out),
           "--numeric", ",".join(numeric), "--categorical", ",".join(cats), "--repeats", str(repeats),
           "--k", str(k)]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- our side

def run_ours(method, inp, out, cats, repeats, k):
    extra = []
    if method == "iterative":
        extra = ["--onehot-regression"]
    elif method == "iterative-logistic":
        method = "iterative"
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "imputers-baseline", "--example", "baseline_impute", "--",
           *extra, "--method", method, "--k", str(k), "--input", str(inp), "--output", str(out), "--repeats", str(repeats)]
    if cats:
        cmd += ["--categorical", ",".join(cats)]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    vals = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
    return {"time_s": float(vals["median_fit_transform_s"]), "peak_rss_kb": int(vals.get("peak_rss_kb", 0))}


# ----------------------------------------------------------------------------- scoring

def score(truth, imputed_path, mask, numeric, cats):
    imp = pd.read_csv(imputed_path)
    errs, hits, total = [], 0, 0
    for c in numeric:
        m = mask[c].to_numpy()
        errs.append((imp.loc[m, c].to_numpy(float) - truth.loc[m, c].to_numpy(float)) ** 2)
    for c in cats:
        m = mask[c].to_numpy()
        hits += int((imp.loc[m, c].astype(str).to_numpy() == truth.loc[m, c].astype(str).to_numpy()).sum())
        total += int(m.sum())
    rmse = float(np.sqrt(np.concatenate(errs).mean())) if errs else float("nan")
    acc = hits / total if total else float("nan")
    return rmse, acc


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--method", default="knn")
    ap.add_argument("--input")
    ap.add_argument("--output")
    ap.add_argument("--numeric", default="")
    ap.add_argument("--categorical", default="")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per side (median reported)")
    ap.add_argument("--large-repeats", type=int, default=1, help="timed runs on the 100k-row table")
    ap.add_argument("--data", default=os.environ.get("RECIMPUTE_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--quick", action="store_true", help="skip the 100,000-row table")
    ap.add_argument("--markdown", default=None, help="also write the table as Markdown here")
    args = ap.parse_args()
    if args.worker:
        sklearn_worker(args)
        return

    data_dir = Path(args.data)
    datasets = [("synthetic 5,000×8 (MCAR 20%)", lambda: synthetic(5_000, 0.20, 1), args.repeats)]
    if not args.quick:
        datasets.append(("synthetic 100,000×8 (MCAR 10%)", lambda: synthetic(100_000, 0.10, 2), args.large_repeats))
    datasets += [
        ("AdClick 10,000 (+MCAR 10%)", lambda: adclick(data_dir, 3), args.repeats),
        ("ml-100k users 943 (MCAR 10%)", lambda: ml100k_users(data_dir, 4), args.repeats),
    ]
    # Compile once so that the first timed call does not include the build.
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "imputers-baseline", "--example", "baseline_impute"],
                   check=True, cwd=REPO)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, build, repeats in datasets:
            truth, masked, mask, numeric, cats = build()
            inp = tmp / "masked.csv"
            masked.to_csv(inp, index=False, na_rep="")
            for method in ["knn", "iterative"] + (["iterative-logistic"] if cats else []):
                ours_out, sk_out = tmp / f"ours_{method}.csv", tmp / f"sk_{method}.csv"
                ours = run_ours(method, inp, ours_out, cats, repeats, args.k)
                sk_method = "iterative" if method.startswith("iterative") else method
                sk = run_sklearn(sk_method, inp, sk_out, numeric, cats, repeats, args.k)
                o_rmse, o_acc = score(truth, ours_out, mask, numeric, cats)
                s_rmse, s_acc = score(truth, sk_out, mask, numeric, cats)
                row = {
                    "method": method, "dataset": name, "runs": repeats,
                    "rmse_ours": o_rmse, "rmse_sklearn": s_rmse, "rmse_rel": (o_rmse - s_rmse) / s_rmse,
                    "acc_ours": o_acc, "acc_sklearn": s_acc,
                    "time_ours": ours["time_s"], "time_sklearn": sk["time_s"],
                    "speedup": sk["time_s"] / ours["time_s"],
                    "rss_ours_mb": ours["peak_rss_kb"] / 1024, "rss_sklearn_mb": sk["peak_rss_kb"] / 1024,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)

    def f(v, fmt):
        return "–" if isinstance(v, float) and math.isnan(v) else format(v, fmt)

    lines = [
        "| method | dataset | runs | RMSE ours | RMSE sklearn | rel. diff | acc. ours | acc. sklearn "
        "| time ours (s) | time sklearn (s) | speed-up | peak RSS ours (MB) | peak RSS sklearn (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['dataset']} | {r['runs']} | {f(r['rmse_ours'], '.4f')} | {f(r['rmse_sklearn'], '.4f')} "
            f"| {f(100 * r['rmse_rel'], '+.2f')}% | {f(r['acc_ours'], '.3f')} | {f(r['acc_sklearn'], '.3f')} "
            f"| {r['time_ours']:.3f} | {r['time_sklearn']:.3f} | {r['speedup']:.1f}× "
            f"| {r['rss_ours_mb']:.0f} | {r['rss_sklearn_mb']:.0f} |")
    import sklearn
    header = [
        "## Baseline imputers vs scikit-learn",
        "",
        f"Machine: {os.cpu_count()} cores, {cpu_model()}. scikit-learn {sklearn.__version__}, numpy "
        f"{np.__version__}, pandas {pd.__version__}, Python {platform.python_version()}.",
        "",
        "Command (repository root): `python benches/peers/imputers_peer.py "
        f"--repeats {args.repeats} --large-repeats {args.large_repeats}"
        f"{' --quick' if args.quick else ''} --markdown docs/BENCHMARKS-imputers.md`",
        "",
        "Times are medians of fit + transform (ours) and `fit_transform` (scikit-learn) over `runs` runs; "
        "RMSE is over the masked numeric cells, accuracy over the masked categorical cells; "
        "speed-up = sklearn time / our time.",
        "",
    ]
    text = "\n".join(header + lines) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
