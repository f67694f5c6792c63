#!/usr/bin/env bash
# Cells per second of the LLM fill on AdClick's natural gaps, two ways in one run. The SmolLM2
# imputer is fitted once (STEPS optimizer steps, seed 0) on the table's six attribute columns
# and `click` (the ids dropped, as `rec_datasets::load_adclick` does); then the same fitted
# imputer fills every missing cell (20,241 in the whole table) twice: scoring with shared
# prompt prefixes (`fill.share_prefixes`, the default) and with every prompt run whole (the
# path before the option existed). Prints seconds, cells/s and peak RSS of each, the speed-up,
# and how many filled cells differ between the two.
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
DATA=${RECIMPUTE_DATA:-$ROOT/../shared/data}

python3 - "$DATA/adclick/ad_click_dataset.csv" "$WORK/adclick.csv" "$ROWS" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    for r in rows[: int(sys.argv[3]) + 1]:
        w.writerow(r[2:])  # drop id and full_name
PY

read -r fit_s fit_mb < <(measure "$BIN" fit --method llm --llm-steps "$STEPS" --seed 0 --out "$WORK/shared" "$WORK/adclick.csv")
cp -r "$WORK/shared" "$WORK/whole"
python3 - "$WORK/whole/imputer.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["config"]["fill"]["share_prefixes"] = False
json.dump(d, open(sys.argv[1], "w"))
PY

cells=$(python3 -c "import csv,sys; print(sum(v == '' for r in csv.reader(open(sys.argv[1])) for v in r))" "$WORK/adclick.csv")
echo "AdClick, first $ROWS rows: $cells missing cells; fitted in $fit_s s ($STEPS steps)"
echo "| scoring | fill s | cells/s | peak RSS MiB |"
echo "|---|---|---|---|"
for way in whole shared; do
    read -r secs mb < <(measure "$BIN" impute --method llm --imputer "$WORK/$way" "$WORK/adclick.csv" "$WORK/$way.csv")
    echo "| $way prompts | $secs | $(python3 -c "print(round($cells / $secs, 1))") | $mb |"
    eval "${way}_s=$secs"
done
python3 - "$WORK/whole.csv" "$WORK/shared.csv" "$whole_s" "$shared_s" <<'PY'
import csv, sys
a = list(csv.reader(open(sys.argv[1])))
b = list(csv.reader(open(sys.argv[2])))
diff = [(i, j, x, y) for i, (ra, rb) in enumerate(zip(a, b)) for j, (x, y) in enumerate(zip(ra, rb)) if x != y]
print("speed-up %.2fx; %d filled cells differ%s" % (float(sys.argv[3]) / float(sys.argv[4]), len(diff),
      "".join("\n  row %d col %d: %s vs %s" % d for d in diff[:20])))
PY
