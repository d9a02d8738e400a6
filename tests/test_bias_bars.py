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


def _study(folder, sid, design, conditions):
    (folder / sid).mkdir(parents=True)
    (folder / sid / "study.yaml").write_text(f"id: {sid}\ndesign: {design}\nconditions: {conditions}\n")


def test_gvhd_dosing_references_stay_out_of_the_bias_plots(tmp_path):
    """A GVHD trial (a dose anchor) draws no RoB 2 plot for a rheumatic-disease question unless config asks."""
    from evsynth.appraise.tools import bias_tools, in_question

    tools = "resources/appraisal/tools.yaml"
    _study(tmp_path, "sle2020", "case_series", "[SLE]")
    _study(tmp_path, "gvhd2014", "rct", "[GVHD]")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "study.yaml").write_text("id: [unclosed\n")  # the validator reports it, not this
    question = ["SLE", "MCTD", "JIA", "RA", "UCTD"]
    assert bias_tools(tools, tmp_path, question) == ["murad", "jbi_case_series"]
    assert bias_tools(tools, tmp_path, question + ["GVHD"]) == ["murad", "jbi_case_series", "rob2"]
    assert "jbi_case_report" in bias_tools(tools)  # without a corpus: every tool
    assert not in_question({"conditions": ["GVHD"]}, question) and in_question({"conditions": ["GVHD"]}, None)


def test_no_placeholder_plot_for_a_tool_no_study_uses():
    """The corpus has no case report: no JBI case-report plots (two identical placeholders before)."""
    import yaml

    from evsynth.appraise.tools import bias_tools

    designs = {yaml.safe_load(p.read_text())["design"] for p in __import__("pathlib").Path(
        "resources/studies").glob("*/study.yaml")}
    got = bias_tools("resources/appraisal/tools.yaml", "resources/studies", ["SLE", "MCTD", "JIA", "RA", "UCTD"])
    assert ("jbi_case_report" in got) == ("case_report" in designs)
    assert "murad" in got and "none" not in got
