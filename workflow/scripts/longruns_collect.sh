#!/usr/bin/env bash
# The end of a session of long runs (README "Long CPU runs"), or a safety copy in the middle of one:
# bring the worktree's runs of TIER into this checkout with what the report needs. Lanes may keep
# running (their in-flight checkpoints get committed: a machine that stops loses only what followed;
# at the end of a session stop them first: workflow/scripts/lanes.sh stop). lanes.sh collect calls
# this for every claim its lanes train.
#   workflow/scripts/longruns_collect.sh WORKTREE TIER [CLAIM]   # e.g. /work/runs cpu_long
# (with CLAIM, only that claim's folder: a tier whose other claims were trained elsewhere)
# 1. compute_share of the finished stochastic-depth runs, in the worktree (its commit may predate
#    the metric; measuring it there keeps a later copy from overwriting it; it times the model's
#    stages, so the training jobs on this machine are paused meanwhile);
# 2. results/TIER copied from the worktree (no logs, previous or corrupt checkpoints, no half-written
#    files of an atomic write in flight, no unfinished copy of a run finished or further along here);
# 3. the committed checkpoint of every run that has finished since, removed;
# 4. each claim analysed --partial and its figures drawn;
# 5. results/TIER staged, with the checkpoints of the runs in flight (.gitignore leaves them out
#    otherwise, and the next session resumes from them), and the figures.
# Then: python -m trickbench.cli report; git add report README.md results/verdicts.csv; git commit.
# Environment: PYTHON (default python), DATA_ROOT (default data), CACHE_DIR.
set -euo pipefail
work=$(cd "$1" && pwd)
tier=$2
py=${PYTHON:-python}
data=${DATA_ROOT:-data}
cache=${CACHE_DIR:+--cache-dir $CACHE_DIR}
here=$(pwd)
export PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}"
only=${3:-}
claims=$(cd "$work/results/$tier" && for d in */; do
  if [ -f "$here/config/claims/${d%/}.yaml" ] && [ -z "$only" -o "$only" = "${d%/}" ]; then echo "${d%/}"; fi; done)
[ -n "$claims" ] || { echo "no claim of tier $tier${only:+ named $only} in $work/results/$tier" >&2; exit 1; }
for c in $claims; do
  if grep -q '^  compute_share:' "config/claims/$c.yaml"; then
    # timings under load would be wrong: training jobs on this machine pause (SIGSTOP, CONT after;
    # their CPU-second timings do not count the pause) while the stages are timed
    paused=$(pgrep -f -- "trickbench.cli run-arm" || true)
    if [ -n "$paused" ]; then trap 'kill -CONT $paused 2>/dev/null' EXIT; kill -STOP $paused 2>/dev/null || true; fi  # a job ended since pgrep: fine
    (cd "$work" && "$py" -m trickbench.cli measure-share --tier "$tier" --claim "$c" --results results --data-root "$data" $cache)
    if [ -n "$paused" ]; then kill -CONT $paused 2>/dev/null || true; trap - EXIT; fi
  fi
done
sub=${only:+$only/}   # the whole tier (its lane files in queue/ too), or the one claim
mkdir -p "results/$tier/$sub"
# tar, not rsync (rsync is not on every machine). Lanes may still be writing: tar's status 1 ("file
# changed as we read it", a metrics.jsonl in flight) is fine; files a run finishes are written atomically.
# A run unfinished in the worktree but finished here, or further along here (more epochs in its
# metrics.jsonl), is a stale copy (lanes.sh start copies the checkout's runs into every worktree of
# the tier, those another worktree's lane trains included): copying it would put an older
# metrics.jsonl and checkpoint over the newer run, so it stays out.
stale=()
epochs() { [ -f "$1/metrics.jsonl" ] && wc -l < "$1/metrics.jsonl" || echo 0; }
while IFS= read -r d; do
  src="$work/results/$tier/$sub$d" dst="results/$tier/$sub$d"
  [ ! -f "$src/summary.json" ] || continue
  if [ -f "$dst/summary.json" ]; then
    stale+=(--exclude "$d"); echo "$d: finished here, unfinished in $work: not copied" >&2
  elif [ "$(epochs "$dst")" -gt "$(epochs "$src")" ]; then
    stale+=(--exclude "$d"); echo "$d: further along here than in $work: not copied" >&2
  fi
done < <(cd "$work/results/$tier/$sub" && find . -type d -path '*/runs/*' -name 'seed*')
(cd "$work/results/$tier/$sub" && { tar cf - --warning=no-file-changed --exclude '*.log' --exclude 'ckpt.prev.pt' \
   --exclude '*.corrupt' --exclude 'train.lock' --exclude 'stack-*.pt' --exclude '*.tmp' ${stale[@]+"${stale[@]}"} .; [ $? -le 1 ]; }) \
  | (cd "results/$tier/$sub" && tar xf -)
for s in results/"$tier"/*/runs/*/*/seed*/summary.json; do
  c=$(dirname "$s")/ckpt.pt
  if [ -f "$c" ]; then git rm -q --cached --ignore-unmatch "$c"; rm -f "$c"; fi
done
for c in $claims; do
  "$py" -m trickbench.cli analyse --tier "$tier" --claim "$c" --partial
  for f in $("$py" -c "
from pathlib import Path
from trickbench import config
claim = config.load_yaml(Path('config/claims/$c.yaml').read_text())
print(' '.join(str(p) for p in config.figure_paths(claim, Path('report/figures'), '$tier')))"); do
    mkdir -p "$(dirname "$f")"
    "$py" -m trickbench.cli figure --tier "$tier" --claim "$c" --out "$f"
  done
done
git add "results/$tier" "report/figures/$tier"
git add -f results/"$tier"/*/runs/*/*/seed*/ckpt.pt 2>/dev/null || true
git status --short "results/$tier" | head -20 || true   # head closing the pipe early is no failure
