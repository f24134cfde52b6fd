#!/usr/bin/env bash
# A real single-node SLURM on this machine, for testing the slurm profile (CI and by hand).
#   sudo workflow/scripts/slurm-single-node.sh up     # munged + slurmctld + slurmd, waits for the node
#   sudo workflow/scripts/slurm-single-node.sh down   # stops what `up` started
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge) and root.
# Known to work here: proctrack/linuxproc, task/none, select/cons_tres, no accounting database
# (so the Snakemake plugin must use `--slurm-status-command squeue`).
set -euo pipefail
STATE=${TRICKBENCH_SLURM_STATE:-/tmp/trickbench-slurm}
HOST=$(hostname -s)

up() {
  command -v slurmctld >/dev/null || { echo "slurmctld not found: apt-get install slurm-wlm munge" >&2; exit 2; }
  [ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 2; }
  mkdir -p "$STATE"/{spool/ctld,spool/d,log} /etc/slurm /etc/munge /run/munge /var/lib/munge /var/log/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  fi
  chmod 400 /etc/munge/munge.key
  pgrep -x munged >/dev/null || munged --force
  local cpus mem
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=trickbench
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
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
  echo "CgroupPlugin=autodetect" > /etc/slurm/cgroup.conf
  # -c: start from a clean state. Without it slurmctld restores the jobs of a killed earlier
  # session from $STATE, and a ghost "running" job holds the node's memory forever.
  pgrep -x slurmctld >/dev/null || slurmctld -c
  pgrep -x slurmd >/dev/null || slurmd -c
  for _ in $(seq 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      echo "slurm up: $(sinfo -h -o '%P %D %c %m %t')"; return 0
    fi
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  echo "slurm did not come up; logs in $STATE/log" >&2; sinfo >&2 || true; exit 1
}

down() {
  for d in slurmd slurmctld munged; do pkill -x "$d" 2>/dev/null || true; done
  for _ in $(seq 20); do
    pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || pgrep -x munged >/dev/null || return 0
    sleep 0.5
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
