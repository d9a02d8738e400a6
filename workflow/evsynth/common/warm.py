"""The warm worker: in a local run, each job's script runs in a fork of one process that has imported pandas,
pyarrow, the engine and matplotlib once, instead of importing them again in a new Python (0.7-1.5 s a job,
more than most jobs' own work).

How a job runs (``hand_over``, the first line of every script in ``workflow/scripts``):

1. Snakemake starts the script as usual: a new Python with the ``snakemake`` object (about 0.2 s).
2. If the run has a worker (``EVSYNTH_WARM_SOCKET`` names its socket), the script sends it the job: the pickled
   ``snakemake`` object, the script's path, its working directory, environment and ``sys.path``, and its own
   stdin, stdout and stderr (passed as file descriptors, so output goes where it always went).
3. The worker forks; the fork runs the same script file with that ``snakemake`` object and exits; its exit
   status comes back and the script exits with it. Snakemake sees one job that ran, succeeded or failed.

Everything else runs the script in its own process, exactly as without a worker: no worker (a cluster job, a
dry run, ``warm_worker: false``, ``--no-hooks``, a platform without ``fork``), a job in a conda or container
environment (the Snakefile does not start a worker for ``--sdm``), or a worker of another Python or another copy of
this package (the worker refuses the job). A job is never run twice: if the worker dies while it runs, the job
fails with a message saying so.

The worker lives as long as the Snakemake run. The Snakefile launches it as soon as the config is read, so that
it imports while Snakemake reads the rules and builds the DAG (about half a second on the demo corpus; with one
CPU it is launched by ``onstart`` instead, as its imports would only slow Snakemake's own). ``onstart`` gives it
the jobs, or stops it when they run on a cluster or with ``--sdm``; ``onsuccess``/``onerror`` stop it, so does
Snakemake's exit (a run with nothing to do), and it exits by itself when the Snakemake process that started it is
gone. Each fork starts from the worker's state right after its imports (the worker runs no job itself), so jobs
cannot affect one another; ``tests/test_workflow.py`` checks that a whole run gives byte-identical results with
and without it.

Only the standard library is imported here: the script imports this module before anything heavy.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import pickle
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Environment variable naming the worker's socket; the jobs of a run inherit it from Snakemake.
SOCKET_ENV = "EVSYNTH_WARM_SOCKET"

#: What the worker imports, in this order, one module at a time between jobs (a job that arrives is forked once
#: the module being imported is in, and imports the rest itself). Unpickling the ``snakemake`` object, then what
#: nearly every job uses, then the stages (each imports pandas, pyarrow and the engine), then drawing, the
#: workbooks and the page.
WARM_IMPORTS = (
    ("snakemake.iocontainers", "snakemake.logging"),
    ("numpy", "pandas"),
    ("pyarrow", "pyarrow.parquet"),
    ("evsynth.common.io", "evsynth.ingest.run", "evsynth.select.run", "evsynth.harmonize.run"),
    ("scipy.special", "evsynth.stats"),
    ("evsynth.appraise.run", "evsynth.describe.run", "evsynth.pool.run", "evsynth.report.run",
     "evsynth.answer.run"),
    ("matplotlib", "matplotlib.pyplot"),
    ("evsynth.report.forest", "evsynth.report.specification_curve", "evsynth.report.dose_plot",
     "evsynth.report.funnel", "evsynth.report.baujat", "evsynth.appraise.plots", "evsynth.answer.flow"),
    ("openpyxl", "jinja2", "evsynth.answer.page"),
)

_HEADER = struct.Struct("!II")  # lengths of the JSON header and of the pickled job
_STATUS = struct.Struct("!i")  # the job's exit status
_REFUSED = b"R"
_STARTED = b"S"

# True in a fork running a job: its script's hand_over returns at once.
_IN_JOB = False


class WorkerLost(RuntimeError):
    """The worker stopped while it ran the job (or never answered)."""


def _identity() -> dict:
    """What must match for a worker to run a job: the same Python and the same copy of this package."""
    import evsynth

    return {"executable": os.path.realpath(sys.executable),
            "evsynth": os.path.realpath(evsynth.__spec__.origin)}


# ---------------------------------------------------------------------------------------------------- the job side


def hand_over(job, script: str) -> None:
    """Run this job in the run's warm worker and exit with its status; return if it must run here instead.

    ``job`` is the script's ``snakemake`` object, ``script`` the path of the script in ``workflow/scripts``
    (what Snakemake's preamble sets as the script's file name).
    """
    address = os.environ.get(SOCKET_ENV)
    if _IN_JOB or not address:
        return
    try:
        status = _send(address, job, script)
    except WorkerLost as exc:
        sys.stderr.write(f"error: {exc}; rerun, or set warm_worker: false in the config\n")
        sys.stderr.flush()
        sys.exit(1)
    except OSError:
        return  # no worker to connect to (it stopped, or was never there): run here
    if status is None:
        return  # refused: another Python or another copy of evsynth
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status if status >= 0 else 128 - status)


def _send(address: str, job, script: str) -> int | None:
    header = json.dumps({**_identity(), "script": os.path.realpath(script), "cwd": os.getcwd(),
                         "env": dict(os.environ), "path": list(sys.path), "argv": list(sys.argv)}).encode()
    payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(address)
        message = _HEADER.pack(len(header), len(payload)) + header + payload
        socket.send_fds(conn, [message[:_HEADER.size]], [0, 1, 2])
        conn.sendall(message[_HEADER.size:])
        answer = _recv_exact(conn, 1, allow_eof=True)
        if answer == _REFUSED:
            return None
        if answer != _STARTED:
            raise OSError("the warm worker did not accept the job")
        try:
            status = _recv_exact(conn, _STATUS.size)
        except OSError as exc:
            raise WorkerLost("the warm worker stopped while it ran this job") from exc
        return _STATUS.unpack(status)[0]


def _recv_exact(conn: socket.socket, size: int, allow_eof: bool = False) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            if allow_eof and not data:
                return b""
            raise OSError("connection closed")
        data += chunk
    return data


# ------------------------------------------------------------------------------------------------ the worker side


def serve(address: str, parent: int) -> None:
    """The worker's loop: accept jobs, fork one process per job, report its exit status; import
    :data:`WARM_IMPORTS` while idle; exit when ``parent`` (the Snakemake process) is gone."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    identity = _identity()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address + ".new")
    listener.listen(64)
    os.rename(address + ".new", address)  # the job side never sees a socket that does not listen yet
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    running: dict[int, socket.socket] = {}  # pid of a job's fork -> its job's connection
    pending = [name for group in WARM_IMPORTS for name in group]  # one module at a time: a job waits for one
    stopping: list[int] = []

    def stop(signum, frame):  # Worker.stop's SIGTERM
        stopping.append(signum)
        raise SystemExit(0)

    # Where the SystemExit is raised decides whether it ends the loop: raised in a weakref callback of the import
    # machinery, or in a library's bare ``except:``, it is swallowed and the loop would go on until Snakemake has
    # exited (and Worker.stop waited 10 s for it). So the loop also looks at ``stopping``.
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and os.getppid() == parent:
            timeout = 0 if pending else (0.01 if running else 0.5)
            events = selector.select(timeout)
            for key, _ in events:
                if key.fileobj is listener:
                    _accept(listener, selector, running, identity)
                else:  # a job's script exited (Snakemake killed it): stop its fork too (key.data)
                    selector.unregister(key.fileobj)
                    _kill(key.data)
            _reap(running, selector)
            if pending and not events:
                try:
                    importlib.import_module(pending.pop(0))
                except Exception:  # noqa: BLE001 (a job that needs it imports it and reports the error)
                    pass
    finally:
        for pid in list(running):
            _kill(pid)
        listener.close()
        _remove_folder(os.path.dirname(address))  # its socket, and the folder Worker.launch made for it


def _accept(listener, selector, running, identity) -> None:
    conn, _ = listener.accept()
    conn.settimeout(30)
    try:
        data, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
        data += _recv_exact(conn, _HEADER.size - len(data))
        header_size, payload_size = _HEADER.unpack(data)
        header = json.loads(_recv_exact(conn, header_size))
        payload = _recv_exact(conn, payload_size)
    except (OSError, ValueError):
        conn.close()
        return
    if len(fds) != 3 or any(header.get(key) != value for key, value in identity.items()):
        conn.sendall(_REFUSED)
        conn.close()
        for fd in fds:
            os.close(fd)
        return
    conn.sendall(_STARTED)
    pid = os.fork()
    if pid == 0:  # the job's fork: never returns
        selector.close()
        listener.close()
        for other in running.values():
            other.close()
        conn.close()
        _run_job(header, payload, fds)
    for fd in fds:
        os.close(fd)
    running[pid] = conn
    selector.register(conn, selectors.EVENT_READ, data=pid)


def _run_job(header: dict, payload: bytes, fds: list[int]) -> None:
    """In the fork: become the job's script (its stdio, directory, environment) and run it; exit with its
    status."""
    global _IN_JOB
    status = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(header["cwd"])
        os.environ.clear()
        os.environ.update(header["env"])
        os.environ.pop(SOCKET_ENV, None)  # what the job starts runs as usual
        sys.path[:] = header["path"]
        sys.argv[:] = header["argv"]
        _name_process(Path(header["script"]).stem)
        _IN_JOB = True
        import runpy

        job = pickle.loads(payload)
        try:
            runpy.run_path(header["script"], init_globals={"snakemake": job}, run_name="__main__")
            status = 0
        except SystemExit as exc:
            if exc.code is None:
                status = 0
            elif isinstance(exc.code, int):
                status = exc.code
            else:
                print(exc.code, file=sys.stderr)
                status = 1
    except BaseException:  # noqa: BLE001 (reported as a Python start would: traceback on stderr, status 1)
        import traceback

        traceback.print_exc()
        status = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def _name_process(script: str) -> None:
    """Name the fork after its job's script (what ``ps`` and the benchmarks' per-rule memory show; Linux keeps
    the first 15 characters)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(15, script.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def _reap(running: dict, selector) -> None:
    while running:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = running.pop(pid, None)
        if conn is None:
            continue
        try:
            selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        try:
            conn.sendall(_STATUS.pack(os.waitstatus_to_exitcode(wait_status)))
        except OSError:
            pass
        conn.close()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass


# ------------------------------------------------------------------------------------- starting and stopping it


#: The worker's socket is in a folder of the temporary directory named so.
FOLDER_PREFIX = "evsynth-warm-"


def _remove_folder(folder: str | Path) -> None:
    """Remove a worker's folder: its socket (or the socket it had not yet renamed), then the folder."""
    for leftover in Path(folder).glob("socket*"):
        leftover.unlink(missing_ok=True)
    try:
        Path(folder).rmdir()
    except OSError:  # gone already, or holding something not ours
        pass


def _remove_stale_folders(min_age: float = 60.0) -> None:
    """Remove what killed runs left in the temporary directory (a run killed with SIGKILL stops its worker
    before it can clean up): the sockets of ours no worker listens on, and our folders empty for a minute (a
    run starting now has not made its socket yet)."""
    for folder in Path(tempfile.gettempdir()).glob(FOLDER_PREFIX + "*"):
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            address = folder / "socket"
            if address.exists():
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    try:
                        probe.connect(str(address))
                        continue  # a live worker
                    except ConnectionRefusedError:
                        _remove_folder(folder)
                        continue
            if not any(folder.iterdir()) and time.time() - folder.stat().st_mtime > min_age:
                folder.rmdir()
        except OSError:
            continue


class Worker:
    """The run's worker process: launched while the Snakefile is parsed (:meth:`launch`), given the jobs by
    ``onstart`` (:meth:`start`), stopped by ``onsuccess``/``onerror`` or when Snakemake exits (:meth:`stop`)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.folder: str | None = None
        self._stop_at_exit = False

    def launch(self) -> None:
        """Start the worker process without waiting for it: it imports :data:`WARM_IMPORTS` while Snakemake
        parses the rules and builds the DAG. Jobs reach it only after :meth:`start`; it is stopped when this
        process exits, however it exits (a dry run that launched it, a run with nothing to do)."""
        if not hasattr(os, "fork") or not hasattr(socket, "AF_UNIX") or self.process is not None:
            return
        _remove_stale_folders()
        self.folder = tempfile.mkdtemp(prefix=FOLDER_PREFIX)  # mode 0700: only this user can send jobs
        self.process = subprocess.Popen(  # noqa: S603 (this Python, this module)
            [sys.executable, "-m", "evsynth.common.warm", self.address, str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # in Snakemake's process group: killed with it
        if not self._stop_at_exit:
            atexit.register(self.stop)
            self._stop_at_exit = True

    @property
    def address(self) -> str:
        return os.path.join(self.folder or "", "socket")

    def start(self) -> None:
        """Launch the worker if :meth:`launch` has not, wait (at most 5 s) until it listens, and name its socket
        in ``EVSYNTH_WARM_SOCKET`` for the jobs. Without ``fork`` or Unix sockets, or if it does not come up,
        jobs run as usual."""
        self.launch()
        if self.process is None:
            return
        deadline = time.monotonic() + 5
        while not os.path.exists(self.address):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                return
            time.sleep(0.005)
        os.environ[SOCKET_ENV] = self.address

    def stop(self) -> None:
        """Stop the worker and remove its socket; jobs started later run in their own process."""
        os.environ.pop(SOCKET_ENV, None)
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        if self.folder is not None:  # the worker removes it as it exits; not if it was killed
            _remove_folder(self.folder)
            self.folder = None


def cancel_scheduler_timers() -> None:
    """Cancel the timers Snakemake's scheduler left pending when its run has ended (``onsuccess``/``onerror``).

    After each round of starting jobs, the scheduler arms a ``threading.Timer`` of its job-rate window
    (``--max-jobs-per-timespan``, 1 s) to look again; the timer is not a daemon thread, so the last one keeps
    the finished run's process alive for up to that second. Only those timers are cancelled (their function
    is defined in ``JobScheduler._schedule_reevalutation``); with another Snakemake nothing matches.
    """
    import threading

    for thread in threading.enumerate():
        function = getattr(thread, "function", None)
        if isinstance(thread, threading.Timer) and "_schedule_reevalutation" in getattr(
                function, "__qualname__", ""):
            thread.cancel()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m evsynth.common.warm <socket> <pid of the Snakemake process>", file=sys.stderr)
        return 2
    try:
        serve(argv[0], int(argv[1]))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; Snakemake reports it
        return 130
    except SystemExit:  # Worker.stop's SIGTERM
        return 0
    return 0


if __name__ == "__main__":  # run the imported module, so a job's hand_over sees the same module state
    from evsynth.common.warm import main as _main

    status = _main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # its socket is gone: skip tearing down pandas, pyarrow and matplotlib (0.2-0.3 s)
