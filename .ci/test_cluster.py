"""make test-cluster: the demo corpus (tests/data) run twice, locally and through `--executor slurm` on the
one-node cluster .ci/slurm-up.sh started; every file under results/ must be byte-identical. Prints timings.

Run by the Makefile between slurm-up.sh and slurm-down.sh (SLURM_CONF points at that cluster). Exit 0 when the
two runs agree and the SLURM run really went through sbatch.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from demo_project import make_demo_project  # noqa: E402

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# The plugin reads job states with squeue (this cluster has no accounting database for sacct); the first status
# check after 5 s instead of 40 keeps the small run short (MinJobAge=600 in slurm-up.sh is far above 3 x 5 s).
SLURM_ARGS = ["--workflow-profile", "workflow/profiles/slurm", "--slurm-status-command", "squeue",
              "--slurm-init-seconds-before-status-checks", "5", "--slurm-no-account", "--latency-wait", "5",
              "--jobs", "8", "--slurm-keep-successful-logs"]


def project(dest: Path) -> Path:
    """The demo project with both analyses in the multiverse, so two multiverse shards run side by side."""
    make_demo_project(dest)
    config_path = dest / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["multiverse"]["analyses"] = ["sledai", "pga"]
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def run(cwd: Path, args: list[str], log: Path) -> float:
    start = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run([*SNAKEMAKE, *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=3600)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"test-cluster: snakemake failed in {cwd} (exit {done.returncode}); log: {log}\n"
                 + log.read_text()[-4000:])
    return seconds


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def main() -> int:
    if "SLURM_CONF" not in os.environ:
        sys.exit("test-cluster: SLURM_CONF is not set; run it as `make test-cluster` (it starts the cluster)")
    work = Path(tempfile.mkdtemp(prefix="evsynth-cluster-"))
    local, cluster = project(work / "local"), project(work / "slurm")

    t_local = run(local, ["--cores", "2"], work / "local.log")
    t_slurm = run(cluster, SLURM_ARGS, work / "slurm.log")

    # one SLURM log per job that went through sbatch (kept by --slurm-keep-successful-logs)
    submitted = len(list((cluster / ".snakemake" / "slurm_logs").rglob("*.log")))
    a, b = digests(local / "results"), digests(cluster / "results")
    # the cluster profile shards the multiverse (shard_multiverse): its per-analysis Parquet shards are
    # intermediates only a sharded run writes; the table they are gathered in (tables/multiverse.csv) is compared
    shards = sorted(name for name in set(b) - set(a) if name.startswith("multiverse/") and name.endswith(".parquet"))
    b = {name: digest for name, digest in b.items() if name not in shards}
    differ = sorted(name for name in set(a) | set(b) if a.get(name) != b.get(name))
    print(f"test-cluster: local run {t_local:.1f} s, SLURM run {t_slurm:.1f} s, {submitted} sbatch jobs, "
          f"{len(a)} result files compared (besides the SLURM run's {len(shards)} multiverse shards)")
    if len(shards) != 2:
        print(f"test-cluster: expected the SLURM run to shard the multiverse (sledai, pga), found {shards}",
              file=sys.stderr)
        return 1
    if not submitted:
        print(f"test-cluster: no job was submitted to SLURM (log: {work / 'slurm.log'})", file=sys.stderr)
        return 1
    if differ:
        print("test-cluster: results differ between the local and the SLURM run:\n  " + "\n  ".join(differ),
              file=sys.stderr)
        return 1
    print(f"test-cluster: every result file is byte-identical (work folder {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
