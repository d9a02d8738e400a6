"""One definition per concept, checked on the shipped corpus: follow-up, bias thresholds, rows naming their code.

- Every table that shows follow-up (studies.csv, the bias checklist, the summaries and the pediatric cases)
  takes it, with its basis, from evsynth.common.timepoints.followup; liang2012's "7-23 months" is one number.
- bias_overall.csv applies tools.yaml's thresholds, the same as the checklist's overall rows, also when the
  thresholds are changed.
- Every ``check`` of discrepancies.csv, ``rule`` of bias_checklist.csv and ``function`` of pooled.csv names a
  function that exists in the package.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from corpus_support import shipped_records
from evsynth.appraise.checklist import build_checklist
from evsynth.appraise.context import fmt_months
from evsynth.appraise.overrides import load_overrides
from evsynth.appraise.run import run_appraise_studies
from evsynth.appraise.tools import load_tools
from evsynth.common.code import resolve_code_name
from evsynth.common.config import analysis_spec
from evsynth.common.io import save_records
from evsynth.common.timepoints import followup
from evsynth.describe.discrepancies import checked, find_discrepancies, range_conflicts, summary_dose_conflicts
from evsynth.describe.studies import study_table
from evsynth.describe.summaries import analysis_units, descriptive_summaries, pediatric_case_outcomes
from evsynth.harmonize.run import complete_outcomes
from evsynth.harmonize.tables import cumulative_doses, harmonize_curated_doses, implied_weight_conflicts
from evsynth.ingest.records import TABLES
from evsynth.pool.analysis import run_analysis
from evsynth.pool.datasets import Corpus
from evsynth.select.evidence import select_evidence

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "resources" / "appraisal" / "tools.yaml"
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
FOLLOWUP_RULE = "evsynth.appraise.case_rules.followup_long_enough"


@pytest.fixture(scope="module")
def corpus():
    records = shipped_records()
    doses = harmonize_curated_doses(records.tables["interventions"], records.tables["participants"])
    outcomes = complete_outcomes(records.tables["outcomes"], ROOT / "resources" / "vocabulary", "wan2014", 0.5)
    overrides = load_overrides(sorted((ROOT / "resources" / "studies").glob("*/appraisal.yaml")), ROOT)
    return records, doses, cumulative_doses(doses), outcomes, overrides


@pytest.mark.parametrize("bound", ["lower", "midpoint"])
def test_every_table_takes_followup_from_the_one_function(corpus, bound):
    records, doses, cumulative, outcomes, overrides = corpus
    studies, tables = records.studies, records.tables

    def expected(study, group=None, patient=False):
        return followup(studies, tables, study, group, patient=patient, bound=bound)

    table = study_table(tables, studies, doses, bound).set_index("study")
    for sid in studies:
        fu = expected(sid)
        assert table.at[sid, "followup_basis"] == fu.basis, sid
        assert (pd.isna(table.at[sid, "followup_months"]) and not fu.known) or table.at[sid, "followup_months"] == fu.months

    checklist = build_checklist(studies, tables, load_tools(TOOLS), overrides, 6.0, bound)
    q = checklist.loc[(checklist["rule"] == FOLLOWUP_RULE)]
    assert len(q) > 10
    for r in q.itertuples():
        fu = expected(r.study)
        if fu.known:
            assert f"Follow-up {fmt_months(fu.months)} months ({fu.basis})" in r.rationale, r.study
        else:
            assert "not recorded" in r.rationale, r.study

    units = analysis_units(tables, studies, outcomes, doses, cumulative, followup_bound=bound)
    assert len(units) > 10
    for u in units.itertuples():
        fu = expected(u.study, u.group, patient=u.unit == "patient")
        assert (u.followup_basis, pd.isna(u.followup_months) or u.followup_months) == \
            (fu.basis, not fu.known or fu.months), (u.study, u.group)
    summaries = descriptive_summaries(tables, studies, outcomes, doses, cumulative, followup_bound=bound)
    everything = summaries.loc[summaries["dimension"] == "all", "followup_basis"].iloc[0]
    for u in units.loc[units["followup_months"].notna()].itertuples():
        assert f"{u.study}/{u.group}: {u.followup_basis}" in everything

    cases = pediatric_case_outcomes(tables, studies, outcomes, doses, cumulative, pd.DataFrame(), bound)
    for c in cases.drop_duplicates(["study", "patient"]).itertuples():
        fu = expected(c.study, c.patient, patient=True)
        assert c.followup_basis == fu.basis, (c.study, c.patient)


def test_liang2012_followup_is_one_number_with_one_basis(corpus):
    """'7-23 months' (two relapses, the latest outcome timepoint) was 15 months in studies.csv and 7 in the
    checklist; now the configured bound decides, and every table says so."""
    records, doses, cumulative, outcomes, overrides = corpus
    studies, tables = records.studies, records.tables
    bound = CONFIG["followup"]["range_bound"]
    basis = "latest outcome timepoint '7-23 months', lower end of the range"
    row = study_table(tables, studies, doses, bound).set_index("study").loc["liang2012"]
    assert (row["followup_months"], row["followup_basis"]) == (7.0, basis)
    checklist = build_checklist(studies, tables, load_tools(TOOLS), overrides, 6.0, bound)
    q7 = checklist.loc[(checklist["study"] == "liang2012") & (checklist["rule"] == FOLLOWUP_RULE)]
    assert len(q7) and q7["rationale"].str.contains(f"Follow-up 7 months ({basis})", regex=False).all()
    units = analysis_units(tables, studies, outcomes, doses, cumulative, followup_bound=bound)
    unit = units.loc[units["study"] == "liang2012"].iloc[0]
    assert (unit["followup_months"], unit["followup_basis"]) == (7.0, basis)
    assert study_table(tables, studies, doses, "midpoint").set_index("study").at["liang2012", "followup_months"] == 15


def test_bias_overall_uses_the_thresholds_of_tools_yaml(corpus, tmp_path):
    """With other thresholds in tools.yaml, bias_overall.csv still equals the checklist's overall rows,
    and the new thresholds change some judgements (so the test can fail)."""
    records = corpus[0]
    paths = [str(tmp_path / f"{t}.parquet") for t in TABLES]
    save_records(records, paths, str(tmp_path / "studies.json"))
    tools = yaml.safe_load(TOOLS.read_text())
    results = {}
    for name, (low, concerns) in {"shipped": (None, None), "strict": (0.95, 0.9)}.items():
        if low is not None:
            tools["settings"].update(overall_yes_share_low=low, overall_yes_share_concerns=concerns)
        path = tmp_path / f"tools_{name}.yaml"
        path.write_text(yaml.safe_dump(tools))
        out = tmp_path / name
        out.mkdir()

        class NS(list):
            def __init__(self, **kw):
                super().__init__()
                self.__dict__.update(kw)

        run_appraise_studies(NS(records=paths, studies=str(tmp_path / "studies.json"), tools=str(path), overrides=[]),
                             NS(csv=out / "c.csv", md=out / "c.md", overall=out / "o.csv", plots=[]),
                             NS(min_followup_months=6, followup_bound="lower", colourblind=False))
        checklist = pd.read_csv(out / "c.csv", keep_default_na=False)
        overall = pd.read_csv(out / "o.csv", keep_default_na=False)
        rows = checklist.loc[checklist["item"] == "overall"].set_index(["study", "tool"])["judgement"].to_dict()
        assert overall.set_index(["study", "tool"])["overall"].to_dict() == rows
        results[name] = rows
    assert results["shipped"] != results["strict"]


def test_load_tools_requires_every_threshold(tmp_path):
    tools = yaml.safe_load(TOOLS.read_text())
    del tools["settings"]["missing_data_low"]
    path = tmp_path / "tools.yaml"
    path.write_text(yaml.safe_dump(tools))
    with pytest.raises(ValueError, match="missing_data_low"):
        load_tools(path)


def test_every_row_names_a_function_of_the_package(corpus):
    records, doses, cumulative, outcomes, overrides = corpus
    studies, tables = records.studies, records.tables
    conflicts = checked(implied_weight_conflicts(doses), implied_weight_conflicts)
    per_kg = checked(summary_dose_conflicts(doses, studies), summary_dose_conflicts)
    ranges = checked(range_conflicts(doses, studies), range_conflicts)
    evidence, _ = select_evidence(tables, studies)
    discrepancies = find_discrepancies(tables, studies, extra=[conflicts, per_kg, ranges], evidence=evidence)
    checklist = build_checklist(studies, tables, load_tools(TOOLS), overrides, 6.0)
    corpus_ = Corpus(studies, tables, outcomes)
    pooled = pd.concat([run_analysis(n, analysis_spec(CONFIG, n), corpus_)["pooled"]
                        for n in ("sle_sledai_change", "deaths")])
    names = {"check": set(discrepancies["check"]), "rule": set(checklist["rule"]) - {"reviewer"},
             "function": set(pooled["function"])}
    assert len(discrepancies) and (discrepancies["check"] != "").all()
    assert (checklist["rule"] != "").all() and "reviewer" in set(checklist["rule"])
    assert (checklist.loc[checklist["source"] == "reviewer", "rule"] == "reviewer").all()
    # every check of the describe stage and the dose check found rows in the shipped corpus
    assert {"evsynth.describe.discrepancies.repeated_values", "evsynth.describe.discrepancies.selection_conflicts",
            "evsynth.describe.discrepancies.claim_conflicts", "evsynth.describe.discrepancies.summary_dose_conflicts",
            } <= names["check"], names["check"]
    assert len(names["rule"]) >= 10
    for column, values in names.items():
        for name in values:
            assert callable(resolve_code_name(name)), (column, name)
    with pytest.raises(ValueError):
        resolve_code_name("evsynth.appraise.case_rules.no_such_rule")
