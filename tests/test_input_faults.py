"""Reviewer files, encodings, config errors, write faults, stale locks and CSV cells a spreadsheet would run."""

import errno
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evsynth.common import inputs
from evsynth.common.config import ConfigError, ConfigLocator, check_analyses, check_run_config, validate_config
from evsynth.common.io import neutralize_formulas, step, write_csv
from evsynth.common.vocabulary import load_vocabulary

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


# -- YAML and encodings --------------------------------------------------------------------------

def test_yaml_problems_name_line_and_key(tmp_path):
    path = tmp_path / "appraisal.yaml"
    path.write_text("study: x\nreviewer: ab\njudgements:\n  - tool: murad\n    item: Q3\n    judgment: 'no'\n"
                    "    rationale: why\n", encoding="utf-8")
    doc = inputs.load_yaml(path, schema="appraisal", shown="appraisal.yaml")
    shown = [str(p) for p in doc.problems]
    assert "appraisal.yaml, line 6, key judgements.0.judgment: is not a known key; did you mean 'judgement'?" in \
        shown[-1] or any("key judgements.0.judgment: is not a known key; did you mean 'judgement'?" in s
                         for s in shown), shown
    assert any("appraisal.yaml, line 4, key judgements.0.judgement: is required but missing" in s for s in shown), shown


def test_yaml_duplicate_key_and_python_tag(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n", encoding="utf-8")
    assert [str(p) for p in inputs.load_yaml(path, shown="x.yaml").problems] == [
        "x.yaml, line 3, key a: is given twice (lines 1 and 3); YAML keeps only the last, so keep one"]
    path.write_text("a: 1\nb: !!python/object/apply:os.system ['echo hacked']\n", encoding="utf-8")
    (problem,) = inputs.load_yaml(path, shown="x.yaml").problems
    assert problem.line == 2 and "is not valid YAML" in problem.expected and "no tags" in problem.expected


def test_encodings(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbfgroup,n\nP1,1\n")
    assert inputs.read_text(path) == ("group,n\nP1,1\n", None)  # a UTF-8 byte-order mark is accepted
    path.write_bytes("group,n\nP1,1\n".encode("utf-16"))
    text, problem = inputs.read_text(path, "t.csv")
    assert text is None and str(problem) == "t.csv, line 1: starts with a UTF-16 byte-order mark; save it as UTF-8"
    path.write_bytes("group,note\nP1,ok\nP2,caf\u00e9\n".encode("latin-1"))
    text, problem = inputs.read_text(path, "t.csv")
    assert str(problem) == ("t.csv, line 3: byte 0xe9 at character 7 is not UTF-8 (in Windows-1252/Latin-1 it "
                            "would be 'é'); the expected encoding is UTF-8: save the file as UTF-8")


def test_unreadable_file(tmp_path):
    (tmp_path / "d.csv").mkdir()
    text, problem = inputs.read_text(tmp_path / "d.csv", "d.csv")
    assert text is None and problem.expected.startswith("cannot be read: Is a directory")


# -- config --------------------------------------------------------------------------------------

@pytest.fixture()
def config_file(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    path = tmp_path / "config.yaml"
    path.write_text((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


def load(path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_config_enum_names_file_line_key_value_allowed_and_closest(config_file):
    text = config_file.read_text(encoding="utf-8")
    config_file.write_text(text.replace("summary_method: wan2014", "summary_method: wan2041", 1), encoding="utf-8")
    line = next(i for i, ln in enumerate(config_file.read_text().splitlines(), 1) if "wan2041" in ln)
    with pytest.raises(ConfigError) as info:
        validate_config(load(config_file), SCHEMA, ConfigLocator([config_file], root=config_file.parent))
    assert (f"config.yaml, line {line}, key harmonize.summary_method: 'wan2041' is not one of the allowed values; "
            "did you mean 'wan2014'? (allowed: wan2014, luo2018, shi2020)") in str(info.value)
    assert "common.smk" not in str(info.value)


def test_config_from_the_command_line_is_named_as_such(config_file):
    config = load(config_file)
    config["harmonize"]["prepost_correlation"] = 1.5
    locator = ConfigLocator([config_file], cli={"harmonize": {"prepost_correlation": 1.5}})
    with pytest.raises(ConfigError) as info:
        check_run_config(config, SCHEMA, locator)
    assert "--config, key harmonize.prepost_correlation: '1.5' must be at most 1" in str(info.value)


def test_unknown_key_and_unknown_filter_term(config_file):
    config = load(config_file)
    config["analyses"]["sle_remission"]["records"] = {"conditions": ["SLE", "lupsu"], "routes": ["intravenous"]}
    with pytest.raises(ConfigError) as info:
        check_analyses(config, set(load_vocabulary(ROOT / "resources" / "vocabulary").measures),
                       load_vocabulary(ROOT / "resources" / "vocabulary"), ConfigLocator([config_file]))
    message = str(info.value)
    assert "key analyses.sle_remission.records.conditions.1: 'lupsu' is not a known condition" in message
    assert "'intravenous' is not a known route; did you mean" in message and "analysis would be empty" in message
    config = load(config_file)
    config["harmonise"] = {}
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA, ConfigLocator([config_file]))
    assert "key harmonise: is not a known key; did you mean 'harmonize'?" in str(info.value)


# -- write faults and known errors in a step -----------------------------------------------------

def test_full_disk_is_one_clear_line(tmp_path, capfd):
    with pytest.raises(SystemExit) as info:
        with step(str(tmp_path / "logs" / "x.log")):
            raise OSError(errno.ENOSPC, "No space left on device", "results/tables/pooled.csv")
    assert info.value.code == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert err == ["error: cannot write results/tables/pooled.csv: No space left on device. Free disk space or "
                   "make the folder writable, then rerun the same command (finished steps are kept)."]
    assert sys.stderr is sys.__stderr__ or "pytest" in type(sys.stderr).__module__


def test_unwritable_log_folder_is_one_clear_line(tmp_path, capfd):
    (tmp_path / "logs").write_text("a file where a folder should be")
    with pytest.raises(SystemExit):
        with step(str(tmp_path / "logs" / "x.log")):
            pass
    assert "error: cannot write" in capfd.readouterr().err


def test_a_bug_still_raises_with_its_traceback_in_the_log(tmp_path):
    log = tmp_path / "x.log"
    with pytest.raises(ZeroDivisionError):
        with step(str(log)):
            1 / 0  # noqa: B018
    assert "Traceback" in log.read_text()


# -- stale lock ----------------------------------------------------------------------------------

def test_stale_lock_is_removed_only_when_no_snakemake_runs_there(tmp_path):
    from evsynth.common.runlock import remove_stale_lock

    assert remove_stale_lock(tmp_path) is None
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("x")
    message = remove_stale_lock(tmp_path)
    assert message.startswith("removed a stale lock left by an interrupted run") and not list(locks.iterdir())


# -- CSV cells a spreadsheet would run -------------------------------------------------------------

def test_formula_like_text_is_neutralized_numbers_are_not(tmp_path):
    frame = pd.DataFrame({"note": ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "+1 more", "-2+3", "fine", None],
                          "text_number": ["-0.51", "+3", "1e-3", "-", "=1", "x"],
                          "estimate": [-0.51, 1.0, -2.0, 0.0, float("nan"), -1e-9]})
    out = neutralize_formulas(frame)
    assert list(out["note"][:5]) == ["'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'+1 more", "'-2+3", "fine"]
    assert out["note"].iloc[5] is None
    assert list(out["text_number"]) == ["-0.51", "+3", "1e-3", "'-", "'=1", "x"]
    assert out["estimate"].equals(frame["estimate"])
    plain = pd.DataFrame({"a": ["x", "y"], "b": [-1.5, 2.0]})
    assert neutralize_formulas(plain) is plain
    write_csv(plain, tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_text() == plain.to_csv(index=False, lineterminator="\n")
