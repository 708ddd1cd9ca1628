#!/usr/bin/env bash
# tests/lib/slurm-one-node.sh start DIR
# tests/lib/slurm-one-node.sh stop DIR
#
# A one-node Slurm cluster for the tests, as root, without systemd or cgroups: a munge key,
# munged on a private socket, slurmctld and slurmd on 127.0.0.1 with free ports and a
# slurm.conf generated under DIR (state, spool, logs, pids there too). start returns once
# sinfo shows the node idle and prints the SLURM_CONF path; callers export SLURM_CONF (and
# nothing else: the munge socket is named in slurm.conf). A daemon that does not start fails
# with its log. stop kills slurmd, slurmctld and munged by the pids in their pid files.
set -euo pipefail

die() { printf 'slurm-one-node.sh: %s\n' "$*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

show_logs() {
    local f
    for f in "$1"/log/*.log; do
        [ -f "$f" ] || continue
        printf -- '---- %s ----\n' "$f" >&2
        tail -n 40 "$f" >&2
    done
}

fail() { show_logs "$1"; stop "$1"; die "$2"; }

start() {
    local dir host cpus i
    dir=$(readlink -f "$1")
    for p in munged slurmctld slurmd sinfo; do
        command -v "$p" >/dev/null || die "$p is not installed (install-deps.sh --peers: slurm-wlm, munge)"
    done
    mkdir -p "$dir"/{munge,state,spool,log,run}
    chmod 0700 "$dir/munge"
    host=$(hostname -s)
    cpus=$(nproc)
    head -c 1024 /dev/urandom > "$dir/munge/munge.key"
    chmod 0400 "$dir/munge/munge.key"
    munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/sock" \
        --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/seed" --force 2>>"$dir/log/munged.log" || fail "$dir" "munged did not start"
    cat > "$dir/slurm.conf" <<CONF
ClusterName=vm2oci-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$dir/munge/sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SchedulerType=sched/backfill
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -f "$SLURM_CONF" 2>>"$dir/log/slurmctld.log" || fail "$dir" "slurmctld did not start"
    slurmd -f "$SLURM_CONF" 2>>"$dir/log/slurmd.log" || fail "$dir" "slurmd did not start"
    for i in $(seq 150); do
        if sinfo -h -o '%t' 2>/dev/null | grep -qx 'idle'; then
            echo "$SLURM_CONF"
            return 0
        fi
        sleep 0.2
    done
    sinfo >&2 || true
    fail "$dir" "the node is not idle after 30 s (the daemons' logs are above)"
}

stop() {
    local dir name pid i
    dir=$(readlink -f "$1")
    for name in slurmd slurmctld munged; do
        [ -f "$dir/run/$name.pid" ] || continue
        pid=$(cat "$dir/run/$name.pid")
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null || true
        for i in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/run/$name.pid"
    done
}

case ${1:-} in
    start) start "$2" ;;
    stop) stop "$2" ;;
    *) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 2 ;;
esac
