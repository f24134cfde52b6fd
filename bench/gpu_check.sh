#!/usr/bin/env bash
# The lent GPU slot in one command, for a machine with torch but no network and no snakemake:
#   bench/gpu_check.sh [OUT] [--budget-s 420] [--tiny]
# environment check, speed benchmark, time to accuracy, the core claims' GPU runs (resumable),
# all packed into OUT/trickbench-gpu.tar.gz. Back here:
#   python -m trickbench.gpucheck merge OUT/trickbench-gpu.tar.gz
# Needs data/cifar10-jpeg.tar.gz (cp ../shared/data/cifar10-jpeg.tar.gz data/) unless --tiny.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-out}
shift || true
PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python}" -m trickbench.gpucheck run --out "$OUT" --data-root data "$@"
