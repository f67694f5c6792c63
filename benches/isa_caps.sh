#!/usr/bin/env bash
# What an older CPU's instruction set costs the LLM imputer, emulated on this one. libtorch's
# f32 matrix products run in MKL and its bf16 ones in oneDNN, and each takes a ceiling on the
# instructions it may use from the environment (`MKL_ENABLE_INSTRUCTIONS`,
# `ONEDNN_MAX_CPU_ISA`), as ATen's own kernels do (`ATEN_CPU_CAPABILITY`). For each ceiling
# in CAPS (default: none, AVX512_CORE_BF16 = an Intel Xeon with AVX-512 BF16 but no AMX, AVX2 =
# an AVX2-only CPU) it prints, in one run:
#   - the rate of a [2048, 576] x [576, 1536] product (SmolLM2's MLP shape) in f32 and bf16,
#     through PyTorch's copy of the same libtorch;
#   - what a fit of the SmolLM2 imputer costs: STEPS optimizer steps (default 40) on a
#     generated 1,000-row table (benches/gen_table.py), no held-out check, with the base in the
#     precision `auto` picks under that ceiling, then in the other one (bf16 only where its
#     products run at more than a tenth of f32's rate).
# Only the instruction set is emulated: clock, caches and memory stay this machine's.
#
#   benches/isa_caps.sh
#
# Needs `recimpute` built with the `llm` feature (RECIMPUTE_BIN picks a dev build), libtorch
# and its Python package in the environment (`eval "$(cargo xtask env)"`) and the model
# (`cargo xtask fetch-model`). Run it alone on the machine.
set -euo pipefail

# shellcheck source=benches/setup.sh
source "$(dirname "$0")/setup.sh"
STEPS=${STEPS:-40}
CAPS=${CAPS:-"none AVX512_CORE_BF16 AVX2"}
THREADS=${OMP_NUM_THREADS:-2}
export OMP_NUM_THREADS=$THREADS

python3 "$ROOT/benches/gen_table.py" 1000 "$WORK/table.csv"

# The environment of a ceiling, as a command prefix in CAP_ENV.
cap_env() {
    case $1 in
        none) CAP_ENV=(env -u MKL_ENABLE_INSTRUCTIONS -u ONEDNN_MAX_CPU_ISA -u DNNL_MAX_CPU_ISA -u ATEN_CPU_CAPABILITY) ;;
        AVX2) CAP_ENV=(env MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2) ;;
        # MKL and ATen have no level between AVX-512 and AVX2: they stay at this CPU's.
        *) CAP_ENV=(env -u MKL_ENABLE_INSTRUCTIONS -u ATEN_CPU_CAPABILITY ONEDNN_MAX_CPU_ISA="$1") ;;
    esac
}

# The fit's summary line: "fine-tuned on N rows, base in P: S steps, ..., T tokens/s ...".
fit() {
    local base=$1
    read -r secs _ < <(measure "${CAP_ENV[@]}" "$BIN" fit --method llm --llm-steps "$STEPS" --llm-holdout 0 \
        --llm-precision "$base" --seed 0 --out "$WORK/fit-$base" "$WORK/table.csv")
    line=$(grep -h "^fine-tuned on" "$WORK/err")
    ran=$(sed -E 's/.*base in ([a-z0-9]+):.*/\1/' <<< "$line")
    steps=$(sed -E 's/.*: ([0-9]+) steps.*/\1/' <<< "$line")
    tps=$(sed -E 's/.* ([0-9]+) tokens\/s.*/\1/' <<< "$line")
}

echo "| ceiling | f32 product GFLOP/s | bf16 product GFLOP/s | base (\`--llm-precision\`) | fit s | fine-tune tokens/s | steps |"
echo "|---|---|---|---|---|---|---|"
for cap in $CAPS; do
    cap_env "$cap"
    read -r f32 bf16 < <("${CAP_ENV[@]}" python3 -W ignore::UserWarning - "$THREADS" <<'PY'
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a, b = torch.randn(2048, 576), torch.randn(576, 1536)
rates = []
for kind in (torch.float32, torch.bfloat16):
    x, y = a.to(kind), b.to(kind)
    x @ y
    n, t = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t < 1.0:
        x @ y
        n += 1
    rates.append(2 * 2048 * 576 * 1536 * n / (time.perf_counter() - t) / 1e9)
print(" ".join("%.1f" % r for r in rates))
PY
    )
    fit auto
    echo "| $cap | $f32 | $bf16 | $ran (auto) | $secs | $tps | $steps |"
    # The other precision too, unless bf16 is hopeless here (a tenth of f32's rate or less).
    other=bf16
    [ "$ran" = bf16 ] && other=f32
    if [ "$other" = f32 ] || python3 -c "import sys; sys.exit(not $bf16 > $f32 / 10)"; then
        fit "$other"
        echo "| $cap | | | $ran | $secs | $tps | $steps |"
    fi
done
