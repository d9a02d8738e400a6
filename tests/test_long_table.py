"""The long table (issue 12): an analysis' datasets under every (pre-post correlation, imputation) variant built at
once, with the flags filters read. Each variant's rows are the dataset built alone, every multiverse specification
is a variant and an inclusion rule's mask over them, and a value the engine refuses still names its study."""

import itertools
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from corpus_support import shipped_records
from evsynth.common.config import analysis_spec
from evsynth.common.inputs import InputError
from evsynth.common.measures import measure
from evsynth.harmonize.run import complete_outcomes
from evsynth.pool.datasets import Corpus, analysis_dataset, long_table
from evsynth.pool.multiverse import multiverse
from test_pooling_rules import Builder, _spec

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
VARIANTS = list(itertools.product((0.3, 0.5, 0.7), ("wan2014", "luo2018", "shi2020")))


@pytest.fixture(scope="module")
def corpus():
    records = shipped_records()
    outcomes = complete_outcomes(records.tables["outcomes"], ROOT / "resources" / "vocabulary", "wan2014", 0.5)
    # every other study at high risk of bias, so that inclusion rule removes some rows
    return Corpus(records.studies, records.tables, outcomes, frozenset(sorted(records.studies)[::2]))


def fresh(corpus: Corpus) -> Corpus:
    return replace(corpus, memo={})


def _rows(table: pd.DataFrame, variant: int) -> pd.DataFrame:
    return table.loc[table["variant"] == variant].drop(columns="variant").reset_index(drop=True)


@pytest.mark.parametrize("arm", ["msc", "comparator"])
@pytest.mark.parametrize("name", sorted(CONFIG["analyses"]))
def test_each_variant_of_the_long_table_is_the_dataset_built_alone(corpus, name, arm):
    spec = analysis_spec(CONFIG, name)
    data, excluded = long_table(fresh(corpus), spec, VARIANTS, arm=arm)
    alone_corpus = fresh(corpus)
    for v, (r, imputation) in enumerate(VARIANTS):
        alone, alone_excluded = analysis_dataset(alone_corpus, spec, r=r, imputation=imputation, arm=arm)
        if alone.empty:
            assert data.empty or not (data["variant"] == v).any(), (name, r, imputation)
        else:
            pd.testing.assert_frame_equal(_rows(data, v), alone)
        pd.testing.assert_frame_equal(_rows(excluded, v), alone_excluded)
        # nothing dropped silently: every eligible study is in the dataset or named with a reason
        assert not set(alone_excluded["study"]) & set(alone.get("study", ())), (name, r, imputation)


def test_the_multiverse_specifications_are_the_inclusion_rules_over_each_dataset(corpus):
    grid = CONFIG["multiverse"]
    analyses = {name: analysis_spec(CONFIG, name) for name in grid["analyses"]}
    table = multiverse(fresh(corpus), analyses, grid)
    keep = {"all": lambda d: d.index == d.index,
            "exclude_confounded": lambda d: ~d["confounded"].astype(bool),
            "exclude_imputed": lambda d: ~d["imputed"].astype(bool),
            "exclude_high_risk": lambda d: ~d["study"].isin(corpus.high_risk),
            "exclude_uncontrolled": lambda d: ~d["design"].isin(["case_report", "case_series"])}
    alone_corpus = fresh(corpus)
    cells = table.drop_duplicates(["analysis", "correlation", "imputation", "inclusion"])
    narrowed = set()
    for row in cells.itertuples(index=False):
        r = 0.5 if pd.isna(row.correlation) else row.correlation
        data, _ = analysis_dataset(alone_corpus, analyses[row.analysis], r=r, imputation=row.imputation or "wan2014")
        kept = data.loc[keep[row.inclusion](data)] if len(data) else data
        assert row.studies == ";".join(kept.get("label", [])), row
        assert row.k == len(kept), row
        if len(kept) < len(data):
            narrowed.add(row.inclusion)
    assert len(cells) == len(table) / (len(grid["estimators"]) * len(grid["tests"]))
    assert {"exclude_high_risk", "exclude_uncontrolled", "exclude_imputed"} <= narrowed, narrowed


@pytest.mark.parametrize("effect, add", [("MC", lambda b: b.change("b", "all", -2.0, -1.0, 10)),
                                         ("PLO", lambda b: b.events("b", "all", 12, 10, measure="sledai"))])
def test_a_value_the_engine_refuses_names_its_study_file_and_lines(effect, add):
    b = Builder().study("a").study("b").study("c")
    b.change("a", "all", -3.0, 2.0, 10) if effect == "MC" else b.events("a", "all", 3, 10, measure="sledai")
    add(b)
    with pytest.raises(InputError, match=r"b/outcomes\.csv, line .*study b: the effect size cannot be computed"):
        analysis_dataset(b.corpus(), _spec(effect=effect, outcome={"measures": ["sledai"]}))


def test_freeman_tukey_estimates_are_back_transformed_with_their_own_specifications_sizes():
    b = Builder().study("a", arms=(("all", 10),)).study("b", arms=(("all", 40),))
    b.study("c", design="case_series", arms=(("all", 6),))
    b.events("a", "all", 3, 10, measure="remission").events("b", "all", 20, 40, measure="remission")
    b.events("c", "all", 2, 6, measure="remission")
    spec = _spec(effect="PFT", outcome={"measures": ["remission"]})
    grid = {"estimators": ["DL", "REML"], "tests": ["z"], "inclusion": ["all", "exclude_uncontrolled"]}
    table = multiverse(b.corpus(), {"p": spec}, grid)
    data, _ = analysis_dataset(b.corpus(), spec)
    sizes = {"all": data["n"].to_numpy(float), "exclude_uncontrolled": data.loc[data["study"] != "c", "n"].to_numpy(float)}
    for row in table.itertuples(index=False):
        expected = measure("PFT").backtransform([row.estimate, row.ci_lb, row.ci_ub], sizes[row.inclusion])
        assert [row.estimate_bt, row.ci_lb_bt, row.ci_ub_bt] == list(expected), row
    # the two inclusions' sizes give different back-transforms, so a mix-up of sizes would show
    assert measure("PFT").backtransform([0.7], sizes["all"]) != measure("PFT").backtransform([0.7], sizes["exclude_uncontrolled"])
    assert set(table["inclusion"]) == set(sizes)
