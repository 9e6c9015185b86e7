#!/usr/bin/env bash
# One prepared GPU session: everything the speed targets need, on one CUDA device, in about
# 8 minutes (each stage has a time limit; the summary reads whatever finished).
#
#   bash benchmarks/gpu_session.sh                 # on the GPU machine, from the repository root
#   bash benchmarks/gpu_session.sh --dry-run       # the same stages on a CPU, tiny settings
#
# Stages: the device; graph_check.py (static shapes and CUDA graphs compute what the default
# path computes, on this device); speed.py at batch 8 --ablate --kernels with bf16 (each option's
# share, GPU busy fraction, convolution fraction of peak); batch 256 --reference --kernels
# (generation and training images/s against the reference computation); batches 64 and 256 in
# bf16; then gpu_summary.py (targets met or not, the paper's training budget in hours).
#
# Writes RESULTS (default benchmarks/results/gpu-session) and, when $OUT is set (the device
# tool's output folder), packs it into $OUT/gpu-session.tar.gz with gpu-targets.md beside it.
# Environment: PYTHON (default python3), CONFIG (default paper-coco64), RESULTS.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
RESULTS=${RESULTS:-benchmarks/results/gpu-session}
CONFIG=${CONFIG:-paper-coco64}
DEVICE=cuda
# per stage: seconds allowed, and speed.py's timed iterations
LIMITS=(60 200 150 45 60)
ITERS=20 GEN_ITERS=10 BIG_ITERS=3 KERNEL_ITERS=3
B8=8 BIG=256 MID=64
if [ "${1:-}" = "--dry-run" ]; then
    DEVICE=cpu CONFIG=${CONFIG_DRY:-shapes32} ITERS=1 GEN_ITERS=1 BIG_ITERS=1 KERNEL_ITERS=1
    B8=4 BIG=8 MID=6 LIMITS=(300 600 300 300 300)
fi
SPEED=("$PY" benchmarks/speed.py --config "$CONFIG" --device "$DEVICE")
mkdir -p "$RESULTS"
LOG="$RESULTS/session.log"
: >"$LOG"
started=$(date +%s)

stage() {  # stage NAME LIMIT COMMAND...: run with a time limit, log, report the exit status
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s, at $(($(date +%s) - started)) s)" | tee -a "$LOG"
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc" | tee -a "$LOG"
}

{
    echo "date: $(date -u +%FT%TZ)"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    "$PY" -c "import torch, platform; print('torch', torch.__version__, 'cuda', torch.version.cuda, platform.machine())"
    "$PY" -c "from layout2im.hardware import cpu_summary; print('CPU', cpu_summary())"
} 2>&1 | tee -a "$LOG"

stage graph-check "${LIMITS[0]}" "$PY" benchmarks/graph_check.py --config "$CONFIG" \
    --device "$DEVICE" --batch "$B8" --steps 3 --out "$RESULTS/graph-check.json"
stage "b$B8-ablate" "${LIMITS[1]}" "${SPEED[@]}" --out "$RESULTS/b$B8-ablate" --batch "$B8" --ablate --amp bf16 \
    --kernels --kernel-iters "$KERNEL_ITERS" --iters "$ITERS" --gen-iters "$GEN_ITERS"
stage "b$BIG-reference" "${LIMITS[2]}" "${SPEED[@]}" --out "$RESULTS/b$BIG-reference" --batch "$BIG" --reference \
    --amp off --kernels --kernel-iters 2 --iters "$BIG_ITERS" --gen-iters "$BIG_ITERS"
stage "b$MID-bf16" "${LIMITS[3]}" "${SPEED[@]}" --out "$RESULTS/b$MID-bf16" --batch "$MID" --amp bf16 \
    --iters "$BIG_ITERS" --gen-iters "$BIG_ITERS"
stage "b$BIG-bf16" "${LIMITS[4]}" "${SPEED[@]}" --out "$RESULTS/b$BIG-bf16" --batch "$BIG" --amp bf16 \
    --iters "$BIG_ITERS" --gen-iters "$BIG_ITERS"
"$PY" benchmarks/gpu_summary.py "$RESULTS" 2>&1 | tee -a "$LOG"
echo "== session: $(($(date +%s) - started)) s" | tee -a "$LOG"

if [ -n "${OUT:-}" ]; then
    tar -czf "$OUT/gpu-session.tar.gz" -C "$(dirname "$RESULTS")" "$(basename "$RESULTS")"
    cp "$RESULTS/gpu-targets.md" "$RESULTS/session.log" "$OUT/" 2>/dev/null
fi
