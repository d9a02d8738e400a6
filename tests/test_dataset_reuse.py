"""Datasets built once and reused (issue 12) are the datasets built afresh: what a corpus remembers between builds
(lookups, imputed summaries) is keyed by everything that changes it, the multiverse reuses a dataset across
correlations only when no arm uses the correlation, and its params hold every analysis key it reads."""

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from corpus_support import shipped_records
from evsynth.common.config import analysis_spec
from evsynth.common.config import MULTIVERSE_KEYS, multiverse_spec
from evsynth.pool.datasets import Corpus, analysis_dataset, uses_correlation
from evsynth.pool.multiverse import multiverse
from evsynth.harmonize.run import complete_outcomes

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
MULTIVERSE = CONFIG["multiverse"]["analyses"]


@pytest.fixture(scope="module")
def corpus():
    records = shipped_records()
    outcomes = complete_outcomes(records.tables["outcomes"], ROOT / "resources" / "vocabulary", "wan2014", 0.5)
    return Corpus(records.studies, records.tables, outcomes)


def fresh(corpus: Corpus) -> Corpus:
    """The same records with nothing remembered."""
    return replace(corpus, memo={})


@pytest.mark.parametrize("name", sorted(CONFIG["analyses"]))
def test_a_dataset_built_from_a_used_corpus_equals_one_built_afresh(corpus, name):
    spec = analysis_spec(CONFIG, name)
    # in this order on the shared corpus, each build follows one with another correlation, imputation or arm
    for r, imputation, arm in ((0.3, "wan2014", "msc"), (0.7, "luo2018", "msc"), (0.7, "shi2020", "comparator"),
                               (0.3, "wan2014", "comparator"), (0.7, "wan2014", "msc")):
        again = analysis_dataset(corpus, spec, r=r, imputation=imputation, arm=arm)
        new = analysis_dataset(fresh(corpus), spec, r=r, imputation=imputation, arm=arm)
        pd.testing.assert_frame_equal(again[0], new[0])
        pd.testing.assert_frame_equal(again[1], new[1])
    assert corpus.memo, "nothing was reused"


def test_the_correlation_changes_a_dataset_exactly_when_uses_correlation_says(corpus):
    seen = set()
    for name in MULTIVERSE:
        spec = analysis_spec(CONFIG, name)
        low = analysis_dataset(fresh(corpus), spec, r=0.3)[0]
        high = analysis_dataset(fresh(corpus), spec, r=0.7)[0]
        differ = not (low.equals(high))
        assert differ == uses_correlation(corpus, spec, "wan2014"), name
        seen.add(differ)
    assert seen == {True, False}, "the shipped multiverse should hold analyses of both kinds"


class Recording(dict):
    """A spec that notes which keys are read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


@pytest.mark.parametrize("name", MULTIVERSE)
def test_the_multiverse_reads_only_the_keys_its_params_hold(corpus, name):
    """Its rule's params are multiverse_spec(spec): a key read but left out would not rerun it when edited."""
    spec = Recording(analysis_spec(CONFIG, name))
    grid = {**CONFIG["multiverse"], "analyses": [name], "estimators": ["REML"], "tests": ["z"]}
    scoped = multiverse(fresh(corpus), {name: multiverse_spec(spec)}, grid)
    spec.read.clear()
    whole = multiverse(fresh(corpus), {name: spec}, grid)
    assert spec.read <= set(MULTIVERSE_KEYS), spec.read - set(MULTIVERSE_KEYS)
    pd.testing.assert_frame_equal(scoped, whole)
    edited = {**analysis_spec(CONFIG, name), "method": "DL", "test": "z", "level": 90, "sensitivity": []}
    assert multiverse_spec(edited) == multiverse_spec(analysis_spec(CONFIG, name))
