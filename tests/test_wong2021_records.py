"""Anchor facts of the wong2021 records (three children, case text and Summary Table side by side).

Loads the CSVs with pandas directly (independent of evsynth.ingest.records) and checks the facts a reviewer
would verify first, plus the provenance rules: every quote is at most 40 words and appears in the source
file (white space normalized), and every numeric value of a row can be read from its quote.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "resources" / "studies" / "wong2021"
SOURCE = ROOT / "resources" / "sources" / "wong2021-case-series.txt"
TABLES = ("participants", "interventions", "outcomes", "adverse_events", "cointerventions")
# Columns holding reported numbers (seq is an ordinal; n = 1 for a patient is structural).
VALUE_COLS = {
    "participants": ["n", "age_onset_years", "age_at_msc_years", "age_followup_years", "weight_kg",
                     "disease_duration_years"],
    "interventions": ["count", "n"],
    "outcomes": ["value"],
    "adverse_events": ["n_patients", "n_events", "n_at_risk"],
    "cointerventions": [],
}
WORDS = {"no": 0, "none": 0, "zero": 0, "not": 0,  # "not" as in provenance.NUMBER_WORDS: a stated absence or no change
         "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


def ws(text: str) -> str:
    text = str(text).replace("\u2013", "-").replace("\u2212", "-").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip()


def numbers(quote: str) -> set[float]:
    text = ws(quote)
    found = {float(m) for m in re.findall(r"(?<![\w.])(\d*\.\d+|\d+)", text)}
    # '100 × 106' and '3.3 × 10 6' are 100 × 10^6 and 3.3 × 10^6 in the flattened source
    for mant, power in re.findall(r"(\d*\.?\d+)\s*×\s*10\s*\^?\s*(\d)(?!\d)", text):
        found.add(float(mant) * 10 ** int(power))
    found |= {float(WORDS[w]) for w in re.findall(r"[a-z]+", text.lower()) if w in WORDS}
    return found


@pytest.fixture(scope="module")
def t() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(STUDY / f"{name}.csv", dtype={"group": str}) for name in TABLES}


def test_study_yaml_identity_and_appraisal():
    study = yaml.safe_load((STUDY / "study.yaml").read_text(encoding="utf-8"))
    assert study["id"] == "wong2021" and study["level"] == "individual"
    assert study["design"] == "case_series" and study["conditions"] == ["SLE", "MCTD", "JIA"]
    assert study["appraisal"]["selection"]["value"] == "self_referred"
    assert study["appraisal"]["data_collection"]["value"] == "retrospective"
    source = ws(SOURCE.read_text(encoding="utf-8"))
    for fact in study["appraisal"].values():
        if fact["value"] == "unclear" and "quote" not in fact:
            assert fact["note"]  # nothing to quote: the note says why
            continue
        assert fact["source"] in study["sources"]
        assert ws(fact["quote"]) in source, fact["quote"]


def test_three_patients(t):
    patients = set(t["participants"]["group"]) - {"all"}
    assert patients == {"P1", "P2", "P3"}
    conditions = t["participants"].dropna(subset=["condition"]).groupby("group")["condition"].unique()
    assert {g: list(c) for g, c in conditions.items()} == {"P1": ["SLE"], "P2": ["MCTD"], "P3": ["JIA"]}
    assert (t["participants"].query("group == 'all'")["n"] == 3).all()


def test_age_disagreement_p1_followup(t):
    p1 = t["participants"].query("group == 'P1'")
    assert set(p1.dropna(subset=["age_followup_years"]).set_index("source")["age_followup_years"].items()) == {
        ("case1", 17.0), ("table", 16.0)}


def test_p2_pga_pre_text_7_and_table_10(t):
    rows = t["outcomes"].query("group == 'P2' and measure == 'pga_patient' and timepoint == 'baseline'")
    assert sorted(zip(rows["source"], rows["value"])) == [("case2", 7.0), ("table", 10.0)]


def test_p1_pga_post_text_1_and_table_2(t):
    rows = t["outcomes"].query("group == 'P1' and measure == 'pga_patient' and timepoint != 'baseline'")
    assert sorted(zip(rows["source"], rows["timepoint"], rows["value"])) == [
        ("case1", "2 years", 1.0), ("table", "post", 2.0)]


def test_p1_six_text_administrations_and_table_summary(t):
    iv = t["interventions"]
    text = iv.query("group == 'P1' and source == 'case1'")
    assert sorted(text["seq"].astype(int)) == [1, 2, 3, 4, 5, 6]
    assert text["route"].value_counts().to_dict() == {"iv": 4, "intranasal": 1, "lymph_node": 1}
    assert set(text["cell_source"]) == {"adipose"} and set(text["donor"]) == {"autologous"}
    table = iv.query("group == 'P1' and source == 'table'")
    assert table["seq"].isna().all()
    assert dict(zip(table["route"], table["count"])) == {"iv": 3, "intranasal": 1, "lymph_node": 1}


def test_p2_route_disagreement_intraosseous_vs_ia(t):
    iv = t["interventions"].query("group == 'P2'")
    assert (iv.query("source == 'case2'")["route"] == "intraosseous").sum() == 3
    assert iv.query("source == 'table' and route == 'intra_articular'")["count"].tolist() == [3]


def test_p3_jadas_unspecified_from_table_only(t):
    rows = t["outcomes"].query("group == 'P3' and measure == 'jadas_unspecified'")
    assert sorted(zip(rows["timepoint"], rows["value"])) == [("baseline", 11.0), ("post", 6.0)]
    assert set(rows["source"]) == {"table"}


def test_reported_absence_of_serious_events_is_zero_not_missing(t):
    ae = t["adverse_events"].query("group == 'all' and serious == 'yes'")
    assert not ae.empty and (ae["n_patients"] == 0).all()


@pytest.mark.parametrize("name", TABLES)
def test_quotes_short_and_in_source(t, name):
    source = ws(SOURCE.read_text(encoding="utf-8"))
    for _, row in t[name].iterrows():
        quote = ws(row["quote"])
        assert len(quote.split()) <= 40, (name, quote)
        position = 0  # an elision ('...') joins sentences that appear in this order in the source
        for part in quote.split(" ... "):
            position = source.find(part, position)
            assert position >= 0, (name, part)


@pytest.mark.parametrize("name", TABLES)
def test_every_value_in_its_quote(t, name):
    for _, row in t[name].iterrows():
        found = numbers(row["quote"])
        for col in VALUE_COLS[name]:
            if col not in row or pd.isna(row[col]):
                continue
            if col == "n" and row["group"].startswith("P") and row[col] == 1:
                continue
            derived = row.get("derived")
            if isinstance(derived, str) and derived.strip():  # a derived value: the arithmetic over quoted numbers
                assert re.fullmatch(r"[\d.\s+\-*/()]+", derived), derived
                assert {float(x) for x in re.findall(r"\d*\.?\d+", derived)} <= found | {12.0}, (derived, row["quote"])
                if not any(math.isclose(row[col], x) for x in found):
                    assert math.isclose(row[col], eval(derived)), (name, col, row[col], derived)  # noqa: S307
                    continue
            assert any(math.isclose(row[col], x) for x in found), (name, col, row[col], row["quote"])
        if name == "interventions" and isinstance(row.get("dose_text"), str):
            assert ws(row["dose_text"]) in ws(row["quote"])
