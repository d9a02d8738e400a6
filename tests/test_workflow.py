"""The workflow end to end on the small demo corpus (tests/data): runs, is deterministic, and reruns only
what a config change touches. Slow: it runs Snakemake for real. The cold run and the second, killed and
recovered run are made once per test process (``demo_run`` and ``recovered_run`` in conftest.py)."""

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from demo_project import make_demo_project, snakemake


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the workflow whose config points at the demo corpus, with two small analyses (not run)."""
    return make_demo_project(tmp_path_factory.mktemp("project"))


def finished_copy(demo_run: Path, dest: Path) -> Path:
    """A copy of the finished demo run to change (its file times kept, so Snakemake sees it finished)."""
    shutil.copytree(demo_run, dest, ignore=shutil.ignore_patterns("logs"))
    return dest


def results_digest(project: Path) -> dict[str, str]:
    """Every file under results/ (tables, plots, the page, the run's record) by its path there."""
    results = project / "results"
    return {str(p.relative_to(results)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(results.rglob("*")) if p.is_file()}


def planned_rules(result: subprocess.CompletedProcess) -> set[str]:
    """Rule names a dry run would execute (from its job table)."""
    return set(re.findall(r"^(\w+)\s+\d+\s*$", result.stdout, flags=re.M)) - {"total"}


def test_runs_is_deterministic_and_reruns_only_the_changed_analysis(demo_run, recovered_run, tmp_path):
    project = demo_run  # the cold run (conftest.py): read only
    for name in ("pooled.csv", "pooled.xlsx", "discrepancies.csv", "cases.csv", "ledger.csv", "studies.csv",
                 "multiverse.csv", "summaries.csv", "bias_checklist.csv", "doses.csv", "outcomes.csv",
                 "summary_of_findings.csv"):
        assert (project / "results" / "tables" / name).is_file(), name
    assert (project / "results" / "index.html").is_file()

    # the data dictionary describes every column of every table the pipeline wrote
    dictionary = pd.read_csv(project / "results" / "tables" / "data_dictionary.csv")
    for table in sorted((project / "results" / "tables").glob("*.csv")):
        columns = list(pd.read_csv(table, nrows=0).columns)
        described = dictionary.loc[dictionary["table"].eq(table.name)]
        assert list(described["column"]) == columns, f"{table.name} is missing from the data dictionary"
    assert not dictionary["description"].eq("NOT DESCRIBED").any(), \
        dictionary.loc[dictionary["description"].eq("NOT DESCRIBED")].to_string()
    digest = results_digest(project)

    # a report that reads (issue 13 item 9): no pandas missing markers in Markdown, a log per analysis that
    # says what was pooled and what was left out, the software that rendered the page, harms from harms.csv
    for md in (project / "results" / "tables").glob("*.md"):
        assert "<NA>" not in md.read_text(encoding="utf-8"), md.name
    for name in ("pga", "sledai"):
        log = (project / "logs" / "pool_analysis" / f"{name}.log").read_text(encoding="utf-8")
        assert f"analysis {name}" in log and "main: k = " in log and "excluded" in log, log
    software = pd.read_csv(project / "results" / "report" / "software.csv")
    assert {"jinja2", "pygments", "snakemake"} <= set(software["package"].str.lower())
    page = (project / "results" / "index.html").read_text(encoding="utf-8")
    assert "Source: results/tables/harms.csv" in page

    # byte-identical in a second run of the same project from scratch: recovered_run ran every job again in
    # another folder (killed after its first job and recovered, test_recovery.py checks how), each job in its own
    # Python (warm_worker=false) where demo_run's ran in forks of the warm worker: every table, plot and page
    assert recovered_run.rerun.returncode == 0, recovered_run.rerun.stderr[-3000:]
    assert results_digest(recovered_run.project) == digest

    # the discrepancy report shows the demo's text-vs-table disagreement
    assert "table_vs_text" in (project / "results" / "tables" / "discrepancies.csv").read_text()

    # change one analysis: only it and what combines the analyses are planned
    project = finished_copy(demo_run, tmp_path / "project")
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

    # the estimator of an analysis the multiverse varies: the multiverse's grid chooses its estimators, so only
    # the analysis and the combining steps rerun, not its share of the multiverse (issue 12)
    config["analyses"]["pga"].pop("method")
    config["analyses"]["sledai"]["method"] = "DL"
    (project / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    plan = snakemake(project, "-n")
    assert plan.returncode == 0, plan.stderr[-3000:]
    rules = planned_rules(plan)
    assert "pool_analysis" in rules and "run_multiverse" not in rules, rules
    assert "wildcards: analysis=sledai" in plan.stdout

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


def test_the_html_report_of_the_readme_builds_from_a_finished_run(demo_run, tmp_path):
    """`make results` ends with `snakemake --report`: every caption renders (the multiverse curves' caption
    has no analysis wildcard in a local run, where one job draws every curve)."""
    run = finished_copy(demo_run, tmp_path / "run")
    result = snakemake(run, "--report", "results/report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (run / "results" / "report.html").read_text(encoding="utf-8")
    assert "Specification curve of one analysis of the multiverse" in html
    assert "Risk-of-bias plots in the style of robvis" in html
    assert "Scale shown: mean change from baseline in the outcome" in html  # forest.rst, from scale_shown


def test_compare_to_reports_what_changed_since_a_previous_run_and_why(demo_run, tmp_path):
    """A living review adds a study: the report names what moved (here a new discrepancy) and the study that did."""
    run = finished_copy(demo_run, tmp_path / "run")
    previous = tmp_path / "previous"
    shutil.copytree(run / "results" / "tables", previous)
    new_study = run / "resources" / "studies" / "demo2021"
    shutil.copytree(run / "resources" / "studies" / "demo2020", new_study)
    (new_study / "study.yaml").write_text((new_study / "study.yaml").read_text().replace("demo2020", "demo2021")
                                          .replace("year: 2020", "year: 2021"))
    config = yaml.safe_load((run / "config" / "config.yaml").read_text())
    config["compare_to"] = str(previous)
    (run / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(run)
    assert result.returncode == 0, result.stderr[-3000:]
    changes = pd.read_csv(run / "results" / "tables" / "changes.csv", keep_default_na=False)
    assert ["inputs", "study", "demo2021", "added"] in changes[["table", "what", "key", "change"]].values.tolist()
    appeared = changes[(changes["table"] == "discrepancies") & (changes["change"] == "appeared")]
    assert len(appeared) and appeared["key"].str.startswith("demo2021 / ").all()
    assert set(appeared["why"]) == {"new study records: demo2021"}
    # the demo's single patients give no poolable arm (k = 0 before and after): no pooled row is news
    assert not (changes["table"] == "pooled").any()
    assert "What changed since the previous run" in (run / "results" / "tables" / "changes.md").read_text()
