"""evsynth.stats.trimfill against R metafor's trimfill().

Published values: metafor docs (trimfill.html) on dat.bcg, methods-reference.md section 1.3.
Fixture: tests/fixtures/metafor_trimfill.json from tests/r/make_trimfill_fixture.R (13 datasets x FE, DL,
REML x L0, R0, Q0 x side auto, left, right). metafor refits with its default control (REML stops at a
change of 1e-5), so REML numbers are compared at 1e-4; FE and DL at 1e-8.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from evsynth.stats.effects import escalc
from evsynth.stats.trimfill import trimfill

FIXTURE = Path(__file__).parent / "fixtures" / "metafor_trimfill.json"
TPOS = [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27]
TNEG = [119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886]
CPOS = [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29]
CNEG = [128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825]


@pytest.fixture(scope="module")
def bcg():
    return escalc("RR", ai=TPOS, bi=TNEG, ci=CPOS, di=CNEG)


def test_bcg_fixed_effect_published(bcg):
    tf = trimfill(bcg.yi, bcg.vi, method="FE")
    assert (tf.k0, tf.side, tf.fit.k) == (4, "right", 17)
    assert tf.se_k0 == pytest.approx(2.3853, abs=5e-4)
    assert tf.fit.estimate == pytest.approx(-0.2910, abs=5e-4)
    assert tf.fit.se == pytest.approx(0.0383, abs=5e-4)
    assert tf.fit.q == pytest.approx(262.7316, abs=5e-4)


def test_bcg_reml_published(bcg):
    tf = trimfill(bcg.yi, bcg.vi, method="REML")
    assert (tf.k0, tf.side, tf.fit.k) == (1, "right", 14)
    assert tf.se_k0 == pytest.approx(2.4528, abs=5e-4)
    assert tf.fit.tau2 == pytest.approx(0.3313, abs=5e-4)
    assert tf.fit.q == pytest.approx(154.6750, abs=5e-4)


def test_filled_studies_mirror_the_largest_about_the_truncated_estimate():
    y = np.array([0.1, 0.2, 0.3, 0.5, 0.9, 1.4])
    v = np.array([0.01, 0.02, 0.04, 0.08, 0.2, 0.5])
    tf = trimfill(y, v, method="FE", side="left")
    assert tf.k0 >= 1
    assert tf.fit.k == len(y) + tf.k0
    assert sorted(tf.filled_vi) == sorted(v[np.argsort(y)][len(y) - tf.k0:])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="at least 2 studies"):
        trimfill([0.1], [0.1])
    with pytest.raises(ValueError, match="'estimator'"):
        trimfill([0.1, 0.2], [0.1, 0.1], estimator="X0")
    with pytest.raises(ValueError, match="'side'"):
        trimfill([0.1, 0.2], [0.1, 0.1], side="up")


def _cases():
    if not FIXTURE.exists():
        return []
    doc = json.loads(FIXTURE.read_text())
    return [(doc["datasets"][c["dataset"]], c) for c in doc["cases"]]


def test_fixture_is_committed():
    assert FIXTURE.exists(), "run Rscript tests/r/make_trimfill_fixture.R"


@pytest.mark.parametrize(("data", "case"), _cases(),
                         ids=[f"{c['dataset']}-{c['method']}-{c['estimator']}-{c['side_arg']}" for _, c in _cases()])
def test_matches_metafor(data, case):
    side = None if case["side_arg"] == "auto" else case["side_arg"]
    if "error" in case:
        with pytest.raises(ValueError, match="undefined"):
            trimfill(data["yi"], data["vi"], method=case["method"], side=side, estimator=case["estimator"])
        return
    tf = trimfill(data["yi"], data["vi"], method=case["method"], side=side, estimator=case["estimator"])
    assert (tf.k0, tf.side, tf.fit.k) == (case["k0"], case["side"], case["k"])
    tol = 1e-4 if case["method"] == "REML" else 1e-8
    for field in ("estimate", "se", "ci_lb", "ci_ub", "tau2", "q"):
        assert getattr(tf.fit, field) == pytest.approx(case[field], rel=tol, abs=tol), field
    want = np.nan if case["se_k0"] in (None, "NaN", "NA") else case["se_k0"]
    assert tf.se_k0 == pytest.approx(want, rel=1e-8, abs=1e-8, nan_ok=True)
