# Sourced by the bench scripts here: ROOT (the repository), BIN (the release `recimpute`, or
# $RECIMPUTE_BIN), WORK (a temporary directory removed on exit), and OpenMP's passive wait.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${RECIMPUTE_BIN:-$ROOT/target/release/recimpute}
[ -x "$BIN" ] || { echo "build it first: cargo build --release -p recimpute-cli" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OMP_WAIT_POLICY=PASSIVE
