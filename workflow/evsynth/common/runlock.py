"""Recover from a killed run: remove a Snakemake lock that no running Snakemake holds.

A run killed mid-way (Ctrl-C twice, ``kill``, a closed terminal, a power cut) leaves ``.snakemake/locks/`` behind;
the next run then refuses to start until ``snakemake --unlock``. ``make results`` calls this module first, so the
README's one command recovers: the lock is removed only when no Snakemake process is running in this folder
(checked through ``/proc``, Linux), and Snakemake is run with ``--rerun-incomplete`` so that the outputs the
killed job left half-written are made again.

Command line: ``python -m evsynth.common.runlock [folder]`` (prints one line when it removed a stale lock).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def snakemake_running_in(folder: Path) -> bool | None:
    """True if a Snakemake process has ``folder`` as its working directory; None when it cannot be told."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    folder = folder.resolve()
    me = os.getpid()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(entry / "cwd")).resolve()
        except OSError:
            continue
        if cwd == folder and any(part.endswith(b"snakemake") for part in cmdline[:3]):
            return True
    return False


def remove_stale_lock(folder: str | Path = ".") -> str | None:
    """Remove ``.snakemake/locks/*`` when no Snakemake runs in ``folder``; return a message saying so, or None."""
    folder = Path(folder)
    locks = folder / ".snakemake" / "locks"
    held = sorted(locks.glob("*")) if locks.is_dir() else []
    if not held:
        return None
    running = snakemake_running_in(folder)
    if running is None:
        return (f"note: {locks} holds a lock; if no other run is going on in this folder, remove it with "
                "'snakemake --unlock'")
    if running:
        return None  # another run is going on: Snakemake itself will say the folder is locked
    for path in held:
        path.unlink(missing_ok=True)
    return f"removed a stale lock left by an interrupted run ({locks}); incomplete outputs are made again"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    message = remove_stale_lock(argv[0] if argv else ".")
    if message:
        print(message, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
