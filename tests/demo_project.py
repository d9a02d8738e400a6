"""The demo project the workflow tests (and make test-cluster) run: a copy of the workflow whose config points at
the demo corpus in tests/data, with two small analyses and a small multiverse."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def make_demo_project(dest: Path) -> Path:
    """Lay the demo project out in ``dest`` (created) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in ("workflow", "config"):
        shutil.copytree(ROOT / item, dest / item)
    shutil.copytree(ROOT / "resources" / "vocabulary", dest / "resources" / "vocabulary")
    shutil.copytree(ROOT / "resources" / "appraisal", dest / "resources" / "appraisal")
    shutil.copytree(ROOT / "tests" / "data" / "studies", dest / "resources" / "studies")
    shutil.copytree(ROOT / "tests" / "data" / "sources", dest / "sources")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["sources_dir"] = "sources"
    config["analyses"] = {
        "sledai": {"title": "SLEDAI change", "outcome": {"measures": ["sledai_2k"]}, "effect": "MC",
                   "timepoint": {"include_untimed": True}},
        "pga": {"title": "Patient global", "outcome": {"measures": ["pga_patient"]}, "effect": "MC",
                "timepoint": {"include_untimed": True}},
    }
    config["summary_of_findings"]["outcomes"] = [
        {"outcome": "disease activity (SLEDAI)", "analysis": "sledai", "unit": "points", "ci_width": 4},
        {"outcome": "patient global", "analysis": "pga"}]
    config["multiverse"] = {"analyses": ["sledai"], "estimators": ["DL", "REML"], "tests": ["z"],
                            "correlations": [0.5], "imputation": ["wan2014"], "inclusion": ["all"]}
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def snakemake(project: Path, *args: str) -> subprocess.CompletedProcess:
    """Snakemake on two cores in ``project``, as a user runs it; its output kept for the assertions."""
    return subprocess.run([str(SNAKEMAKE), "--cores", "2", *args], cwd=project, capture_output=True, text=True,
                          timeout=1200)
