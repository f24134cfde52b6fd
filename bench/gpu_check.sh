#!/usr/bin/env bash
# The lent GPU slot in one command, for a machine with torch but no network and no snakemake:
#   bench/gpu_check.sh [OUT] [--budget-s 420] [--tiny]
# environment check, speed benchmark, time to accuracy, the concurrency curve, then the core claims'
# runs that fit the budget; OUT receives trickbench-gpu.tar.gz (the finished runs and the benchmark),
# runs.json and gpu_check.log. Before (here): bench/gpu_prepare.sh (then carry gpu-carry). Back here:
#   python -m trickbench.ops.gpucheck merge OUT/trickbench-gpu.tar.gz
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-out}
shift || true
# the carried wheels only where jsonschema is missing (they are built for the device's Python 3.12)
lib=$([ -d gpu-carry/pylib ] && ! "${PYTHON:-python}" -c "import jsonschema" 2>/dev/null && echo ":$PWD/gpu-carry/pylib" || true)
data=$([ -f gpu-carry/cifar10-jpeg.tar.gz ] && echo gpu-carry || echo data)
seeds=$([ -d gpu-carry/results ] && echo gpu-carry/results || echo results)
PYTHONPATH="src$lib${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python}" -m trickbench.ops.gpucheck run --out "$OUT" \
  --data-root "$data" --seed-results "$seeds" "$@"
