"""harmonize_doses / cumulative_doses / implied_weight_conflicts / harmonize_outcomes."""

import numpy as np
import pandas as pd
import pytest
import yaml

from evsynth.harmonize.tables import (
    HarmonizeError, cumulative_doses, harmonize_doses, harmonize_outcomes, implied_weight_conflicts,
    weight_interval,
)
from evsynth.harmonize.units import load_units

MEASURES = yaml.safe_load(open("resources/vocabulary/measures.yaml", encoding="utf-8"))
UNITS = load_units("resources/vocabulary/units.yaml")
F = "resources/studies/wong2021/interventions.csv"


def _iv(rows):
    iv = pd.DataFrame(rows)
    iv["study"], iv["file"], iv["line"] = "wong2021", F, range(2, 2 + len(iv))
    for c in ["seq", "count", "n", "timepoint", "cell_source", "donor", "route"]:
        if c not in iv:
            iv[c] = np.nan
    return iv


LIST = "379 × 106, 256 × 106, and 393 × 106 cells"


def wong_like():
    return _iv([
        dict(group="P1", seq=1, agent="msc", route="intranasal", dose_text="100 × 106 cells; approximately 1.8 × 106 cells/kg/dose"),
        dict(group="P1", seq=2, agent="msc", route="lymph_node", dose_text="100 × 106 cells, approximately 1.8 × 106 cells/kg/dose"),
        dict(group="P1", seq=3, agent="msc", route="iv", dose_text=LIST),
        dict(group="P1", seq=4, agent="msc", route="iv", dose_text=LIST),
        dict(group="P1", seq=5, agent="msc", route="iv", dose_text=LIST),
        dict(group="P1", seq=6, agent="msc", route="iv", dose_text="234 × 106 cells"),
        dict(group="P1", seq=np.nan, count=3, agent="msc", route="iv", dose_text="3.3 × 10 6 /kg/dose"),
        dict(group="P2", seq=1, agent="msc", route="intraosseous", dose_text="1 cc of Wharton’s Jelly MSC; 1.1 × 106 MSCs"),
        dict(group="P2", seq=2, agent="msc", route="iv", dose_text="60 × 106 MSCs; 1.2 × 106 MSCs/kg/dose"),
        dict(group="P3", seq=1, agent="msc", route="iv", dose_text="120 × 106 MSCs; 1.8 × 106 MSCs/kg/dose"),
        dict(group="P3", seq=2, agent="msc", route="iv", dose_text="120.6 × 106 cells; 1.9 × 106 MSCs/kg/dose"),
        dict(group="placebo", seq=1, agent="placebo", route="iv", dose_text="saline"),
        dict(group="P4", seq=1, agent="msc", route="iv", dose_text=np.nan),
    ])


def test_doses_table():
    d = harmonize_doses(wong_like(), pd.DataFrame({"study": ["wong2021"], "group": ["P4"], "n": [1], "weight_kg": [40.0]}))
    assert {"study", "group", "seq", "route", "cell_source", "donor", "cells", "cells_per_kg", "weight_kg",
            "weight_basis", "dose_text", "rule", "file", "line"} <= set(d.columns)
    p1 = d[d["group"] == "P1"].set_index("seq")
    assert list(p1.loc[[3.0, 4.0, 5.0], "cells"]) == [pytest.approx(379e6), pytest.approx(256e6), pytest.approx(393e6)]
    assert p1.loc[1.0, "weight_basis"] == "implied" and p1.loc[1.0, "weight_kg"] == pytest.approx(1e8 / 1.8e6)
    # per-kg of the IV doses derived from the weight the same patient's other rows imply
    assert p1.loc[3.0, "cells_per_kg"] == pytest.approx(379e6 / (1e8 / 1.8e6))
    assert "weight implied by line(s) 2,3" in p1.loc[3.0, "rule"]
    summ = d[d["summary"]]
    assert len(summ) == 1 and summ["cells_per_kg"].iloc[0] == pytest.approx(3.3e6) and "summary row" in summ["rule"].iloc[0]
    pl = d[d["group"] == "placebo"].iloc[0]
    assert np.isnan(pl["cells"]) and pl["rule"] == "not a cell product"
    p4 = d[d["group"] == "P4"].iloc[0]
    assert np.isnan(p4["cells"]) and p4["rule"] == "dose not reported"
    p2 = d[d["group"] == "P2"].set_index("seq")
    assert p2.loc[1.0, "volume_ml"] == 1 and p2.loc[1.0, "cells"] == pytest.approx(1.1e6)
    assert p2.loc[2.0, "weight_kg"] == pytest.approx(50.0)


def test_cumulative():
    c = cumulative_doses(harmonize_doses(wong_like())).set_index("group")
    assert c.loc["P1", "routes"] == "intranasal:1;iv:4;lymph_node:1"
    assert c.loc["P1", "cum_cells"] == pytest.approx((100 + 100 + 379 + 256 + 393 + 234) * 1e6)
    assert c.loc["P3", "cum_cells_per_kg"] == pytest.approx(3.7e6)
    assert c.loc["P3", "cum_cells"] == pytest.approx(240.6e6)
    assert "P4" in c.index and np.isnan(c.loc["P4", "cum_cells"])


def test_weight_interval_and_conflicts():
    lo, hi = weight_interval(120e6, 0.5e6, 1.8e6, 0.05e6)
    assert (lo, hi) == (pytest.approx(119.5 / 1.85), pytest.approx(120.5 / 1.75))
    d = harmonize_doses(wong_like())
    assert implied_weight_conflicts(d).empty  # P3: 66.7 vs 63.5 kg overlap within rounding
    d2 = harmonize_doses(_iv([
        dict(group="P2", seq=1, agent="msc", dose_text="60 × 106 MSCs; 1.2 × 106 MSCs/kg/dose"),
        dict(group="P2", seq=2, agent="msc", dose_text="60 × 106 MSCs; 2.2 × 106 MSCs/kg/dose"),
    ]))
    c = implied_weight_conflicts(d2)
    assert len(c) == 1
    r = c.iloc[0]
    assert (r["quantity"], r["kind"]) == ("weight_kg", "implied_weight")
    assert r["value_a"] == pytest.approx(50.0) and r["value_b"] == pytest.approx(60 / 2.2)
    assert r["source_a"] == f"{F}:2" and r["source_b"] == f"{F}:3"
    assert "do not overlap" in r["note"] and "[" in r["note"]


def test_dose_errors_are_collected():
    iv = _iv([
        dict(group="P1", seq=1, agent="msc", dose_text="1C2 106 kg"),
        dict(group="P1", seq=2, agent="msc", dose_text="cells given"),
        dict(group="P2", seq=1, agent="msc", dose_text=LIST),  # 3 items, 1 row
    ])
    with pytest.raises(HarmonizeError) as e:
        harmonize_doses(iv)
    msg = str(e.value)
    assert f"{F}:2: column 'dose_text' = '1C2 106 kg'" in msg
    assert f"{F}:3:" in msg and "no number" in msg
    assert f"{F}:4:" in msg and "cannot be assigned" in msg
    assert len(e.value.problems) == 3
    d = harmonize_doses(iv, on_error="flag")
    assert d["cells"].isna().all() and d["rule"].str.startswith("unreadable dose").all()


# ---------------------------------------------------------------------------- outcomes

def _out(rows):
    df = pd.DataFrame(rows)
    df["study"], df["file"] = "s", "resources/studies/s/outcomes.csv"
    df["line"] = range(2, 2 + len(df))
    for c in ["group", "comparator", "source", "quote", "note", "metric"]:
        if c not in df:
            df[c] = "" if c != "metric" else "level"
    if "timepoint" not in df:
        df["timepoint"] = "baseline"
    return df


@pytest.mark.parametrize(
    "measure, unit, value, expect, unit_h",
    [
        ("proteinuria_24h", "mg/24h", 2505.0, 2.505, "g/24h"),
        ("proteinuria_24h", "g/24h", 1.0, 1.0, "g/24h"),
        ("c3", "mg/dL", 36.0, 0.36, "g/L"),
        ("c4", "g/L", 0.2, 0.2, "g/L"),
        ("albumin", "g/dL", 3.9, 39.0, "g/L"),
        ("crp", "mg/dL", 1.2, 12.0, "mg/L"),
        ("pga_patient", "0-10", 8.0, 80.0, "percent_of_scale"),
        ("pga_patient", "mm", 75.0, 75.0, "percent_of_scale"),
        ("pga_physician", "cm", 7.0, 70.0, "percent_of_scale"),
        ("sle_pga", "0-3", 1.5, 50.0, "percent_of_scale"),
        ("sledai_2k", "score", 12.2, 12.2, "score"),
    ],
)
def test_unit_and_scale_conversions(measure, unit, value, expect, unit_h):
    o = harmonize_outcomes(_out([dict(measure=measure, unit=unit, stat="mean", value=value)]), MEASURES, UNITS)
    assert o["value_h"].iloc[0] == pytest.approx(expect, rel=1e-12)
    assert o["unit_h"].iloc[0] == unit_h
    assert o["domain"].iloc[0] == MEASURES[measure]["domain"]
    assert o["direction"].iloc[0] == MEASURES[measure]["direction"]
    assert o["rule"].iloc[0]


def test_spread_and_change_scale_without_offset():
    o = harmonize_outcomes(_out([
        dict(measure="pga_patient", unit="0-10", stat="sd", value=1.5),
        dict(measure="pga_patient", unit="0-10", stat="mean", value=-5, metric="change"),
        dict(measure="proteinuria_24h", unit="mg/24h", stat="sd", value=800.7),
    ]), MEASURES, UNITS)
    assert list(o["value_h"]) == [pytest.approx(15.0), pytest.approx(-50.0), pytest.approx(0.8007, rel=1e-12)]


def test_creatinine_mgdl_is_flagged_not_converted():
    o = harmonize_outcomes(_out([dict(measure="creatinine", unit="mg/dL", stat="mean", value=1.1)]), MEASURES, UNITS)
    assert np.isnan(o["value_h"].iloc[0]) and o["flag"].iloc[0] == "not_converted"
    assert "no conversion mg/dL -> umol/L" in o["rule"].iloc[0]


def test_vocabulary_drives_units():
    m = {"x": {"domain": "d", "direction": "none", "unit_h": "b", "units": {"a": {}, "b": {}}}}
    u = {"conversions": [{"from": "a", "to": "b", "factor": 2.5, "source": "test"}]}
    o = harmonize_outcomes(_out([dict(measure="x", unit="a", stat="mean", value=2.0)]), m, u)
    assert o["value_h"].iloc[0] == 5.0 and "x2.5 (test)" in o["rule"].iloc[0]


def test_unstated_scale_is_flagged():
    o = harmonize_outcomes(_out([dict(measure="vas_wellbeing", unit="unstated", stat="median", value=75)]), MEASURES, UNITS)
    assert np.isnan(o["value_h"].iloc[0]) and o["flag"].iloc[0] == "not_converted"


def test_unitless_rows_unchanged_and_traceable():
    o = harmonize_outcomes(_out([
        dict(measure="remission", unit="patients", stat="events", value=9),
        dict(measure="remission", unit="patients", stat="n", value=12),
        dict(measure="sledai_2k", unit="", stat="estimate", value=-2.32, metric="smd"),
    ]), MEASURES, UNITS)
    assert list(o["value_h"]) == [9, 12, -2.32]
    assert list(o["line"]) == [2, 3, 4] and (o["file"] == "resources/studies/s/outcomes.csv").all()


def test_errors_name_file_line_column_value_expectation():
    df = _out([
        dict(measure="proteinuria_24h", unit="g/dL", stat="mean", value=1.0),     # wrong unit
        dict(measure="pga_patient", unit="0-10", stat="value", value=11.0),       # out of range
        dict(measure="sledai_2k", unit="score", stat="mean", value=-106, metric="change"),  # below -105
        dict(measure="sledai_2k", unit="score", stat="sd", value=-1.0),           # negative SD
        dict(measure="sledai2k", unit="score", stat="mean", value=3.0),           # unknown measure
        dict(measure="sledai_2k", unit="score", stat="mean", value=3.0, timepoint="week 8"),
        dict(measure="sledai_2k", unit="", stat="mean", value=3.0),               # missing unit
    ])
    with pytest.raises(HarmonizeError) as e:
        harmonize_outcomes(df, MEASURES, UNITS)
    msg = str(e.value)
    f = "resources/studies/s/outcomes.csv"
    assert f"{f}:2: column 'unit' = 'g/dL': a unit of proteinuria_24h: one of [" in msg and "'mg/24h'" in msg
    assert f"{f}:3: column 'value' = 11: value of pga_patient (level) in [0, 10] on unit '0-10'" in msg
    assert f"{f}:4: column 'value' = -106: mean of sledai_2k (change) in [-105, 105]" in msg
    assert f"{f}:5: column 'value' = -1" in msg and "[0, inf]" in msg
    assert f"{f}:6: column 'measure' = 'sledai2k'" in msg and "did you mean 'sledai_2k'" in msg
    assert f"{f}:7: column 'timepoint' = 'week 8'" in msg
    assert f"{f}:8: column 'unit' = ''" in msg
    assert len(e.value.problems) == 7


def test_change_may_be_negative_within_width():
    o = harmonize_outcomes(_out([dict(measure="sledai_2k", unit="score", stat="mean", value=-9.0, metric="change")]), MEASURES, UNITS)
    assert o["value_h"].iloc[0] == -9.0
