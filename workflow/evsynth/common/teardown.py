"""Leaving a Python process without the interpreter's last garbage collections.

When a Python process ends, the interpreter clears its modules and runs full cyclic garbage collections over every
object still alive: pandas, pyarrow, matplotlib, and in the Snakemake process the rules and the DAG. Measured on
this project, that teardown took 0.33-0.50 s of each Snakemake run (of about 1.9 s for a no-op run), and 0.18-0.26 s
of a job that runs in its own Python with pandas and matplotlib loaded. :func:`skip_final_collection` makes it
0.03-0.05 s: at exit it moves every live object to the permanent generation (:func:`gc.freeze`), which those
collections do not scan.

What still happens at exit: every ``atexit`` handler runs (Snakemake's own, logging's flush and close of its
handlers, the warm worker's stop), and objects are still released by reference counting as the modules are
cleared. What no longer happens: the collection of reference cycles still alive at exit, whose finalizers
Python does not promise to run at exit anyway. The package closes the files it writes itself (``with`` blocks;
:func:`evsynth.common.io.step` closes the job's log), so nothing it writes waits for a finalizer.

Only the standard library is imported here: the Snakefile imports it before its rules load pandas; a job asks
for it when its script enters :func:`~evsynth.common.io.step`.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def skip_final_collection() -> None:
    """At this process' exit, after the ``atexit`` handlers registered later, freeze the objects alive then, so
    that the interpreter's teardown does not collect them (once per process; calling again does nothing)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
