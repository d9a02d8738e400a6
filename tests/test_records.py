"""The record validator: every malformed record gets a clear error naming file, line and column."""

import shutil
from pathlib import Path

import pytest

from evsynth.ingest.records import RecordValidationError, load_records, main

DATA = Path(__file__).parent / "data"
SOURCES = DATA / "sources"


@pytest.fixture()
def corpus(tmp_path):
    """A copy of the demo corpus the test may break."""
    dest = tmp_path / "studies"
    shutil.copytree(DATA / "studies", dest)
    return dest


def errors_of(studies):
    with pytest.raises(RecordValidationError) as info:
        load_records(studies, sources_dir=SOURCES, root=studies.parent)
    return [str(e) for e in info.value.errors]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_valid_demo_loads_with_lines_and_numbers(corpus):
    records = load_records(corpus, sources_dir=SOURCES, root=corpus.parent)
    outcomes = records.tables["outcomes"]
    assert list(outcomes["line"]) == [2, 3, 4, 5, 6, 7]
    assert outcomes["value"].dtype == float
    assert set(outcomes["file"]) == {"studies/demo2020/outcomes.csv"}
    assert len(records.ledger) == sum(len(t) for t in records.tables.values())
    assert (records.ledger["status"] == "accepted").all()


def test_curator_note_rows_validate_and_the_ledger_says_whose_words(corpus):
    """A row citing a ``curator_note`` source is accepted, and the ledger marks it as the curator's paraphrase."""
    edit(corpus / "demo2020" / "study.yaml", "sources:\n",
         "sources:\n  notes: {kind: curator_note, file: demo-paper.txt, text: \"the curator's line\"}\n")
    edit(corpus / "demo2020" / "cointerventions.csv", "stopped_before,baseline,text,", "stopped_before,baseline,notes,")
    records = load_records(corpus, sources_dir=SOURCES, root=corpus.parent)
    ledger = records.ledger.set_index(["file", "line"])["reason"]
    assert "curator's paraphrase, not the source's words" in ledger[("studies/demo2020/cointerventions.csv", 2)]
    others = ledger.drop(("studies/demo2020/cointerventions.csv", 2))
    assert not others.str.contains("curator").any()


def test_not_a_number_names_file_line_column_value(corpus):
    edit(corpus / "demo2020" / "outcomes.csv", "value,8,score", "value,abc,score")
    errs = errors_of(corpus)
    assert "studies/demo2020/outcomes.csv, line 2, column value: 'abc' is not a number" in errs[0]


def test_unknown_term_suggests_closest(corpus):
    edit(corpus / "demo2020" / "interventions.csv", "allogeneic,iv,", "allogeneic,intranasl,")
    errs = errors_of(corpus)
    assert any("column route: 'intranasl' is not a known route; did you mean 'intranasal'?" in e for e in errs)


def test_unknown_measure_and_wrong_unit(corpus):
    edit(corpus / "demo2020" / "outcomes.csv", "P1,sledai_2k,baseline", "P1,sledai2k,baseline")
    edit(corpus / "demo2020" / "outcomes.csv", "value,7,0-10", "value,7,g/L")
    errs = errors_of(corpus)
    assert any("line 2, column measure: 'sledai2k' is not a known measure; did you mean 'sledai_2k'?" in e for e in errs)
    assert any("line 4, column unit: 'g/L' is not a known unit of pga_patient" in e for e in errs)


def test_value_must_be_in_quote(corpus):
    edit(corpus / "demo2020" / "outcomes.csv", "value,2,score", "value,3,score")
    errs = errors_of(corpus)
    assert any("line 3, column value: '3' does not appear in its quote" in e for e in errs)


def test_quote_must_be_in_source_file_and_short(corpus):
    edit(corpus / "demo2020" / "cointerventions.csv", "She stopped mycophenolate", "She stopped azathioprine")
    long_quote = " ".join(["word"] * 41)
    edit(corpus / "demo2020" / "adverse_events.csv", "No serious adverse events occurred in this patient.", long_quote)
    errs = errors_of(corpus)
    assert any("cointerventions.csv, line 2, column quote" in e and "does not appear verbatim" in e for e in errs)
    assert any("adverse_events.csv, line 2, column quote" in e and "41 words long" in e for e in errs)


def test_all_errors_reported_at_once(corpus):
    edit(corpus / "demo2020" / "outcomes.csv", "baseline,value,8", "someday,value,8")
    edit(corpus / "demo2020" / "participants.csv", "P1,1,SLE", "Patient1,1,SLE")
    edit(corpus / "demo2020" / "study.yaml", "design: case_report", "design: case_reprot")
    errs = errors_of(corpus)
    assert any("column timepoint: 'someday' is not a timepoint" in e for e in errs)
    assert any("column group: 'Patient1' must be a patient id" in e for e in errs)
    assert any("study.yaml, line 4, key design: 'case_reprot' is not a known design; did you mean 'case_report'?"
               in e for e in errs)


def test_missing_study_yaml_and_unknown_column(corpus):
    (corpus / "demo2020" / "study.yaml").unlink()
    (corpus / "other2021").mkdir()
    (corpus / "other2021" / "study.yaml").write_text("id: wrong2021\n")
    errs = errors_of(corpus)
    assert any("demo2020: study.yaml is missing" in e for e in errs)
    assert any("other2021/study.yaml, line 1, key id: 'wrong2021' must equal the folder name 'other2021'" in e
               for e in errs)
    assert any("other2021/study.yaml, line 1, key citation: is required but missing" in e for e in errs)


def test_bad_yaml_and_overlong_row(corpus):
    (corpus / "demo2020" / "study.yaml").write_text("id: [unclosed\n")
    errs = errors_of(corpus)
    assert any("study.yaml, line" in e and "is not valid YAML" in e for e in errs)


def test_cli_exit_codes(corpus, capsys):
    assert main(["check", str(corpus), "--sources", str(SOURCES)]) == 0
    edit(corpus / "demo2020" / "outcomes.csv", "value,8,score", "value,x,score")
    assert main(["check", str(corpus), "--sources", str(SOURCES)]) == 1
    assert "column value: 'x' is not a number" in capsys.readouterr().err


@pytest.mark.parametrize(
    "quote, value",
    [
        ("Eighty-seven patients with persistently active SLE", 87),
        ("Forty patients with active SLE", 40),
        ("China12 (11/1)6 (6/0)", 12),
        ("6 months20.84Fixed", 0.84),
        ("6 months20.84Fixed", 2),
        ("ANA titer declined from 1:640 to 1:80–160", 160),
        ("She received 100 × 106 cells", 1e8),
        ("She did not have any minor or serious adverse effect", 0),
        ("change −2.1 (1.8)", -2.1),
        ("No serious adverse events occurred in these three patients", 3),
    ],
)
def test_numbers_read_from_quotes(quote, value):
    from evsynth.ingest.provenance import value_in_quote

    assert value_in_quote(value, quote)


@pytest.mark.parametrize("quote, value", [("Forty patients", 41), ("1:640", 64), ("2505.0 ± 1323.9", 2505.1),
                                          ("months 20.84 Fixed", 2)])
def test_numbers_not_in_quotes(quote, value):
    from evsynth.ingest.provenance import value_in_quote

    assert not value_in_quote(value, quote)


def test_cli_config_values_become_numbers():
    from evsynth.common.config import coerce_cli_values

    cfg = {"harmonize": {"prepost_correlation": "0.7", "summary_method": "luo2018"}, "x": ["3", "true"]}
    assert coerce_cli_values(cfg) == {"harmonize": {"prepost_correlation": 0.7, "summary_method": "luo2018"},
                                      "x": [3, True]}
