"""Funnel plot, Egger's test and trim-and-fill only where k >= small_study_min_k (default 10): drawn with the
test results in its footer; with fewer studies nothing is drawn and pooled.csv says why."""

import numpy as np

from evsynth.common.measures import MEASURES
from evsynth.pool.analysis import run_analysis
from evsynth.pool.run import draw_funnel
from test_pooling_rules import Builder, _spec


def _changes(k: int):
    """k single-arm SLEDAI changes, the small studies showing larger improvements (funnel asymmetry)."""
    b = Builder()
    rng = np.random.default_rng(3)
    for i in range(k):
        n = 8 + 6 * i
        sid = f"s{i:02d}20{10 + i}"
        b.study(sid, arms=(("all", n),)).change(sid, "all", -4.0 - 30.0 / n + rng.normal(0, 0.3), 4.0, n)
    return b.corpus()


def test_ten_studies_draw_a_funnel_with_egger_and_trim_and_fill(tmp_path):
    spec = _spec(effect="MC", outcome={"measures": ["sledai"]}, title="SLEDAI change")
    out = run_analysis("s", spec, _changes(10))
    assert len(out["funnel"]["yi"]) == 10 and np.isfinite(out["funnel"]["estimate"])
    draw_funnel(out["funnel"], tmp_path / "funnel", spec, "s")
    svg = (tmp_path / "funnel" / "funnel.svg").read_text()
    assert (tmp_path / "funnel" / "funnel.png").read_bytes().startswith(b"\x89PNG")
    assert "Egger's test z = " in svg and "trim-and-fill (L0)" in svg and "Standard error" in svg
    assert "Mean change from baseline (analysis scale)" in svg
    egger = out["pooled"].set_index("variant").loc["Egger's regression test"]
    assert egger["message"] in svg  # the footer is pooled.csv's row, not a recomputation


def test_fewer_than_ten_studies_draw_nothing_and_say_why(tmp_path):
    spec = _spec(effect="MC", outcome={"measures": ["sledai"]})
    assert run_analysis("s", {**spec, "small_study_min_k": 9}, _changes(9))["funnel"]  # the configured threshold
    out = run_analysis("s", spec, _changes(9))
    assert out["funnel"] == {}
    draw_funnel(out["funnel"], tmp_path / "funnel", spec, "s")
    assert list((tmp_path / "funnel").iterdir()) == []  # an empty folder: no placeholder figure
    rows = out["pooled"].set_index("variant")
    for variant in ("Egger's regression test", "trim-and-fill"):
        assert rows.loc[variant, "message"].startswith("not assessable: k = 9 < 10 studies")


def test_the_funnel_axis_names_the_scale_each_measure_is_pooled_on():
    """From the measure registry, for every effect an analysis may declare (a proportion pooled as PR, PFT or an
    RD was labelled with its bare code before)."""
    assert {code: m.analysis_label for code, m in MEASURES.items()} == {
        "MC": "Mean change from baseline", "MD": "Mean difference", "PLO": "Logit proportion", "PR": "Proportion",
        "PFT": "Freeman-Tukey transformed proportion", "OR": "Log odds ratio", "RR": "Log risk ratio",
        "RD": "Risk difference"}
