#!/usr/bin/env bash
# Time and accuracy of iterative and MissForest on a table with a column of hundreds of
# labels, beside KNN: a generated 1,000-row ad table (age, country of 40 labels, city of 320
# labels that fixes the country, device following age, clicked), 10% of the cells missing,
# then 10% of the observed cells hidden by `recimpute mask` and scored by `recimpute score`.
# Each chained imputer runs with every label (`--max-labels 0`) and with rare labels pooled
# (`--max-labels 64`).
#
#   benches/many_labels.sh
#
# Needs the release binary without features (`cargo build --release -p recimpute-cli`), GNU
# time and Python 3 (standard library only). Run it alone on the machine.
set -euo pipefail

# shellcheck source=benches/setup.sh
source "$(dirname "$0")/setup.sh"

python3 - "$WORK/ads.csv" <<'PY'
import random, sys
rng = random.Random(1)
countries = ["C%d" % i for i in range(40)]
cities = {c: ["%s-city%d" % (c, j) for j in range(8)] for c in countries}
with open(sys.argv[1], "w") as f:
    f.write("age,country,city,device,clicked\n")
    for _ in range(1000):
        country = rng.choice(countries)
        city = rng.choice(cities[country])
        age = rng.randint(18, 70)
        device = "Mobile" if (age < 35) == (rng.random() < 0.85) else "Desktop"
        clicked = int(rng.random() < (0.6 if device == "Mobile" else 0.2))
        cells = [str(age), country, city, device, str(clicked)]
        for k in range(4):
            if rng.random() < 0.1:
                cells[k] = ""
        f.write(",".join(cells) + "\n")
PY
"$BIN" mask "$WORK/ads.csv" "$WORK/masked.csv" --truth "$WORK/truth.csv" --rate 0.1 --seed 0 >/dev/null

echo "| method | --max-labels | seconds | peak RSS MiB | age RMSE | country acc | city acc | device acc |"
echo "|---|---|---|---|---|---|---|---|"
run() { # method max_labels
    local out="$WORK/$1-$2.csv"
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" impute "$WORK/masked.csv" "$out" --method "$1" --max-labels "$2" >/dev/null 2>&1
    read -r secs kb <"$WORK/time"
    "$BIN" score "$WORK/truth.csv" "$out" --json "$WORK/score.json" >/dev/null
    python3 - "$WORK/score.json" "$1" "$2" "$secs" "$kb" <<'PY'
import json, sys
scores = json.load(open(sys.argv[1]))
cols = {c["column"]: c["metrics"] for c in scores["report"]["columns"]}
get = lambda col, m: "%.4f" % cols[col][m]
print("| %s | %s | %s | %.0f | %s | %s | %s | %s |" % (sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) / 1024,
      get("age", "rmse"), get("country", "accuracy"), get("city", "accuracy"), get("device", "accuracy")))
PY
}
run knn 0
for m in iterative missforest; do
    run "$m" 0
    run "$m" 64
done
