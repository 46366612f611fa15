#!/usr/bin/env bash
# Stop the Slurm daemons started by up.sh (munged too unless --daemons-only), by their pid files.
STATE="${GAN_SLURM_STATE:-/var/lib/gan-slurm}"
for name in slurmd slurmctld; do
  pidfile="$STATE/$name.pid"
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    pid=$(cat "$pidfile"); kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
done
if [ "${1:-}" != "--daemons-only" ] && [ -s /run/munge/munged.pid ]; then kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true; fi
exit 0
