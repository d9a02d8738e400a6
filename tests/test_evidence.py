"""One source of truth per quantity (issue 11): selection, administrations counted once, harms."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from corpus_support import shipped_records
from evsynth.common.config import analysis_spec
from evsynth.describe.discrepancies import find_discrepancies
from evsynth.describe.harms import POPULATION_ORDER, harms_table, patients_with_event
from evsynth.describe.studies import study_table
from evsynth.describe.summaries import analysis_units, descriptive_summaries, pediatric_case_outcomes
from evsynth.harmonize.run import complete_outcomes
from evsynth.harmonize.tables import cumulative_doses, harmonize_curated_doses, mark_selected, selected_doses
from evsynth.pool.analysis import run_analysis
from evsynth.pool.datasets import Corpus, analysis_dataset
from evsynth.select.evidence import SelectionError, load_pins, select_evidence, used_rows

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "resources" / "sources"
VOCAB = ROOT / "resources" / "vocabulary"
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture(scope="module")
def records():
    return shipped_records()


def synthesize(tables: dict, studies: dict) -> dict:
    """What the workflow computes from records: selection, doses, outcomes, analyses, summaries."""
    evidence, sel = select_evidence(tables, studies)
    outcomes = complete_outcomes(sel["outcomes"], VOCAB, "wan2014", 0.5)
    d = mark_selected(harmonize_curated_doses(tables["interventions"], tables["participants"]), sel["interventions"])
    doses = {"doses": d, "cumulative": cumulative_doses(selected_doses(d))}
    corpus = Corpus(studies, sel, outcomes)
    pooled = {name: run_analysis(name, analysis_spec(CONFIG, name), corpus)
              for name in ("deaths", "serious_adverse_events", "sle_remission")}
    d = doses["doses"]  # every report's dose rows, as doses.csv holds them: the readers pick the selected ones
    summaries = descriptive_summaries(sel, studies, outcomes, d, doses["cumulative"])
    units = analysis_units(sel, studies, outcomes, d, doses["cumulative"])
    cases = pediatric_case_outcomes(sel, studies, outcomes, d, doses["cumulative"], pd.DataFrame())
    return {"evidence": evidence, "selected": sel, "outcomes": outcomes, "doses": doses, "pooled": pooled,
            "summaries": summaries, "units": units, "cases": cases, "studies": study_table(sel, studies, d)}


def main_rows(studies: pd.DataFrame) -> pd.DataFrame:
    """An analysis' own study rows (not its controlled-contrast comparisons)."""
    return studies.loc[studies["role"] == "main"] if "role" in studies else studies


@pytest.fixture(scope="module")
def shipped(records):
    return synthesize(records.tables, records.studies)


# --------------------------------------------------------------------------------------------
# the facts the issue names, in every table


def test_wang2013a_deaths_numerator_and_denominator_from_one_report(shipped):
    data = main_rows(shipped["pooled"]["deaths"]["studies"]).set_index("study")
    assert (data.at["wang2013a", "events1"], data.at["wang2013a", "n"]) == (13, 81)
    u = shipped["units"].set_index("study")
    assert (u.at["wang2013a", "death_events"], u.at["wang2013a", "death_n"]) in {(13, 81), (5, 87)}


def test_deng2017_serious_events_two_of_twelve_everywhere(shipped, records):
    data = main_rows(shipped["pooled"]["serious_adverse_events"]["studies"]).set_index("study")
    assert (data.at["deng2017", "events1"], data.at["deng2017", "n"]) == (2, 12)
    u = shipped["units"].set_index(["study", "group"])
    assert (u.at[("deng2017", "msc"), "sae_events"], u.at[("deng2017", "msc"), "sae_n"]) == (2, 12)


def test_cumulative_doses_count_each_administration_once(shipped):
    cum = shipped["doses"]["cumulative"].set_index(["study", "group"])
    assert cum.at[("deng2017", "msc"), "n_administrations"] == 2
    assert cum.at[("deng2017", "msc"), "cum_cells"] == pytest.approx(2e8)
    assert cum.at[("deng2017", "msc"), "reported_total_cells"] == pytest.approx(2e8)  # the course total agrees
    assert cum.at[("ghoryani2019", "all"), "n_administrations"] == 1
    assert cum.at[("wang2013a", "all"), "n_administrations"] == 1
    # a recommended regimen and medians across patients are not administrations given
    for study in ("bonig2019", "bbmt2014"):
        assert np.isnan(cum.at[(study, "all"), "n_administrations"])
        assert cum.at[(study, "all"), "rule"].startswith("not counted")


def test_swart2019_mas_is_shown_with_unknown_seriousness(shipped, records):
    harms = harms_table(records.tables, records.studies, shipped["evidence"])
    mas = harms.loc[harms["event"].str.contains("macrophage activation")]
    assert len(mas) == 1 and mas["serious"].iloc[0] == "unknown" and mas["n_patients"].iloc[0] == 1
    assert mas["study"].iloc[0] == "swart2019" and mas["used"].iloc[0]
    assert harms["population"].iloc[0] == "pediatric"  # children first
    assert list(harms["population"]) == sorted(harms["population"], key=lambda p: POPULATION_ORDER.get(p, 9))
    ped = shipped["summaries"].set_index(["dimension", "level"]).loc[("population", "pediatric")]
    assert ped["sae_unknown_events"] >= 1 and "macrophage activation syndrome" in ped["notes"]
    # the SAE analysis says how 'unknown' was treated and counts it in a variant
    pooled = shipped["pooled"]["serious_adverse_events"]["pooled"]
    assert "unknown seriousness are not counted" in pooled["message"].iloc[0]
    variant = pooled.loc[pooled["variant"] == "seriousness unknown counted as serious"]
    assert len(variant) == 1 and "swart2019" in variant["studies"].iloc[0]


def test_wang2013a_deaths_in_harms_from_one_report(shipped, records):
    harms = harms_table(records.tables, records.studies)
    deaths = harms.loc[(harms["study"] == "wang2013a") & (harms["event"] == "death")]
    assert set(zip(deaths["n_patients"], deaths["n_at_risk"])) == {(5, 87), (13, 81)}


# --------------------------------------------------------------------------------------------
# evidence.csv accounts for every value used downstream


def test_every_analysis_and_summary_row_joins_back_to_evidence(shipped, records):
    used = used_rows(shipped["evidence"])
    for name in CONFIG["analyses"]:
        data, _ = analysis_dataset(Corpus(records.studies, shipped["selected"], shipped["outcomes"]),
                                   analysis_spec(CONFIG, name))
        for file, lines in zip(data.get("file", []), data.get("lines", [])):
            for line in str(lines).split(";"):
                assert (file, int(float(line))) in used, (name, file, line)
    # every row summaries, doses and analyses can read is a selected one
    for table, frame in shipped["selected"].items():
        for file, line in zip(frame["file"], frame["line"]):
            assert (str(file), int(line)) in used, (table, file, line)
    # every dose the summaries, the case table, the study table and the dose plot read is a selected one
    doses = selected_doses(shipped["doses"]["doses"])
    assert len(doses) < len(shipped["doses"]["doses"])  # other reports' dose rows exist and are left out
    for file, line in zip(doses["file"], doses["line"]):
        assert (str(file), int(line)) in used, ("doses", file, line)
    cum = shipped["doses"]["cumulative"]
    for files, lines in zip(cum["files"], cum["lines"]):
        for line in str(lines).split(";"):
            if line:
                assert any((f, int(float(line))) in used for f in files.split(";")), (files, line)


# --------------------------------------------------------------------------------------------
# a secondary report with other numbers, placed before the primary one


def _inject_secondary(records) -> tuple[dict, dict]:
    tables = {k: v.copy() for k, v in records.tables.items()}
    studies = copy.deepcopy(records.studies)
    studies["deng2017"]["sources"]["REV"] = {"kind": "secondary", "file": "extraction-notes.md", "text": "a review"}
    out_file = "resources/studies/deng2017/outcomes.csv"
    ae_file = "resources/studies/deng2017/adverse_events.csv"
    o = tables["outcomes"]
    template = o.loc[(o["study"] == "deng2017") & (o["measure"] == "death") & (o["group"] == "msc")].iloc[0]
    rows = []
    for stat, value in (("events", 4.0), ("n", 12.0)):
        r = template.copy()
        r["stat"], r["value"], r["source"], r["line"], r["quote"] = stat, value, "REV", 1, "Deaths 4/12"
        rows.append(r)
    tables["outcomes"] = pd.concat([pd.DataFrame(rows), o], ignore_index=True)  # before the primary rows
    ae = tables["adverse_events"]
    r = ae.loc[ae["study"] == "deng2017"].iloc[0].copy()
    r["group"], r["event"], r["serious"], r["n_patients"], r["source"], r["line"] = "msc", "any serious", "yes", 6, "REV", 1
    r["file"] = ae_file
    tables["adverse_events"] = pd.concat([pd.DataFrame([r]), ae], ignore_index=True)
    # a review re-tabulating wong2021 P3's first infusion with another dose (9 x 10^6/kg), before the text's row
    studies["wong2021"]["sources"]["REV"] = {"kind": "secondary", "file": "extraction-notes.md", "text": "a review"}
    iv = tables["interventions"]
    r = iv.loc[(iv["study"] == "wong2021") & (iv["group"] == "P3") & (iv["seq"] == 1)].iloc[0].copy()
    r["dose_text"], r["source"], r["line"], r["quote"] = "9 × 10^6 cells/kg", "REV", 1, "9 × 10^6 cells/kg"
    tables["interventions"] = pd.concat([pd.DataFrame([r]), iv], ignore_index=True)
    assert out_file in set(tables["outcomes"]["file"])
    return tables, studies


def test_secondary_report_before_primary_changes_nothing_and_is_reported(shipped, records):
    tables, studies = _inject_secondary(records)
    injected = synthesize(tables, studies)
    for name in ("deaths", "serious_adverse_events", "sle_remission"):
        a, b = shipped["pooled"][name]["pooled"], injected["pooled"][name]["pooled"]
        pd.testing.assert_frame_equal(a[["variant", "k", "n", "estimate", "ci_lb", "ci_ub"]],
                                      b[["variant", "k", "n", "estimate", "ci_lb", "ci_ub"]])
    pd.testing.assert_frame_equal(shipped["summaries"].drop(columns="notes"), injected["summaries"].drop(columns="notes"))
    # per-kg doses: the case table, the study table and the dose plot's rows ignore the review's dose
    pd.testing.assert_frame_equal(shipped["cases"], injected["cases"])
    pd.testing.assert_frame_equal(shipped["studies"].drop(columns=["recorded_values", "sources"]),
                                  injected["studies"].drop(columns=["recorded_values", "sources"]))
    d = injected["doses"]["doses"]
    assert (d["cells_per_kg"] == 9e6).sum() == 1 and not selected_doses(d)["cells_per_kg"].eq(9e6).any()
    # the disagreement is reported: in evidence.csv (alternative not used) and in the discrepancy report
    ev = injected["evidence"]
    death = ev.loc[(ev["study"] == "deng2017") & (ev["quantity"] == "death: events") & (ev["group"] == "msc")]
    assert death["source"].tolist() == ["D3"] and death["differs"].all() and "REV" in death["alternatives"].iloc[0]
    disc = find_discrepancies(tables, studies, evidence=ev)
    hit = disc.loc[(disc["study"] == "deng2017") & disc["record_a"].astype(str).str.cat(
        disc["record_b"].astype(str)).str.contains(":1\\b")]
    assert len(hit) >= 1


# --------------------------------------------------------------------------------------------
# rules in isolation


def test_patients_with_event_counts_distinct_rows_and_never_overcounts():
    rows = pd.DataFrame({"event": ["a", "b"], "n_patients": [1, 1], "distinct_patients": ["yes", "yes"]})
    assert patients_with_event(rows)[0] == 2
    rows["distinct_patients"] = ["", ""]
    assert patients_with_event(rows)[0] == 1  # may be the same patient: a lower bound
    rows = pd.DataFrame({"event": ["any serious event", "b"], "n_patients": [3, 1], "distinct_patients": ["", "yes"]})
    assert patients_with_event(rows)[0] == 3


def test_reviewer_pin_wins_and_shows(records, tmp_path):
    pin = tmp_path / "wang2013a" / "selection.yaml"
    pin.parent.mkdir()
    pin.write_text("pins:\n  - {table: interventions, group: all, quantity: seq 1, source: EULAR2017, "
                   "reason: the update describes every infusion}\n", encoding="utf-8")
    pins = load_pins(tmp_path)
    ev, sel = select_evidence(records.tables, records.studies, pins=pins)
    row = ev.loc[(ev["study"] == "wang2013a") & (ev["table"] == "interventions") & (ev["quantity"] == "administration seq 1")]
    assert row["source"].tolist() == ["EULAR2017"] and row["pinned"].all() and "pinned by reviewer" in row["rule"].iloc[0]
    pin.write_text("pins:\n  - {table: outcomes, group: all, quantity: death, source: NOPE, reason: x}\n", encoding="utf-8")
    with pytest.raises(SelectionError, match="matches no record row"):
        select_evidence(records.tables, records.studies, pins=load_pins(tmp_path))


def _with_copies(records, originals: list[str]):
    """The records with each study of ``originals`` also present under the id ``xa_<id>``."""
    tables = {name: pd.concat([t, *(t.loc[t["study"] == o].assign(study=f"xa_{o}") for o in originals)],
                              ignore_index=True)
              for name, t in records.tables.items()}
    return tables, {**records.studies, **{f"xa_{o}": copy.deepcopy(records.studies[o]) for o in originals}}


def test_selection_per_study_is_independent_of_the_rest_of_the_corpus_and_pins_stay_in_their_study(records, tmp_path):
    """Selection is made key by key in one pass over the corpus: a copy of a study gets exactly its original's
    evidence rows; a reviewer's pin of the original (an outcome, a participants column) leaves the copy alone."""
    originals = ["alvarogracia2017", "he2020"]
    tables, studies = _with_copies(records, originals)
    ev, sel = select_evidence(tables, studies)
    cols = [c for c in ev.columns if c != "study"]

    def rows_of(table, study):
        return table.loc[table["study"] == study, cols].reset_index(drop=True)

    for o in originals:
        pd.testing.assert_frame_equal(rows_of(ev, o), rows_of(ev, f"xa_{o}"))
        for name, frame in sel.items():
            assert (frame["study"] == f"xa_{o}").sum() == (frame["study"] == o).sum(), name
    alone, _ = select_evidence(records.tables, records.studies)
    pd.testing.assert_frame_equal(ev.loc[~ev["study"].str.startswith("xa_")].reset_index(drop=True), alone)
    # he2020 reports ACR50 at 1 month in two sources; alvarogracia2017 its placebo arm's size in two
    acr = ev.loc[(ev["study"] == "he2020") & (ev["table"] == "outcomes") & (ev["group"] == "msc")
                 & ev["quantity"].str.startswith("acr50") & (ev["timepoint"] == "1 months")]
    outcomes = tables["outcomes"]
    given = outcomes.loc[(outcomes["study"] == "he2020") & (outcomes["group"] == "msc")
                         & (outcomes["measure"] == "acr50") & (outcomes["timepoint"] == "1 months"), "source"]
    preferred = acr.loc[~acr["rule"].str.contains("not in the preferred report"), "source"]
    other = sorted(set(given) - set(preferred))[0]  # a report the preference did not choose
    arms = tables["participants"]
    n_rows = arms.loc[(arms["study"] == "alvarogracia2017") & (arms["group"] == "placebo") & arms["n"].notna()]
    n_now = ev.loc[(ev["study"] == "alvarogracia2017") & (ev["table"] == "participants") & (ev["group"] == "placebo")
                   & (ev["quantity"] == "n"), "source"].iloc[0]
    n_other = sorted(set(n_rows["source"]) - {n_now})[0]
    for study, text in (("he2020", f"{{table: outcomes, group: msc, quantity: acr50, timepoint: 1 months, "
                                   f"source: {other}, reason: test}}"),
                        ("alvarogracia2017", f"{{table: participants, group: placebo, quantity: n, source: {n_other}, "
                                     "reason: test}")):
        (tmp_path / study).mkdir()
        (tmp_path / study / "selection.yaml").write_text(f"pins:\n  - {text}\n", encoding="utf-8")
    pinned, _ = select_evidence(tables, studies, pins=load_pins(tmp_path))
    hits = pinned.loc[pinned["pinned"]]
    assert set(hits["study"]) == set(originals) and set(hits["table"]) == {"outcomes", "participants"}
    assert set(hits.loc[hits["table"] == "outcomes", "source"]) == {other}
    assert hits.loc[hits["table"] == "participants", "source"].tolist() == [n_other]
    for o in originals:
        pd.testing.assert_frame_equal(rows_of(pinned, f"xa_{o}"), rows_of(ev, f"xa_{o}"))
        assert not rows_of(pinned, o).equals(rows_of(ev, o))


# --------------------------------------------------------------------------------------------
# discrepancy report: like with like, and the missed ones


def test_wong2021_discrepancies_compare_like_with_like(shipped, records):
    from evsynth.describe.discrepancies import range_conflicts, summary_dose_conflicts

    d = shipped["doses"]["doses"]
    per_kg = summary_dose_conflicts(d, records.studies)
    wong = per_kg.loc[per_kg["study"] == "wong2021"].set_index("group")
    # P2's IV summary (1.2 x 10^6/kg) equals its IV administrations: no row (the hip injections are another route)
    assert "P2" not in wong.index
    # P1's IV summary is compared with the 4 IV administrations only, not the intranasal and lymph-node doses
    assert wong.at["P1", "value_a"].endswith("(mean of 4)") and "intranasal" not in wong.at["P1", "note"]
    ranges = range_conflicts(d, records.studies)
    high = ranges.loc[(ranges["study"] == "wong2021") & ranges["quantity"].str.contains("high end")]
    assert high["value_a"].tolist() == ["6.5"]
    assert ranges.loc[ranges["quantity"].str.contains("low end") & (ranges["study"] == "wong2021")].empty  # 1.2 is P2's


def test_discussion_statement_vs_patient_values(records):
    disc = find_discrepancies(records.tables, records.studies)
    hit = disc.loc[(disc["study"] == "wong2021") & (disc["kind"] == "statement_vs_patient")]
    assert hit["group"].tolist() == ["P1"] and hit["value_b"].iloc[0] == "640 -> 80-160"


def test_gvhd_dosing_references_stay_out_of_the_rheumatic_disease_summaries(shipped, records):
    """Issue 13 item 8: the 'all' row once read 'improved 149/334', GVHD response, ACR20 and remission summed."""
    sel, d = shipped["selected"], shipped["doses"]["doses"]
    gvhd = {s for s, m in records.studies.items() if "GVHD" in (m.get("conditions") or [])}
    assert gvhd  # the corpus holds GVHD dosing references
    asked = descriptive_summaries(sel, records.studies, shipped["outcomes"], d, shipped["doses"]["cumulative"],
                                  conditions=CONFIG["summaries"]["conditions"])
    for row in asked.to_dict("records"):
        assert not gvhd & set(str(row["study_ids"]).split(";")), row["level"]
        if isinstance(row["improved_definitions"], str) and ";" in row["improved_definitions"]:
            assert row["improved_definitions"].startswith("MIXED DEFINITIONS - ")  # several definitions: said so
    everything = shipped["summaries"].iloc[0]  # conditions not given: the GVHD references are described too
    assert gvhd & set(everything["study_ids"].split(";"))
