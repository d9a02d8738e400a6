"""The one timepoint grammar, conversion to months and follow-up rule (evsynth.common.timepoints)."""

import math

import numpy as np
import pandas as pd
import pytest

from evsynth.common.timepoints import TIMEPOINT, followup, parse_timepoint, time_months, timepoint_months

DPM = 365.25 / 12


def test_grammar_and_lenient_parser_agree():
    for text in ("baseline", "post", "6 months", "0-4 days", "17.2 months", "7-23 months", "2 years"):
        assert TIMEPOINT.match(text) and parse_timepoint(text) is not None
    assert not TIMEPOINT.match("6 Month") and parse_timepoint("6 Month").value() == 6  # a hand-edited fact
    assert parse_timepoint("later") is None and parse_timepoint(None) is None and parse_timepoint("") is None


def test_timepoint_months_bounds():
    assert timepoint_months("baseline") == 0
    assert math.isnan(timepoint_months("post")) and math.isnan(timepoint_months("later"))
    assert timepoint_months("2 years") == 24 and timepoint_months("6 months") == 6
    assert timepoint_months("8 weeks") == pytest.approx(8 * 7 / DPM)
    assert timepoint_months("30 days") == pytest.approx(30 / DPM)
    assert timepoint_months("0-1 years", bound="lower") == 0
    assert timepoint_months("0-1 years") == 6
    assert timepoint_months("0-1 years", bound="upper") == 12
    with pytest.raises(ValueError, match="range bound"):
        timepoint_months("0-1 years", bound="mean")


def test_time_months():
    tp = pd.Series(["baseline", "8 weeks", "2 years", "0-1 weeks", "post", None, "30 days", "6 months", "soon"])
    m, r = time_months(tp)
    assert m[0] == 0 and m[1] == pytest.approx(56 / DPM) and m[2] == 24
    assert m[3] == pytest.approx(3.5 / DPM) and "midpoint" in r[3]
    assert np.isnan(m[4]) and r[4] == "time not reported" and np.isnan(m[5])
    assert m[6] == pytest.approx(30 / DPM) and m[7] == 6
    assert r[8] == "ERROR"


def _tables(part_rows=(), out_rows=()):
    part = pd.DataFrame([{"study": "s", "file": "p.csv", "line": i + 2, "source": "text", **r}
                         for i, r in enumerate(part_rows)], columns=["study", "file", "line", "source", "group", "followup"])
    out = pd.DataFrame([{"study": "s", "file": "o.csv", "line": i + 2, **r} for i, r in enumerate(out_rows)],
                       columns=["study", "file", "line", "group", "timepoint"])
    return {"participants": part, "outcomes": out}


def test_followup_order_basis_and_bound():
    studies = {"s": {"sources": {"text": {"kind": "text"}}}}
    tables = _tables([{"group": "a", "followup": "12 months"}, {"group": "b", "followup": "6-18 months"}],
                     [{"group": "a", "timepoint": "24 months"}])
    # study level: the shortest participants.followup (a range at its bound) before the outcomes
    fu = followup(studies, tables, "s")
    assert fu.months == 6 and fu.basis == "shortest participants.followup '6-18 months' [text], lower end of the range"
    assert followup(studies, tables, "s", bound="midpoint").months == 12
    assert list(fu.rows["line"]) == [3]
    # a study.yaml fact wins
    fact = {"s": {**studies["s"], "appraisal": {"followup": {"value": "2 years"}}}}
    fu = followup(fact, tables, "s")
    assert fu.months == 24 and fu.basis == "study.yaml appraisal.followup '2 years'" and fu.fact == "followup"
    # a group: its own row; a patient never inherits the study's follow-up
    assert followup(studies, tables, "s", "a").months == 12
    patient = followup(studies, _tables([{"group": "all", "followup": "12 months"}]), "s", "P1", patient=True)
    assert math.isnan(patient.months) and patient.basis == "not reported"
    # else the latest outcome timepoint
    only_outcomes = _tables([], [{"group": "all", "timepoint": "7-23 months"}, {"group": "all", "timepoint": "post"}])
    fu = followup(studies, only_outcomes, "s")
    assert fu.months == 7 and fu.basis == "latest outcome timepoint '7-23 months', lower end of the range"
    with pytest.raises(ValueError, match="range_bound"):
        followup(studies, only_outcomes, "s", bound="mean")
