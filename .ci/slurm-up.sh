#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for `make test-cluster` (not run by CI).
#
# Needs root and Debian's package archive (Debian 12: slurm-wlm 22.05, munge 0.5.15). There is no systemd
# here, so the daemons are started directly: munged as the munge user, then slurmctld and slurmd as root.
# No cgroups are needed (proctrack/linuxproc, task/none, select/cons_tres) and accounting is off, so job
# status is read with squeue (the profile passes --slurm-status-command squeue; MinJobAge below keeps a
# finished job visible to squeue for far longer than the plugin's first status check waits).
#
# Everything lives under $EVSYNTH_SLURM_DIR (default /tmp/evsynth-slurm): slurm.conf, state, logs, and
# `started`, the list of daemons this script started, which slurm-down.sh stops (and nothing else).
# The commands find this cluster through SLURM_CONF=$EVSYNTH_SLURM_DIR/slurm.conf, and job steps through a link
# /etc/slurm/slurm.conf -> it (made only where no config exists; slurm-down.sh removes it).
set -euo pipefail

DIR=${EVSYNTH_SLURM_DIR:-/tmp/evsynth-slurm}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF

say() { printf 'slurm-up: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    say "needs root (it installs Debian packages and starts daemons)"
    exit 1
fi

# 1. Packages (once). policy-rc.d keeps the packages' own scripts from starting services.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq -o DPkg::Lock::Timeout=900
    apt-get install -y -qq -o DPkg::Lock::Timeout=900 slurm-wlm munge >/dev/null
fi

mkdir -p "$DIR"/ctld "$DIR"/d "$DIR"/log
: >"$DIR"/started.new

# 2. munge: key, run and log folders owned by the munge user, then munged as that user.
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
fi
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "munged already running (left alone)"
else
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
    echo "munged $(cat /run/munge/munged.pid)" >>"$DIR"/started.new
    munge -n | unmunge >/dev/null
fi

# 3. slurm.conf: this host as controller and the only compute node, all its CPUs and most of its memory.
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
cat >"$CONF" <<EOF
# Written by .ci/slurm-up.sh: a one-node cluster for make test-cluster.
ClusterName=evsynth
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

# Job steps (srun inside a job) read the config from the default place, not from SLURM_CONF: link it there,
# unless a config is already there (then this machine has its own cluster, and it is left alone).
mkdir -p /etc/slurm
if [ ! -e /etc/slurm/slurm.conf ]; then
    ln -s "$CONF" /etc/slurm/slurm.conf
    echo "link /etc/slurm/slurm.conf" >>"$DIR"/started.new
elif [ "$(readlink /etc/slurm/slurm.conf)" != "$CONF" ]; then
    say "/etc/slurm/slurm.conf exists and is not this cluster's: job steps may not reach this cluster"
fi

# 4. The daemons (each daemonizes and writes its pid file).
if [ -s "$DIR"/slurmctld.pid ] && kill -0 "$(cat "$DIR"/slurmctld.pid)" 2>/dev/null; then
    say "slurmctld already running (left alone)"
else
    /usr/sbin/slurmctld -f "$CONF"
    for _ in $(seq 100); do [ -s "$DIR"/slurmctld.pid ] && break; sleep 0.1; done
    echo "slurmctld $(cat "$DIR"/slurmctld.pid)" >>"$DIR"/started.new
fi
if [ -s "$DIR"/slurmd.pid ] && kill -0 "$(cat "$DIR"/slurmd.pid)" 2>/dev/null; then
    say "slurmd already running (left alone)"
else
    /usr/sbin/slurmd -f "$CONF"
    for _ in $(seq 100); do [ -s "$DIR"/slurmd.pid ] && break; sleep 0.1; done
    echo "slurmd $(cat "$DIR"/slurmd.pid)" >>"$DIR"/started.new
fi
cat "$DIR"/started.new >>"$DIR"/started
rm -f "$DIR"/started.new

# 5. Wait until the node takes jobs.
for _ in $(seq 120); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -n1 || true)
    case $state in
    idle | mix | alloc) say "node $HOST is $state ($CPUS CPUs, ${MEM_MB} MB); export SLURM_CONF=$CONF"; exit 0 ;;
    esac
    sleep 0.5
done
say "the node did not become idle within 60 s (state: '${state:-none}'); logs in $DIR/log"
exit 1
