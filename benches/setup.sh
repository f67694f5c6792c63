# Sourced by the bench scripts here: ROOT (the repository), BIN (the release `recimpute`, or
# $RECIMPUTE_BIN), WORK (a temporary directory removed on exit), OpenMP's passive wait, and
# `measure CMD...` (seconds and peak RSS in MiB of a command, from GNU time).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${RECIMPUTE_BIN:-$ROOT/target/release/recimpute}
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p recimpute-cli" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OMP_WAIT_POLICY=PASSIVE

measure() {
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > "$WORK/out" 2> "$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    read -r secs kb < "$WORK/time"
    echo "$secs $((kb / 1024))"
}
