#!/usr/bin/env bash
# Rows/s and peak memory of filling a multi-file Parquet dataset with a saved imputer through
# DataFusion SQL (`SELECT * FROM impute('model.json', 'data/')`, the recimpute-datafusion
# example `impute_sql`) at 1 and 2 partitions, beside the CLI's streaming fill of the same
# files (`recimpute impute --imputer --batch-rows 65536`, one file after another).
#
#   benches/datafusion_sql.sh [ROWS] [FILES] [METHOD] [SAMPLE]   # defaults 1000000 4 mean 50000
#
# Both binaries from one profile: PROFILE=release (default) needs
#   cargo build --release -p recimpute-cli && cargo build --release -p recimpute-datafusion --example impute_sql
# PROFILE=debug uses target/debug (the workspace's dev profile builds dependencies at opt-level 2).
# DATAFUSION_* environment variables reach the SQL side (e.g.
# DATAFUSION_EXECUTION_PARQUET_MAX_ROW_GROUP_SIZE). Needs GNU time and Python 3; run it alone
# on the machine. Prints a Markdown table.
set -euo pipefail

ROWS=${1:-1000000}
FILES=${2:-4}
METHOD=${3:-mean}
SAMPLE=${4:-50000}
PROFILE=${PROFILE:-release}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export RECIMPUTE_BIN=${RECIMPUTE_BIN:-$ROOT/target/$PROFILE/recimpute}
SQL=$ROOT/target/$PROFILE/examples/impute_sql
# shellcheck source=benches/setup.sh
source "$(dirname "$0")/setup.sh"
[ -x "$SQL" ] || { echo "build it first: cargo build --$PROFILE -p recimpute-datafusion --example impute_sql" >&2; exit 1; }

mkdir -p "$WORK/data" "$WORK/cli"
per=$((ROWS / FILES))
for i in $(seq 0 $((FILES - 1))); do
    python3 "$ROOT/benches/gen_table.py" "$per" "$WORK/part.csv" "$((7 + i))"
    "$BIN" convert "$WORK/part.csv" "$WORK/data/part-$i.parquet" > /dev/null
done
rm "$WORK/part.csv"
"$BIN" fit "$WORK/data/part-0.parquet" --out "$WORK/m.json" --method "$METHOD" --fit-sample "$SAMPLE" > /dev/null 2>&1

echo "| rows | files | imputer | path | seconds | rows/s | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|---|"
total=0
peak=0
for i in $(seq 0 $((FILES - 1))); do
    read -r s m < <(measure "$BIN" impute "$WORK/data/part-$i.parquet" "$WORK/cli/part-$i.parquet" --imputer "$WORK/m.json" --batch-rows 65536)
    total=$(python3 -c "print(round($total + $s, 2))")
    peak=$((m > peak ? m : peak))
done
rate=$(python3 -c "print(round($ROWS / $total))")
echo "| $ROWS | $FILES | $METHOD (fit on $SAMPLE rows) | CLI \`impute --batch-rows 65536\`, file by file | $total | $rate | $peak |"
for partitions in 1 2; do
    rm -rf "$WORK/sql"
    read -r s m < <(measure "$SQL" "$WORK/m.json" "$WORK/data" "$partitions" "$WORK/sql")
    rows=$(grep -o '^[0-9]* rows' "$WORK/out" | cut -d' ' -f1)
    [ "$rows" = "$ROWS" ] || { echo "DataFusion wrote $rows rows, not $ROWS" >&2; exit 1; }
    rate=$(python3 -c "print(round($ROWS / $s))")
    echo "| $ROWS | $FILES | $METHOD (fit on $SAMPLE rows) | DataFusion SQL, $partitions partition(s) | $s | $rate | $m |"
done
