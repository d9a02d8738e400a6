"""A process of the pipeline ends without the interpreter's last garbage collections (evsynth.common.teardown,
issue 12): Snakemake's process (the Snakefile asks for it first) and a job in its own Python (``step``). What
still runs at exit: the atexit handlers, and what the job wrote is in its files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Registered before anything else, this handler runs last of all: it reports what the interpreter's teardown will
# find frozen, and that the handlers registered after it ran first.
LAST_HANDLER = textwrap.dedent("""
    import atexit, gc, sys
    ran = []
    atexit.register(lambda: print("at exit: frozen", gc.get_freeze_count(), "ran", ran, flush=True))
""")


def run_python(body: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LAST_HANDLER + textwrap.dedent(body)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def frozen_at_exit(stdout: str) -> int:
    line = next(line for line in stdout.splitlines() if line.startswith("at exit: frozen"))
    return int(line.split()[3])


def test_the_objects_alive_at_exit_are_frozen_once_the_later_handlers_have_run(tmp_path):
    run = run_python("""
        from evsynth.common.teardown import skip_final_collection
        calls = atexit._ncallbacks()
        skip_final_collection()
        skip_final_collection()
        print("registered", atexit._ncallbacks() - calls)
        print("frozen while running", gc.get_freeze_count())
        atexit.register(lambda: ran.append("a later handler"))
    """, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "registered 1" in run.stdout  # once, however often it is asked
    assert "frozen while running 0" in run.stdout  # nothing is frozen before the exit
    assert frozen_at_exit(run.stdout) > 1000
    assert "ran ['a later handler']" in run.stdout


def test_a_job_in_its_own_python_is_frozen_at_exit_with_its_log_written(tmp_path):
    log = tmp_path / "logs" / "job.log"
    out = tmp_path / "table.csv"
    run = run_python(f"""
        import pandas as pd
        from evsynth.common.io import step
        with step({str(log)!r}):
            print("a line of the log", file=sys.stderr)
            pd.DataFrame({{"x": [1, 2]}}).to_csv({str(out)!r}, index=False)
    """, tmp_path)
    assert run.returncode == 0, run.stderr
    assert frozen_at_exit(run.stdout) > 1000  # pandas' objects, among others
    assert log.read_text(encoding="utf-8") == "a line of the log\n"
    assert out.read_text(encoding="utf-8") == "x\n1\n2\n"


def test_snakemakes_process_asks_for_it_before_reading_the_rules():
    snakefile = (ROOT / "workflow" / "Snakefile").read_text(encoding="utf-8")
    asked = snakefile.index("\nskip_final_collection()\n")
    assert asked < snakefile.index('include: "rules/common.smk"')
