"""Rows name their code: the name a result row gives for the function that produced it, and back.

A row's ``check`` (discrepancies.csv), ``rule`` (bias_checklist.csv) or ``function`` (pooled.csv) is
``evsynth.<stage>.<module>.<function>``: open that module, find that function (two hops from any number).
"""

from __future__ import annotations

import importlib
from typing import Callable


def code_name(fn: Callable) -> str:
    """``evsynth.<module>.<function>`` of a package function."""
    return f"{fn.__module__}.{fn.__name__}"


def resolve_code_name(name: str) -> Callable:
    """The function a :func:`code_name` names (ValueError if there is none)."""
    module, _, attr = str(name).rpartition(".")
    if not module.startswith("evsynth"):
        raise ValueError(f"{name!r} does not name a function of the evsynth package")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{name!r} does not name a function of the evsynth package ({exc})") from None
    if not callable(fn):
        raise ValueError(f"{name!r} is not a function")
    return fn
