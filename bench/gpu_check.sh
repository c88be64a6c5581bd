#!/usr/bin/env bash
# Issue 8's GPU figures in one run: every benchmark at NAVA's real size on one GPU, in under 8 minutes
# on an H100/H200. The tables go to OUT/tables.md, each step's log and time beside it.
#
#   bash bench/gpu_check.sh [OUT]           # one GPU (default OUT: gpu_check_<UTC time>)
#   bash bench/gpu_check.sh --tiny [OUT]    # the same steps as a CPU smoke run (reduced sizes)
#
# Steps: forward (block and model: eager, compiled, Wan2.2-style), guidance batching (passes stacked vs
# one by one), a clip of 2 sampled steps with the 50-step projection, the same under a 24 GB cap with
# --offload, the VAE decode variants.
set -euo pipefail
cd "$(dirname "$0")/.."

tiny=()
if [[ "${1:-}" == "--tiny" ]]; then
    tiny=(--tiny)
    shift
fi
out="${1:-gpu_check_$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
python="${PYTHON:-python}"
: > "$out/tables.md"
: > "$out/times.txt"

step() {  # step NAME SECONDS_LIMIT SCRIPT ARGS...  (the limits budget the GPU run; a CPU smoke run may take longer)
    local name=$1 limit=$2
    shift 2
    [[ ${#tiny[@]} -eq 0 ]] || limit=1200
    local start=$SECONDS status=0
    echo "== $name"
    timeout "$limit" "$python" "$@" --out "$out/tables.md" > "$out/$name.log" 2>&1 || status=$?
    tail -n 20 "$out/$name.log"
    echo "$name: $((SECONDS - start)) s, exit $status" | tee -a "$out/times.txt"
}

if [[ ${#tiny[@]} -eq 0 ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1 || true
    "$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" >> "$out/gpu.txt"
    batching=(--preset nava-6.3b --device cuda --dtype bf16 --width 1280 --height 704 --seconds 6 --repeats 1)
else
    batching=(--dim 64 --width 64 --height 64 --seconds 0.25 --repeats 1)
fi

step forward 160 bench/forward.py "${tiny[@]}"
step guidance_batching 60 bench/guidance_batching.py "${batching[@]}"
step clip 90 bench/clip.py "${tiny[@]}" --steps 2 --no-compile
if [[ ${#tiny[@]} -eq 0 ]]; then
    step clip_24gb 90 bench/clip.py --steps 2 --no-compile --offload --memory-cap-gb 24
fi
step vae_decode 100 bench/vae_decode.py "${tiny[@]}"
echo "tables: $out/tables.md"
