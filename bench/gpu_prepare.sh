#!/usr/bin/env bash
# Ready this checkout for a lent GPU machine. The device tool sends the checkout's tracked and
# untracked-not-ignored files, at most 64 MiB, and the tracked results/ and report/ alone are about
# 110 MiB; the machine has torch but no network and no jsonschema. So:
#   bench/gpu_prepare.sh           # gpu-carry/ (ignored): the CIFAR-10 and MNIST archives, jsonschema and its
#                                  # wheels for the device's Python 3.12 (unpacked), the finished runs
#                                  # of the GPU plan's cells (summary + metrics); results/ and report/
#                                  # leave the index (kept on disk) and are ignored until --undo
#   run: PYTHON=python3 bench/gpu_check.sh $OUT --budget-s 480     carry: ["gpu-carry"]
#   bench/gpu_prepare.sh --undo    # the index and .git/info/exclude as they were (do it right after)
# Commit first: --undo resets the index entries of results/ and report/ to HEAD.
set -euo pipefail
cd "$(dirname "$0")/.."
exclude=$(git rev-parse --git-path info/exclude)
if [ "${1:-}" = "--undo" ]; then
  git reset -q -- results report
  sed -i '/^# gpu_prepare begin$/,/^# gpu_prepare end$/d' "$exclude"
  git status --short | head -5
  exit 0
fi
data=${DATA_ROOT:-../shared/data}
py=${PYTHON:-python3}
mkdir -p gpu-carry
cp "$data/cifar10-jpeg.tar.gz" "$data/mnist.tar.gz" gpu-carry/   # CIFAR-10: AGC and SD; MNIST: dropout
if [ ! -d gpu-carry/pylib/jsonschema ]; then
  tmp=$(mktemp -d)
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$tmp" \
    jsonschema jsonschema-specifications referencing rpds-py
  mkdir -p gpu-carry/pylib
  for w in "$tmp"/*.whl; do "$py" -m zipfile -e "$w" gpu-carry/pylib/; done
  rm -rf "$tmp"
fi
rm -rf gpu-carry/results
PYTHONPATH=src "$py" -c '
from pathlib import Path
from trickbench.ops import gpucheck
print(gpucheck.seed_results(Path("results"), Path("gpu-carry/results")), "finished runs into gpu-carry/results")'
if ! grep -q '^# gpu_prepare begin$' "$exclude"; then
  printf '# gpu_prepare begin\n/results/\n/report/\n# gpu_prepare end\n' >> "$exclude"
fi
git rm -r --cached -q results report
"$py" - <<'PY'
import os, subprocess
files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                       capture_output=True, text=True).stdout.split("\0")
size = sum(os.path.getsize(f) for f in files if f and os.path.isfile(f))
carry = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk("gpu-carry") for f in fs)
print(f"travels: {size / 2**20:.1f} MiB of files + {carry / 2**20:.1f} MiB in gpu-carry (limit 64 MiB)")
PY
