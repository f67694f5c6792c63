#!/usr/bin/env bash
# Peak memory and time of `recimpute fit --fit-sample` and of `recimpute impute` with the saved
# imputer: the whole table at once against `--batch-rows` streaming, Parquet to Parquet and CSV
# to CSV, on a generated table
# (6 numeric and 4 categorical columns, 10% of the cells missing, seeded).
#
#   benches/stream_memory.sh [ROWS] [KNN_ROWS]        # defaults 2000000 and 200000
#
# Needs the release binary without features (`cargo build --release -p recimpute-cli`), GNU
# time (`/usr/bin/time`) and Python 3 (standard library only; the table comes from gen_table.py). Run it alone on the machine.
# Prints a Markdown table; the work files go to a temporary directory that is removed.
set -euo pipefail

ROWS=${1:-2000000}
KNN_ROWS=${2:-200000}
# shellcheck source=benches/setup.sh
source "$(dirname "$0")/setup.sh"

generate() { # rows path
    python3 "$ROOT/benches/gen_table.py" "$1" "$2"
}

echo "| rows | imputer | mode | seconds | peak RSS (MiB) |"
echo "|---|---|---|---|---|"
run() { # rows method sample
    local rows=$1 method=$2 sample=$3
    generate "$rows" "$WORK/t.csv"
    "$BIN" convert "$WORK/t.csv" "$WORK/t.parquet" > /dev/null
    # Fitting on a sample reads only the sample (a first pass counts a CSV's rows).
    for ext in csv parquet; do
        read -r s m < <(measure "$BIN" fit "$WORK/t.$ext" --out "$WORK/m.json" --method "$method" --fit-sample "$sample")
        echo "| $rows | $method | $ext, \`fit --fit-sample $sample\` | $s | $m |"
    done
    for ext in parquet csv; do
        read -r s m < <(measure "$BIN" impute "$WORK/t.$ext" "$WORK/whole.$ext" --imputer "$WORK/m.json")
        echo "| $rows | $method (fit on $sample rows) | $ext, whole table | $s | $m |"
        read -r s m < <(measure "$BIN" impute "$WORK/t.$ext" "$WORK/streamed.$ext" --imputer "$WORK/m.json" --batch-rows 65536)
        echo "| $rows | $method (fit on $sample rows) | $ext, --batch-rows 65536 | $s | $m |"
        cmp -s "$WORK/whole.$ext" "$WORK/streamed.$ext" || [ "$ext" = parquet ] || { echo "$ext: streamed output differs" >&2; exit 1; }
        rm -f "$WORK/whole.$ext" "$WORK/streamed.$ext"
    done
    rm -f "$WORK/t.csv" "$WORK/t.parquet"
}
run "$ROWS" mean 50000
run "$KNN_ROWS" knn 5000
