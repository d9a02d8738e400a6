"""Discrepancy checks on small hand-made records: each kind of disagreement is found, agreement is not."""

import numpy as np
import pandas as pd
import pytest

from evsynth.describe.discrepancies import (
    age_followup_conflicts, find_discrepancies, pair_kind, repeated_values, route_count_conflicts,
)
from evsynth.common.timepoints import timepoint_months

STUDIES = {"s2021": {"level": "individual", "sources": {
    "text": {"kind": "text"}, "table": {"kind": "table"}, "review": {"kind": "secondary"},
    "reg": {"kind": "registry"}}}}
F = "resources/studies/s2021/"


def outcomes(rows):
    cols = ["group", "measure", "timepoint", "metric", "stat", "value", "unit", "comparator", "source", "line"]
    df = pd.DataFrame(rows, columns=cols)
    return df.assign(study="s2021", file=F + "outcomes.csv")


def participants(rows, cols):
    df = pd.DataFrame(rows, columns=cols)
    for c in ["n", "condition", "subtype", "sex", "age_at_msc_years", "age_followup_years", "followup",
              "disease_duration_years", "disease_duration_stat"]:
        if c not in df:
            df[c] = np.nan
    return df.assign(study="s2021", file=F + "participants.csv")


def test_text_vs_table_value_is_found_and_agreement_is_not():
    o = outcomes([
        ["P1", "pga_patient", "baseline", "", "value", 7.0, "0-10", "", "text", 2],
        ["P1", "pga_patient", "baseline", "", "value", 10.0, "0-10", "", "table", 5],
        ["P1", "sledai_2k", "baseline", "", "value", 6.0, "score", "", "text", 3],
        ["P1", "sledai_2k", "baseline", "", "value", 6.0, "score", "", "table", 6],
    ])
    d = repeated_values({"outcomes": o}, STUDIES)
    assert len(d) == 1
    row = d.iloc[0]
    assert (row.value_a, row.value_b, row.kind) == ("7", "10", "table_vs_text")
    assert row.record_a == F + "outcomes.csv:2" and row.record_b == F + "outcomes.csv:5"


def test_post_value_is_compared_with_timed_values_from_other_sources():
    o = outcomes([
        ["P1", "pga_patient", "2 years", "", "value", 1.0, "0-10", "", "text", 2],
        ["P1", "pga_patient", "post", "", "value", 2.0, "0-10", "", "table", 3],
        ["P3", "pga_patient", "post", "", "value", 1.0, "0-10", "", "text", 4],
        ["P3", "pga_patient", "post", "", "value", 1.0, "0-10", "", "table", 5],
    ])
    d = repeated_values({"outcomes": o}, STUDIES)
    assert len(d) == 1 and d.iloc[0].group == "P1" and "2 years" in d.iloc[0].note


def test_subtype_rows_and_range_ends_are_not_conflicts_but_sizes_are():
    p = participants([
        ["all", 10, "", "", None, "paper", 2],
        ["all", 6, "systemic", "", None, "review", 3],
        ["all", 3, "polyarticular", "", None, "review", 4],
        ["all", np.nan, "", 1.0, "min", "review", 5],
        ["all", np.nan, "", 12.0, "max", "review", 6],
        ["all", 15, "", "", None, "reg", 7],
    ], ["group", "n", "subtype", "disease_duration_years", "disease_duration_stat", "source", "line"])
    STUDIES["s2021"]["sources"]["paper"] = {"kind": "text"}
    d = repeated_values({"participants": p}, STUDIES)
    assert list(d["quantity"]) == ["n"]
    assert (d.iloc[0].value_a, d.iloc[0].value_b, d.iloc[0].kind) == ("10", "15", "paper_vs_registry")


def test_route_counts_text_vs_summary():
    iv = pd.DataFrame({
        "group": ["P1"] * 5, "seq": [1, 2, 3, 4, np.nan], "count": [np.nan] * 4 + [3],
        "route": ["iv", "iv", "iv", "iv", "iv"], "source": ["text"] * 4 + ["table"],
        "line": [2, 3, 4, 5, 6],
    }).assign(study="s2021", file=F + "interventions.csv")
    d = route_count_conflicts(iv, STUDIES)
    assert len(d) == 1 and (d.iloc[0].value_a, d.iloc[0].value_b) == ("4", "3")
    assert d.iloc[0].kind == "derived_vs_reported"


def test_ages_that_do_not_add_up():
    p = participants([
        ["P1", 1, 14.0, np.nan, "", "table", 2],
        ["P1", 1, np.nan, 18.0, "", "table", 3],
        ["P1", 1, np.nan, np.nan, "2 years", "text", 4],
    ], ["group", "n", "age_at_msc_years", "age_followup_years", "followup", "source", "line"])
    d = age_followup_conflicts(p, STUDIES)
    assert len(d) == 1 and d.iloc[0].value_a == "4" and d.iloc[0].value_b == "2"
    p.loc[1, "age_followup_years"] = 16.0
    assert age_followup_conflicts(p, STUDIES).empty


@pytest.mark.parametrize("a, b, kind", [("text", "secondary", "primary_vs_secondary"),
                                        ("abstract", "registry", "paper_vs_registry"),
                                        ("table", "text", "table_vs_text"), ("text", "text", "within_text")])
def test_pair_kind(a, b, kind):
    assert pair_kind(a, b) == kind


@pytest.mark.parametrize("text, months", [("baseline", 0.0), ("2 years", 24.0), ("6 months", 6.0),
                                          ("0-4 days", 2 * 12 / 365.25), ("8 weeks", 8 * 84 / 365.25)])
def test_timepoint_months(text, months):
    assert timepoint_months(text) == pytest.approx(months)


def test_empty_corpus_gives_empty_table_with_columns():
    empty = {t: pd.DataFrame() for t in ["participants", "interventions", "outcomes", "adverse_events"]}
    out = find_discrepancies(empty | {"participants": None, "interventions": None}, {})
    assert out.empty and "value_a" in out.columns


def test_summary_dose_per_kg_vs_administrations():
    from evsynth.describe.discrepancies import summary_dose_conflicts

    doses = pd.DataFrame({
        "study": "s2021", "group": "P3", "file": F + "interventions.csv", "line": [2, 3, 4],
        "seq": [1, 2, np.nan], "route": "iv", "summary": [False, False, True],
        "cells_per_kg": [1.8e6, 1.9e6, 1.8e6], "cells_per_kg_round": [np.nan, np.nan, 1e5],
        "dose_text": ["a", "b", "1.8 × 10 6 /kg/dose"],
    })
    d = summary_dose_conflicts(doses, STUDIES)
    assert len(d) == 1 and d.iloc[0].value_b == "1.8" and d.iloc[0].value_a.startswith("1.9")
    assert d.iloc[0].record_a == F + "interventions.csv:3"
    doses.loc[1, "cells_per_kg"] = 1.84e6  # within the rounding of '1.8'
    assert summary_dose_conflicts(doses, STUDIES).empty
