"""The workflow end to end on the small demo corpus (tests/data): runs, is deterministic, and reruns only
what a config change touches. Slow (about a minute per run): it runs Snakemake for real."""

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the workflow whose config points at the demo corpus, with two small analyses."""
    dest = tmp_path_factory.mktemp("project")
    for item in ("Snakefile", "workflow", "config"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / item)
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
    return subprocess.run([str(SNAKEMAKE), "--cores", "2", *args], cwd=project, capture_output=True, text=True,
                          timeout=900)


def tables_digest(project: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((project / "results" / "tables").glob("*")) if p.suffix in (".csv", ".md", ".xlsx")}


def planned_rules(result: subprocess.CompletedProcess) -> set[str]:
    """Rule names a dry run would execute (from its job table)."""
    return set(re.findall(r"^(\w+)\s+\d+\s*$", result.stdout, flags=re.M)) - {"total"}


def test_runs_is_deterministic_and_reruns_only_the_changed_analysis(project):
    first = snakemake(project)
    assert first.returncode == 0, first.stderr[-3000:]
    for name in ("pooled.csv", "pooled.xlsx", "discrepancies.csv", "cases.csv", "ledger.csv", "studies.csv",
                 "multiverse.csv", "summaries.csv", "bias_checklist.csv", "doses.csv", "outcomes.csv",
                 "summary_of_findings.csv"):
        assert (project / "results" / "tables" / name).is_file(), name
    digest = tables_digest(project)

    # byte-identical on a forced rerun
    again = snakemake(project, "--forceall")
    assert again.returncode == 0, again.stderr[-3000:]
    assert tables_digest(project) == digest

    # the discrepancy report shows the demo's text-vs-table disagreement
    assert "table_vs_text" in (project / "results" / "tables" / "discrepancies.csv").read_text()

    # change one analysis: only it and what combines the analyses are planned
    config = yaml.safe_load((project / "config" / "config.yaml").read_text())
    config["analyses"]["pga"]["method"] = "DL"
    (project / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    plan = snakemake(project, "-n")
    assert plan.returncode == 0, plan.stderr[-3000:]
    rules = planned_rules(plan)
    assert "pool_analysis" in rules and "combine_pooled" in rules
    assert not rules & {"validate_records", "harmonize_outcomes", "harmonize_doses", "appraise_studies",
                        "run_multiverse"}, rules
    assert "wildcards: analysis=pga" in plan.stdout and "wildcards: analysis=sledai" not in plan.stdout

    # --config overrides work as Snakemake users expect: a harmonization option reruns harmonization
    plan = snakemake(project, "-n", "--config", "harmonize={summary_method: luo2018, prepost_correlation: 0.7}")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "harmonize_outcomes" in planned_rules(plan)


def test_bad_record_stops_with_a_clear_error_and_no_results(project, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(project, broken, ignore=shutil.ignore_patterns("results", ".snakemake", "logs"))
    csv = broken / "resources" / "studies" / "demo2020" / "outcomes.csv"
    csv.write_text(csv.read_text().replace("value,8,score", "value,eight,score", 1))
    run = snakemake(broken)
    assert run.returncode != 0
    assert "resources/studies/demo2020/outcomes.csv, line 2, column value: 'eight' is not a number" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (broken / "results" / "tables").exists()


def test_bad_config_is_refused_before_anything_runs(project, tmp_path):
    run = snakemake(project, "-n", "--config", "analysis_defaults={method: REMLL}")
    assert run.returncode != 0
    assert "REMLL" in run.stdout + run.stderr and "is not one of" in run.stdout + run.stderr
