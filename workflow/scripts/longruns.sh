#!/usr/bin/env bash
# One lane of long CPU runs (tier cpu_long; README "Long CPU runs"): runs the first line of LANE
# not marked "done"/"failed" as a single-thread `trickbench run-arm` job in the worktree WORKTREE
# (a fixed commit), marks it, and repeats until the lane is empty. A killed lane loses at most the
# epoch in flight: start it again and every run resumes from its checkpoint.
#
#   workflow/scripts/longruns.sh WORKTREE LANE            # e.g. /work/runs results/cpu_long/queue/lane1.txt
#
# A lane line: "<tier> <claim> <arm> <test seeds> <out file under results/<tier>/<claim>/runs/> [run-arm flags]";
# "--seeds N" trains the first N test seeds (and a tuned grid's tuning seeds), so a lane can go seed
# by seed over every arm; flags after the file go to run-arm as they are (e.g. --stack, which MLP
# arms of the pipeline use). Environment: PYTHON (default: python), DATA_ROOT (data), CACHE_DIR.
set -uo pipefail
work=$(cd "$1" && pwd)
lane=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
py=${PYTHON:-python}
data=${DATA_ROOT:-data}
cache=${CACHE_DIR:+--cache-dir $CACHE_DIR}
# A missing interpreter would fail every line at once: refuse to start instead of marking them all.
if ! command -v "$py" >/dev/null; then
  echo "longruns.sh: PYTHON=$py is not an executable (build the venv first: README, Install)" >&2; exit 2
fi
while true; do
  line=$(grep -v -e '^#' -e '^done ' -e '^failed ' -e '^[[:space:]]*$' "$lane" | head -1)
  if [ -z "$line" ]; then echo "$(date -u +%FT%TZ) lane empty" >> "$lane.log"; break; fi
  read -r tier claim arm seeds out extra <<< "$line"
  echo "$(date -u +%FT%TZ) start: $line" >> "$lane.log"
  (cd "$work" && OMP_NUM_THREADS=1 PYTHONPATH="$work/src" "$py" -m trickbench.cli run-arm \
     --claims-dir config/claims --results results --tier "$tier" --claim "$claim" --arm "$arm" \
     --seeds "$seeds" --out "results/$tier/$claim/runs/$out" --data-root "$data" $cache \
     --device cpu --threads 1 ${extra:-}) >> "$lane.log" 2>&1
  rc=$?
  # 126/127: the interpreter vanished mid-lane (a wiped venv): stop, leaving the line to rerun.
  if [ $rc = 126 ] || [ $rc = 127 ]; then
    echo "$(date -u +%FT%TZ) stopped (rc $rc, $py cannot run): $line" >> "$lane.log"; exit $rc
  fi
  # 75: run-arm says this machine cannot train the line as asked (bf16 on a CPU without bf16 units):
  # stop, leaving the line (and the lane's later ones, of the same tier) for a machine that can.
  if [ $rc = 75 ]; then
    echo "$(date -u +%FT%TZ) stopped (rc 75, not on this machine): $line" >> "$lane.log"; exit 0
  fi
  mark=$([ $rc = 0 ] && echo done || echo failed)
  echo "$(date -u +%FT%TZ) $mark (rc $rc): $line" >> "$lane.log"
  # mark the first line equal to $line (plain awk: marking must not need the interpreter)
  LINE="$line" MARK="$mark" awk '!m && $0 == ENVIRON["LINE"] { $0 = ENVIRON["MARK"] " " $0; m = 1 } { print }' \
    "$lane" > "$lane.tmp" && mv "$lane.tmp" "$lane"
done
