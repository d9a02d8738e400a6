"""Faults end to end: a killed run recovers with the README's own command; pooling names the rows it cannot use."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from evsynth.common.inputs import InputError
from evsynth.pool.datasets import Corpus, analysis_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_make_results_unlocks_a_stale_lock_and_reruns_incomplete_jobs():
    recipe = re.search(r"^results:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), flags=re.M).group(1)
    commands = [line.strip() for line in recipe.splitlines()]
    assert commands[0] == "$(BIN)/python -m evsynth.common.runlock ."
    assert "--rerun-incomplete" in commands[1] and commands[1].startswith("$(BIN)/snakemake")
    assert "make results" in (ROOT / "README.md").read_text() and "--rerun-incomplete" in (ROOT / "README.md").read_text()


def test_a_killed_run_recovers_with_the_same_command(recovered_run):
    """recovered_run (conftest.py): the demo project killed by SIGKILL to its process group once the records were
    validated, then the README's command as the Makefile runs it (runlock, then --rerun-incomplete)."""
    assert recovered_run.alive_when_killed, recovered_run.first_run_log[-3000:]
    assert recovered_run.locks_left, "the killed run left no lock"
    unlock, again = recovered_run.unlock, recovered_run.rerun
    assert unlock.returncode == 0 and "removed a stale lock left by an interrupted run" in unlock.stderr
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Traceback" not in again.stderr
    ledger = pd.read_csv(recovered_run.project / "results" / "tables" / "ledger.csv")
    assert len(ledger) == 10 and (ledger["status"] != "excluded").all()


def test_pooling_names_study_file_and_lines_of_rows_the_engine_refuses():
    studies = {"b2021": {"design": "single_arm_trial", "population": "adult", "conditions": ["SLE"],
                         "level": "aggregate"}}
    iv = pd.DataFrame({"study": ["b2021"], "group": ["all"], "agent": ["msc"], "cell_source": ["bone_marrow"],
                       "route": ["iv"], "donor": ["allogeneic"], "line": [2], "file": "f"})
    part = pd.DataFrame({"study": ["b2021"], "group": ["all"], "n": [10.0], "line": [2], "subtype": ""})
    rows = []
    for stat, value in (("events", 12.0), ("n", 10.0)):  # more events than patients: the validator's rule, here
        rows.append({"study": "b2021", "group": "all", "measure": "remission", "timepoint": "6 months",
                     "time_months": 6.0, "metric": "level", "stat": stat, "value": value, "value_h": value,
                     "unit": "patients", "file": "resources/studies/b2021/outcomes.csv", "line": len(rows) + 2,
                     "imputed": False, "imputation": "", "unit_h": "patients", "domain": "response",
                     "direction": "higher_better", "flag": "", "rule": "", "comparator": "", "source": "t",
                     "quote": "", "note": ""})
    tables = {"interventions": iv, "participants": part,
              "cointerventions": pd.DataFrame(columns=["study", "therapy", "relation"]),
              "adverse_events": pd.DataFrame(columns=["study", "group", "event", "serious", "n_patients", "n_at_risk"])}
    corpus = Corpus(studies, tables, pd.DataFrame(rows))
    with pytest.raises(InputError) as info:
        analysis_dataset(corpus, {"effect": "PLO", "outcome": {"measures": ["remission"]}, "records": {}})
    message = str(info.value)
    assert message.startswith("resources/studies/b2021/outcomes.csv, line 2;3: study b2021: the effect size cannot")
