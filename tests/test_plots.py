"""Plots of issue 6 (evsynth.report.forest, .specification_curve, .dose_plot): files are written, valid, deterministic, and carry their texts."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evsynth.report.dose_plot import dose_plot
from evsynth.report.forest import forest_plot
from evsynth.report.specification_curve import specification_curve
from evsynth.stats.effects import transf_ipft

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _studies(k: int = 4) -> pd.DataFrame:
    labels = ["Deng 2017 (msc vs placebo)", "Wang 2013 (msc+dmard vs dmard)", "Liang 2010", "Shadmanfar 2018",
              "Alvaro-Gracia 2017 (high dose vs placebo)"]
    yi = np.array([-0.5, -0.2, 0.1, 0.3, -0.8])[:k]
    se = np.array([0.3, 0.2, 0.3, 0.35, 0.5])[:k]
    w = 1 / se**2
    return pd.DataFrame({"label": labels[:k], "yi": yi, "ci_lb": yi - 1.96 * se, "ci_ub": yi + 1.96 * se,
                         "weight": 100 * w / w.sum(), "n": [24, 136, 15, 30, 53][:k],
                         "note": [None, "imputed SD", None, "imputed SD", None][:k]})


POOLED = dict(estimate=-0.1234, ci_lb=-0.4, ci_ub=0.15, pi_lb=-0.8, pi_ub=0.55, k=4, tau2=0.0321, i2=23.4,
              q=5.2, q_pval=0.27, method="REML", test="knha", level=95)


def _multiverse() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for est in ["REML", "DL", "PM"]:
        for test in ["z", "knha"]:
            for r in [0.3, 0.5, 0.7]:
                e = float(rng.normal(-0.2, 0.2))
                se = 0.1 if test == "z" else 0.2
                rows.append(dict(estimator=est, test=test, correlation=r, estimate=e, ci_lb=e - 1.96 * se,
                                 ci_ub=e + 1.96 * se, converged=True, primary=(est, test, r) == ("REML", "knha", 0.5)))
    rows[0]["converged"] = False
    rows[5]["estimate"] = float("nan")
    return pd.DataFrame(rows)


def _doses() -> pd.DataFrame:
    return pd.DataFrame({
        "study": ["deng2017", "wang2013", "wang2013", "swart2015", "li2019", "kuca2020"],
        "group": ["msc", "msc low", "msc high", "iv arm", "arm a", None],
        "route": ["iv", "iv", "iv", "intra_articular", "intra_articular", None],
        "cells_per_kg": [1e6, 6.7e5, np.nan, 1e6, np.nan, np.nan],
        "cells_per_kg_low": [np.nan, np.nan, 1e6, np.nan, np.nan, np.nan],
        "cells_per_kg_high": [np.nan, np.nan, 2e6, np.nan, np.nan, np.nan],
        "population": ["adult", "adult", "adult", "pediatric", "adult", "mixed"],
    })


def _check(paths, tmp_path):
    for p in paths:
        data = p.read_bytes()
        assert data, p
        if p.suffix == ".png":
            assert data.startswith(PNG_SIG)
        else:
            ET.fromstring(data)  # well-formed XML
            assert b"<dc:date>" not in data


def _svg_text(path) -> str:
    """All text of an SVG written with svg.fonttype='none' (text stays <text>)."""
    root = ET.fromstring(path.read_bytes())
    return "\n".join("".join(el.itertext()) for el in root.iter() if el.tag.endswith("text"))


def _render_twice(fn, tmp_path, *args, **kw):
    out = []
    for run in ("a", "b"):
        paths = [str(tmp_path / run / "plot.png"), str(tmp_path / run / "plot.svg")]
        written = fn(*args, paths, **kw)
        assert [str(p) for p in written] == paths
        out.append(written)
    for pa, pb in zip(*out):
        assert pa.read_bytes() == pb.read_bytes(), f"{pa.name} differs between two renderings"
    return out[0]


def test_forest_plot_files_texts_and_determinism(tmp_path):
    st = _studies()
    written = _render_twice(forest_plot, tmp_path, st, POOLED, title="DAS28 at 6 months",
                            effect_label="Standardized mean difference", caveat="Describes the reported evidence; "
                            "does not show efficacy.")
    _check(written, tmp_path)
    text = _svg_text(written[1])
    for lab in st["label"]:
        assert lab in text
    assert "-0.12 [-0.40, 0.15]" in text  # pooled estimate and CI
    assert "95% prediction interval" in text and "[-0.80, 0.55]" in text
    assert "k = 4" in text and "τ² = 0.0321" in text and "I² = 23.4%" in text and "p = 0.270" in text
    assert "RE model (REML, Knapp-Hartung)" in text
    assert "[a] imputed SD" in text
    assert "does not show efficacy" in text


def test_forest_plot_k1_and_nan_pi(tmp_path):
    one = _studies(1)
    written = forest_plot(one, dict(POOLED, k=1), [tmp_path / "k1.png", tmp_path / "k1.svg"], title="k1",
                                effect_label="Mean difference")
    _check(written, tmp_path)
    text = _svg_text(written[1])
    assert "k = 1: no pooling" in text and "Deng 2017 (msc vs placebo)" in text
    assert "Pooled" not in text

    nopi = dict(POOLED, pi_lb=float("nan"), pi_ub=float("nan"))
    written = forest_plot(_studies(), nopi, [tmp_path / "nopi.svg"], title="no PI", effect_label="SMD")
    text = _svg_text(written[0])
    assert "prediction interval not shown" in text.lower()
    assert "95% prediction interval" not in text


def test_forest_plot_backtransforms(tmp_path):
    st = _studies()
    text = _svg_text(forest_plot(st, POOLED, [tmp_path / "rr.svg"], title="RR", effect_label="Risk ratio",
                                       transform="exp")[0])
    assert f"{math.exp(-0.1234):.2f} [{math.exp(-0.4):.2f}, {math.exp(0.15):.2f}]" in text
    assert "log scale" in text
    # Freeman-Tukey: studies back-transformed with their own n, pooled with the harmonic mean
    n = np.array([20, 40, 10])
    p = np.array([0.2, 0.35, 0.5])
    pft = 0.5 * (np.arcsin(np.sqrt(p * n / (n + 1))) + np.arcsin(np.sqrt((p * n + 1) / (n + 1))))
    ft = pd.DataFrame({"label": ["a", "b", "c"], "yi": pft, "ci_lb": pft - 0.1, "ci_ub": pft + 0.1,
                       "weight": [30.0, 50.0, 20.0], "n": n})
    back = transf_ipft(pft, n)
    np.testing.assert_allclose(back, p, atol=1e-10)
    pooled = dict(POOLED, estimate=float(pft.mean()), ci_lb=float(pft.mean() - 0.05), ci_ub=float(pft.mean() + 0.05),
                  k=3)
    text = _svg_text(forest_plot(ft, pooled, [tmp_path / "ft.svg"], title="FT", effect_label="Proportion",
                                       transform="ipft", null_value=None)[0])
    assert f"{back[0]:.3f} [" in text  # proportions: three decimals throughout the plot
    with pytest.raises(ValueError, match="ipft"):
        forest_plot(ft.drop(columns="n"), pooled, [tmp_path / "x.svg"], title="x", effect_label="x",
                          transform="ipft")
    # precomputed: drawn as given
    text = _svg_text(forest_plot(ft.assign(yi=p, ci_lb=p - 0.05, ci_ub=p + 0.05), dict(pooled, estimate=0.33),
                                       [tmp_path / "pre.svg"], title="pre", effect_label="Proportion",
                                       transform="none-precomputed", null_value=None)[0])
    assert "0.20 [0.15, 0.25]" in text and "0.33 [" in text


def test_forest_plot_40_rows_and_bad_suffix(tmp_path):
    k = 40
    st = pd.DataFrame({"label": [f"Study {i:02d} 20{i % 25:02d} (msc vs control, long comparison text)"
                                 for i in range(k)],
                       "yi": np.linspace(-1, 1, k), "ci_lb": np.linspace(-1, 1, k) - 0.5,
                       "ci_ub": np.linspace(-1, 1, k) + 0.5, "weight": np.full(k, 100 / k)})
    (png,) = forest_plot(st, dict(POOLED, k=k), [tmp_path / "big.png"], title="40", effect_label="SMD")
    assert png.read_bytes().startswith(PNG_SIG)
    with pytest.raises(ValueError, match="format"):
        forest_plot(st, POOLED, [tmp_path / "x.pdf"], title="x", effect_label="x")


def test_specification_curve(tmp_path):
    mv = _multiverse()
    written = _render_twice(specification_curve, tmp_path, mv, title="Spec curve", effect_label="SMD",
                            choice_columns=["estimator", "test", "correlation"])
    _check(written, tmp_path)
    text = _svg_text(written[1])
    assert "18 specifications give 16 distinct results" in text
    assert "1 specification did not converge (not shown)" in text
    assert "1 specification leaves no study with data" in text
    for word in ("estimator", "REML", "knha", "0.5", "CI excludes the null", "pre-specified"):
        assert word in text
    svg = Path(written[1]).read_text()
    assert 'id="ytick_1"' in svg and 'id="xtick_' not in svg  # the columns carry no ticks, not even invisible ones
    # ratio scale and nothing converged
    written = specification_curve(mv.assign(converged=False, k=3), [tmp_path / "none.svg"], title="x",
                                  effect_label="RR", choice_columns=["estimator"], transform="exp")
    assert "no specification has an estimate" in _svg_text(written[0])


def _spec_rows() -> pd.DataFrame:
    """Twelve specifications: six estimators x two tests on two studies, where every estimator finds tau^2 = 0
    (one result per test), and two that leave one study (an exclusion), and one that leaves none."""
    rows = []
    for est in ["DL", "REML", "ML", "PM", "HS", "SJ"]:
        for test, half in (("z", 0.2), ("knha", 0.5)):
            rows.append(dict(estimator=est, test=test, inclusion="all", k=2, studies="a;b", estimate=-1.5,
                             ci_lb=-1.5 - half, ci_ub=-1.5 + half, converged=True))
    for test in ("z", "knha"):
        rows.append(dict(estimator="REML", test=test, inclusion="exclude_high_risk", k=1, studies="a",
                         estimate=-2.0, ci_lb=-2.6, ci_ub=-1.4, converged=False))
    rows.append(dict(estimator="REML", test="z", inclusion="exclude_imputed", k=0, studies="", estimate=np.nan,
                     ci_lb=np.nan, ci_ub=np.nan, converged=False))
    return pd.DataFrame(rows)


def test_specification_curve_collapses_identical_results_and_names_single_studies(tmp_path):
    from evsynth.report.specification_curve import collapse_specifications, specification_status

    mv = _spec_rows()
    assert specification_status(mv).value_counts().to_dict() == {"pooled": 12, "single study": 2, "no data": 1}
    d = collapse_specifications(mv, ["estimator", "test", "inclusion"])
    assert sorted(d["n_specs"]) == [2, 6, 6]  # two tests x six estimators: two results; one single study
    assert set(d.loc[d["n_specs"].eq(6), "estimator"].iloc[0]) == {"DL", "REML", "ML", "PM", "HS", "SJ"}
    (svg,) = specification_curve(mv, [tmp_path / "c.svg"], title="c", effect_label="MC",
                                 choice_columns=["estimator", "test", "inclusion"])
    text = _svg_text(svg)
    assert "15 specifications give 3 distinct results" in text
    assert "2 specifications leave one study" in text and "single study" in text
    assert "did not converge" not in text  # a single-study specification is not a failed fit
    assert "exclude high risk" in text  # choice labels as words, the whole label drawn


@pytest.mark.parametrize(("effect", "transform", "null"), [
    ("MC", None, 0.0), ("MD", None, 0.0), ("RD", None, 0.0), ("OR", "exp", 0.0), ("RR", "exp", 0.0),
    ("PLO", None, None), ("PR", None, None)])
def test_specification_curve_null_belongs_to_the_measure(effect, transform, null):
    from evsynth.report.specification_curve import null_for

    assert null_for(effect) == (transform, null)


def test_proportions_are_not_coloured_against_a_null_of_zero(tmp_path):
    mv = _spec_rows().assign(estimate=0.12, ci_lb=0.05, ci_ub=0.25)  # every CI excludes 0
    (svg,) = specification_curve(mv, [tmp_path / "p.svg"], title="deaths", effect_label="Pooled proportion",
                                 choice_columns=["estimator"], null_value=None)
    text = _svg_text(svg)
    assert "CI excludes the null" not in text and "No null line" in text
    (svg,) = specification_curve(mv, [tmp_path / "or.svg"], title="OR", effect_label="OR",
                                 choice_columns=["estimator"], transform="exp", null_value=0.0)
    assert "the null line is at 1" in _svg_text(svg)


def test_dose_plot(tmp_path):
    written = _render_twice(dose_plot, tmp_path, _doses())
    _check(written, tmp_path)
    text = _svg_text(written[1])
    assert "Not shown, no dose per kg derivable (2 studies): li2019 (arm a); kuca2020." in text
    for word in ("Pediatric", "Adult", "deng2017", "msc high", "intravenous", "intra-articular"):
        assert word in text
    assert "Mixed" not in text  # kuca2020, its only study, has no dose: listed, not drawn as an empty line
    assert text.index("Pediatric") < text.index("Adult")
    with pytest.raises(ValueError, match="lack columns"):
        dose_plot(_doses().drop(columns="population"), [tmp_path / "x.png"])


def test_dose_plot_rows_keep_every_study_and_say_why_not(tmp_path):
    """Summary-only doses are drawn (liang2010 reports its dose only as a summary), totals without a weight
    and unreadable doses are listed with the reason, placebo is not a dose, repeats are one marker (x3), the
    GVHD references are grouped as dosing references."""
    from evsynth.report.dose_plot import dose_plot_rows

    doses = pd.DataFrame([
        dict(study="liang2010", group="all", route="iv", summary=True, rule="summary row; per-kg 1e+06",
             cells_per_kg=1e6),
        dict(study="deng2017", group="msc", route="iv", summary=True, rule="summary row; total 2e+08 cells",
             cells_per_kg=np.nan),
        dict(study="deng2017", group="placebo", route="iv", summary=False, rule="not a cell product",
             cells_per_kg=np.nan),
        dict(study="bonig2019", group="all", route="iv", summary=True, rule="not read: marked dose_readable=no",
             cells_per_kg=np.nan),
        *[dict(study="wong2021", group="P3", route="iv", summary=False, rule="per-kg 1.8e+06",
               cells_per_kg=1.8e6)] * 3,
        dict(study="wong2021", group="P3", route="iv", summary=True, rule="summary row; per-kg 1.8e+06",
             cells_per_kg=1.8e6),
        dict(study="bbmt2014", group="all", route="iv", summary=False, rule="per-kg 1.5e+06", cells_per_kg=1.5e6),
    ]).assign(cells_per_kg_low=np.nan, cells_per_kg_high=np.nan)
    metas = {"liang2010": {"population": "adult", "conditions": ["SLE"]},
             "deng2017": {"population": "adult", "conditions": ["SLE"]},
             "bonig2019": {"population": "mixed", "conditions": ["GVHD"]},
             "wong2021": {"population": "pediatric", "conditions": ["SLE"]},
             "bbmt2014": {"population": "mixed", "conditions": ["GVHD"]}}
    rows = dose_plot_rows(doses, metas, ["SLE"]).set_index(["study", "group"])
    assert rows.loc[("liang2010", "all"), "cells_per_kg"] == 1e6  # the summary row, not dropped
    assert rows.loc[("deng2017", "msc"), "reason"] == "total cells only, no body weight to divide by"
    assert ("deng2017", "placebo") not in rows.index
    assert rows.loc[("bonig2019", "all"), "reason"] == "dose unreadable in the source"
    assert rows.loc[("wong2021", "P3"), "count"] == 3  # three administrations, the summary not added
    assert rows.loc[("bbmt2014", "all"), "population"] == "dosing reference"
    (svg,) = dose_plot(dose_plot_rows(doses, metas, ["SLE"]), [tmp_path / "d.svg"])
    text = _svg_text(svg)
    assert "liang2010" in text and "×3" in text and "Dosing references (GVHD" in text
    assert "deng2017 (msc): total cells only, no body weight to divide by" in text
    assert "bonig2019 (all): dose unreadable in the source" in text


def test_style_does_not_leak(tmp_path):
    import matplotlib.pyplot as plt

    before = (plt.rcParams["svg.fonttype"], plt.rcParams["svg.hashsalt"], plt.rcParams["font.size"])
    dose_plot(_doses(), [tmp_path / "d.svg"])
    assert (plt.rcParams["svg.fonttype"], plt.rcParams["svg.hashsalt"], plt.rcParams["font.size"]) == before


def test_a_figure_too_tall_for_a_png_is_saved_at_the_resolution_that_fits(tmp_path, monkeypatch):
    """save_figure keeps the caller's dpi unless the PNG would exceed PNG_MAX_PIXELS on a side (Agg refuses
    2^16: the dose plot of a 60x corpus); the limit is lowered here so that a 20-inch figure is too tall."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from evsynth.common import figures

    monkeypatch.setattr(figures, "PNG_MAX_PIXELS", 3000)
    sizes = {}
    for name, height in (("small", 4.0), ("tall", 20.0)):
        fig = plt.figure(figsize=(3.0, height))
        fig.text(0.5, 0.5, name)
        png = figures.save_figure(fig, tmp_path / f"{name}.png", dpi=200)[0]
        sizes[name] = Image.open(png).size
    assert sizes["small"] == (600, 800)
    assert sizes["tall"] == (450, 3000)  # 150 dpi: 3000 px / 20 in
