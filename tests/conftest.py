"""What several test modules share, made once per test process.

- ``demo_run``: the demo project (tests/demo_project.py) after one cold Snakemake run. The tests that need a
  finished run copy it (shutil.copytree keeps the times Snakemake compares) instead of each running it cold.
- ``recovered_run``: the same project run a second time from scratch, killed after its first job and recovered
  with the README's command; its results must equal ``demo_run``'s byte for byte (test_workflow.py). The
  recovery runs without the warm worker (``warm_worker=false``), so that check also compares a run whose jobs
  ran in forks of the worker (``demo_run``) with one whose jobs each started their own Python.
- Under pytest-xdist (``make test`` runs ``-n auto --dist loadgroup --no-loadscope-reorder``), every module's tests
  stay on one worker so that its module fixtures are made once, and the tests that share the Snakemake runs form
  one group that is scheduled first, since it is the longest (xdist would otherwise start the groups with the
  most tests first, and these three last).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from demo_project import make_demo_project, snakemake

BIN = Path(sys.executable).parent
PIPELINE_FIXTURES = {"demo_run", "recovered_run"}
_SHARES_RUNS = pytest.StashKey[bool]()


def pytest_configure(config):
    config.addinivalue_line("markers", "xdist_group(name): tests pytest-xdist runs on one worker (--dist loadgroup)")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """The demo project after one cold run (read it; copy it before changing anything in it)."""
    project = make_demo_project(tmp_path_factory.mktemp("demo_run") / "project")
    run = snakemake(project)
    assert run.returncode == 0, run.stderr[-3000:]
    return project


@dataclass
class Recovery:
    """What a run killed after its first job left behind, and what the README's command then did."""

    project: Path
    first_run_log: str
    alive_when_killed: bool
    locks_left: list[Path]
    unlock: subprocess.CompletedProcess
    rerun: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def recovered_run(tmp_path_factory) -> Recovery:
    """The demo project run cold on one core, killed (SIGKILL to its process group, as a closed terminal or an
    out-of-memory kill would) once the records are validated, then recovered as ``make results`` does."""
    project = make_demo_project(tmp_path_factory.mktemp("recovered_run") / "project")
    log_path = project / "first_run.log"
    with log_path.open("w") as log:
        run = subprocess.Popen([str(BIN / "snakemake"), "--cores", "1"], cwd=project, start_new_session=True,
                               stdout=log, stderr=log)
        started = time.monotonic()
        while not (project / "results" / "records" / "studies.json").exists() and time.monotonic() - started < 600:
            if run.poll() is not None:
                break
            time.sleep(0.2)
        alive = run.poll() is None
        if alive:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    locks = sorted((project / ".snakemake" / "locks").glob("*"))
    unlock = subprocess.run([str(BIN / "python"), "-m", "evsynth.common.runlock", "."], cwd=project,
                            capture_output=True, text=True, timeout=60)
    rerun = snakemake(project, "--rerun-incomplete", "--config", "warm_worker=false")
    return Recovery(project, log_path.read_text(), alive, locks, unlock, rerun)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Group the tests for ``--dist loadgroup``: one group per module, one for the tests that share the Snakemake
    runs (run first, on one worker). Only reorders inside an xdist worker; a plain run keeps the file order."""
    in_worker = hasattr(config, "workerinput")
    for item in items:
        shares_runs = bool(PIPELINE_FIXTURES & set(getattr(item, "fixturenames", ())))
        group = "snakemake_runs" if shares_runs else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(name=group))
        item.stash[_SHARES_RUNS] = shares_runs
    if in_worker:
        items.sort(key=lambda item: not item.stash[_SHARES_RUNS])  # stable: file order otherwise
