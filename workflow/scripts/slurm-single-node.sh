#!/usr/bin/env bash
# A real single-node SLURM on this machine, for testing the slurm profile (CI and by hand).
#   sudo workflow/scripts/slurm-single-node.sh up     # munged + slurmctld + slurmd, waits for the node
#   export SLURM_CONF=/tmp/trickbench-slurm/slurm.conf PATH=/tmp/trickbench-slurm/bin:$PATH  # as `up` prints
#   sudo workflow/scripts/slurm-single-node.sh down   # stops the daemons `up` started (recorded PIDs only)
#   workflow/scripts/slurm-single-node.sh plan        # what `up` would write and start, touching nothing
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge) and root.
#
# Everything lives under its own state folder ($TRICKBENCH_SLURM_STATE, default
# /tmp/trickbench-slurm): its slurm.conf and cgroup.conf (SLURM_CONF points clients at them), its
# own munge key, socket, PID, log and seed files (AuthInfo=socket=... in its slurm.conf), its own
# ports. Nothing under /etc or /run is written, no daemon it did not start is reused or stopped:
# `up` refuses when a slurmctld/slurmd it did not start is running or its ports are taken.
# Inside a job, snakemake-executor-plugin-slurm-jobstep (0.6) starts its srun with every SLURM_*
# variable but the job's identity removed, SLURM_CONF included, so srun would look for
# /etc/slurm/slurm.conf: $STATE/bin/srun, first on PATH, puts SLURM_CONF back and runs the real srun.
# Known to work here: proctrack/linuxproc, task/none, select/cons_tres, no accounting database
# (so the Snakemake plugin must use `--slurm-status-command squeue`).
set -euo pipefail
STATE=${TRICKBENCH_SLURM_STATE:-/tmp/trickbench-slurm}
CTLD_PORT=${TRICKBENCH_SLURMCTLD_PORT:-16817}
SLURMD_PORT=${TRICKBENCH_SLURMD_PORT:-16818}
HOST=$(hostname -s)
CONF=$STATE/slurm.conf
SOCKET=$STATE/munge/munge.socket
DIRS=("$STATE/spool/ctld" "$STATE/spool/d" "$STATE/log" "$STATE/munge" "$STATE/bin")

# PIDs this script started and recorded (munged, slurmctld, slurmd), one per line
recorded() {
  local f
  for f in "$STATE/munge/munged.pid" "$STATE/slurmctld.pid" "$STATE/slurmd.pid"; do
    [ -s "$f" ] && cat "$f"
  done
  return 0
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

refuse_foreign() {
  local d pid mine
  mine=" $(recorded | tr '\n' ' ') "
  for d in slurmctld slurmd; do
    for pid in $(pgrep -x "$d" || true); do
      case "$mine" in
        *" $pid "*) ;;
        *) echo "refusing: a $d this script did not start is running (PID $pid); it will not touch a SLURM of yours" >&2; exit 3 ;;
      esac
    done
  done
  for port in "$CTLD_PORT" "$SLURMD_PORT"; do
    if port_taken "$port"; then
      echo "refusing: port $port is taken (set TRICKBENCH_SLURMCTLD_PORT / TRICKBENCH_SLURMD_PORT)" >&2; exit 3
    fi
  done
}

plan() {
  # every file `up` writes and every daemon it starts, one per line: "write PATH" / "start CMD"
  local d
  for d in "${DIRS[@]}"; do echo "mkdir $d"; done
  echo "write $STATE/munge/munge.key"
  echo "write $CONF"
  echo "write $STATE/cgroup.conf"
  echo "write $STATE/bin/srun"
  echo "start munged --force --key-file=$STATE/munge/munge.key --socket=$SOCKET --pid-file=$STATE/munge/munged.pid --log-file=$STATE/log/munged.log --seed-file=$STATE/munge/munged.seed"
  echo "start slurmctld -c -f $CONF"
  echo "start slurmd -c -f $CONF"
}

conf() {
  local cpus mem
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
  cat <<CONF
ClusterName=trickbench
SlurmctldHost=$HOST
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
NodeName=$HOST CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
}

up() {
  command -v slurmctld >/dev/null || { echo "slurmctld not found: apt-get install slurm-wlm munge" >&2; exit 2; }
  [ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 2; }
  refuse_foreign
  mkdir -p "${DIRS[@]}"
  chmod 700 "$STATE/munge"   # munged refuses a key or socket directory others can write to
  if [ ! -s "$STATE/munge/munge.key" ]; then
    dd if=/dev/urandom bs=1 count=1024 of="$STATE/munge/munge.key" status=none
  fi
  chmod 400 "$STATE/munge/munge.key"
  conf > "$CONF"
  echo "CgroupPlugin=autodetect" > "$STATE/cgroup.conf"
  local real
  real=$(command -v srun)
  printf '#!/bin/sh\nexport SLURM_CONF=%s\nexec %s "$@"\n' "$CONF" "$real" > "$STATE/bin/srun"
  chmod 755 "$STATE/bin/srun"
  export SLURM_CONF=$CONF
  munged --force --key-file="$STATE/munge/munge.key" --socket="$SOCKET" --pid-file="$STATE/munge/munged.pid" \
    --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/munged.seed"
  # -c: start from a clean state. Without it slurmctld restores the jobs of a killed earlier
  # session from $STATE, and a ghost "running" job holds the node's memory forever.
  slurmctld -c -f "$CONF"
  slurmd -c -f "$CONF"
  for _ in $(seq 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      echo "slurm up: $(sinfo -h -o '%P %D %c %m %t'); clients need: export SLURM_CONF=$CONF PATH=$STATE/bin:\$PATH"
      return 0
    fi
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  echo "slurm did not come up; logs in $STATE/log" >&2; sinfo >&2 || true; exit 1
}

down() {
  local pids pid
  pids=$(recorded | tr '\n' ' ')
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 20); do
    local alive=0
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  rm -f "$STATE/munge/munged.pid" "$STATE/slurmctld.pid" "$STATE/slurmd.pid"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  plan) plan ;;
  *) echo "usage: $0 up|down|plan" >&2; exit 2 ;;
esac
