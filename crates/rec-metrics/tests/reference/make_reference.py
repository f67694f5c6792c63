"""Generate the scikit-learn / SciPy reference fixture for the `rec-metrics` parity test.

Writes `sklearn_reference.json` next to this script: deterministic inputs (NumPy generator with
a fixed seed) and the values scikit-learn and SciPy compute for them. The Rust test
`tests/sklearn_parity.rs` reads the fixture and needs no Python; rerun this script only to
change the cases, then commit both files.

Usage, from the workspace root, with the project's Python environment (kept under the
`~/.cache/recimpute` convention):

    ~/.cache/recimpute/torch-venv/bin/pip install scikit-learn scipy numpy
    ~/.cache/recimpute/torch-venv/bin/python crates/rec-metrics/tests/reference/make_reference.py

Generated with Python 3.11.7, numpy 2.4.6, scipy 1.17.1, scikit-learn 1.9.1 (the script
records the versions it ran with in the fixture's "meta" entry).

Where the references come from:

- binary: sklearn precision_recall_fscore_support (average="binary", zero_division=0),
  accuracy_score, confusion_matrix, roc_auc_score, log_loss (labels=[0, 1]). A sample is
  predicted positive when p >= threshold. ROC AUC is null where sklearn finds it undefined (one class).
- multiclass: precision_recall_fscore_support per class (labels=range(n), zero_division=0) and
  averaged (macro / micro / weighted with the default labels=None, i.e. over the classes present
  in y_true or y_pred), accuracy_score, confusion_matrix (labels=range(n)).
- regression: mean_absolute_error, mean_squared_error, its square root, r2_score.
- ranking: NDCG@K from sklearn ndcg_score (ties averaged, ignore_ties=False), called per user
  with y_true = the gain of each item: 1/0 relevance for the binary gain, the relevance itself
  for the linear gain, 2**relevance - 1 for the exponential gain. Recall@K and HR@K have no
  sklearn counterpart; they are computed by brute force, averaging over every order of tied
  scores (which also re-derives NDCG, checked against sklearn here). Users without a relevant
  item (relevance >= threshold) are skipped, as in the crate.
- numeric imputation: MAE, RMSE as above, population std (numpy, ddof=0) of the true values,
  scipy.stats.ks_2samp(imputed, truth).statistic.
- categorical imputation: accuracy_score, f1_score(average="macro", zero_division=0), total
  variation distance from numpy category frequencies.
- set imputation: Jaccard index of Python sets, averaged over cells (two empty sets score 1).

Inputs are rounded to at most six decimals so that every reader parses them to the same doubles.
"""

import itertools
import json
import math
import pathlib
import sys
import warnings

import numpy as np
import scipy
import scipy.stats
import sklearn
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

SEED = 20240604
rng = np.random.default_rng(SEED)


def dec(x, places=6):
    """Round to `places` decimals via the decimal string, giving the nearest double."""
    return float(f"{float(x):.{places}f}")


def decs(xs, places=6):
    return [dec(x, places) for x in xs]


# ---------------------------------------------------------------------------------- binary


def binary_case(name, probs, labels, threshold):
    probs = np.asarray(probs, dtype=float)
    labels = np.asarray(labels, dtype=int)
    pred = (probs >= threshold).astype(int)
    p, r, f, _ = skm.precision_recall_fscore_support(labels, pred, average="binary", zero_division=0)
    tn, fp, fn, tp = skm.confusion_matrix(labels, pred, labels=[0, 1]).ravel()
    # Older sklearn raises on a single class; newer versions warn and return NaN.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        try:
            auc = float(skm.roc_auc_score(labels, probs))
        except ValueError:
            auc = float("nan")
    if math.isnan(auc):
        auc = None
    return {
        "name": name,
        "threshold": threshold,
        "probs": probs.tolist(),
        "labels": labels.tolist(),
        "expected": {
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "accuracy": float(skm.accuracy_score(labels, pred)),
            "roc_auc": auc,
            "log_loss": float(skm.log_loss(labels, probs, labels=[0, 1])),
            "tp": int(tp),
            "fp": int(fp),
            "tn": int(tn),
            "fn": int(fn),
        },
    }


def binary_cases():
    cases = []
    probs = np.array(decs(rng.uniform(0, 1, 300)))
    labels = (rng.uniform(0, 1, 300) < 0.3 + 0.4 * probs).astype(int)
    cases.append(binary_case("random_300", probs, labels, 0.5))
    # One decimal: many ties, values exactly at the threshold, and 0 and 1 (clipped log loss).
    probs = np.array(decs(rng.integers(0, 11, 120) / 10, 1))
    labels = (rng.uniform(0, 1, 120) < probs).astype(int)
    cases.append(binary_case("ties_one_decimal_threshold_0.3", probs, labels, 0.3))
    probs = np.array(decs(rng.uniform(0, 0.9, 50)))
    labels = rng.integers(0, 2, 50)
    cases.append(binary_case("never_predicted_positive", probs, labels, 0.95))
    probs = np.array(decs(rng.uniform(0, 1, 40)))
    cases.append(binary_case("single_class_negative", probs, np.zeros(40, dtype=int), 0.5))
    probs = np.array(decs(rng.uniform(0, 1, 40)))
    cases.append(binary_case("single_class_positive", probs, np.ones(40, dtype=int), 0.5))
    cases.append(binary_case("all_scores_tied", [0.4] * 10, [0, 1] * 5, 0.5))
    # Confidently wrong probabilities: log loss depends on the clipping to [eps, 1 - eps].
    extremes = [0.0, 1.0, 0.0, 1.0, 0.5, 1e-06, 0.999999, 1e-20]
    cases.append(binary_case("clipped_extremes", extremes, [1, 0, 0, 1, 1, 1, 0, 1], 0.5))
    return cases


# ------------------------------------------------------------------------------ multiclass


def multiclass_case(name, y_true, y_pred, n_classes):
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(n_classes)), average=None, zero_division=0
    )
    averages = {}
    for avg in ("macro", "micro", "weighted"):
        ap, ar, af, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=avg, zero_division=0)
        averages[avg] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    cm = skm.confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))
    return {
        "name": name,
        "n_classes": n_classes,
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "expected": {
            "accuracy": float(skm.accuracy_score(y_true, y_pred)),
            "precision": p.tolist(),
            "recall": r.tolist(),
            "f1": f.tolist(),
            "support": s.tolist(),
            "macro": averages["macro"],
            "micro": averages["micro"],
            "weighted": averages["weighted"],
            "confusion_matrix": cm.tolist(),
        },
    }


def multiclass_cases():
    cases = []
    y_true = rng.integers(0, 5, 400)
    noise = rng.uniform(0, 1, 400) < 0.35
    y_pred = np.where(noise, rng.integers(0, 5, 400), y_true)
    cases.append(multiclass_case("random_5_classes", y_true, y_pred, 5))
    # Class 3 occurs but is never predicted; class 2 is predicted but never occurs; classes 4
    # and 5 occur in neither (they must not enter the averages).
    y_true = rng.choice([0, 1, 3], 200)
    y_pred = np.where(y_true == 3, rng.choice([0, 1, 2], 200), y_true)
    y_pred = np.where(rng.uniform(0, 1, 200) < 0.2, rng.choice([0, 1, 2], 200), y_pred)
    cases.append(multiclass_case("never_predicted_and_absent_classes", y_true, y_pred, 6))
    cases.append(multiclass_case("single_sample", [1], [1], 3))
    return cases


# ------------------------------------------------------------------------------ regression


def regression_case(name, y_true, y_pred):
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    mse = skm.mean_squared_error(y_true, y_pred)
    return {
        "name": name,
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "expected": {
            "mae": float(skm.mean_absolute_error(y_true, y_pred)),
            "mse": float(mse),
            "rmse": float(math.sqrt(mse)),
            "r2": float(skm.r2_score(y_true, y_pred)),
        },
    }


def regression_cases():
    y = rng.normal(3.5, 1.2, 250)
    cases = [regression_case("random_normal", decs(y), decs(y + rng.normal(0, 0.8, 250)))]
    y = 1e6 + rng.integers(0, 20, 100)
    cases.append(regression_case("large_offset", decs(y), decs(y + rng.normal(0, 2, 100))))
    cases.append(regression_case("worse_than_mean", [1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]))
    # sklearn's force_finite: constant y_true gives 1 for a perfect fit, 0 otherwise.
    cases.append(regression_case("constant_target_imperfect", [2.0] * 5, [2.0, 2.5, 1.0, 2.0, 3.0]))
    cases.append(regression_case("constant_target_perfect", [2.0] * 5, [2.0] * 5))
    return cases


# --------------------------------------------------------------------------------- ranking


def gain_of(rel, gain, threshold):
    if gain == "binary":
        return 1.0 if rel >= threshold else 0.0
    if gain == "linear":
        return float(rel)
    return 2.0**rel - 1.0


def tie_orders(scores):
    """Every order of item indices by descending score, ties permuted in all ways."""
    groups = {}
    for i, s in enumerate(scores):
        groups.setdefault(s, []).append(i)
    ordered = [groups[s] for s in sorted(groups, reverse=True)]
    count = math.prod(math.factorial(len(g)) for g in ordered)
    assert count <= 200_000, f"too many tie orders ({count}); use fewer ties"
    for perms in itertools.product(*(itertools.permutations(g) for g in ordered)):
        yield [i for p in perms for i in p]


def brute_force_user(scores, rels, k, threshold, gain):
    relevant = [r >= threshold for r in rels]
    n_rel = sum(relevant)
    gains = [gain_of(r, gain, threshold) for r in rels]
    disc = [1.0 / math.log2(i + 2) for i in range(len(scores))]
    idcg = sum(g * d for g, d in zip(sorted(gains, reverse=True)[:k], disc))
    values = {"recall": [], "ndcg": [], "hit_rate": []}
    for order in tie_orders(scores):
        top = order[:k]
        hits = sum(relevant[i] for i in top)
        dcg = sum(gains[i] * disc[pos] for pos, i in enumerate(top))
        values["recall"].append(hits / n_rel)
        values["hit_rate"].append(1.0 if hits > 0 else 0.0)
        values["ndcg"].append(dcg / idcg if idcg > 0 else 0.0)
    # fsum: exact sums, so that averaging thousands of orders adds no rounding of its own.
    return {key: math.fsum(v) / len(v) for key, v in values.items()}


def ranking_case(name, users, k, threshold, gain, flat=False):
    per_user = {"recall": [], "ndcg": [], "hit_rate": []}
    skipped = 0
    for items in users:
        scores = [s for s, _ in items]
        rels = [r for _, r in items]
        if not any(r >= threshold for r in rels):
            skipped += 1
            continue
        brute = brute_force_user(scores, rels, k, threshold, gain)
        y_true = np.array([[gain_of(r, gain, threshold) for r in rels]])
        sk_ndcg = float(skm.ndcg_score(y_true, np.array([scores]), k=k))
        assert abs(sk_ndcg - brute["ndcg"]) < 1e-12, (name, sk_ndcg, brute["ndcg"])
        per_user["ndcg"].append(sk_ndcg)
        per_user["recall"].append(brute["recall"])
        per_user["hit_rate"].append(brute["hit_rate"])
    case = {
        "name": name,
        "k": k,
        "relevance_threshold": threshold,
        "gain": gain,
        "users": [[[s, r] for s, r in items] for items in users],
        "expected": {
            "n_users": len(per_user["ndcg"]),
            "n_users_skipped": skipped,
            "per_user": per_user,
            "recall": float(np.mean(per_user["recall"])),
            "ndcg": float(np.mean(per_user["ndcg"])),
            "hit_rate": float(np.mean(per_user["hit_rate"])),
        },
    }
    if flat:
        rows = [(u, s, r) for u, items in enumerate(users) for s, r in items]
        order = rng.permutation(len(rows))
        case["flat"] = {
            "user_ids": [int(1000 + rows[i][0] * 7) for i in order],
            "scores": [rows[i][1] for i in order],
            "relevances": [rows[i][2] for i in order],
        }
    return case


def random_users(n_users, min_len, max_len, score_decimals):
    users = []
    for _ in range(n_users):
        n = int(rng.integers(min_len, max_len + 1))
        scores = decs(rng.uniform(0, 1, n), score_decimals)
        rels = [float(r) for r in rng.integers(0, 6, n)]
        users.append(list(zip(scores, rels)))
    return users


def ranking_cases():
    # Scores with one decimal: plenty of ties, few enough to enumerate every order.
    users = random_users(40, 2, 9, 1)
    users.append([(0.5, 1.0), (0.2, 2.0)])  # no rating >= 4: skipped
    users.append([(0.7, 4.0)] * 6 + [(0.7, 0.0)] * 2)  # all tied
    return [
        ranking_case("binary_gain_k5_threshold_4", users, 5, 4.0, "binary", flat=True),
        ranking_case("linear_gain_k3_threshold_1", users, 3, 1.0, "linear"),
        ranking_case("exponential_gain_k4_threshold_3", users, 4, 3.0, "exponential"),
        ranking_case("binary_gain_k1_threshold_5", random_users(30, 2, 8, 2), 1, 5.0, "binary"),
    ]


# ---------------------------------------------------------------------------------- imputation


def numeric_imputation_case(name, truth, imputed):
    truth = np.asarray(truth, dtype=float)
    imputed = np.asarray(imputed, dtype=float)
    mae = float(skm.mean_absolute_error(truth, imputed))
    rmse = float(math.sqrt(skm.mean_squared_error(truth, imputed)))
    std = float(np.std(truth))
    return {
        "name": name,
        "truth": truth.tolist(),
        "imputed": imputed.tolist(),
        "expected": {
            "mae": mae,
            "rmse": rmse,
            "true_std": std,
            "mae_over_std": mae / std if std > 0 else None,
            "rmse_over_std": rmse / std if std > 0 else None,
            "ks_statistic": float(scipy.stats.ks_2samp(imputed, truth).statistic),
        },
    }


def numeric_imputation_cases():
    truth = np.array(decs(rng.normal(40, 12, 150)))
    noisy = np.array(decs(truth + rng.normal(0, 5, 150)))
    mean_fill = np.full(150, dec(truth.mean()))
    integers = np.array(decs(rng.integers(18, 30, 80)))
    return [
        numeric_imputation_case("noisy", truth, noisy),
        numeric_imputation_case("mean_fill", truth, mean_fill),
        numeric_imputation_case("integer_ties", integers, np.array(decs(rng.integers(18, 30, 80)))),
        numeric_imputation_case("constant_truth", [3.0] * 6, [3.0, 4.0, 2.5, 3.0, 3.0, 3.5]),
    ]


def ks_cases():
    cases = []
    for name, a, b in [
        ("different_sizes", decs(rng.normal(0, 1, 70)), decs(rng.normal(0.3, 1.2, 110))),
        ("heavy_ties", decs(rng.integers(0, 5, 60)), decs(rng.integers(1, 6, 45))),
        ("disjoint", [1.0, 2.0, 3.0], [4.0, 5.0]),
        ("identical", [1.5, 2.5, 2.5], [2.5, 1.5, 2.5]),
    ]:
        cases.append({"name": name, "a": a, "b": b, "statistic": float(scipy.stats.ks_2samp(a, b).statistic)})
    return cases


def categorical_imputation_case(name, truth, imputed):
    cats = sorted(set(truth) | set(imputed))
    t = np.array(truth)
    p = np.array(imputed)
    freq_t = np.array([(t == c).mean() for c in cats])
    freq_p = np.array([(p == c).mean() for c in cats])
    return {
        "name": name,
        "truth": list(truth),
        "imputed": list(imputed),
        "expected": {
            "n_categories": len(cats),
            "accuracy": float(skm.accuracy_score(truth, imputed)),
            "macro_f1": float(skm.f1_score(truth, imputed, average="macro", zero_division=0)),
            "total_variation": float(0.5 * np.abs(freq_t - freq_p).sum()),
        },
    }


def categorical_imputation_cases():
    occupations = ["artist", "doctor", "engineer", "lawyer", "student", "writer"]
    truth = [occupations[i] for i in rng.choice(6, 200, p=[0.1, 0.1, 0.2, 0.1, 0.4, 0.1])]
    noisy = [occupations[rng.integers(0, 6)] if rng.uniform() < 0.4 else v for v in truth]
    mode = max(sorted(set(truth)), key=truth.count)
    return [
        categorical_imputation_case("noisy", truth, noisy),
        categorical_imputation_case("mode_fill", truth, [mode] * len(truth)),
        categorical_imputation_case("unseen_category", ["a", "b", "a", "c"], ["a", "unknown", "b", "c"]),
    ]


def set_imputation_cases():
    genres = ["action", "comedy", "crime", "drama", "horror", "romance", "sci-fi"]

    def random_set():
        return sorted(str(g) for g in rng.choice(genres, int(rng.integers(0, 4)), replace=False))

    cases = []
    truth = [random_set() for _ in range(60)]
    imputed = [random_set() if rng.uniform() < 0.5 else list(t) for t in truth]
    truth[0], imputed[0] = [], []  # two empty sets: Jaccard 1
    truth[1], imputed[1] = ["drama"], []
    for name, t, p in [("random_sets", truth, imputed), ("duplicates", [["a", "b"]], [["b", "a", "b"]])]:
        scores = []
        for a, b in zip(t, p):
            union = set(a) | set(b)
            scores.append(1.0 if not union else len(set(a) & set(b)) / len(union))
        cases.append(
            {
                "name": name,
                "truth": t,
                "imputed": p,
                "expected": {
                    "mean_jaccard": float(np.mean(scores)),
                    "exact_match": float(np.mean([s == 1.0 for s in scores])),
                },
            }
        )
    return cases


# ---------------------------------------------------------------------------------- output


def main():
    fixture = {
        "meta": {
            "generator": "crates/rec-metrics/tests/reference/make_reference.py",
            "seed": SEED,
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "binary": binary_cases(),
        "multiclass": multiclass_cases(),
        "regression": regression_cases(),
        "ranking": ranking_cases(),
        "numeric_imputation": numeric_imputation_cases(),
        "ks": ks_cases(),
        "categorical_imputation": categorical_imputation_cases(),
        "set_imputation": set_imputation_cases(),
    }
    # One line per case keeps the file diffable without spreading every number over a line.
    lines = ["{", f' "meta": {json.dumps(fixture["meta"], allow_nan=False)},']
    sections = [key for key in fixture if key != "meta"]
    for i, key in enumerate(sections):
        lines.append(f' "{key}": [')
        cases = fixture[key]
        for j, case in enumerate(cases):
            comma = "," if j + 1 < len(cases) else ""
            lines.append("  " + json.dumps(case, allow_nan=False) + comma)
        lines.append(" ]" + ("," if i + 1 < len(sections) else ""))
    lines.append("}")
    out = pathlib.Path(__file__).with_name("sklearn_reference.json")
    out.write_text("\n".join(lines) + "\n")
    json.loads(out.read_text())  # the file must parse as written
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
