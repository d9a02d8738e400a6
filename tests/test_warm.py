"""The warm worker (evsynth.common.warm, issue 12): a job handed over runs in a fork of the worker, with the job's
directory, environment and standard streams, and exits with the job's status; a job it cannot or may not run runs
in its own process; a job whose script is killed stops; the worker leaves when its Snakemake does. The whole
pipeline gives the same bytes with and without it (test_workflow.py, test_a_run_without_the_warm_worker_...)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evsynth.common import warm

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the warm worker needs fork")

# A job script as Snakemake runs it: a `snakemake` object (here any picklable value), then hand_over, then the body.
JOB = textwrap.dedent('''
    import os, sys, time
    from types import SimpleNamespace
    snakemake = SimpleNamespace(code=int(sys.argv[1]), action=sys.argv[2])
    {before}
    from evsynth.common.warm import hand_over
    print("script", os.getpid(), file=sys.stderr, flush=True)
    hand_over(snakemake, __file__)
    print("body", os.getpid(), os.getppid(), os.getcwd(), os.environ.get("JOB_COLOUR"), flush=True)
    print("to stderr", flush=True, file=sys.stderr)
    if snakemake.action == "fail":
        raise ValueError("a bug in the job")
    if snakemake.action == "sleep":
        open("body.pid", "w").write(str(os.getpid()))
        time.sleep(60)
    sys.exit(snakemake.code)
''')


@pytest.fixture
def worker(monkeypatch):
    monkeypatch.delenv(warm.SOCKET_ENV, raising=False)
    started = warm.Worker()
    started.start()
    address = os.environ.pop(warm.SOCKET_ENV)  # given to the jobs below only, not to other tests' Snakemake runs
    yield started, address
    started.stop()


def _job(tmp_path: Path, address: str | None, code: int = 0, action: str = "exit", before: str = "",
         wait: bool = True):
    script = tmp_path / "job.py"
    script.write_text(JOB.format(before=before))
    env = {**os.environ, "JOB_COLOUR": "teal"}
    if address:
        env[warm.SOCKET_ENV] = address
    args = [sys.executable, str(script), str(code), action]
    if not wait:
        return subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def _body(run) -> list[str]:
    return next(line for line in run.stdout.splitlines() if line.startswith("body")).split()


def _sleeping_body(run, tmp_path: Path) -> int:
    """The pid of the body of a job started with action "sleep", once it runs."""
    pid_file = tmp_path / "body.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and run.poll() is None
        time.sleep(0.05)
    return int(pid_file.read_text())


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _wait_gone(pid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_job_runs_in_a_fork_of_the_worker_with_its_directory_environment_streams_and_status(worker, tmp_path):
    process, address = worker
    run = _job(tmp_path, address, code=3)
    assert run.returncode == 3, run.stderr
    _, pid, parent, cwd, colour = _body(run)
    script_pid = int(run.stderr.split()[1])
    assert int(parent) == process.process.pid and int(pid) != script_pid  # a fork of the worker, not the script
    assert Path(cwd) == tmp_path and colour == "teal"
    assert "to stderr" in run.stderr  # the job's stderr is the script's


def test_a_job_that_raises_prints_its_traceback_and_fails(worker, tmp_path):
    run = _job(tmp_path, worker[1], action="fail")
    assert run.returncode == 1
    assert "ValueError: a bug in the job" in run.stderr and "Traceback" in run.stderr


def test_jobs_run_side_by_side(worker, tmp_path):
    folders = [tmp_path / name for name in ("a", "b", "c")]
    runs = []
    for i, folder in enumerate(folders):
        folder.mkdir()
        runs.append(_job(folder, worker[1], code=i, wait=False))
    for i, run in enumerate(runs):
        out, err = run.communicate(timeout=120)
        assert run.returncode == i, err
        assert f" {folders[i]} " in out


def test_without_a_worker_or_with_another_copy_the_job_runs_in_its_own_process(worker, tmp_path):
    alone = _job(tmp_path, None, code=2)
    assert alone.returncode == 2 and int(_body(alone)[1]) == int(alone.stderr.split()[1])
    missing = _job(tmp_path, str(tmp_path / "no-socket"), code=4)
    assert missing.returncode == 4 and int(_body(missing)[1]) == int(missing.stderr.split()[1])
    # a worker of another evsynth (or Python) refuses: the job runs here, once
    other = ("import evsynth.common.warm as w\n"
             "w._identity = lambda: {'executable': sys.executable, 'evsynth': '/elsewhere/evsynth'}")
    refused = _job(tmp_path, worker[1], code=5, before=other)
    assert refused.returncode == 5 and int(_body(refused)[1]) == int(refused.stderr.split()[1])
    assert refused.stdout.count("body") == 1


def test_killing_the_job_script_stops_its_fork(worker, tmp_path):
    run = _job(tmp_path, worker[1], action="sleep", wait=False)
    fork = _sleeping_body(run, tmp_path)
    assert not _gone(fork)
    run.kill()  # as Snakemake stops a job
    run.communicate()
    assert _wait_gone(fork)


def test_a_job_whose_worker_dies_fails_with_a_message_and_is_not_run_again(worker, tmp_path):
    process, address = worker
    run = _job(tmp_path, address, action="sleep", wait=False)
    fork = _sleeping_body(run, tmp_path)
    os.kill(process.process.pid, signal.SIGKILL)
    run.wait(timeout=60)
    os.kill(fork, signal.SIGKILL)  # the orphaned fork (a killed worker cannot stop it) holds the job's streams
    out, err = run.communicate(timeout=60)
    assert run.returncode == 1
    assert "the warm worker stopped while it ran this job" in err and out.count("body") == 1


def test_the_worker_leaves_with_the_process_that_started_it_and_stop_cleans_up(tmp_path):
    starter = subprocess.run(
        [sys.executable, "-c", "import os\nfrom evsynth.common.warm import Worker\nw = Worker()\nw.start()\n"
                               "print(w.process.pid, w.folder, flush=True)\nos._exit(0)"],  # killed: no exit hooks
        capture_output=True, text=True, timeout=60, check=True)
    pid, folder = starter.stdout.split()
    assert _wait_gone(int(pid), 10)  # its Snakemake is gone: it exits by itself, and removes its socket
    deadline = time.monotonic() + 5
    while Path(folder).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(folder).exists()
    worker = warm.Worker()
    worker.start()
    try:
        assert Path(os.environ[warm.SOCKET_ENV]).is_socket()
        folder = Path(worker.folder)
    finally:
        worker.stop()
    assert warm.SOCKET_ENV not in os.environ and not folder.exists()


def test_stop_ends_the_worker_even_where_its_sigterm_exception_is_swallowed(tmp_path):
    # Found by stopping workers at random moments of their imports: the SIGTERM's SystemExit, raised in a weakref
    # callback of the import machinery (or under a library's bare except), was swallowed, the worker went on,
    # and the run's exit waited Worker.stop's 10 s. A module whose import swallows it stands for those places.
    (tmp_path / "swallows.py").write_text(textwrap.dedent(f'''
        import time
        try:
            open({str(tmp_path / "importing")!r}, "w").close()
            time.sleep(30)
        except BaseException:
            pass
    '''))
    folder = tmp_path / "worker"
    folder.mkdir()
    script = ("import os, sys\nfrom evsynth.common import warm\n"
              "warm.WARM_IMPORTS = (('swallows',),) + warm.WARM_IMPORTS\n"
              f"sys.exit(warm.main([{str(folder / 'socket')!r}, str(os.getppid())]))")
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(
        tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")})
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "importing").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (tmp_path / "importing").exists()
        worker.terminate()
        assert worker.wait(timeout=5) == 0  # not after its parent (this test) has gone
    finally:
        worker.kill()
        worker.wait()
    assert not folder.exists()  # and it cleaned up as it left


def test_a_launched_worker_is_stopped_when_the_process_that_launched_it_exits(tmp_path):
    # the Snakefile launches it while Snakemake reads the rules; a run with nothing to do never reaches onsuccess
    out = tmp_path / "out.txt"
    with out.open("w") as stdout:  # not a pipe, which the worker's inherited stderr would hold open
        subprocess.run([sys.executable, "-c", "from evsynth.common.warm import Worker\nw = Worker()\nw.launch()\n"
                                              "print(w.process.pid, w.folder)"],
                       stdout=stdout, timeout=60, check=True)
    pid, folder = out.read_text().split()
    assert _gone(int(pid)) and not Path(folder).exists()  # at once, not when it notices its parent is gone


def test_a_run_with_nothing_to_do_leaves_no_worker(demo_run, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(demo_run, project, symlinks=True)
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    log = tmp_path / "run.log"
    with log.open("w") as out:  # a file, not a pipe: the run returns when Snakemake exits, not when its worker does
        run = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--cores", "2"], cwd=project, env=env,
                             stdout=out, stderr=out, timeout=600)
    assert run.returncode == 0 and "Nothing to be done" in log.read_text(), log.read_text()[-2000:]
    assert not list(temp.iterdir())  # the worker was launched, and stopped as Snakemake exited
    workers = [p for p in Path("/proc").glob("[0-9]*") if str(temp) in _cmdline(p)]
    assert not workers


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_a_new_worker_removes_what_killed_runs_left(tmp_path, monkeypatch):
    import socket
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / f"{warm.FOLDER_PREFIX}dead"
    dead.mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:  # a socket whose worker was killed
        s.bind(str(dead / "socket"))
    old_empty, new_empty = tmp_path / f"{warm.FOLDER_PREFIX}old", tmp_path / f"{warm.FOLDER_PREFIX}new"
    old_empty.mkdir()
    new_empty.mkdir()
    os.utime(old_empty, (time.time() - 3600, time.time() - 3600))
    worker = warm.Worker()
    worker.start()
    try:
        assert not dead.exists() and not old_empty.exists() and new_empty.exists()  # a run may be starting
        assert Path(worker.folder).parent == tmp_path and Path(worker.folder, "socket").is_socket()
    finally:
        worker.stop()
        monkeypatch.delenv(warm.SOCKET_ENV, raising=False)


def test_the_snakefile_starts_the_worker_only_for_local_runs_without_software_deployment():
    snakefile = (Path(__file__).resolve().parents[1] / "workflow" / "Snakefile").read_text()
    launch = snakefile[snakefile.index("WARM_WORKER = Worker()"):snakefile.index("onstart:")]
    for condition in ('config.get("warm_worker", True)', "not workflow.output_settings.dryrun",
                      "not workflow.remote_exec", "not workflow.deployment_settings.deployment_method",
                      "usable_cpus() > 1", "WARM_WORKER.launch()"):
        assert condition in launch, condition
    assert snakefile.index('configfile: "config/config.yaml"') < snakefile.index("WARM_WORKER.launch()")
    start = snakefile[snakefile.index("onstart:"):snakefile.index("onsuccess:")]
    assert 'config["warm_worker"]' in start and "workflow.local_exec" in start
    assert "workflow.deployment_settings.deployment_method" in start and "WARM_WORKER.start()" in start
    assert "else:" in start and "WARM_WORKER.stop()" in start  # launched, but the jobs run elsewhere
    for hook in ("onsuccess:", "onerror:"):
        assert "WARM_WORKER.stop()" in snakefile[snakefile.index(hook):].split("\n\n")[0]
    scripts = sorted((Path(__file__).resolve().parents[1] / "workflow" / "scripts").glob("*.py"))
    assert scripts and all("hand_over(snakemake, __file__)" in s.read_text() for s in scripts)


def test_the_launch_default_is_the_schemas():
    # the Snakefile launches the worker before the schema fills in defaults: its default must be the schema's
    import yaml

    schema = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow" / "schemas" /
                             "config.schema.yaml").read_text())
    assert schema["properties"]["warm_worker"]["default"] is True
