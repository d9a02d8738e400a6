"""Each rule's run_<rule> function on the demo corpus (tests/data), called the way its rule script calls it.

The functions are chained in DAG order in one project folder (like the workflow, without Snakemake); each test
checks what its rule wrote. Every rule script in workflow/scripts/ calls exactly one of these functions.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evsynth.answer.run import (
    run_build_evidence_page, run_summarize_findings, run_tabulate_flow,
)
from evsynth.appraise.run import run_appraise_studies, run_plot_bias
from evsynth.common.config import analysis_spec
from evsynth.describe.run import (
    run_report_discrepancies, run_summarize_evidence, run_tabulate_cases, run_tabulate_harms, run_tabulate_studies,
)
from evsynth.harmonize.run import run_harmonize_doses, run_harmonize_outcomes
from evsynth.ingest.records import TABLES
from evsynth.ingest.run import run_validate_records
from evsynth.pool.run import (
    run_combine_multiverse, run_combine_pooled, run_multiverse, run_pool_analysis,
)
from evsynth.report.run import (
    run_compare_runs, run_plot_doses, run_record_environment, run_write_ledger,
)
from evsynth.select.run import run_select_evidence

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


class Files(list):
    """Like Snakemake's input/output/params: the values in order, each also an attribute by name."""

    def __init__(self, *positional, **named):
        values = list(positional)
        for v in named.values():
            values += v if isinstance(v, list) else [v]
        super().__init__(values)
        self.__dict__.update(named)
        self._named = named

    def items(self):
        return self._named.items()


def _project(tmp: Path) -> Path:
    shutil.copytree(ROOT / "workflow" / "schemas", tmp / "workflow" / "schemas")
    shutil.copytree(ROOT / "resources" / "vocabulary", tmp / "resources" / "vocabulary")
    shutil.copytree(ROOT / "resources" / "appraisal", tmp / "resources" / "appraisal")
    shutil.copytree(ROOT / "tests" / "data" / "studies", tmp / "resources" / "studies")
    shutil.copytree(ROOT / "tests" / "data" / "sources", tmp / "sources")
    return tmp


CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
CONFIG["analyses"] = {"sledai": {"title": "SLEDAI change", "outcome": {"measures": ["sledai_2k"]}, "effect": "MC",
                                 "timepoint": {"include_untimed": True}}}
CONFIG["summary_of_findings"]["outcomes"] = [{"outcome": "disease activity (SLEDAI)", "analysis": "sledai"}]
SPEC = analysis_spec(CONFIG, "sledai")
RECORDS = [f"results/records/{t}.parquet" for t in TABLES]
STUDIES = "results/records/studies.json"
SELECTED = [f"results/selected/{t}.parquet" for t in TABLES]
SELECTED_STUDIES = "results/selected/studies.json"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The demo corpus run through every run_<rule>, in DAG order, in a fresh folder."""
    tmp = _project(tmp_path_factory.mktemp("run_rules"))
    cwd = Path.cwd()
    import os

    os.chdir(tmp)
    try:
        bound = CONFIG["followup"]["range_bound"]
        dirs = {"studies": "resources/studies", "vocabulary": "resources/vocabulary", "sources": "sources",
                "tools": "resources/appraisal/tools.yaml"}
        run_validate_records(Files(), Files(tables=RECORDS, studies=STUDIES, ledger="results/records/ledger.csv"),
                             Files(dirs=dirs))
        rec = Files(records=RECORDS, studies=STUDIES)
        sel = Files(records=SELECTED, studies=SELECTED_STUDIES)
        run_select_evidence(Files(records=RECORDS, studies=STUDIES, pins=[]),
                            Files(evidence="results/tables/evidence.csv", tables=SELECTED, studies=SELECTED_STUDIES),
                            Files(preference=CONFIG["evidence"]["source_preference"],
                                  cumulative_measures=CONFIG["evidence"]["cumulative_measures"]))
        run_harmonize_doses(Files(records=RECORDS, studies=STUDIES, selected=SELECTED),
                            Files(doses="results/tables/doses.csv", cumulative="results/tables/cum.csv",
                                  conflicts="results/h/conflicts.csv", ledger="results/h/ledger_doses.csv"))
        vocab = [f"resources/vocabulary/{n}" for n in ("measures.yaml", "units.yaml", "responders.yaml")]
        run_harmonize_outcomes(Files(records=SELECTED, studies=SELECTED_STUDIES, vocabulary=vocab),
                               Files(table="results/tables/outcomes.csv", parquet="results/h/outcomes.parquet",
                                     responders="results/tables/responders.csv",
                                     ledger="results/h/ledger_outcomes.csv"),
                               Files(summary_method="wan2014", prepost_correlation=0.5))
        plots = [f"results/plots/bias/{t}_{k}.{e}" for t in ("murad", "rob2") for k in ("traffic_light", "summary")
                 for e in ("png", "svg")]
        run_appraise_studies(Files(records=RECORDS, studies=STUDIES, tools="resources/appraisal/tools.yaml",
                                   overrides=[]),
                             Files(csv="results/tables/bias_checklist.csv", md="results/tables/bias_checklist.md",
                                   overall="results/tables/bias_overall.csv"),
                             Files(min_followup_months=6, followup_bound=bound))
        run_plot_bias(Files(checklist="results/tables/bias_checklist.csv", studies=STUDIES), Files(*plots),
                      Files(colourblind=False, conditions=None))
        run_report_discrepancies(Files(records=RECORDS, studies=STUDIES, dose_conflicts="results/h/conflicts.csv",
                                       doses="results/tables/doses.csv", evidence="results/tables/evidence.csv"),
                                 Files(csv="results/tables/discrepancies.csv", md="results/tables/discrepancies.md"))
        run_tabulate_cases(Files(records=RECORDS, studies=STUDIES, discrepancies="results/tables/discrepancies.csv",
                                 measures="resources/vocabulary/measures.yaml"),
                           Files(csv="results/tables/cases.csv", md="results/tables/cases.md"))
        run_tabulate_studies(Files(records=RECORDS, studies=STUDIES, doses="results/tables/doses.csv"),
                             Files(csv="results/tables/studies.csv", md="results/tables/studies.md"),
                             Files(followup_bound=bound))
        run_summarize_evidence(
            Files(records=SELECTED, studies=SELECTED_STUDIES, outcomes="results/h/outcomes.parquet",
                  doses="results/tables/doses.csv", cumulative="results/tables/cum.csv",
                  responders="results/tables/responders.csv"),
            Files(summaries="results/tables/summaries.csv", summaries_md="results/tables/summaries.md",
                  cases="results/tables/pediatric_cases.csv", cases_md="results/tables/pediatric_cases.md",
                  xlsx="results/tables/summaries.xlsx"),
            Files(followup_bound=bound, conditions=None))
        run_tabulate_harms(Files(records=RECORDS, studies=STUDIES, evidence="results/tables/evidence.csv"),
                           Files(csv="results/tables/harms.csv", md="results/tables/harms.md",
                                 xlsx="results/tables/harms.xlsx"))
        pool_in = Files(records=SELECTED, studies=SELECTED_STUDIES, outcomes="results/h/outcomes.parquet",
                        bias="results/tables/bias_overall.csv")
        a = "results/analyses/sledai/"
        run_pool_analysis(pool_in, Files(pooled=a + "pooled.csv", studies=a + "studies.csv",
                                         excluded=a + "excluded.csv", forest=[a + "forest.png", a + "forest.svg"],
                                         funnel=a + "funnel", influence=a + "influence.csv",
                                         baujat=[a + "baujat.png", a + "baujat.svg"]),
                          Files(spec=SPEC), Files(analysis="sledai"))
        run_combine_pooled(Files(pooled=[a + "pooled.csv"], studies=[a + "studies.csv"], excluded=[a + "excluded.csv"],
                                 influence=[a + "influence.csv"], outcomes="results/h/outcomes.parquet"),
                           Files(csv="results/tables/pooled.csv", md="results/tables/pooled.md",
                                 xlsx="results/tables/pooled.xlsx", studies="results/tables/analysis_studies.csv",
                                 excluded="results/tables/analysis_excluded.csv",
                                 influence="results/tables/influence.csv",
                                 reviews="results/tables/review_comparison.csv",
                                 reviews_md="results/tables/review_comparison.md"),
                           Files(analyses={"sledai": SPEC}))
        grid = {"analyses": ["sledai"], "estimators": ["DL", "REML"], "tests": ["z"], "correlations": [0.5],
                "imputation": ["wan2014"], "inclusion": ["all"]}
        run_multiverse(pool_in, Files(table="results/multiverse/sledai.parquet",
                                      curves=["results/plots/mv/sledai_specification_curve.png",
                                              "results/plots/mv/sledai_specification_curve.svg"]),
                       Files(multiverse={"grid": grid, "analyses": {"sledai": SPEC}}), Files(analysis="sledai"))
        run_combine_multiverse(Files("results/multiverse/sledai.parquet"), Files(csv="results/tables/multiverse.csv"))
        # a local run: the whole multiverse in one job, its table written directly
        run_multiverse(pool_in, Files(csv="results/one_job/multiverse.csv",
                                      curves=["results/one_job/sledai_specification_curve.png",
                                              "results/one_job/sledai_specification_curve.svg"]),
                       Files(multiverse={"grid": grid, "analyses": {"sledai": SPEC}}))
        run_write_ledger(Files(validation="results/records/ledger.csv", doses="results/h/ledger_doses.csv",
                               outcomes="results/h/ledger_outcomes.csv"),
                         Files(ledger="results/tables/ledger.csv", quote_checks="results/tables/quote_checks.csv"))
        run_plot_doses(Files(doses="results/tables/doses.csv", studies=STUDIES),
                       Files("results/plots/doses.png", "results/plots/doses.svg"))
        run_record_environment(Files(), Files(software="results/report/software.csv",
                                              config="results/report/config.yaml",
                                              inputs="results/tables/run_inputs.csv"),
                               Files(dirs=dirs, config=CONFIG))
        run_summarize_findings(
            Files(pooled="results/tables/pooled.csv", studies_rows="results/tables/analysis_studies.csv",
                  excluded="results/tables/analysis_excluded.csv", bias="results/tables/bias_overall.csv",
                  studies="results/tables/studies.csv", outcomes="results/tables/outcomes.csv",
                  interventions="results/selected/interventions.parquet",
                  participants="results/selected/participants.parquet", overrides=[]),
            Files(csv="results/tables/summary_of_findings.csv", md="results/tables/summary_of_findings.md",
                  xlsx="results/tables/summary_of_findings.xlsx"),
            Files(settings=CONFIG["summary_of_findings"], analyses={"sledai": SPEC}))
        shutil.copytree("results/tables", "previous")  # compare_runs: this run against a copy of itself
        compared = {n.removesuffix(".csv"): f"results/tables/{n}"
                    for n in ("pooled.csv", "summary_of_findings.csv", "discrepancies.csv")}
        run_compare_runs(Files(**compared, manifest="results/tables/run_inputs.csv"),
                         Files(csv="results/tables/changes.csv", md="results/tables/changes.md"),
                         Files(previous="previous"))
        run_tabulate_flow(Files(ledger="results/tables/ledger.csv", studies=STUDIES,
                                excluded="results/tables/analysis_excluded.csv",
                                studies_rows="results/tables/analysis_studies.csv", pooled="results/tables/pooled.csv"),
                          Files(csv="results/tables/flow_of_records.csv", md="results/tables/flow_of_records.md",
                                png="results/plots/flow_of_records.png", svg="results/plots/flow_of_records.svg"))
        tables = sorted(str(p) for p in Path("results/tables").glob("*.csv") if p.name != "cum.csv")
        run_build_evidence_page(
            Files(sof="results/tables/summary_of_findings.csv", harms="results/tables/harms.csv",
                  pooled="results/tables/pooled.csv", forests=[a + "forest.png"],
                  bias="results/tables/bias_overall.csv", bias_plots=plots,
                  discrepancies="results/tables/discrepancies.csv", studies="results/tables/studies.csv",
                  doses="results/tables/doses.csv", doses_plot="results/plots/doses.png",
                  flow="results/tables/flow_of_records.csv", flow_plot="results/plots/flow_of_records.png",
                  tables=tables),
            Files(html="results/index.html", dictionary="results/tables/data_dictionary.csv",
                  dictionary_md="results/tables/data_dictionary.md"),
            Files(settings=CONFIG["summary_of_findings"], analyses={"sledai": SPEC}))
    finally:
        os.chdir(cwd)
    return tmp


def _csv(project, path):
    return pd.read_csv(project / path, keep_default_na=False)


def test_run_validate_records(project):
    assert set(pd.read_parquet(project / RECORDS[0])["study"]) == {"demo2020"}
    assert "demo2020" in json.loads((project / STUDIES).read_text())
    assert (_csv(project, "results/records/ledger.csv")["study"] == "demo2020").all()


def test_run_select_evidence(project):
    evidence = _csv(project, "results/tables/evidence.csv")
    assert len(evidence) and (evidence["study"] == "demo2020").all()
    assert set(pd.read_parquet(project / SELECTED[0])["study"]) == {"demo2020"}


def test_run_harmonize_doses(project):
    doses = _csv(project, "results/tables/doses.csv")
    assert len(doses) and {"cells_per_kg", "rule", "selected", "administration"} <= set(doses.columns)
    ledger = _csv(project, "results/h/ledger_doses.csv")
    assert ledger["reason"].str.startswith("dose read: ").all()


def test_run_harmonize_outcomes(project):
    out = _csv(project, "results/tables/outcomes.csv")
    assert {"time_months", "value_h", "imputed"} <= set(out.columns)
    assert _csv(project, "results/h/ledger_outcomes.csv")["reason"].str.startswith("outcome harmonized").all()


def test_run_appraise_studies_and_plot_bias(project):
    checklist = _csv(project, "results/tables/bias_checklist.csv")
    overall = _csv(project, "results/tables/bias_overall.csv")
    assert set(checklist["tool"]) == {"murad", "jbi_case_report"}
    assert (checklist["rule"] != "").all()
    rows = checklist.loc[checklist["item"] == "overall"].set_index(["study", "tool"])["judgement"]
    assert overall.set_index(["study", "tool"])["overall"].to_dict() == rows.to_dict()
    # a tool no study uses gets a placeholder saying so
    assert (project / "results/plots/bias/rob2_summary.png").read_bytes().startswith(PNG)
    assert "No study of the question's conditions is appraised with rob2" in (project / "results/plots/bias/rob2_summary.svg").read_text()


def test_run_report_discrepancies(project):
    table = _csv(project, "results/tables/discrepancies.csv")
    assert list(table.columns)[-1] == "check"
    assert "`check` names the function" in (project / "results/tables/discrepancies.md").read_text()


def test_run_tabulate_cases(project):
    assert (project / "results/tables/cases.csv").stat().st_size > 0
    assert "Pediatric cases" in (project / "results/tables/cases.md").read_text()


def test_run_tabulate_studies(project):
    studies = _csv(project, "results/tables/studies.csv")
    assert list(studies["study"]) == ["demo2020"]
    assert studies["followup_basis"].iloc[0] != ""


def test_run_summarize_evidence(project):
    summaries = _csv(project, "results/tables/summaries.csv")
    assert summaries.iloc[0][["dimension", "level"]].tolist() == ["all", "all"]
    assert "followup_basis" in summaries.columns
    assert (project / "results/tables/summaries.xlsx").read_bytes()[:2] == b"PK"


def test_run_tabulate_harms(project):
    harms = _csv(project, "results/tables/harms.csv")
    assert {"study", "serious"} <= set(harms.columns)
    assert (project / "results/tables/harms.xlsx").read_bytes()[:2] == b"PK"


def test_run_pool_analysis_draws_the_forest_plot_from_the_fit(project):
    pooled = _csv(project, "results/analyses/sledai/pooled.csv")
    assert pooled.iloc[0]["variant"] == "main" and pooled.iloc[0]["function"] == "evsynth.pool.analysis.pool"
    assert "method=REML" in pooled.iloc[0]["spec"]
    assert (project / "results/analyses/sledai/forest.png").read_bytes().startswith(PNG)
    assert "SLEDAI change" in (project / "results/analyses/sledai/forest.svg").read_text()
    # case diagnostics of the main fit, one row per study when k >= influence_min_k, else none and a figure saying why
    influence = _csv(project, "results/analyses/sledai/influence.csv")
    main = pooled.iloc[0]
    assert len(influence) == (main["k"] if main["k"] >= SPEC.get("influence_min_k", 3) and main["converged"] else 0)
    assert (project / "results/analyses/sledai/baujat.png").read_bytes().startswith(PNG)


def test_run_combine_pooled_with_the_review_comparison(project):
    assert len(_csv(project, "results/tables/pooled.csv")) == len(_csv(project, "results/analyses/sledai/pooled.csv"))
    assert len(_csv(project, "results/tables/influence.csv")) == len(_csv(project, "results/analyses/sledai/influence.csv"))
    assert "do not show efficacy" in (project / "results/tables/pooled.md").read_text()
    assert "ours_estimate" in _csv(project, "results/tables/review_comparison.csv").columns


def test_run_multiverse_and_combine_multiverse(project):
    assert len(pd.read_parquet(project / "results/multiverse/sledai.parquet")) == 2
    mv = _csv(project, "results/tables/multiverse.csv")
    assert sorted(set(mv["method"])) == ["DL", "REML"]
    assert (project / "results/plots/mv/sledai_specification_curve.png").read_bytes().startswith(PNG)
    # one job (a local run) writes the very bytes the shards gathered by combine_multiverse write
    one_job = project / "results/one_job"
    assert (one_job / "multiverse.csv").read_bytes() == (project / "results/tables/multiverse.csv").read_bytes()
    for ext in ("png", "svg"):
        name = f"sledai_specification_curve.{ext}"
        assert (one_job / name).read_bytes() == (project / "results/plots/mv" / name).read_bytes()


def test_run_write_ledger_plot_doses_and_record_environment(project):
    ledger = _csv(project, "results/tables/ledger.csv")
    assert not ledger.duplicated(["study", "file", "line"]).any()
    checks = _csv(project, "results/tables/quote_checks.csv")
    assert checks.iloc[-1]["study"] == "all" and checks.iloc[-1]["rows"] == len(ledger)
    assert (project / "results/plots/doses.png").read_bytes().startswith(PNG)
    software = _csv(project, "results/report/software.csv")
    assert software.iloc[0]["package"] == "python"
    assert yaml.safe_load((project / "results/report/config.yaml").read_text())["analyses"] == CONFIG["analyses"]


def test_run_record_environment_inputs_and_compare_runs(project):
    manifest = _csv(project, "results/tables/run_inputs.csv")
    assert "demo2020" in set(manifest.iloc[:, 1]) | set(manifest.iloc[:, 0])
    changes = _csv(project, "results/tables/changes.csv")
    assert changes.empty, changes.to_string()  # a run compared with a copy of itself: nothing changed
    assert (project / "results/tables/changes.md").is_file()


def test_run_summarize_findings(project):
    sof = _csv(project, "results/tables/summary_of_findings.csv")
    assert list(sof["outcome"].unique()) == ["disease activity (SLEDAI)"]
    assert (project / "results/tables/summary_of_findings.xlsx").read_bytes()[:2] == b"PK"


def test_run_tabulate_flow_and_build_evidence_page_with_its_data_dictionary(project):
    flow = _csv(project, "results/tables/flow_of_records.csv")
    assert len(flow) and (project / "results/plots/flow_of_records.png").read_bytes().startswith(PNG)
    dictionary = _csv(project, "results/tables/data_dictionary.csv")
    assert {"pooled.csv", "harms.csv", "data_dictionary.csv"} <= set(dictionary["table"])
    html = (project / "results/index.html").read_text()
    assert html.startswith("<!DOCTYPE html>") or html.lstrip().lower().startswith("<!doctype html>")
    assert "SLEDAI change" in html


def test_every_rule_script_calls_one_run_function_of_its_stage():
    """The same four lines in every script: step(log), one run_<rule>(input, output, params, wildcards)."""
    for script in sorted((ROOT / "workflow" / "scripts").glob("*.py")):
        tree = ast.parse(script.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                 and n.func.id.startswith("run_")]
        assert len(calls) == 1, script.name
        rule = script.stem
        assert calls[0].func.id in (f"run_{rule}", rule), script.name
        imports = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module.endswith(".run")]
        assert len(imports) == 1 and imports[0].names[0].name == calls[0].func.id, script.name
