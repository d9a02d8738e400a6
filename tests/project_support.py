"""A copy of the workflow on the demo corpus (tests/data) for tests that run Snakemake for real."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SMALL_ANALYSES = {"sledai": {"title": "SLEDAI change", "outcome": {"measures": ["sledai_2k"]}, "effect": "MC",
                             "timepoint": {"include_untimed": True}}}
SMALL_MULTIVERSE = {"analyses": ["sledai"], "estimators": ["REML"], "tests": ["z"], "correlations": [0.5],
                    "imputation": ["wan2014"], "inclusion": ["all"]}


def demo_project(dest: Path, small: bool = False) -> Path:
    """Snakefile, workflow and config copied to ``dest`` with the demo studies and sources.

    ``small``: one small analysis (a full run takes about a minute); otherwise the shipped config.yaml with only
    ``sources_dir`` changed, line for line, so that its line numbers are the real file's.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for item in ("workflow", "config"):
        shutil.copytree(ROOT / item, dest / item)
    for sub in ("vocabulary", "appraisal"):
        shutil.copytree(ROOT / "resources" / sub, dest / "resources" / sub)
    shutil.copytree(ROOT / "tests" / "data" / "studies", dest / "resources" / "studies")
    shutil.copytree(ROOT / "tests" / "data" / "sources", dest / "sources")
    path = dest / "config" / "config.yaml"
    if small:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        config.update(sources_dir="sources", analyses=SMALL_ANALYSES, multiverse=SMALL_MULTIVERSE)
        if "summary_of_findings" in config:
            config["summary_of_findings"]["outcomes"] = [{"outcome": "disease activity (SLEDAI)",
                                                          "analysis": "sledai"}]
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    else:
        lines = [("sources_dir: sources" if ln.startswith("sources_dir:") else ln)
                 for ln in path.read_text(encoding="utf-8").splitlines()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest
