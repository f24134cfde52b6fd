#!/usr/bin/env bash
# Every lane of long runs of this checkout in one command (README "Long CPU runs"). A lane file
# (results/<tier>/queue/*.txt, worked through by longruns.sh) names the commit its runs train at:
#   # worktree: <commit>
# and the lanes of one commit share a git worktree, <LANES_ROOT>/runs-<commit, 7 digits>.
#
#   workflow/scripts/lanes.sh start     # each lane with lines left and not running: its worktree (made
#                                       # if missing, with this checkout's results and lane files of the tier;
#                                       # if there, the checkpoints put back without overwriting newer files),
#                                       # longruns.sh in the background
#   workflow/scripts/lanes.sh collect   # each claim a lane trains brought back (longruns_collect.sh WORKTREE
#                                       # TIER CLAIM: analysed --partial, figures, staged) with the lane files;
#                                       # the lanes may keep running
#   workflow/scripts/lanes.sh stop      # the lanes, then their run-arm jobs (a lane killed first marks nothing)
#   workflow/scripts/lanes.sh status    # each lane: running or not, lines done / left, its log's last line
#
# The live copy of a lane file is the worktree's: edit that one (collect copies it back over this
# checkout's; start never overwrites it).
# Environment: as longruns.sh (PYTHON, DATA_ROOT, CACHE_DIR); LANES_ROOT (default: this checkout's parent).
set -euo pipefail
here=$(pwd)
root=$(cd "${LANES_ROOT:-$(dirname "$here")}" && pwd)
scripts=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}

lanes() { for f in results/*/queue/*.txt; do [ -f "$f" ] && echo "$f"; done; }
worktree_of() {  # the lane's worktree folder, or nothing (and a message) without a '# worktree:' line
  local c
  c=$(sed -n 's/^# worktree: \([0-9a-f]\{7,40\}\).*/\1/p' "$1" | head -1)
  if [ -z "$c" ]; then echo "$1: no '# worktree: <commit>' line: skipped" >&2; return 0; fi
  echo "$root/runs-${c:0:7} $c"
}
tier_of() { basename "$(dirname "$(dirname "$1")")"; }
left_lines() { grep -v -e '^#' -e '^done ' -e '^failed ' -e '^[[:space:]]*$' "$1" || true; }  # as longruns.sh picks them

case "$cmd" in
start)
  declare -A made=() copied=()
  for lane in $(lanes); do
    read -r work commit <<< "$(worktree_of "$lane")"
    [ -n "${work:-}" ] || continue
    tier=$(tier_of "$lane")
    [ -d "$work" ] || { git worktree add --detach "$work" "$commit"; made[$work]=1; }
    mkdir -p "$work/results/$tier"
    if [ -n "${copied[$work/$tier]:-}" ]; then :   # once per worktree and tier (its first lane may be running)
    elif [ -n "${made[$work]:-}" ]; then
      # a worktree made now holds the tier's files as committed at <commit> (lane files included), older
      # than this checkout's: overwritten, or lines this checkout has marked done would run again
      cp -r "results/$tier/." "$work/results/$tier/"
    else
      cp -rn "results/$tier/." "$work/results/$tier/"   # in-flight checkpoints back; the worktree's newer files kept
    fi
    copied[$work/$tier]=1
    live="$work/$lane"
    if [ -z "$(left_lines "$live")" ]; then echo "$lane: nothing left"; continue; fi
    if pgrep -f -- "longruns.sh $work $live" >/dev/null; then echo "$lane: already running"; continue; fi
    nohup "$scripts/longruns.sh" "$work" "$live" >/dev/null 2>&1 &
    echo "$lane: started in $work (log: $live.log)"
  done ;;
collect)
  declare -A done_=()
  for lane in $(lanes); do
    read -r work commit <<< "$(worktree_of "$lane")"
    [ -n "${work:-}" ] || continue
    if [ ! -f "$work/$lane" ]; then echo "$lane: not in $work (never started there): nothing to collect"; continue; fi
    tier=$(tier_of "$lane")
    for claim in $(grep -v -e '^#' -e '^[[:space:]]*$' "$work/$lane" | sed -e 's/^done //' -e 's/^failed //' \
                   | awk '{print $2}' | sort -u); do
      [ -d "$work/results/$tier/$claim" ] || continue      # no run of it started yet
      [ -z "${done_[$work/$tier/$claim]:-}" ] || continue  # one claim in several lanes: once
      done_[$work/$tier/$claim]=1
      "$scripts/longruns_collect.sh" "$work" "$tier" "$claim"
    done
    cp "$work/$lane" "$lane"
    git add "$lane"
  done ;;
stop)
  pkill -f -- "longruns.sh $root/runs-" || true
  for pid in $(pgrep -f -- "trickbench.cli run-arm" || true); do
    case "$(readlink "/proc/$pid/cwd" || true)" in "$root"/runs-*) kill "$pid" || true;; esac
  done ;;
status)
  for lane in $(lanes); do
    read -r work commit <<< "$(worktree_of "$lane")"
    [ -n "${work:-}" ] || continue
    live="$work/$lane"
    if [ ! -f "$live" ]; then echo "$lane: not started ($work)"; continue; fi
    state=$(pgrep -f -- "longruns.sh $work $live" >/dev/null && echo running || echo stopped)
    ndone=$(grep -c '^done ' "$live" || true); nfail=$(grep -c '^failed ' "$live" || true)
    left=$(left_lines "$live" | wc -l)
    echo "$lane: $state, $ndone done, $nfail failed, $left left (in $work)"
    if [ -f "$live.log" ]; then tail -1 "$live.log" | cut -c1-160 | sed 's/^/  /'; fi
  done ;;
*)
  echo "usage: workflow/scripts/lanes.sh start|collect|stop|status" >&2; exit 2 ;;
esac
