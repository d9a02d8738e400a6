"""Each job loads only what it uses (issue 12): the modules every job imports (a rule script's step(), the config
checks, the stages' run modules) do not pull in matplotlib, openpyxl, scipy.stats or the engine; the job that
draws or pools imports them itself. And YAML read through libyaml gives what yaml.safe_load gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evsynth.common.inputs import parse_yaml, yaml_data

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["matplotlib", "openpyxl", "scipy.stats", "scipy.optimize", "evsynth.stats", "jsonschema"]


def _loaded_after(code: str) -> set[str]:
    """The heavy modules in sys.modules after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_what_every_job_imports_loads_no_plotting_workbook_or_engine():
    # step() (every script), the config checks (every job and Snakemake's parse) and the measure registry
    # and what the Snakefile imports to launch the warm worker while it is parsed
    loaded = _loaded_after("from evsynth.common.io import step\nimport evsynth.common.config\n"
                           "from evsynth.common.measures import measure\nmeasure('MC')\n"
                           "import evsynth.common.forks, evsynth.common.warm")
    assert loaded == set(), loaded


@pytest.mark.parametrize("stage", ["answer", "describe", "report", "select", "ingest"])
def test_a_stage_run_module_leaves_heavy_imports_to_the_rules_that_use_them(stage):
    loaded = _loaded_after(f"import evsynth.{stage}.run")
    assert not loaded & {"matplotlib", "openpyxl", "scipy.stats", "scipy.optimize"}, loaded


def test_the_pooling_jobs_load_no_workbook_and_draw_only_when_they_draw():
    # pool_analysis and run_multiverse import evsynth.pool.run; only combine_pooled writes a workbook
    # (run_multiverse draws in DrawingProcesses: its own process does not import matplotlib)
    loaded = _loaded_after("import evsynth.pool.run\nfrom evsynth.common.forks import DrawingProcesses")
    assert "evsynth.stats" in loaded and not loaded & {"openpyxl", "matplotlib"}, loaded


def test_drawing_and_pooling_still_load_what_they_need():
    # the lazy imports are real imports: the functions that draw or pool bring their modules in
    loaded = _loaded_after("from evsynth.common.measures import measure\nmeasure('PLO').backtransform([0.0])\n"
                           "from evsynth.report.workbook import write_workbook\n"
                           "import evsynth.report.forest")
    assert {"evsynth.stats", "matplotlib", "openpyxl"} <= loaded, loaded


def test_yaml_data_gives_what_safe_load_gives_for_every_shipped_yaml():
    files = sorted({*ROOT.glob("resources/**/*.yaml"), *ROOT.glob("config/**/*.yaml"),
                    *ROOT.glob("workflow/**/*.yaml")})
    assert len(files) > 20
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert yaml_data(text) == yaml.safe_load(text), path


@pytest.mark.parametrize("text", ["a: [1, 2\nb: 3\n", "a: 1\n  b: 2\n", "a: !!python/object:os.system x\n",
                                  "key: 'unclosed\n"])
def test_yaml_data_refuses_what_safe_load_refuses_with_its_message(text):
    with pytest.raises(yaml.YAMLError) as theirs:
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError) as ours:
        yaml_data(text)
    assert str(ours.value) == str(theirs.value)
    doc = parse_yaml(text, "x.yaml")  # the validator's reader: one problem naming the same line
    assert doc.data is None and len(doc.problems) == 1
    mark = getattr(theirs.value, "problem_mark", None) or theirs.value.context_mark
    assert doc.problems[0].line == mark.line + 1


def test_parse_yaml_keeps_key_lines_and_repeated_keys():
    doc = parse_yaml("a: 1\nb:\n  c: 2\na: 3\n", "x.yaml")
    assert doc.data == {"a": 3, "b": {"c": 2}}
    assert doc.lines[("b", "c")] == 3
    assert any("given twice (lines 1 and 4)" in p.expected for p in doc.problems)
