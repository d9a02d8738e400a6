"""Shaped for a cluster: every rule declares its memory and runtime, the multiverse shards (one job per analysis)
gather into exactly the table one run of all analyses writes, and the profiles exist for local, SLURM and
Kubernetes runs."""

import io
import re
from pathlib import Path

import pytest
import yaml

from corpus_support import shipped_records
from demo_project import make_demo_project, snakemake
from evsynth.common.config import analysis_spec
from evsynth.pool.datasets import Corpus
from evsynth.pool.multiverse import combine_multiverse, multiverse
from evsynth.harmonize.run import complete_outcomes

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def rule_blocks() -> dict[str, list[str]]:
    """Each rule's bodies, dedented (a rule defined in both branches of an ``if`` has two)."""
    blocks: dict[str, list[str]] = {}
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^( *)rule (\w+):\n", path.read_text(), flags=re.M)
        for indent, name, body in zip(parts[1::3], parts[2::3], parts[3::3]):
            lines = [line[len(indent):] for line in body.splitlines(keepends=True)
                     if line.startswith(indent + "    ") or not line.strip()]
            blocks.setdefault(name, []).append("".join(lines))
    return blocks


def test_every_rule_declares_memory_and_runtime():
    blocks = rule_blocks()
    assert len(blocks) > 10
    assert len(blocks["run_multiverse"]) == 2 and "combine_multiverse" in blocks
    for name, bodies in blocks.items():
        for body in bodies:
            resources = re.search(r"^    resources:\n((?:        .*\n)+)", body, flags=re.M)
            assert resources, f"rule {name} declares no resources: (mem_mb, runtime) for a cluster scheduler"
            assert re.search(r"mem_mb=\d+", resources.group(1)) and re.search(r"runtime=\d+", resources.group(1)), name


@pytest.fixture(scope="module")
def corpus():
    records = shipped_records()
    outcomes = complete_outcomes(records.tables["outcomes"], ROOT / "resources" / "vocabulary", "wan2014", 0.5)
    return Corpus(records.studies, records.tables, outcomes)


def test_sharded_multiverse_is_byte_identical_to_one_run(corpus):
    names = CONFIG["multiverse"]["analyses"]
    specs = {n: analysis_spec(CONFIG, n) for n in names}
    # every dataset the multiverse builds (correlations, imputations, inclusions), one estimator and test to keep
    # the test short: the batches' shapes, which is what sharding changes, are the same for every estimator
    grid = {**CONFIG["multiverse"], "analyses": names, "estimators": ["REML"], "tests": ["knha"]}
    whole = multiverse(corpus, specs, grid)
    shards = [multiverse(corpus, {n: specs[n]}, {**grid, "analyses": [n]}) for n in names]
    gathered = combine_multiverse(shards[::-1])  # shard order does not matter

    def csv(frame):
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, lineterminator="\n")
        return buffer.getvalue()

    assert csv(gathered) == csv(whole)
    assert len(whole) > 100 and set(whole["analysis"]) == set(names)


def test_a_config_without_multiverse_analyses_gives_an_empty_table_with_its_columns(corpus):
    # a methodologist who drops the multiverse (multiverse: {analyses: []}) gets its header, not a traceback
    names = CONFIG["multiverse"]["analyses"][:1]
    one = multiverse(corpus, {n: analysis_spec(CONFIG, n) for n in names},
                     {**CONFIG["multiverse"], "analyses": names, "estimators": ["REML"], "tests": ["z"]})
    none = combine_multiverse([multiverse(corpus, {}, {**CONFIG["multiverse"], "analyses": []})])
    assert none.empty and list(none.columns) == list(one.columns) and len(one) > 0
    assert list(combine_multiverse([]).columns) == list(one.columns)  # sharded: no shard to gather


def test_a_local_run_fits_the_multiverse_in_one_job_and_the_cluster_profiles_shard_it(tmp_path):
    project = make_demo_project(tmp_path / "demo")
    config = yaml.safe_load((project / "config" / "config.yaml").read_text())
    config["multiverse"]["analyses"] = ["sledai", "pga"]
    (project / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    def jobs(*args):
        plan = snakemake(project, "-n", *args)
        assert plan.returncode == 0, plan.stderr[-3000:]
        return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", plan.stdout, flags=re.M)}

    local = jobs()
    assert local["run_multiverse"] == 1 and "combine_multiverse" not in local, local
    sharded = jobs("--config", "shard_multiverse=true")
    assert sharded["run_multiverse"] == 2 and sharded["combine_multiverse"] == 1, sharded
    for name in ("slurm", "kubernetes"):
        profile = yaml.safe_load((ROOT / "workflow" / "profiles" / name / "config.yaml").read_text())
        assert "shard_multiverse=true" in profile["config"], name


def test_a_cluster_run_records_the_config_a_local_run_records():
    # shard_multiverse splits the run into other jobs, never changes a result: the run's record of its config
    # (results/report/config.yaml, run_inputs.csv, the "what changed" report) leaves it out
    from evsynth.common.config import MACHINE_SETTINGS, recorded_config

    local = {**CONFIG, "shard_multiverse": False, "warm_worker": True}
    sharded = {**CONFIG, "shard_multiverse": True, "warm_worker": False}
    assert MACHINE_SETTINGS == ("shard_multiverse", "warm_worker")
    assert recorded_config(local) == recorded_config(sharded) == {k: v for k, v in CONFIG.items()
                                                                  if k not in MACHINE_SETTINGS}
    assert recorded_config(local)["multiverse"] == CONFIG["multiverse"]
    assert "config=recorded_config(config)" in (ROOT / "workflow" / "rules" / "report.smk").read_text()


def test_profiles_for_local_slurm_and_kubernetes():
    profiles = ROOT / "workflow" / "profiles"
    default = yaml.safe_load((profiles / "default" / "config.yaml").read_text())
    slurm = yaml.safe_load((profiles / "slurm" / "config.yaml").read_text())
    kube = yaml.safe_load((profiles / "kubernetes" / "config.yaml").read_text())
    assert "executor" not in default and default["default-resources"]["mem_mb"] > 0
    assert slurm["executor"] == "slurm" and kube["executor"] == "kubernetes"
    extras = __import__("tomllib").loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("snakemake-executor-plugin-slurm==") for r in extras["slurm"])
    assert any(r.startswith("snakemake-executor-plugin-kubernetes==") for r in extras["kubernetes"])

