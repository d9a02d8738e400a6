"""Anchor checks on the SLE / JIA study records (issue 4), read straight from the CSVs.

These pin the values (and the traps) of swart2019, wang2016, liang2010, sun2010, wang2014, wang2013a,
deng2017 and the SLE reviews, so that an edit that swaps arms, units or denominators fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from corpus_support import norm, one, study_yaml, table

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "resources" / "studies"
NOTES = ROOT / "resources" / "sources" / "extraction-notes.md"
IDS = ["swart2019", "wang2016", "liang2010", "sun2010", "wang2014", "wang2013a", "deng2017",
       "zhou2020", "liu2018", "stemcellsint2022", "stemcellresther2025", "bmcnephrol2025"]
TABLES = ["participants", "interventions", "outcomes", "adverse_events", "cointerventions"]










@pytest.fixture(scope="module")
def notes_text() -> str:
    return norm(NOTES.read_text(encoding="utf-8"))


@pytest.mark.parametrize("study", IDS)
def test_every_quote_short_and_in_notes(study, notes_text):
    quotes = []
    for name in TABLES:
        frame = table(study, name)
        if not frame.empty:
            quotes += list(frame["quote"].dropna())
    for fact in (study_yaml(study).get("appraisal") or {}).values():
        if isinstance(fact, dict) and fact.get("quote"):
            quotes.append(fact["quote"])
    for q in quotes:
        assert len(norm(q).split()) <= 40, q
        assert norm(q) in notes_text, q


@pytest.mark.parametrize("study", IDS)
def test_study_yaml_identity(study):
    meta = study_yaml(study)
    assert meta["id"] == study
    for src in meta["sources"].values():
        assert src["file"] == "extraction-notes.md"


def test_liang2010_proteinuria_in_mg_and_n12():
    o = table("liang2010", "outcomes")
    pr = o[o.measure == "proteinuria_24h"]
    assert set(pr.unit) == {"mg/24h"}
    assert one(pr, timepoint="baseline", stat="mean") == 2505.0
    assert one(pr, timepoint="baseline", stat="sd") == 1323.9
    assert one(pr, timepoint="baseline", stat="n") == 12
    assert one(pr, timepoint="12 months", stat="mean") == 858.0
    assert one(o, measure="sledai", timepoint="baseline", stat="mean") == 12.2
    assert one(o, measure="sledai", timepoint="12 months", stat="sd") == 2.8
    assert one(o, measure="relapse", stat="events") == 2 and one(o, measure="relapse", stat="n") == 13


def test_deng2017_arms_not_swapped():
    p = table("deng2017", "participants")
    d1 = p[p.source == "D1"]
    assert d1.set_index("group").loc["msc", "n"] == 12
    assert d1.set_index("group").loc["placebo", "n"] == 6
    o = table("deng2017", "outcomes")
    rem = o[o.measure == "remission"]
    assert one(rem, group="msc", stat="events") == 9 and one(rem, group="msc", stat="n") == 12
    assert one(rem, group="placebo", stat="events") == 5 and one(rem, group="placebo", stat="n") == 6
    # Table 2 prints placebo first: 3.1 (2.7) is placebo, 1.0 (1.0) is hUC-MSC
    prot = o[(o.measure == "proteinuria_24h") & (o.metric == "level")]
    assert set(prot.unit) == {"g/24h"}
    assert one(prot, group="placebo", stat="mean") == 3.1
    assert one(prot, group="msc", stat="mean") == 1.0
    chg = o[(o.measure == "proteinuria_24h") & (o.metric == "change")]
    assert one(chg, group="msc", stat="mean") == -2.1 and one(chg, group="msc", stat="sd") == 1.8
    assert one(chg, group="placebo", stat="mean") == -1.4
    assert one(o, measure="death", group="msc", stat="events") == 1
    assert one(o, measure="death", group="placebo", stat="events") == 0
    assert one(o, measure="c3", group="msc", stat="mean") == 36
    assert set(o[o.measure.isin(["c3", "c4"])].unit) == {"mg/dL"}


def test_deng2017_total_dose_and_cointerventions():
    i = table("deng2017", "interventions")
    assert "2×108 cells" in set(i.dose_text.dropna())
    assert "100 × 106" in set(i.dose_text.dropna())
    c = table("deng2017", "cointerventions")
    assert {"cyclophosphamide", "prednisolone"} <= set(c.therapy)


def test_wang2013a_survival_and_shrinking_denominators():
    o = table("wang2013a", "outcomes")
    c1 = o[o.source == "C1"]
    assert one(c1, measure="survival", stat="events") == 82
    assert one(c1, measure="survival", stat="n") == 87
    cr = c1[(c1.measure == "complete_remission") & (c1.stat == "n")].set_index("timepoint")["value"]
    assert list(cr.loc[["1 years", "2 years", "3 years", "4 years"]]) == [83, 39, 12, 6]
    assert one(c1, measure="relapse", timepoint="0-4 years", stat="events") == 20
    e = o[o.source == "EULAR2017"]
    assert one(e, measure="survival", stat="events") == 68 and one(e, measure="survival", stat="n") == 81
    p = table("wang2013a", "participants")
    assert {87, 81} <= set(p.n.dropna())  # paper vs 5-year update, side by side
    assert "wang2013b" in study_yaml("wang2013a")["note"]


def test_wang2014_relapse_has_no_typed_denominator():
    o = table("wang2014", "outcomes")
    rel = o[o.measure == "relapse"]
    assert "n" not in set(rel.stat)  # 3/24 and 4/24 are derived, not typed
    assert one(rel, timepoint="9 months", stat="percent") == 12.5
    assert one(o, measure="survival", stat="events") == 37
    assert one(o, measure="major_clinical_response", stat="events") == 13


def test_swart2019_statistic_unspecified():
    o = table("swart2019", "outcomes")
    assert one(o, measure="jadas_71", timepoint="baseline") == 24.5
    assert one(o, measure="cjadas_10", timepoint="8 weeks") == 10.6
    assert set(o[o.measure.isin(["jadas_71", "cjadas_10", "vas_wellbeing"])].stat) == {"unspecified"}
    assert table("swart2019", "participants").n.iloc[0] == 6


def test_wang2016_umbilical_cord_not_cord_blood_and_das28():
    i = table("wang2016", "interventions")
    assert set(i.cell_source) == {"umbilical_cord"}
    o = table("wang2016", "outcomes")
    assert set(o.measure) == {"das28", "das28_3_2_to_5_1"}
    m3 = o[(o.measure == "das28") & (o.timepoint == "3 months")]
    assert one(m3, stat="min") == 2.6 and one(m3, stat="max") == 3.2


def test_reviews_pooled_results():
    z = table("zhou2020", "outcomes")
    assert one(z, measure="any_adverse_event", metric="or", stat="estimate") == 0.26
    assert one(z, measure="sledai", timepoint="6 months", stat="estimate") == -4.25
    assert one(z, measure="sledai", timepoint="6 months", stat="ci_ub") == -1.72
    assert set(z.group) == {"pooled"}
    s = table("stemcellresther2025", "outcomes")
    assert one(s, metric="smd", stat="estimate") == -2.32
    assert set(study_yaml("bmcnephrol2025")["includes"]) == {"sun2010", "liang2010", "wang2013a", "wang2014", "deng2017"}
    assert "deng2017" in study_yaml("zhou2020")["includes"]
    for sid in ("zhou2020", "liu2018", "stemcellsint2022", "stemcellresther2025", "bmcnephrol2025"):
        assert study_yaml(sid)["design"] == "systematic_review"
