"""The bad-input corpus (tests/bad_inputs/cases.yaml) through the validator, the config check and Snakemake.

No case may end in exit 0 unless it is marked as accepted on purpose (and then its rows equal the pristine
copy's), and none in a traceback. The format of a case is described at the top of cases.yaml.
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from project_support import demo_project

from evsynth.common.config import ConfigError, ConfigLocator, check_run_config
from evsynth.ingest import records

ROOT = Path(__file__).resolve().parents[1]
CASES = yaml.safe_load((Path(__file__).parent / "bad_inputs" / "cases.yaml").read_text(encoding="utf-8"))
SOURCES = next((p for p in (ROOT / "resources" / "sources", ROOT.parent / "shared" / "sources") if p.is_dir()), None)
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def by_entry(entry: str) -> list:
    return [pytest.param(c, id=c["id"]) for c in CASES if c["entry"] == entry]


def test_corpus_is_large_and_described():
    assert len(CASES) >= 50
    assert len({c["id"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert case.get("what") and case.get("expect"), case["id"]


def apply(base: Path, ops: list[dict]) -> None:
    for op in ops or []:
        if "edit" in op:
            path = base / op["edit"]
            text = path.read_text(encoding="utf-8")
            assert op["old"] in text, (op["edit"], op["old"])
            path.write_text(text.replace(op["old"], op["new"], 1), encoding="utf-8")
        elif "append" in op:
            with (base / op["append"]).open("a", encoding="utf-8") as fh:
                fh.write(op["text"])
        elif "write" in op:
            (base / op["write"]).write_bytes(op["text"].encode(op.get("encoding", "utf-8")))
        elif "reencode" in op:
            path = base / op["reencode"]
            path.write_bytes(path.read_text(encoding="utf-8").encode(op["encoding"]))
        elif "bom" in op:
            path = base / op["bom"]
            path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
        elif "duplicate_line" in op:
            path = base / op["duplicate_line"]
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            path.write_text("".join(lines) + lines[op["line"] - 1], encoding="utf-8")
        elif "rename" in op:
            (base / op["rename"]).rename(base / op["to"])
        elif "mkdir" in op:
            (base / op["mkdir"]).mkdir(parents=True)
        elif "symlink" in op:
            os.symlink(op["to"], base / op["symlink"])
        elif "delete" in op:
            path = base / op["delete"]
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        else:
            raise AssertionError(f"unknown operation {op}")


_LINE = re.compile(r"\{line:([^:}]+):([^}]+)\}")


def expected_texts(case: dict, base: Path) -> list[str]:
    """``expect`` with ``{line:FILE:TEXT}`` replaced by the line of FILE (after the case's changes) holding TEXT,
    so that the cases do not break when curators edit the records."""
    def line(match: re.Match) -> str:
        lines = (base / match.group(1)).read_text(encoding="utf-8", errors="replace").splitlines()
        return str(next(i for i, ln in enumerate(lines, 1) if match.group(2) in ln))
    return [_LINE.sub(line, e) for e in case["expect"]]


def check_messages(case: dict, code: int, text: str, base: Path) -> None:
    assert "Traceback" not in text, text[-3000:]
    assert code == case.get("exit", 1), text[-3000:]
    for expected in expected_texts(case, base):
        assert expected in text, f"{expected!r} not in:\n{text[-4000:]}"


# -- records ----------------------------------------------------------------------------------------

def copy_studies(tmp_path: Path, ids: list[str]) -> Path:
    dest = tmp_path / "studies"
    dest.mkdir()
    for sid in ids:
        shutil.copytree(ROOT / "resources" / "studies" / sid, dest / sid)
    return dest


@pytest.mark.parametrize("case", by_entry("records"))
def test_records_case(case, tmp_path, monkeypatch, capsys):
    studies = copy_studies(tmp_path, case["studies"])
    apply(studies, case.get("ops"))
    (tmp_path / "resources").mkdir()
    for sub in ("vocabulary", "appraisal"):  # the project's files, found from the working directory
        os.symlink(ROOT / "resources" / sub, tmp_path / "resources" / sub)
    os.symlink(ROOT / "workflow", tmp_path / "workflow")
    monkeypatch.chdir(tmp_path)
    code = records.main(["check", "studies", "--sources", str(SOURCES)])
    out = capsys.readouterr()
    check_messages(case, code, out.err + out.out, studies)
    if code == 0:  # accepted on purpose: the same rows as the pristine records
        pristine = records.load_records(ROOT / "resources" / "studies" / case["studies"][0], sources_dir=SOURCES)
        changed = records.load_records(studies, sources_dir=SOURCES, root=tmp_path)
        for name, frame in pristine.tables.items():
            cols = [c for c in frame.columns if c != "file"]
            assert frame[cols].equals(changed.tables[name][cols]), name


# -- config -----------------------------------------------------------------------------------------

def merge(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


@pytest.mark.parametrize("case", by_entry("config"))
def test_config_case(case, tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    shutil.copy(ROOT / "config" / "config.yaml", path)
    apply(tmp_path, case.get("ops"))
    monkeypatch.chdir(ROOT)
    config = merge(yaml.safe_load(path.read_text(encoding="utf-8")), case.get("cli") or {})
    config["sources_dir"] = str(SOURCES)
    schema = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    try:
        check_run_config(config, schema, ConfigLocator([path], cli=case.get("cli"), root=tmp_path))
        code, text = 0, ""
    except ConfigError as exc:
        code, text = 1, str(exc)
    check_messages(case, code, text, tmp_path)
    assert "common.smk" not in text


# -- end to end ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pristine_project(tmp_path_factory):
    """The workflow with the real config, on the demo corpus (tests/data)."""
    return demo_project(tmp_path_factory.mktemp("demo") / "project")


@pytest.mark.parametrize("case", by_entry("pipeline"))
def test_pipeline_case(case, pristine_project, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(pristine_project, project)
    apply(project, case.get("ops"))
    run = subprocess.run([str(SNAKEMAKE), "--cores", "2", *case.get("args", [])], cwd=project,
                         capture_output=True, text=True, timeout=900)
    check_messages(case, run.returncode, run.stdout + run.stderr, project)
    assert "common.smk" not in run.stdout + run.stderr
    assert not (project / "results" / "tables").exists()
