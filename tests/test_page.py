"""The evidence page (evsynth.answer.page), the flow of records and the data dictionary, on synthetic tables;
the page opened in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from evsynth.answer.dictionary import NOT_DESCRIBED, data_dictionary
from evsynth.answer.flow import FLOW_COLUMNS, flow_of_records
from evsynth.answer.page import answer_rows, harms_seen, html_table, render_page
from evsynth.answer.sof import SOF_COLUMNS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _sof() -> pd.DataFrame:
    rows = []
    for outcome, kind in (("disease activity", "benefit"), ("serious adverse events", "harm")):
        for pop, k in (("pediatric", 1), ("adult", 0)):
            row = {c: "" for c in SOF_COLUMNS}
            row.update(outcome=outcome, population=pop, kind=kind, k=k, patients=3.0 * k, designs="1 case_series",
                       effect_text="0/3 patients; 12.5% (95% CI 0.7% to 73.4%)" if k else "",
                       certainty="very low" if k else "no evidence",
                       statement=f"The evidence is very uncertain about the effect of MSC therapy on {outcome} in "
                                 "children." if k else "No study.",
                       controlled_contrast="", comparator_change="", overrides="")
            rows.append(row)
    return pd.DataFrame(rows)


def _page(tmp_path) -> str:
    sof = _sof()
    harms = pd.DataFrame({"study": ["s"], "group": ["P1"], "event": ["macrophage activation syndrome"],
                          "seriousness": ["seriousness unknown"], "patients": [1.0], "at_risk": [np.nan],
                          "timepoint": ["7 weeks"], "seen": ["seen"]})
    html = render_page({
        "question": "Do MSC infusions help children?", "target": "children",
        "answer": answer_rows(sof, "pediatric"),
        "tables": {"sof": html_table(sof), "harms": html_table(harms), "pooled": None, "bias": None,
                   "discrepancies": None, "studies": None, "doses": None, "flow": None, "dictionary": None},
        "harms_source": "synthetic", "harms_seen": 1, "forests": [], "bias_figures": [], "other_figures": [],
        "flow_figure": None,
    })
    path = tmp_path / "index.html"
    path.write_text(html, encoding="utf-8")
    return html


def test_page_has_question_answer_harms_and_caveat_and_no_network(tmp_path):
    html = _page(tmp_path)
    assert "<h1>Do MSC infusions help children?</h1>" in html
    assert html.index('id="answer"') < html.index('id="harms"') < html.index('id="caveat"') < html.index('id="forest"')
    assert 'class="badge c-very-low">very low<' in html
    assert "seriousness unknown" in html
    assert "These numbers describe the reported evidence; they do not show efficacy." in html
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page must not load anything from the network"


def test_harms_seen_orders_serious_then_unknown_then_not_then_absent():
    ae = pd.DataFrame({
        "study": ["k"] * 4 + ["adult"], "group": ["P1", "P2", "P3", "all", "all"],
        "event": ["fatigue", "infection", "MAS", "any serious adverse event", "death"],
        "serious": ["no", "yes", "unknown", "yes", "yes"], "n_patients": [np.nan, 1.0, 1.0, 0.0, 1.0],
        "n_at_risk": [np.nan, np.nan, np.nan, 3.0, 10.0], "timepoint": ["post"] * 5,
        "population": ["pediatric"] * 4 + ["adult"], "source": ["text"] * 5, "used": [True, True, True, True, False]})
    out = harms_seen(ae, "pediatric")
    assert list(out["event"]) == ["infection", "MAS", "fatigue", "any serious adverse event"]
    assert list(out["seriousness"]) == ["serious", "seriousness unknown", "not serious", "serious"]
    assert list(out["seen"]) == ["seen", "seen", "seen", "reported absent"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium); "
                                             "the page's rendering in a browser is not checked")
def test_page_renders_the_summary_of_findings_in_headless_chromium(tmp_path):
    _page(tmp_path)
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", (tmp_path / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    table = dom[dom.index('<table class="answer">'):]
    table = table[: table.index("</table>")]
    assert "disease activity" in table and "serious adverse events" in table
    assert "very low" in table and "no evidence" in table
    assert "0/3 patients; 12.5% (95% CI 0.7% to 73.4%)" in table


def test_flow_counts_read_validated_excluded_and_pooled():
    ledger = pd.DataFrame({"study": ["a", "a", "b"], "file": ["f", "f", "g"], "line": [2, 3, 2],
                           "status": ["accepted", "converted", "accepted"], "reason": ["", "", ""]})
    excluded = pd.DataFrame({"study": ["b", "c"], "analysis": ["x", "x"],
                             "reason": ["conditions ['GVHD'] not in ['SLE']", "no usable MSC-arm data"]})
    rows = pd.DataFrame({"analysis": ["x"], "study": ["a"]})
    pooled = pd.DataFrame({"analysis": ["x"], "variant": ["main"], "subgroup": ["all"], "k": [1], "studies": ["a (all)"]})
    flow = flow_of_records(ledger, {"a": {}, "b": {}, "c": {}}, excluded, rows, pooled)
    assert list(flow.columns) == FLOW_COLUMNS
    by = {(r["step"], r["detail"].split(":")[0]): r for r in flow.to_dict("records")}
    assert by[("read", "study folders and their record rows")]["rows"] == 3
    assert by[("validated", "ledger status accepted")]["rows"] == 2
    assert by[("excluded", "conditions not selected")]["detail"] == "conditions not selected: b"
    assert by[("excluded", "no usable MSC-arm data")]["studies"] == 1
    assert by[("selected", "studies with data for the analysis")]["studies"] == 1
    assert by[("pooled", "a (all)")]["rows"] == 1


def test_dictionary_flags_an_undescribed_column():
    d = data_dictionary({"pooled.csv": ["analysis", "k"], "new.csv": ["wobble"]})
    assert d.loc[d["column"].eq("wobble"), "description"].item() == NOT_DESCRIBED
    assert (d.loc[d["table"].eq("pooled.csv"), "description"] != NOT_DESCRIBED).all()


def test_the_dictionary_reads_the_header_pandas_reads(tmp_path):
    """csv_header (the data dictionary's reader) gives the column names pandas gives for what write_csv writes,
    names with commas, quotes, line breaks, formula-like starts and non-ASCII included, except that an unnamed
    column stays unnamed (pandas calls it 'Unnamed: 7'); an empty file has no columns."""
    import pandas as pd

    from evsynth.common.io import csv_header, write_csv

    names = ["study", "n, randomized", 'the "main" fit', "line\nbreak", "=not a formula", "I² (%)", "Δ SLEDAI", ""]
    write_csv(pd.DataFrame([[1, 2, 3, 4, 5, 6, 7, 8]], columns=names), tmp_path / "t.csv")
    assert csv_header(tmp_path / "t.csv") == names
    assert list(pd.read_csv(tmp_path / "t.csv", nrows=0).columns) == names[:-1] + ["Unnamed: 7"]
    write_csv(pd.DataFrame(columns=["a", "b"]), tmp_path / "empty_rows.csv")
    assert csv_header(tmp_path / "empty_rows.csv") == ["a", "b"]
    (tmp_path / "nothing.csv").write_text("")
    assert csv_header(tmp_path / "nothing.csv") == []


def test_tables_read_back_without_the_spreadsheet_guard(tmp_path):
    """A text cell such as '-8.63 SLEDAI points' is written with a guarding apostrophe (CSV injection) but
    shown on the page as the value itself; plain numbers and ordinary text are untouched."""
    import pandas as pd

    from evsynth.common.io import read_table, write_csv

    frame = pd.DataFrame({"effect": ["-8.63 SLEDAI points", "=HYPERLINK(x)", "it's fine"], "x": [-1.5, 2.0, 3.0]})
    write_csv(frame, tmp_path / "t.csv")
    assert "'-8.63 SLEDAI points" in (tmp_path / "t.csv").read_text()
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.csv"), frame)


def test_each_figure_once_with_svg_caption_scale_and_small_study_reason(tmp_path):
    """A forest plot is shown once as PNG with its SVG offered, its caption names the analysis and the scale
    actually drawn; an analysis with too few studies gets the reason, not a funnel plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evsynth.answer.page import figure
    from evsynth.report.forest_rows import scale_shown

    fig, ax = plt.subplots(figsize=(1, 1))
    fig.savefig(tmp_path / "forest.png")
    fig.savefig(tmp_path / "forest.svg")
    plt.close(fig)
    forest = figure(tmp_path / "forest.png", "Serious adverse events",
                    f"Scale shown: {scale_shown('PLO')}. k = 4.", tmp_path)
    sof = _sof()
    html = render_page({
        "question": "q", "target": "children", "answer": answer_rows(sof, "pediatric"),
        "tables": {"sof": html_table(sof), "harms": None, "pooled": None, "bias": None, "discrepancies": None,
                   "studies": None, "doses": None, "flow": None, "dictionary": None},
        "harms_source": "synthetic", "harms_seen": 0, "forests": [forest], "bias_figures": [], "other_figures": [],
        "flow_figure": None, "funnels": [], "curves": [],
        "small_study": [{"title": "Serious adverse events", "reason": "not assessable: k = 4 < 10 studies"}],
    })
    assert html.count(forest["src"]) == 1  # the PNG once
    assert html.count('href="forest.svg" download') == 1  # the SVG offered for download
    assert "<b>Serious adverse events</b>. Scale shown: proportion of MSC-treated patients, 0 to 1, no null line" in html
    assert "exact (Clopper-Pearson)" in html
    assert "<b>Serious adverse events</b>: not assessable: k = 4 &lt; 10 studies" in html
    assert scale_shown("OR").endswith("1 is no difference") and "0 is no change" in scale_shown("MC")
