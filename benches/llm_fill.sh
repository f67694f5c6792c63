#!/usr/bin/env bash
# Cells per second of the LLM fill on AdClick's natural gaps, four ways in one run. The SmolLM2
# imputer is fitted once (STEPS optimizer steps, seed 0, base in PRECISION: auto, f32 or bf16)
# on the table's six attribute columns and `click` (the ids dropped, as
# `rec_datasets::load_adclick` does); then the same fitted imputer fills every missing cell
# (20,241 in the whole table) four ways: by blocks of rows whose next questions continue the
# key/value cache of their previous ones (`fill.block_rows = 256`, the default); column by
# column over the whole table with shared prompt prefixes on one thread (`fill.block_rows = 0`,
# the default before blocks existed); the same split among a one-thread worker per libtorch
# thread (`fill.workers = 0`); and with every prompt run whole (`fill.share_prefixes = false`,
# the path before sharing existed). Prints seconds, cells/s and peak RSS of each, the
# speed-ups, and how many filled cells differ from the default's. WAYS picks a subset (e.g.
# WAYS="columns blocks" on the whole table, where each fill takes minutes).
#
#   benches/llm_fill.sh [ROWS]     # ROWS: the first ROWS rows only (default: all 10,000)
#
# Needs `recimpute` built with the `llm` feature (RECIMPUTE_BIN picks a dev build), libtorch
# in the environment (`eval "$(cargo xtask env)"`), the model (`cargo xtask fetch-model`) and
# the AdClick file under $RECIMPUTE_DATA (default ../shared/data). Run it alone on the machine.
set -euo pipefail

# shellcheck source=benches/setup.sh
source "$(dirname "$0")/setup.sh"
ROWS=${1:-10000}
STEPS=${STEPS:-40}
PRECISION=${PRECISION:-auto}
DATA=${RECIMPUTE_DATA:-$ROOT/../shared/data}

python3 - "$DATA/adclick/ad_click_dataset.csv" "$WORK/adclick.csv" "$ROWS" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    for r in rows[: int(sys.argv[3]) + 1]:
        w.writerow(r[2:])  # drop id and full_name
PY

read -r fit_s fit_mb < <(measure "$BIN" fit --method llm --llm-steps "$STEPS" --llm-precision "$PRECISION" --seed 0 --out "$WORK/shared" "$WORK/adclick.csv")
# The same fitted imputer, told to score another way (`fill` fields of its imputer.json).
variant() {
    cp -r "$WORK/shared" "$WORK/$1"
    python3 - "$WORK/$1/imputer.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["config"]["fill"].update(json.loads(sys.argv[2]))
json.dump(d, open(sys.argv[1], "w"))
PY
}
variant whole '{"share_prefixes": false, "block_rows": 0}'
variant workers '{"workers": 0, "block_rows": 0}'
variant columns '{"block_rows": 0}'
variant blocks '{}'
WAYS=${WAYS:-whole workers columns blocks}

cells=$(python3 -c "import csv,sys; print(sum(v == '' for r in csv.reader(open(sys.argv[1])) for v in r))" "$WORK/adclick.csv")
echo "AdClick, first $ROWS rows: $cells missing cells; fitted in $fit_s s ($STEPS steps, precision $PRECISION); $(nproc) cores"
echo "| scoring | fill s | cells/s | peak RSS MiB |"
echo "|---|---|---|---|"
secs_of=()
for way in $WAYS; do
    read -r secs mb < <(measure "$BIN" impute --method llm --imputer "$WORK/$way" "$WORK/adclick.csv" "$WORK/$way.csv")
    case $way in
        whole) label="every prompt whole" ;;
        workers) label="column by column, shared prefixes, a one-thread worker per libtorch thread" ;;
        columns) label="column by column, shared prefixes, one thread (default before blocks)" ;;
        blocks) label="blocks of 256 rows, each question continuing the row's cache (default)" ;;
        *) echo "unknown way $way (whole, workers, columns, blocks)" >&2; exit 2 ;;
    esac
    echo "| $label | $secs | $(python3 -c "print(round($cells / $secs, 1))") | $mb |"
    secs_of+=("$way=$secs")
    [ "$way" = blocks ] && reuse_line=$(grep -h "continued the cache" "$WORK/err" || true)
done
[ -n "${reuse_line:-}" ] && echo "blocks:${reuse_line}"
python3 - "$WORK" "${secs_of[@]}" <<'PY'
import csv, sys
work = sys.argv[1]
secs = dict(a.split("=") for a in sys.argv[2:])
read = lambda way: list(csv.reader(open(f"{work}/{way}.csv")))
ref = "blocks" if "blocks" in secs else list(secs)[-1]
new = read(ref)
for way in secs:
    if way == ref:
        continue
    old = read(way)
    diff = [(i, j, x, y) for i, (ra, rb) in enumerate(zip(old, new)) for j, (x, y) in enumerate(zip(ra, rb)) if x != y]
    print("%s vs %s: speed-up %.2fx; %d filled cells differ%s" % (ref, way, float(secs[way]) / float(secs[ref]), len(diff),
          "".join("\n  row %d col %d: %s vs %s" % d for d in diff[:10])))
PY
