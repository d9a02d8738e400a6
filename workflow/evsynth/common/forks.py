"""Work split over forked processes, on the CPUs this process may use: figures drawn side by side.

:func:`draw_all` draws figures that are known in several processes; :class:`DrawingProcesses` starts its first
process before they are known, so that matplotlib is imported there while the caller computes them (the
multiverse: :func:`evsynth.pool.run.run_multiverse`). Each drawing writes only its own files, so the files are
the same in any number of processes (tests/test_forks.py).

Only the standard library is imported here: the Snakefile asks :func:`usable_cpus` while it is parsed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Sequence


def usable_cpus() -> int:
    """The CPUs this process may run on (a cluster job's allocation, where the scheduler restricts it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def draw_all(drawings: Sequence[Callable[[], object]], processes: int = 1) -> None:
    """Call every drawing (a function that writes its own figure files); with ``processes`` > 1, split them
    over that many forked processes (matplotlib draws in one thread; each drawing writes only its own files,
    so the files are the same either way). A drawing that fails fails the call, with its traceback on stderr.
    """
    processes = min(processes, len(drawings)) if hasattr(os, "fork") else 1
    if processes <= 1:
        _draw_share(drawings)
        return
    shares = [list(drawings[i::processes]) for i in range(processes)]
    children = [_fork(_draw_share, share) for share in shares[1:]]
    try:
        _draw_share(shares[0])
    finally:
        failed = sum(_exit_status(pid) != 0 for pid in children)
    if failed:
        raise RuntimeError(f"{failed} of {len(children)} processes drawing figures failed (traceback above)")


class DrawingProcesses:
    """Figures drawn in other processes that start before the caller knows what to draw: the first is forked at
    once and imports ``modules`` (matplotlib and the plotting module, about 0.4 s) while the caller computes;
    :meth:`draw` sends it the drawings, which it splits over ``processes`` processes (:func:`draw_all`). The
    caller's process never imports matplotlib. With one process (or no ``fork``) the caller draws them itself.

    A drawing must pickle: a function of a module, or a ``functools.partial`` of one, with its data. Use as a
    context manager; leaving it without drawing (the computation failed) stops the process it started.
    """

    def __init__(self, processes: int, modules: Sequence[str] = ()) -> None:
        self._pid: int | None = None
        self._pipe: int | None = None
        if processes > 1 and hasattr(os, "fork"):
            read, self._pipe = os.pipe()
            self._pid = _fork(_drawing_process, read, list(modules), processes, close=self._pipe)
            os.close(read)

    def draw(self, drawings: Sequence[Callable[[], object]]) -> None:
        """Draw every drawing; a drawing that fails fails the call (its traceback on stderr)."""
        if self._pid is None:
            _draw_share(drawings)
            return
        import pickle

        try:
            with os.fdopen(self._pipe, "wb") as pipe:
                self._pipe = None
                pipe.write(pickle.dumps(list(drawings), protocol=pickle.HIGHEST_PROTOCOL))
        except BrokenPipeError:  # the process stopped before reading (an import failed): its status says so
            pass
        status, self._pid = _exit_status(self._pid), None
        if status != 0:
            raise RuntimeError("the processes drawing figures failed (traceback above)")

    def __enter__(self) -> DrawingProcesses:
        return self

    def __exit__(self, *exc) -> None:
        if self._pipe is not None:
            os.close(self._pipe)  # end of input, nothing drawn: the process exits
            self._pipe = None
        if self._pid is not None:
            _exit_status(self._pid)
            self._pid = None


def _drawing_process(read: int, modules: list[str], processes: int) -> None:
    """The first of :class:`DrawingProcesses`: import ``modules``, read the pickled drawings (none when the
    caller drew nothing), draw them in ``processes`` processes."""
    import importlib
    import pickle

    for module in modules:
        importlib.import_module(module)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    if data:
        draw_all(pickle.loads(data), processes)


def _draw_share(share: Sequence[Callable[[], object]]) -> None:
    for draw in share:
        draw()


def _fork(function: Callable, *args, close: int | None = None) -> int:
    """Fork a process that calls ``function(*args)`` and exits: status 0, or 1 with the traceback on stderr.
    ``close``: a descriptor of the parent's that the process must not hold."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # never returns
        status = 1
        try:
            if close is not None:
                os.close(close)
            function(*args)
            status = 0
        except BaseException:  # noqa: BLE001 (reported on stderr; the parent fails)
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    return pid


def _exit_status(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
