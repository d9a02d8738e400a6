"""Figures drawn in forked processes (evsynth.common.forks, issue 12): the files are the same in any number of
processes; a drawing that fails, or a process that cannot import what it draws with, fails the call; the
processes that start before the drawings are known import matplotlib so that their caller never does, and stop
when their caller draws nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path

import pytest

from evsynth.common.forks import DrawingProcesses, draw_all, usable_cpus

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="drawing in other processes needs fork")

COLOURS = ["teal", "navy", "olive", "maroon", "purple"]


def _square(path: Path, colour: str) -> None:
    import matplotlib.pyplot as plt

    from evsynth.common.figures import save_figure

    with plt.rc_context({"svg.hashsalt": "evsynth"}):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.fill([0, 1, 1, 0], [0, 0, 1, 1], color=colour)
        ax.set_title(colour)
        save_figure(fig, [path.with_suffix(".png"), path.with_suffix(".svg")])


def _broken() -> None:
    raise ValueError("no axes")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_figures_drawn_in_several_processes_are_the_figures_drawn_in_one(tmp_path):
    for how in ("all", "processes"):
        for processes in (1, 2, 3):
            folder = tmp_path / f"{how}{processes}"
            folder.mkdir()
            drawings = [partial(_square, folder / c, c) for c in COLOURS]
            if how == "all":
                draw_all(drawings, processes)
            else:
                with DrawingProcesses(processes, ["matplotlib.pyplot"]) as drawing:
                    drawing.draw(drawings)
    one = _files(tmp_path / "all1")
    assert len(one) == 2 * len(COLOURS)
    for folder in tmp_path.iterdir():
        assert _files(folder) == one, folder.name


def test_a_drawing_that_fails_in_another_process_fails_the_call(tmp_path):
    with pytest.raises(RuntimeError, match="1 of 1 processes drawing figures failed"):
        draw_all([partial(_square, tmp_path / "teal", "teal"), _broken], 2)
    assert (tmp_path / "teal.png").is_file()
    with pytest.raises(RuntimeError, match="processes drawing figures failed"):
        with DrawingProcesses(2) as drawing:
            drawing.draw([partial(_square, tmp_path / "navy", "navy"), _broken])
    assert (tmp_path / "navy.png").is_file()


def test_drawing_processes_that_cannot_import_fail_the_call_and_draw_nothing(tmp_path, capfd):
    with pytest.raises(RuntimeError, match="processes drawing figures failed"):
        with DrawingProcesses(2, ["evsynth.no_such_module"]) as drawing:
            drawing.draw([partial(_square, tmp_path / "teal", "teal")])
    assert not (tmp_path / "teal.png").exists()
    assert "No module named 'evsynth.no_such_module'" in capfd.readouterr().err


def test_drawing_processes_stop_when_their_caller_fails_before_drawing():
    with pytest.raises(ValueError, match="the fit failed"):
        with DrawingProcesses(2, ["matplotlib.pyplot"]) as drawing:
            pid = drawing._pid
            raise ValueError("the fit failed")
    assert pid is not None
    with pytest.raises(ChildProcessError):  # reaped: it read the end of its input and exited
        os.waitpid(pid, os.WNOHANG)


PROBE = textwrap.dedent("""
    import sys
    from functools import partial
    from evsynth.common.forks import DrawingProcesses

    def draw(path):
        from evsynth.common.figures import placeholder_figure
        placeholder_figure(path, "nothing to draw")

    with DrawingProcesses(2, ["matplotlib.pyplot"]) as drawing:
        drawing.draw([partial(draw, sys.argv[1])])
    print("matplotlib" in sys.modules)
""")


def test_the_caller_of_drawing_processes_never_imports_matplotlib(tmp_path):
    # run_multiverse fits in the job's process while its drawing process imports matplotlib
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "empty.png")], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False"] and (tmp_path / "empty.png").is_file() and (tmp_path / "empty.svg").is_file()


def test_one_cpu_draws_in_the_callers_process(tmp_path):
    with DrawingProcesses(1, ["evsynth.no_such_module"]) as drawing:  # nothing forked, nothing imported
        assert drawing._pid is None
        drawing.draw([partial(_square, tmp_path / "teal", "teal")])
    assert (tmp_path / "teal.png").is_file()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
def test_usable_cpus_are_the_cpus_the_process_may_run_on():
    # a cluster job restricted to one CPU of a larger node draws in one process
    code = ("import os\nos.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
            "from evsynth.common.forks import usable_cpus\nprint(usable_cpus())")
    one = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert one.stdout.split() == ["1"]
    assert usable_cpus() == len(os.sched_getaffinity(0))
