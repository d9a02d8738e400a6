"""Risk-of-bias summary bars count only the studies an item applies to, and say how many."""

import pandas as pd

from evsynth.appraise.plots import summary_bars, summary_counts


def _checklist():
    rows = []
    for i in range(13):
        study = f"s{i:02d}"
        if i < 4:  # Q1 applies to four studies only (one design)
            rows.append({"study": study, "tool": "murad", "item": "Q1", "question": "Selection?",
                         "judgement": "yes" if i == 0 else "no"})
        rows.append({"study": study, "tool": "murad", "item": "Q4", "question": "Alternative causes?",
                     "judgement": "not applicable" if i == 12 else ("yes" if i < 3 else "unclear")})
        rows.append({"study": study, "tool": "murad", "item": "overall", "question": "", "judgement": "high"})
    return pd.DataFrame(rows)


def test_denominator_is_the_studies_an_item_applies_to():
    counts = summary_counts(_checklist(), "murad").set_index("item")
    assert counts.loc["Q1", "n"] == 4 and counts.loc["Q1", "low"] == 1 and counts.loc["Q1", "high"] == 3
    assert counts.loc["Q4", "n"] == 12  # 'not applicable' is not counted
    assert counts.loc["overall", "n"] == 13 and counts.loc["overall", "high"] == 13


def test_bar_labels_say_how_many_studies(tmp_path):
    summary_bars(_checklist(), "murad", tmp_path / "bars")
    svg = (tmp_path / "bars.svg").read_text()
    assert "(n = 4 of 13)" in svg and "(n = 12 of 13)" in svg
