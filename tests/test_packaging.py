"""Packaging: every dependency pinned, the running environment equals the pins, the conda environment defers to
them, and the package reads project files from the project directory (so a non-editable install works)."""

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([0-9][A-Za-z0-9.+-]*)$")


def pins(requirements: list[str]) -> dict[str, str]:
    out = {}
    for req in requirements:
        match = PIN.match(req.replace(" ", ""))
        assert match, f"pyproject.toml: '{req}' is not pinned with == (a fresh clone must get the same versions)"
        out[match.group(1)] = match.group(2)
    return out


def test_every_dependency_and_extra_is_pinned():
    pins(PYPROJECT["project"]["dependencies"])
    for extra, reqs in PYPROJECT["project"]["optional-dependencies"].items():
        pins(reqs)


def test_the_report_libraries_are_declared():
    """snakemake --report imports jinja2 and pygments; pygments is not a snakemake dependency."""
    declared = {name.lower() for name in pins(PYPROJECT["project"]["dependencies"])}
    assert {"jinja2", "pygments", "snakemake"} <= declared


def test_installed_versions_equal_the_pins():
    wanted = pins(PYPROJECT["project"]["dependencies"]) | pins(PYPROJECT["project"]["optional-dependencies"]["dev"])
    installed = {name: version(name) for name in wanted}
    assert installed == wanted


def test_conda_environment_defers_to_the_pins():
    """workflow/envs/evsynth.yaml installs Python and this package with pip, nothing else: every library version
    then comes from pyproject.toml, so the conda environment resolves to the same pins."""
    env = yaml.safe_load((ROOT / "workflow" / "envs" / "evsynth.yaml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [d for d in env["dependencies"] if isinstance(d, dict)]
    python = [d for d in conda if d.startswith("python")]
    assert python == ["python=3.11"] and PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert set(conda) == {"python=3.11", "pip"}, "a conda package beside pip would bypass the pins"
    assert pip == [{"pip": ["-e ../.."]}]
    assert (ROOT / "workflow" / "envs" / "../.." / "pyproject.toml").resolve() == (ROOT / "pyproject.toml").resolve()


def test_package_finds_project_files_relative_to_the_project_not_the_install():
    from evsynth.ingest import records

    assert not records.SCHEMA_DIR.is_absolute() and not records.VOCABULARY_DIR.is_absolute()
    assert (ROOT / records.SCHEMA_DIR / "study.schema.yaml").is_file()
    assert (ROOT / records.VOCABULARY_DIR / "terms.yaml").is_file()
    source = "\n".join(p.read_text() for p in (ROOT / "workflow" / "evsynth").rglob("*.py"))
    assert "__file__" not in source, "the package must not locate project files from its own location"
