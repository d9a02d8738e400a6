"""What the report says about the run itself: the software versions and the config used."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
import yaml

#: Packages whose versions the report lists (after Python's): evsynth and every runtime dependency declared in
#: pyproject.toml (a test checks none is missing), e.g. jinja2, which renders the evidence page.
PACKAGES = ["evsynth", "snakemake", "pandas", "numpy", "scipy", "statsmodels", "matplotlib", "pyarrow",
            "openpyxl", "PyYAML", "jsonschema", "jinja2", "pygments"]


def software_versions(packages: list[str] = PACKAGES) -> pd.DataFrame:
    """package, version ("not installed" when absent), Python first."""
    rows = [{"package": "python", "version": platform.python_version()}]
    for name in packages:
        try:
            rows.append({"package": name, "version": version(name)})
        except PackageNotFoundError:
            rows.append({"package": name, "version": "not installed"})
    return pd.DataFrame(rows)


def write_config(config: dict, path: str | Path) -> None:
    """The run's config as YAML (keys sorted)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(dict(config), sort_keys=True, allow_unicode=True), encoding="utf-8")
