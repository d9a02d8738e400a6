"""Derived facts: a value several sentences imply together, recorded with its arithmetic and checked.

Also the records corrected with it (wong2021's ages at MSC implied by the case timelines; alvarogracia2017's
grade-3 events split by seriousness) and the Discussion's third name for wong2021 P2's hip injections.
"""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from corpus_support import shipped_records
from evsynth.describe.discrepancies import find_discrepancies, named_route_conflicts
from evsynth.ingest.provenance import evaluate_derivation, matches_derivation
from evsynth.ingest.records import DERIVED_REASON, RecordValidationError, load_records
from evsynth.select.evidence import select_evidence

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
QUOTE = "A 12-year-old girl with SLE ... at 6 months."


@pytest.fixture()
def corpus(tmp_path):
    dest = tmp_path / "studies"
    shutil.copytree(DATA / "studies", dest)
    return dest


def add_participant(corpus: Path, age: str, derived: str, quote: str = QUOTE, source: str = "text") -> None:
    path = corpus / "demo2020" / "participants.csv"
    lines = path.read_text().splitlines()
    lines[0] = "group,n,condition,sex,age_at_msc_years,weight_kg,derived,source,quote"
    lines[1] = lines[1].replace(",text,", ",,text,")
    lines.append(f'P1,1,SLE,,{age},,{derived},{source},"{quote}"')
    path.write_text("\n".join(lines) + "\n")


def load(corpus):
    return load_records(corpus, sources_dir=DATA / "sources", root=corpus.parent)


def test_evaluate_derivation_takes_numbers_only_from_the_quote():
    assert evaluate_derivation("9 + 3 + 9/12 + 48/12", "9-year-old ... Three years ... next 9 months ... 48 months") \
        == (16.75, None)
    value, problem = evaluate_derivation("9 + 4", "a 9-year-old")
    assert value is None and "uses 4, not in the row's quote" in problem
    value, problem = evaluate_derivation("__import__('os')", "a 9-year-old")
    assert value is None and "is not arithmetic" in problem
    assert matches_derivation(16.75, 16.75) and matches_derivation(16.8, 16.75)
    assert not matches_derivation(16.5, 16.75) and not matches_derivation(14, 16.75)


def test_a_derived_row_validates_and_the_ledger_names_its_arithmetic(corpus):
    add_participant(corpus, "12.5", "12 + 6/12")
    records = load(corpus)
    p = records.tables["participants"]
    assert p["age_at_msc_years"].tolist() == [12.0, 12.5]
    reason = records.ledger.set_index(["file", "line"])["reason"][("studies/demo2020/participants.csv", 3)]
    assert reason.endswith(f"{DERIVED_REASON}: 12 + 6/12")


@pytest.mark.parametrize("age, derived, expected", [
    ("13.5", "12 + 6/12", "column age_at_msc_years: '13.5' does not appear in its quote"),
    ("12.5", "12 + 5/12", "column derived: '12 + 5/12' uses 5, not in the row's quote"),
    ("12", "12 + 6/12", "column derived: '12 + 6/12' = 12.5, but no value of the row that its quote lacks equals it"),
    ("12.5", "", "column age_at_msc_years: '12.5' does not appear in its quote"),
])
def test_a_wrong_derivation_is_an_error_naming_the_row(corpus, age, derived, expected):
    add_participant(corpus, age, derived)
    with pytest.raises(RecordValidationError) as info:
        load(corpus)
    assert any(f"studies/demo2020/participants.csv, line 3, {expected}" in str(e) for e in info.value.errors), \
        info.value.errors


def test_a_stated_value_is_selected_before_a_derived_one_and_the_pair_is_a_discrepancy(corpus):
    # the derived row comes later in the file; the stated value wins although both cite the text
    add_participant(corpus, "12.5", "12 + 6/12")
    records = load(corpus)
    evidence, selected = select_evidence(records.tables, records.studies, ["table", "text"])
    row = evidence.loc[evidence["quantity"] == "age_at_msc_years"].iloc[0]
    assert row["value"] == "12" and row["line"] == 2
    assert "12.5" in row["alternatives"] and row["rule"].startswith("a stated value before one derived")
    found = find_discrepancies(records.tables, records.studies)
    age = found.loc[found["quantity"] == "age_at_msc_years"].iloc[0]
    assert (age["value_a"], age["value_b"], age["kind"]) == ("12", "12.5", "derived_vs_reported")
    assert "derived: 12 + 6/12 = 12.5" in age["note"]


@pytest.fixture(scope="module")
def corpus_records():
    return shipped_records()  # load_records of resources/studies with the sources checked, made once per process


def test_wong2021_ages_at_msc_implied_by_the_case_timelines_are_reported_against_the_table(corpus_records):
    found = find_discrepancies(corpus_records.tables, corpus_records.studies)
    ages = found.loc[(found["study"] == "wong2021") & (found["quantity"] == "age_at_msc_years")]
    got = {(g, a, b) for g, a, b in zip(ages["group"], ages["value_a"], ages["value_b"])}
    assert got == {("P1", "14", "16.75"), ("P1", "14", "15"), ("P2", "17", "18")}
    assert set(ages["kind"]) == {"derived_vs_reported"}
    assert ages["note"].str.contains("case1 derived: 9 + 3 + 9/12 + 48/12 = 16.75", regex=False).any()


def test_wong2021_p2_hip_injections_have_a_third_name_in_the_discussion(corpus_records):
    rows = named_route_conflicts(corpus_records.tables["interventions"], corpus_records.studies)
    rows = rows.loc[rows["study"] == "wong2021"]
    assert len(rows) == 1  # the Summary Table names the same routes as the Discussion: no row for it
    row = rows.iloc[0]
    assert row["group"] == "P2" and row["source_a"] == "discussion"
    assert "intra_articular" in row["value_a"] and "intraosseous" in row["value_b"]
    assert row["note"].startswith("named only by discussion: intra_articular; recorded only in the text "
                                  "administrations: intraosseous")


def test_alvarogracia2017_grade3_events_are_split_by_seriousness(corpus_records):
    ae = corpus_records.tables["adverse_events"]
    ae = ae.loc[ae["study"] == "alvarogracia2017"]
    grade3 = ae.loc[ae["event"].str.startswith("grade 3") | ae["event"].eq("lacunar infarction")]
    assert "unknown" not in set(grade3["serious"])
    by = {(g, s): n for g, s, n in zip(grade3["group"], grade3["serious"], grade3["n_events"])}
    assert by == {("all", "no"): 7, ("msc_low", "no"): 4, ("msc_low", "yes"): 1, ("msc_mid", "no"): 2,
                  ("placebo", "no"): 1}
    # the arms add up to the source's eight grade-3 events
    assert sum(n for (g, _), n in by.items() if g != "all") == 8
    assert set(ae.loc[ae["derived"].fillna("").ne(""), "derived"]) == {"8 - 1", "5 - 1"}


def test_a_percent_reads_as_a_percent_in_evidence(corpus_records):
    evidence, _ = select_evidence(corpus_records.tables, corpus_records.studies)
    wang = evidence.loc[(evidence["study"] == "wang2013a") & (evidence["quantity"] == "death: percent")]
    assert wang["value"].tolist() == ["6% of patients"]
    percent = evidence.loc[evidence["quantity"].str.endswith(": percent")]
    assert len(percent) and percent["value"].str.contains("%").all()
    assert not pd.Series(percent["value"]).str.fullmatch(r"[\d.]+ patients").any()
