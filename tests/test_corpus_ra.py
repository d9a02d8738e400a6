"""Anchor assertions for the adult RA studies and GVHD dosing references, read straight from the CSVs.

Each anchor is a number the extraction notes (resources/sources/extraction-notes.md) print; a failing test
means a record drifted from its source, not that the test needs updating.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from corpus_support import norm as _norm, one, study_yaml, table

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "resources" / "studies"
NOTES = ROOT / "resources" / "sources" / "extraction-notes.md"

RA_STUDIES = ["stemcellrevrep2020", "mesa2023", "wang2013b", "alvarogracia2017", "ghoryani2019", "park2018",
              "liang2012", "he2020"]
GVHD_STUDIES = ["bonig2019", "leblanc2008", "bbmt2014", "ijh2013", "annhematol2023", "donadel2023"]
OURS = RA_STUDIES + GVHD_STUDIES
TABLES = ("participants", "interventions", "outcomes", "adverse_events", "cointerventions")










# --- provenance of every quote ---------------------------------------------------------------

def _all_quotes():
    for sid in OURS:
        for name in TABLES:
            frame = table(sid, name)
            for i, q in enumerate(frame.get("quote", pd.Series(dtype=str))):
                yield pytest.param(sid, q, id=f"{sid}-{name}-{i + 2}")
        for fact, entry in (study_yaml(sid).get("appraisal") or {}).items():
            if isinstance(entry, dict) and entry.get("quote"):
                yield pytest.param(sid, entry["quote"], id=f"{sid}-appraisal-{fact}")


@pytest.mark.parametrize("sid,quote", list(_all_quotes()))
def test_quote_short_and_in_notes(sid, quote):
    notes = _norm(NOTES.read_text(encoding="utf-8"))
    q = _norm(quote)
    assert len(q.split()) <= 40
    # an elision ("...") splits a quote into parts that must appear in this order
    pos = 0
    for part in [p.strip() for p in q.split("...") if p.strip()]:
        found = notes.find(part, pos)
        assert found >= 0, f"{sid}: quote part not in the notes: {part!r}"
        pos = found + len(part)


def test_records_validate():
    records = pytest.importorskip("evsynth.ingest.records")
    for sid in OURS:
        records.load_records(STUDIES / sid, sources_dir=NOTES.parent, root=ROOT)


def test_ids_and_conditions():
    for sid in OURS:
        s = study_yaml(sid)
        assert s["id"] == sid
        assert s["conditions"] == (["GVHD"] if sid in GVHD_STUDIES else ["RA"])


# --- He 2020 ---------------------------------------------------------------------------------

def test_he2020_das28_haq_change_at_3_months():
    o = table("he2020", "outcomes")
    d = o[(o.measure == "das28_esr") & (o.timepoint == "3 months") & (o.metric == "change")]
    assert one(d, group="msc", stat="mean") == -1.05
    assert one(d, group="msc", stat="sd") == 0.95
    assert one(d, group="msc_ifn", stat="mean") == -2.51
    assert one(d, group="msc_ifn", stat="sd") == 0.58
    assert one(d, group="msc", stat="n") == 30 and one(d, group="msc_ifn", stat="n") == 30
    h = o[(o.measure == "haq_di") & (o.timepoint == "3 months")]
    assert one(h, group="msc", stat="mean") == -0.37
    assert one(h, group="msc_ifn", stat="mean") == -0.73


def test_he2020_alternating_columns():
    o = table("he2020", "outcomes")
    d = o[(o.measure == "das28_esr") & (o.stat == "mean")]
    assert one(d, group="msc", timepoint="1 months") == -0.69
    assert one(d, group="msc_ifn", timepoint="1 months") == -2.14
    assert one(d, group="msc", timepoint="12 months") == -1.28
    assert one(d, group="msc_ifn", timepoint="12 months") == -2.54
    a50 = o[o.measure == "acr50"]
    assert one(a50, group="msc", timepoint="1 months", stat="percent") == 6.7
    assert one(a50, group="msc_ifn", timepoint="1 months", stat="percent") == 33.3
    assert one(a50, group="msc_ifn", timepoint="3 months", stat="percent") == 36.7


def test_he2020_acr_percent_without_bernoulli_sd():
    o = table("he2020", "outcomes")
    acr = o[o.measure.isin(["acr20", "acr50", "acr70"])]
    assert not (acr.stat == "sd").any(), "the SD printed next to a percentage is a Bernoulli SD: not recorded"
    a20 = acr[(acr.measure == "acr20") & (acr.stat == "percent")]
    assert one(a20, group="msc", timepoint="3 months") == 53.3
    assert one(a20, group="msc_ifn", timepoint="3 months") == 93.3
    p = table("he2020", "participants")
    assert dict(zip(p.group, p.n)) == {"msc": 32, "msc_ifn": 31}


# --- Álvaro-Gracia 2017 ----------------------------------------------------------------------

def test_alvarogracia2017_any_ae_per_arm():
    ae = table("alvarogracia2017", "adverse_events")
    anyae = ae[(ae.event == "any adverse event") & ae.n_patients.notna()].set_index("group")
    got = {g: (int(r.n_patients), int(r.n_at_risk)) for g, r in anyae.iterrows()}
    assert got == {"msc_low": (17, 20), "msc_mid": (15, 20), "msc_high": (6, 6), "placebo": (4, 7)}
    serious = ae[ae.serious == "yes"]
    assert list(serious.group) == ["msc_low"] and list(serious.event) == ["lacunar infarction"]


def test_alvarogracia2017_doses_and_secondary_garble():
    iv = table("alvarogracia2017", "interventions")
    primary = iv[iv.source == "A1"].groupby("group").agg(doses=("dose_text", "first"), k=("seq", "count"))
    assert primary.loc["msc_low", "doses"] == "1 million/kg"
    assert primary.loc["msc_mid", "doses"] == "2 million/kg"
    assert primary.loc["msc_high", "doses"] == "4 million/kg"
    assert set(primary.k) == {3}
    assert set(iv[iv.group != "placebo"].cell_source) == {"adipose"}
    sec = iv[iv.source == "HM1"]
    assert list(sec.dose_text) == ["cell or 210^7 cell or 310^7 cell"]
    assert study_yaml("alvarogracia2017")["sources"]["HM1"]["kind"] == "secondary"
    o = table("alvarogracia2017", "outcomes")
    m1 = o[(o.measure == "acr20") & (o.timepoint == "1 months")].set_index("group")["value"].to_dict()
    assert m1 == {"msc_low": 45, "msc_mid": 20, "msc_high": 33, "placebo": 29}
    assert set(o.stat) == {"percent"}, "per-arm ACR20 counts would be derived: percent only"
    p = table("alvarogracia2017", "participants")
    assert {(r.group, r.source, int(r.n)) for r in p.itertuples()} == {
        ("msc_low", "A1", 20), ("msc_mid", "A1", 20), ("msc_high", "A1", 6), ("placebo", "A1", 7),
        ("msc", "HM1", 46), ("placebo", "HM1", 7)}


# --- Ghoryani 2019 ---------------------------------------------------------------------------

def test_ghoryani2019_three_sample_sizes_each_with_its_source():
    p = table("ghoryani2019", "participants")
    s = study_yaml("ghoryani2019")["sources"]
    got = {(int(r.n), s[r.source]["kind"]) for r in p.itertuples()}
    assert got == {(9, "abstract"), (15, "registry"), (13, "secondary")}
    iv = table("ghoryani2019", "interventions")
    assert "1 × 106 autologous bone marrow-derived MSCs/kg" in set(iv.dose_text)
    assert set(iv.donor) == {"autologous"} and set(iv.cell_source) == {"bone_marrow"}


# --- Park 2018 -------------------------------------------------------------------------------

def test_park2018_cord_blood_and_total_cell_doses():
    iv = table("park2018", "interventions")
    assert set(iv.cell_source) == {"umbilical_cord_blood"}
    assert dict(zip(iv.group, iv.dose_text)) == {"msc_low": "2.5 × 107", "msc_mid": "5 × 107", "msc_high": "1 × 108"}
    o = table("park2018", "outcomes")
    d = o[(o.measure == "das28_esr") & (o.metric == "change")]
    assert one(d, stat="mean") == -1.60 and one(d, stat="sd") == 1.57 and one(d, stat="n") == 9
    assert one(o[o.measure == "das28_esr"], metric="level", timepoint="baseline") == 4.53


# --- Wang L 2013 (RA) ------------------------------------------------------------------------

def test_wang2013b_is_the_ra_study_with_total_cell_dose():
    s = study_yaml("wang2013b")
    assert "wang2013a" in s["note"] and "SLE" in s["note"]
    iv = table("wang2013b", "interventions")
    assert "4×10(7) cells per time" in set(iv.dose_text)
    assert "40 mL UC-MSC suspension product (2 × 107 cells/20 mL)" in set(iv.dose_text)
    assert set(iv[iv.agent == "msc"].cell_source) == {"umbilical_cord"}
    co = table("wang2013b", "cointerventions")
    assert set(zip(co.group, co.therapy, co.relation)) == {("msc", "DMARDs", "concurrent"), ("control", "DMARDs", "concurrent")}
    p = table("wang2013b", "participants")
    assert one(p.rename(columns={"n": "value"}), group="all") == 172


# --- Liang 2012 ------------------------------------------------------------------------------

def test_liang2012_counts():
    o = table("liang2012", "outcomes")
    assert one(o, measure="eular_response", stat="events") == 2
    assert one(o, measure="remission", stat="events") == 0
    assert one(o, measure="response", timepoint="6 months", stat="events") == 3


# --- reviews ---------------------------------------------------------------------------------

def test_mesa2023_pooled_rr():
    o = table("mesa2023", "outcomes")
    a = o[o.measure == "any_adverse_event"]
    assert one(a, stat="estimate") == 2.35 and one(a, stat="ci_lb") == 0.58 and one(a, stat="ci_ub") == 9.58
    assert one(a, stat="i2") == 58.80
    assert set(o.group) == {"pooled"} and set(o.metric) == {"rr"}
    assert one(o[o.measure == "serious_adverse_event"], stat="estimate") == 1.10
    assert study_yaml("stemcellrevrep2020")["design"] == "systematic_review"


# --- GVHD dosing references ------------------------------------------------------------------

def test_leblanc2008_primary_vs_misprinted_dose():
    iv = table("leblanc2008", "interventions")
    assert dict(zip(iv.source, iv.dose_text)) == {
        "LB1": "1.4x10 (6) (min-max range 0.4-9x10 (6)) cells per kg",
        "LB3": "0.4–9 × 107, 1–5 doses",
    }


def test_gvhd_anchor_doses():
    # medians across patients and a recommended regimen are summary facts, never administrations given
    bbmt = table("bbmt2014", "interventions")
    assert bbmt.seq.isna().all() and set(bbmt.summary) == {"median"}
    assert dict(zip(bbmt.dose_text.fillna(""), bbmt["count"])) == {"1.5 × 106/kg per infusion": pytest.approx(float("nan"), nan_ok=True), "": 3}
    bonig = table("bonig2019", "interventions")
    assert dict(zip(bonig.summary, bonig["count"])) == {"regimen": 4, "median": 3}
    assert bonig.loc[bonig.summary == "regimen", "dose_text"].tolist() == ["1C2 106 kg"]
    p = table("bbmt2014", "participants")
    assert dict(zip(p.group, p.n)) == {"all": 40, "children": 15, "adults": 25}
