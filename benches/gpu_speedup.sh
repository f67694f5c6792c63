#!/usr/bin/env bash
# The GPU against the CPU on one short end-to-end cell: the LLM imputer fine-tuned (STEPS
# optimizer steps) and filling 5% of a generated AdClick-shaped table, then the DLRM trained
# on the filled table. Once with every model on `cpu`, once on `cuda`; prints the device each
# run asked for (an explicit `cuda` is an error where libtorch finds no GPU, never a silent CPU
# run, so a cuda row ran on the GPU), the seconds of each stage and the CPU/GPU ratios.
#
#   benches/gpu_speedup.sh              # STEPS=50 ROWS=3000 by default
#   STEPS=200 ROWS=3000 benches/gpu_speedup.sh
#   BACKBONE=/path/to/model benches/gpu_speedup.sh   # another GGUF file or Hugging Face directory
#
# Needs the binary with libtorch (`cargo xtask cargo build --release -p recimpute-cli
# --features full --bin recimpute`; or RECIMPUTE_BIN), run in the shell of `eval "$(cargo
# xtask env)"`, and the SmolLM2 model in the cache (`cargo xtask demo` fetches it). On a
# machine without a GPU it runs the CPU side, says so, and exits 2.
set -euo pipefail

STEPS=${STEPS:-50}
ROWS=${ROWS:-3000}
# The default backbone (SmolLM2 from the cache) unless BACKBONE names another: a directory is a
# Hugging Face model directory, anything else a GGUF file (as `--backbone` reads it).
BACKBONE_JSON=""
if [ -n "${BACKBONE:-}" ]; then
    if [ -d "$BACKBONE" ]; then kind=hf_dir; else kind=gguf; fi
    BACKBONE_JSON="\"backbone\": {\"$kind\": \"$BACKBONE\"}, "
fi
# shellcheck source=benches/setup.sh
source "$(dirname "$0")/setup.sh"

run() { # device
    local dev=$1
    cat > "$WORK/$dev.json" <<JSON
{"synthetic_rows": $ROWS,
 "dlrm": {"device": "$dev"},
 "llm": {${BACKBONE_JSON}"device": "$dev", "train": {"max_steps": $STEPS}}}
JSON
    local start end
    start=$(date +%s.%N)
    "$BIN" experiment --config "$WORK/$dev.json" --tasks synthetic-adclick --imputers llm --rates 0.05 \
        --seeds 0 --out "$WORK/$dev" > "$WORK/$dev.log" 2>&1 || { tail -5 "$WORK/$dev.log" >&2; return 1; }
    end=$(date +%s.%N)
    python3 - "$WORK/$dev" "$dev" "$start" "$end" <<'PY'
import glob, json, sys
out, dev, start, end = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
cell = json.load(open(glob.glob(out + "/cells/*.json")[0]))
used = json.load(open(out + "/config.json"))
t = cell["timings"]
print(f"{dev} {t['impute_s']:.2f} {t['train_s']:.2f} {end - start:.2f} {used['llm']['device']} {used['dlrm']['device']}")
PY
}

echo "| models on | LLM fit + fill s | DLRM train s | wall s | device asked for (llm, dlrm) |"
echo "|---|---|---|---|---|"
read -r _ cpu_imp cpu_train cpu_wall cpu_llm cpu_dlrm < <(run cpu)
echo "| cpu | $cpu_imp | $cpu_train | $cpu_wall | $cpu_llm, $cpu_dlrm |"
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L > /dev/null 2>&1; then
    echo "no GPU on this machine (nvidia-smi finds none): the CPU side only" >&2
    exit 2
fi
nvidia-smi -L
read -r _ gpu_imp gpu_train gpu_wall gpu_llm gpu_dlrm < <(run cuda)
echo "| cuda | $gpu_imp | $gpu_train | $gpu_wall | $gpu_llm, $gpu_dlrm |"
python3 -c "import sys; a = [float(x) for x in sys.argv[1:]]; print(f'CPU / GPU: LLM {a[0]/a[3]:.1f}x, DLRM {a[1]/a[4]:.1f}x, wall {a[2]/a[5]:.1f}x')" \
    "$cpu_imp" "$cpu_train" "$cpu_wall" "$gpu_imp" "$gpu_train" "$gpu_wall"
