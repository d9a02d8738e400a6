#!/usr/bin/env bash
# Stop what .ci/slurm-up.sh started (the daemons and the config link listed in $EVSYNTH_SLURM_DIR/started),
# nothing else.
# The packages stay installed; the folder's state is removed so the next slurm-up starts clean.
set -euo pipefail

DIR=${EVSYNTH_SLURM_DIR:-/tmp/evsynth-slurm}
[ -f "$DIR"/started ] || exit 0

# slurmd and slurmctld before munged (they authenticate through it while shutting down).
for name in slurmd slurmctld munged; do
    while read -r what pid; do
        [ "$what" = "$name" ] || continue
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then
                kill -9 "$pid" 2>/dev/null || true
            fi
            printf 'slurm-down: stopped %s (pid %s)\n' "$what" "$pid" >&2
        fi
    done <"$DIR"/started
done
while read -r what path; do
    if [ "$what" = link ] && [ -L "$path" ]; then
        rm -f "$path"
        printf 'slurm-down: removed the link %s\n' "$path" >&2
    fi
done <"$DIR"/started
rm -rf "$DIR"/started "$DIR"/ctld "$DIR"/d "$DIR"/slurmctld.pid "$DIR"/slurmd.pid
