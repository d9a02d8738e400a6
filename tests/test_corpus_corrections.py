"""Anchors for the record corrections of issue 11 (items 4 and 5), read straight from the record files.

Each test pins a correction checked against ../shared/sources: a failure means a record drifted back to
the error the issue found, not that the test needs updating.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from corpus_support import STUDIES, one, shipped_records, study_yaml, table
from evsynth.ingest.records import CURATOR_NOTE, CURATOR_NOTE_REASON

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "resources" / "sources"
ALL_STUDIES = sorted(p.name for p in STUDIES.iterdir() if (p / "study.yaml").exists())
UNCONTROLLED = ("case_report", "case_series", "single_arm_trial")
JBI_FACTS = ("exposure", "inclusion_criteria", "diagnosis", "setting", "statistics", "confounding")
TERMS = {  # resources/README.md, appraisal facts
    "exposure": {"investigators", "external_records", "patient_report", "unclear"},
    "inclusion_criteria": {"reported", "not_reported", "unclear"},
    "diagnosis": {"standard_criteria", "partly_stated", "non_standard", "not_stated", "unclear"},
    "setting": {"reported", "not_reported", "unclear"},
    "statistics": {"descriptive", "inferential", "unclear"},
    "confounding": {"adjusted", "not_adjusted", "unclear"},
}


def _fact(study: str, key: str):
    entry = (study_yaml(study).get("appraisal") or {}).get(key)
    return entry if isinstance(entry, dict) else {"value": entry}


# --- item 4: data corrections --------------------------------------------------------------------

def test_leblanc2008_partial_response_is_not_overall_response():
    o = table("leblanc2008", "outcomes")
    assert one(o, measure="partial_response", stat="events") == 9
    assert one(o, measure="partial_response", stat="n") == 55
    assert one(o, measure="complete_response", stat="events") == 30
    # the overall response (30 + 9) is derived, never typed, and 9 is never an overall response
    assert "response" not in set(o.measure)
    assert 39 not in set(o.value)


def test_alvarogracia2017_only_the_lacunar_infarction_was_serious():
    ae = table("alvarogracia2017", "adverse_events")
    serious = ae[ae.serious == "yes"]
    assert list(serious.event) == ["lacunar infarction"] and list(serious.group) == ["msc_low"]
    g3 = ae[ae.event == "grade 3 (severe) adverse event"].set_index("group")
    assert g3.loc["msc_mid", "serious"] == "no" and g3.loc["msc_mid", "n_events"] == 2  # sciatica and RA
    assert g3.loc["placebo", "serious"] == "no"
    # cohort A's five grade-3 events include the serious one: split, the other four not serious (derived 5 - 1)
    assert g3.loc["msc_low", "serious"] == "no" and g3.loc["msc_low", "n_events"] == 4
    assert g3.loc["msc_low", "derived"] == "5 - 1"
    assert "unknown" not in set(g3["serious"])


def test_wang2013a_crude_survival_is_not_a_four_year_figure():
    o = table("wang2013a", "outcomes")
    c1 = o[(o.source == "C1") & o.measure.isin(["survival", "death"])]
    assert set(c1.timepoint) == {"0-4 years"}
    assert one(c1, measure="survival", stat="events") == 82 and one(c1, measure="survival", stat="n") == 87
    assert one(c1, measure="death", stat="events") == 5
    assert "4 years" not in set(o[o.measure.isin(["survival", "death"])].timepoint)


def test_swart2019_one_systemic_onset_patient():
    p = table("swart2019", "participants")
    sub = p[p.subtype == "systemic"]
    assert list(sub.n) == [1] and list(sub.group) == ["all"] and list(sub.source) == ["U1"]


def test_wang2016_baseline_das28_bound_and_band_count():
    o = table("wang2016", "outcomes")
    base = o[o.timepoint == "baseline"]
    assert one(base, measure="das28", stat="min") == 3.2
    assert "bound" in base[base.measure == "das28"].note.iloc[0].lower()
    assert one(base, measure="das28_3_2_to_5_1", stat="events") == 8
    assert one(base, measure="das28_3_2_to_5_1", stat="n") == 10
    # the count above 5.1 is cut off in the notes: 2 is derived and never typed
    assert not ((base.measure == "das28_3_2_to_5_1") & (base.value == 2)).any()


def test_he2020_follow_up_one_year_on_both_arms():
    p = table("he2020", "participants")
    assert set(p.set_index("group").followup) == {"1 years"}


def test_zhou2020_note_matches_the_unstated_units():
    z = table("zhou2020", "outcomes")
    assert set(z[z.measure.isin(["proteinuria_24h", "albumin", "c3"])].unit) == {"unstated"}
    note = study_yaml("zhou2020")["note"]
    assert "''unstated''" in (STUDIES / "zhou2020" / "study.yaml").read_text() and "left empty" not in note


CURATOR_ROWS = [  # (study, table, line): the notes' own wording, not the source's
    ("annhematol2023", "participants", 2), ("bonig2019", "participants", 4), ("ijh2013", "participants", 2),
    ("he2020", "outcomes", 3), ("he2020", "outcomes", 5), ("he2020", "outcomes", 62),
    ("deng2017", "cointerventions", 2), ("deng2017", "cointerventions", 5),
]


@pytest.mark.parametrize("study,name,line", CURATOR_ROWS)
def test_notes_own_wording_cites_a_curator_note(study, name, line):
    row = table(study, name).iloc[line - 2]
    assert study_yaml(study)["sources"][row.source]["kind"] == CURATOR_NOTE


def test_quotes_that_embed_the_sources_words_quote_only_those_words():
    g = table("ghoryani2019", "interventions")
    medluna = g[g.source == "G_medluna"]
    assert list(medluna.quote) == list(medluna.dose_text) == ["1 × 10 autologous bone marrow-derived MSCs/kg"]
    a = table("alvarogracia2017", "interventions")
    assert list(a[a.source == "HM1"].quote) == ["cell or 210^7 cell or 310^7 cell"]


@pytest.mark.skipif(not SOURCES.is_dir(), reason="source files not available")
def test_ledger_marks_curator_paraphrase_rows():
    records = shipped_records()
    ledger = records.ledger.set_index(["file", "line"])["reason"]
    marked = {k for k, r in ledger.items() if CURATOR_NOTE_REASON in r}
    for study, name, line in CURATOR_ROWS:
        assert (f"resources/studies/{study}/{name}.csv", line) in marked
    he = table("he2020", "outcomes")
    assert len([k for k in marked if "he2020" in k[0]]) == (he.source == "notes").sum() == 26


# --- item 5: appraisal facts ---------------------------------------------------------------------

@pytest.mark.parametrize("study", ALL_STUDIES)
def test_every_study_has_the_six_jbi_facts_with_quotes(study):
    s = study_yaml(study)
    for key in JBI_FACTS:
        assert key in s["appraisal"], f"{study}: appraisal.{key} missing"
        fact = _fact(study, key)
        assert fact["value"] in TERMS[key], f"{study}: appraisal.{key} = {fact['value']!r}"
        if fact["value"] in ("unclear", "not_stated") and not fact.get("quote"):
            # nothing in the sources to quote: a primary study's fact says why in its note
            assert s["design"] not in UNCONTROLLED + ("rct", "nonrandomized_controlled") or fact.get("note"), \
                f"{study}: appraisal.{key} is {fact['value']} without a note"
        else:  # a claim rests on a quote from a source of the study
            assert fact.get("quote") and fact.get("source") in s["sources"], f"{study}: appraisal.{key}"


@pytest.mark.parametrize("study", ALL_STUDIES)
def test_blinding_coded_the_same_way_for_every_uncontrolled_design(study):
    s = study_yaml(study)
    if s["design"] in UNCONTROLLED:
        assert _fact(study, "blinding")["value"] == "open_label"


def test_wong2021_exposure_from_outside_clinics_and_no_rechallenge():
    fact = _fact("wong2021", "exposure")
    assert fact["value"] == "external_records" and fact["source"] == "discussion"
    assert "did not communicate" in fact["quote"]
    overrides = yaml.safe_load((STUDIES / "wong2021" / "appraisal.yaml").read_text(encoding="utf-8"))
    q5 = [j for j in overrides["judgements"] if j["tool"] == "murad" and j["item"] == "Q5"]
    assert len(q5) == 1 and q5[0]["judgement"] == "no"


def test_alvarogracia2017_double_blind_for_efficacy():
    fact = _fact("alvarogracia2017", "blinding")
    assert fact["value"] == "double_blind" and "double-blind for efficacy" in fact["quote"]


def test_wang2013b_follow_up_from_the_2013_abstract_and_open_label():
    fu = _fact("wang2013b", "followup")
    assert fu["value"] == "3-6 months" and fu["source"] == "WL1"
    bl = _fact("wang2013b", "blinding")
    assert bl["value"] == "open_label" and study_yaml("wang2013b")["sources"][bl["source"]]["kind"] == CURATOR_NOTE


def test_leblanc2008_follow_up_not_taken_from_the_mistranscribed_review():
    assert _fact("leblanc2008", "followup")["value"] == "unclear"
    assert table("leblanc2008", "participants").followup.isna().all()
