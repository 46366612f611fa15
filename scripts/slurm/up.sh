#!/usr/bin/env bash
# Bring up a one-node Slurm (slurmctld + slurmd, authenticated by munge) on this machine, for the
# tests marked `slurm` and for trying `hydra/launcher=slurm` by hand. Idempotent: when the node is
# already up it returns at once; otherwise it (re)writes /etc/slurm/slurm.conf from
# slurm.conf.in with this machine's CPUs and memory, starts the daemons and waits until `sinfo`
# shows the node idle. Needs root and Debian's `slurm-wlm` and `munge` (`apt-get install
# slurm-wlm munge`). Exit 3 with one line when they are missing; `down.sh` stops the daemons.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
STATE="${GAN_SLURM_STATE:-/var/lib/gan-slurm}"
CONF=/etc/slurm/slurm.conf

for tool in slurmctld slurmd munged sinfo sbatch; do
  command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin"
  command -v "$tool" >/dev/null || { echo "slurm not installed: $tool missing (apt-get install slurm-wlm munge)"; exit 3; }
done
[ "$(id -u)" = 0 ] || { echo "scripts/slurm/up.sh needs root (it starts munged, slurmctld and slurmd)"; exit 3; }

node_idle() { sinfo -h -N -n localhost -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }
if node_idle; then echo "slurm: up (node localhost $(sinfo -h -N -n localhost -o '%T'))"; exit 0; fi

# munge: a key, and its daemon.
if [ ! -s /etc/munge/munge.key ]; then mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null \
  || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
chown munge:munge /etc/munge/munge.key 2>/dev/null || true; chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge; chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  su -s /bin/sh munge -c 'munged --force' 2>/dev/null || munged --force
  for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi

# slurm.conf for one node with this machine's CPUs and memory (a little memory left to the system).
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p "$STATE/ctld" "$STATE/d" /etc/slurm
sed -e "s|@HOST@|$(hostname -s)|" -e "s|@STATE@|$STATE|g" -e "s|@CPUS@|$cpus|" -e "s|@MEM@|$mem|" \
  "$here/slurm.conf.in" > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
touch "$STATE/jobcomp.txt"

# (Re)start the daemons: a stale pair from an earlier configuration is stopped first.
"$here/down.sh" --daemons-only
slurmctld -i
slurmd -N localhost
for _ in $(seq 100); do
  node_idle && { echo "slurm: up (node localhost, $cpus CPUs, $mem MB; state in $STATE)"; exit 0; }
  scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
  sleep 0.2
done
echo "slurm did not come up: see $STATE/slurmctld.log and $STATE/slurmd.log"; exit 1
