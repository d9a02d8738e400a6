"""A report that reads (issue 13 item 9): no pandas missing markers in Markdown, per-analysis logs that say
what happened, the software list, the evidence page's harms from harms.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd


def test_markdown_never_shows_pandas_missing_markers():
    from evsynth.common.io import markdown_table

    frame = pd.DataFrame({"k": pd.array([1, pd.NA], dtype="Int64"), "flag": pd.array([True, pd.NA], dtype="boolean"),
                          "x": [np.nan, 1.5], "t": [None, pd.NaT]})
    text = markdown_table(frame)
    assert "<NA>" not in text and "NaT" not in text and "nan" not in text
    assert text.splitlines()[3] == "|  |  | 1.5 |  |"


def test_analysis_log_states_k_exclusions_and_warnings():
    import warnings

    from evsynth.pool.log import analysis_log

    pooled = pd.DataFrame([
        {"subgroup": "all", "variant": "main", "k": 3, "n": 133.0, "method": "ML", "test": "z",
         "model": "binomial-normal GLMM", "studies": "deng2017 (msc);wang2013a (all);wang2014 (all)",
         "message": "every recorded death counts", "converged": True},
        {"subgroup": "population=pediatric", "variant": "main", "k": 2, "n": 9.0, "method": "ML", "test": "z",
         "model": "", "studies": "", "message": "the fit did not converge", "converged": False},
        {"subgroup": "all", "variant": "main", "measure": "OR", "k": 1, "n": 18.0, "method": "REML", "test": "z",
         "model": "", "studies": "", "message": "controlled contrast; k = 1: a single study, not pooled",
         "converged": False},
    ]).assign(measure=["PLO", "PLO", "OR"])
    excluded = pd.DataFrame({"study": ["annhematol2023", "wong2021"],
                             "reason": ["conditions ['GVHD'] not in ['SLE']", "no usable MSC-arm data"]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("fit hit the iteration limit", RuntimeWarning)
    text = analysis_log("deaths", {"title": "Deaths", "effect": "PLO", "outcome": {"measures": ["death"]}},
                        {"pooled": pooled, "excluded": excluded}, caught)
    lines = text.splitlines()
    assert lines[0] == "analysis deaths: Deaths (effect PLO; measures death)"
    assert lines[1].startswith("main: k = 3, n = 133; method ML, test z, model binomial-normal GLMM; studies: deng2017")
    assert "population=pediatric / main: k = 2, n = 9; the fit did not converge" in text
    assert "all / main (OR): k = 1, n = 18; controlled contrast; k = 1: a single study, not pooled" in lines
    assert "excluded (2 studies):" in lines and "  annhematol2023: conditions ['GVHD'] not in ['SLE']" in lines
    assert "warning: population=pediatric / main: no pooled estimate (the fit did not converge)" in lines
    assert not any(line.startswith("warning: all / main (OR)") for line in lines)  # declined by rule, not a fault
    assert "warning: RuntimeWarning: fit hit the iteration limit" in lines
    empty = analysis_log("x", {}, {"pooled": pooled.iloc[:1], "excluded": excluded.iloc[:0]})
    assert "excluded: none" in empty and "warnings: none" in empty


def test_software_list_names_every_runtime_dependency():
    """results/report/software.csv lists jinja2 (it renders the evidence page) and every other package
    pyproject.toml declares for the runtime, so the list cannot drift from the pins."""
    import re
    import tomllib
    from pathlib import Path

    from evsynth.report.environment import PACKAGES, software_versions

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {re.split(r"[=<>!~;\[ ]", d)[0].lower() for d in project["project"]["dependencies"]}
    assert "jinja2" in declared and declared <= {p.lower() for p in PACKAGES}
    table = software_versions()
    assert table["package"].iloc[0] == "python" and "jinja2" in set(table["package"])
    assert table.loc[table["package"] == "jinja2", "version"].iloc[0] != "not installed"


def test_only_rules_that_compare_or_list_reports_read_every_report():
    """Issue 11: every summary, dose table, analysis and the summary of findings read the selected records
    (results/selected/, written by select_evidence); only the rules whose job is to compare or list every report
    read results/records/ (all reports side by side). A new rule reading all reports fails here until it is
    added on purpose."""
    import re
    from pathlib import Path

    rules_dir = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    every_report = set()
    for smk in sorted(rules_dir.glob("*.smk")):
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", smk.read_text(encoding="utf-8"),
                                     flags=re.S | re.M):
            inputs = body.split("output:")[0]
            if "validate_records.output.tables" in inputs or re.search(r"results/records/\w+\.parquet", inputs):
                every_report.add(name)
    assert every_report == {
        "select_evidence",  # chooses one report per quantity
        "harmonize_doses",  # reads every dose, marks the selected ones (selected_doses reads through them)
        "report_discrepancies", "tabulate_cases",  # the reports side by side, disagreements named
        "tabulate_harms",  # every harm listed, with `used`
        "tabulate_studies",  # counts the recorded values (its doses through selected_doses)
        "appraise_studies",  # the bias checklist reads each study's design facts
    }, every_report
