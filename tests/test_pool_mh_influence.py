"""Issue 14 in the pipeline: the mantel_haenszel sensitivity variant of OR/RR/RD analyses (evsynth.stats.rma_mh
on the studies' 2x2 tables) and each analysis' case diagnostics and Baujat plot (evsynth.stats.influence,
evsynth.stats.baujat) from influence_min_k studies."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from corpus_support import shipped_records
from evsynth.common.config import analysis_spec
from evsynth.harmonize.run import complete_outcomes
from evsynth.pool.analysis import pool_mh, run_analysis
from evsynth.pool.datasets import Corpus
from evsynth.pool.influence import INFLUENCE_COLUMNS, influence_rows, influence_skipped
from evsynth.pool.run import write_influence
from evsynth.select.evidence import select_evidence
from evsynth.stats import baujat, influence, rma, rma_mh

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture(scope="module")
def corpus():
    records = shipped_records()
    _, selected = select_evidence(records.tables, records.studies)
    outcomes = complete_outcomes(selected["outcomes"], ROOT / "resources" / "vocabulary", "wan2014", 0.5)
    return Corpus(records.studies, selected, outcomes)


@pytest.mark.parametrize("name", ["rct_any_adverse_event", "rct_remission"])
def test_mantel_haenszel_variant_row(corpus, name):
    spec = analysis_spec(CONFIG, name)
    assert "mantel_haenszel" in spec["sensitivity"]
    out = run_analysis(name, spec, corpus)
    data = out["studies"].loc[out["studies"]["role"].eq("main")] if len(out["studies"]) else out["studies"]
    row = out["pooled"].loc[out["pooled"]["variant"] == "Mantel-Haenszel (equal effects)"]
    if len(data) < 2:  # sensitivity variants of a single study would only repeat it
        assert row.empty
        return
    assert len(row) == 1
    row = row.iloc[0]
    ref = rma_mh(data["events1"], data["n1"], data["events2"], data["n2"], measure="OR")
    assert row["method"] == "MH" and row["model"].startswith("Mantel-Haenszel") and row["k"] == len(data)
    assert row["function"] == "evsynth.pool.analysis.pool_mh"
    if math.isfinite(ref.estimate):
        assert row["estimate"] == pytest.approx(ref.estimate, rel=1e-12)
        assert row["estimate_bt"] == pytest.approx(ref.exp_estimate, rel=1e-12)
        assert row["ci_ub_bt"] == pytest.approx(ref.exp_ci_ub, rel=1e-12)
        assert row["converged"]
    else:
        assert not row["converged"] and row["message"]


def test_pool_mh_row_fields_from_tables():
    data = pd.DataFrame({"events1": [0, 2, 1], "n1": [12, 20, 15], "events2": [1, 0, 3], "n2": [10, 21, 14]})
    fit = pool_mh(data, "OR")
    ref = rma_mh([0, 2, 1], [12, 20, 15], [1, 0, 3], [10, 21, 14], measure="OR")
    assert fit["converged"] and fit["method"] == "MH" and fit["tau2"] == 0.0
    for key in ("estimate", "se", "ci_lb", "ci_ub", "q", "i2", "pval"):
        assert fit[key] == pytest.approx(getattr(ref, key), rel=1e-12), key
    rd = pool_mh(data, "RD")
    assert rd["estimate"] == pytest.approx(rma_mh(data.events1, data.n1, data.events2, data.n2, measure="RD").estimate)
    none = pool_mh(pd.DataFrame({"events1": [0, 0], "n1": [5, 6], "events2": [0, 0], "n2": [5, 7]}), "OR")
    assert not none["converged"] and "not estimable" in none["message"]


def _data(k: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"study": [f"s{i}" for i in range(k)], "label": [f"Study {i}" for i in range(k)],
                         "yi": rng.normal(0.4, 0.5, k), "vi": rng.uniform(0.02, 0.3, k)})


SPEC = {"method": "REML", "test": "knha", "level": 95, "title": "Demo analysis", "effect": "MD"}


def test_influence_rows_are_the_engines():
    data = _data(7)
    table = influence_rows("demo", SPEC, data)
    fit = rma(data["yi"].to_numpy(), data["vi"].to_numpy(), method="REML", test="knha")
    ref, bj = influence(fit), baujat(fit)
    assert list(table.columns) == INFLUENCE_COLUMNS and len(table) == 7
    assert (table["analysis"] == "demo").all() and list(table["study"]) == list(data["study"])
    for col in ("rstudent", "dffits", "cooks_distance", "cov_r", "tau2_del", "qe_del", "hat", "weight"):
        np.testing.assert_array_equal(table[col].to_numpy(float), ref[col].to_numpy(float))
    np.testing.assert_array_equal(table["baujat_x"].to_numpy(float), bj["x"].to_numpy(float))
    np.testing.assert_array_equal(table["baujat_y"].to_numpy(float), bj["y"].to_numpy(float))
    assert (table["function"] == "evsynth.stats.influence.influence").all()


def test_influence_threshold_and_model():
    assert influence_skipped({**SPEC, "influence_min_k": 3}, _data(3)) == ""
    why = influence_skipped({**SPEC, "influence_min_k": 4}, _data(3))
    assert "k = 3 < influence_min_k = 4" in why
    assert "GLMM" in influence_skipped({**SPEC, "effect": "PLO", "proportion_model": "glmm"}, _data(5))
    assert influence_skipped({**SPEC, "effect": "PLO", "proportion_model": "normal"}, _data(5)) == ""


def test_write_influence_table_and_deterministic_baujat(tmp_path):
    def out(d):
        d.mkdir(exist_ok=True)
        return SimpleNamespace(influence=str(d / "influence.csv"),
                               baujat=[str(d / "baujat.png"), str(d / "baujat.svg")])

    a, b = out(tmp_path / "a"), out(tmp_path / "b")
    data = _data(6)
    write_influence("demo", SPEC, data, a)
    write_influence("demo", SPEC, data, b)
    for x, y in zip([a.influence, *a.baujat], [b.influence, *b.baujat]):
        assert Path(x).read_bytes() == Path(y).read_bytes(), x  # same inputs, byte-identical files
    assert len(pd.read_csv(a.influence)) == 6
    assert "Study 0" in Path(a.baujat[1]).read_text()  # SVG text stays text: the labels are searchable
    few = out(tmp_path / "few")
    write_influence("demo", {**SPEC, "influence_min_k": 3}, _data(2), few)
    assert pd.read_csv(few.influence).empty and list(pd.read_csv(few.influence).columns) == INFLUENCE_COLUMNS
    assert Path(few.baujat[0]).exists() and Path(few.baujat[1]).exists()
