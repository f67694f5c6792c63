#!/usr/bin/env bash
# Peak memory and time of `recimpute impute` with a saved imputer: the whole table at once
# against `--batch-rows` streaming, on a generated table (6 numeric and 4 categorical columns,
# 10% of the cells missing, seeded).
#
#   benches/stream_memory.sh [ROWS] [KNN_ROWS]        # defaults 2000000 and 200000
#
# Needs the release binary without features (`cargo build --release -p recimpute-cli`), GNU
# time (`/usr/bin/time`) and Python 3 (standard library only). Run it alone on the machine.
# Prints a Markdown table; the work files go to a temporary directory that is removed.
set -euo pipefail

ROWS=${1:-2000000}
KNN_ROWS=${2:-200000}
# shellcheck source=benches/setup.sh
source "$(dirname "$0")/setup.sh"

generate() { # rows path
    python3 - "$1" "$2" <<'PY'
import random, sys
rows, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
cats = [["a", "b", "c", "d"], ["x%d" % i for i in range(12)], ["red", "green", "blue"], ["s%d" % i for i in range(30)]]
with open(path, "w") as f:
    f.write("n1,n2,n3,n4,n5,n6,c1,c2,c3,c4\n")
    for _ in range(rows):
        g = rng.random()
        nums = [round(g * 100 + rng.gauss(0, 5), 3), round(rng.gauss(50, 10), 3), round(g * 3 + rng.random(), 4),
                rng.randint(0, 1000), round(rng.expovariate(1.0), 4), rng.randint(18, 80)]
        labels = [c[min(int(g * len(c) + rng.random()), len(c) - 1)] for c in cats]
        cells = [str(v) for v in nums] + labels
        f.write(",".join("" if rng.random() < 0.1 else c for c in cells) + "\n")
PY
}

# seconds and peak RSS (MiB) of a command, from GNU time
measure() {
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > "$WORK/out" 2> "$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    read -r secs kb < "$WORK/time"
    echo "$secs $((kb / 1024))"
}

echo "| rows | imputer | mode | seconds | peak RSS (MiB) |"
echo "|---|---|---|---|---|"
run() { # rows method sample
    local rows=$1 method=$2 sample=$3
    generate "$rows" "$WORK/t.csv"
    "$BIN" convert "$WORK/t.csv" "$WORK/t.parquet" > /dev/null
    rm "$WORK/t.csv"
    "$BIN" fit "$WORK/t.parquet" --out "$WORK/m.json" --method "$method" --fit-sample "$sample" > /dev/null 2>&1
    read -r s m < <(measure "$BIN" impute "$WORK/t.parquet" "$WORK/whole.parquet" --imputer "$WORK/m.json")
    echo "| $rows | $method (fit on $sample rows) | whole table | $s | $m |"
    read -r s m < <(measure "$BIN" impute "$WORK/t.parquet" "$WORK/streamed.parquet" --imputer "$WORK/m.json" --batch-rows 65536)
    echo "| $rows | $method (fit on $sample rows) | --batch-rows 65536 | $s | $m |"
    rm -f "$WORK"/*.parquet
}
run "$ROWS" mean 50000
run "$KNN_ROWS" knn 5000
