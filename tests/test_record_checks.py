"""Checks across rows, tables and files (issue 15), each on a malformed copy of a real study record.

Every test breaks one thing in a copy of resources/studies/<id> and asserts the error names the file, the
line, the column or key, the value and what was expected.
"""

import csv
import shutil
from pathlib import Path

import pytest

from evsynth.ingest.records import RecordValidationError, load_records

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "resources" / "studies"
SOURCES = next((p for p in (ROOT / "resources" / "sources", ROOT.parent / "shared" / "sources") if p.is_dir()), None)


def copy(tmp_path: Path, *ids: str) -> Path:
    dest = tmp_path / "studies"
    for sid in ids:
        shutil.copytree(STUDIES / sid, dest / sid)
    return dest


def errors_of(studies: Path) -> list[str]:
    with pytest.raises(RecordValidationError) as info:
        load_records(studies, sources_dir=SOURCES, root=studies.parent)
    return [str(e) for e in info.value.errors]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_real_corpus_passes_every_check_across_rows_and_tables():
    records = load_records(STUDIES, sources_dir=SOURCES)
    assert len(records.studies) >= 27 and not records.warnings


def test_group_typo_names_the_closest_declared_group(tmp_path):
    studies = copy(tmp_path, "deng2017")
    csv = studies / "deng2017" / "outcomes.csv"
    edit(csv, "msc,remission,6 months,level,events,9", "mcs,remission,6 months,level,events,9")
    line = line_of(csv, "mcs,remission")
    errs = errors_of(studies)
    assert any(f"deng2017/outcomes.csv, line {line}, column group: 'mcs' is not a known group of "
               "studies/deng2017/participants.csv; did you mean 'msc'?" in e for e in errs), errs


def test_patient_id_typo_in_an_individual_level_study(tmp_path):
    studies = copy(tmp_path, "wong2021")
    csv = studies / "wong2021" / "adverse_events.csv"
    text = csv.read_text(encoding="utf-8").splitlines()
    header, first = text[0], text[1]
    assert first.startswith("P")
    csv.write_text("\n".join([header, "P9" + first[2:], *text[2:]]) + "\n", encoding="utf-8")
    errs = errors_of(studies)
    assert any("wong2021/adverse_events.csv, line 2, column group: 'P9' is not a known group" in e for e in errs), errs


def test_comparator_must_be_a_group_except_for_a_reviews_pooled_rows(tmp_path):
    studies = copy(tmp_path, "zhou2020", "deng2017")
    load_records(studies, sources_dir=SOURCES, root=tmp_path)  # zhou2020: pooled vs control is accepted
    csv = studies / "deng2017" / "outcomes.csv"
    text = csv.read_text(encoding="utf-8")
    row = next(r for r in text.splitlines() if r.startswith("msc,remission,6 months,level,events,9"))
    cells = row.split(",")
    cells[7] = "placeb"  # the comparator column
    csv.write_text(text.replace(row, ",".join(cells)), encoding="utf-8")
    errs = errors_of(studies)
    assert any("column comparator: 'placeb' is not a known group" in e and "did you mean 'placebo'?" in e
               for e in errs), errs


def test_adverse_event_patients_more_than_at_risk_and_zero_at_risk(tmp_path):
    studies = copy(tmp_path, "deng2017")
    csv = studies / "deng2017" / "adverse_events.csv"
    edit(csv, "placebo,stroke,yes,1,,,", "placebo,stroke,yes,1,,0,")
    edit(csv, "placebo,ascites,yes,1,,,", "placebo,ascites,yes,7,,,")
    errs = errors_of(studies)
    assert any("adverse_events.csv, line 2, column n_at_risk: '0' must be more than 0" in e for e in errs), errs
    assert any("adverse_events.csv, line 3, column n_patients: '7' is more than the size of group placebo (6, "
               "participants.csv line" in e for e in errs), errs


def test_events_more_than_n_of_the_same_outcome(tmp_path):
    studies = copy(tmp_path, "deng2017")
    csv = studies / "deng2017" / "outcomes.csv"
    edit(csv, "msc,remission,6 months,level,n,12", "msc,remission,6 months,level,n,2")
    line = line_of(csv, "msc,remission,6 months,level,events,9")
    errs = errors_of(studies)
    assert any(f"outcomes.csv, line {line}, column value: '9' is more events than the n of the same outcome and "
               "source (2, line" in e for e in errs), errs


def test_percent_that_does_not_match_events_and_n(tmp_path):
    studies = copy(tmp_path, "deng2017")
    csv = studies / "deng2017" / "outcomes.csv"
    # deng2017 reports events 9 and n 12 (75%): add the percent row with a wrong value
    row = next(r for r in csv.read_text(encoding="utf-8").splitlines()
               if r.startswith("msc,remission,6 months,level,n,12"))
    with csv.open("a", encoding="utf-8") as fh:
        fh.write(row.replace(",n,12,", ",percent,83,") + "\n")
    errs = errors_of(studies)
    assert any("column value: '83' does not match the events and n of the same outcome and source (9/12 = 75%"
               in e for e in errs), errs


def test_percent_matching_to_printed_decimals_is_accepted():
    from evsynth.ingest.crosscheck import percent_matches

    assert percent_matches(75, 9, 12) and percent_matches(41.7, 5, 12) and percent_matches(41.6, 5, 12)
    assert percent_matches(42, 5, 12) and not percent_matches(43, 5, 12) and not percent_matches(41.5, 5, 12)


def test_sexes_more_than_n_and_arms_not_adding_up(tmp_path):
    studies = copy(tmp_path, "deng2017")
    csv = studies / "deng2017" / "participants.csv"
    edit(csv, "msc,12,,,,11,1,", "msc,12,,,,12,1,")
    edit(csv, "placebo,6,SLE,,,,,,,,,,,,,,,,,D1,", "placebo,5,SLE,,,,,,,,,,,,,,,,,D1,")
    errs = errors_of(studies)
    assert any("participants.csv, line 7, column n_male: '1' n_female + n_male = 13 is more than the group's n (12)"
               in e for e in errs), errs
    assert any("participants.csv, line 2, column n: '18' is the study's n from source 'D1', but its arms add up to "
               "17: msc 12 (line 3), placebo 5 (line 4)" in e for e in errs), errs


def test_exact_duplicate_row_names_both_lines(tmp_path):
    studies = copy(tmp_path, "deng2017")
    csv = studies / "deng2017" / "cointerventions.csv"
    lines = csv.read_text(encoding="utf-8").splitlines()
    csv.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    errs = errors_of(studies)
    assert any(f"cointerventions.csv, line {len(lines) + 1}: repeats line 2 exactly" in e for e in errs), errs


def test_duplicate_patient_and_duplicate_yaml_key(tmp_path):
    studies = copy(tmp_path, "wong2021")
    path = studies / "wong2021" / "participants.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    twin = list(rows[2])  # P1 from source case1; the same quote again, another note
    assert twin[0] == "P1"
    twin[-1] = "typed twice"
    with path.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerow(twin)
    study = studies / "wong2021" / "study.yaml"
    edit(study, "\nyear:", "\nyear: 2020\nyear:")
    errs = errors_of(studies)
    assert any(f"participants.csv, line {len(rows) + 1}, column group: 'P1' is recorded twice from source 'case1' "
               f"with the same quote (lines 3 and {len(rows) + 1})" in e for e in errs), errs
    assert any("study.yaml, line" in e and "key year: is given twice" in e for e in errs), errs


def test_blank_source_and_quote_are_errors(tmp_path):
    studies = copy(tmp_path, "deng2017")
    csv = studies / "deng2017" / "adverse_events.csv"
    text = csv.read_text(encoding="utf-8")
    first = text.splitlines()[1]
    csv.write_text(text.replace(first, "placebo,stroke,yes,1,,,,,,"), encoding="utf-8")
    errs = errors_of(studies)
    assert any("adverse_events.csv, line 2, column source: is empty; every row needs its source and quote" in e
               for e in errs), errs
    assert any("adverse_events.csv, line 2, column quote: is empty; every row needs its source and quote" in e
               and "curator_note" in e for e in errs), errs


def test_hidden_study_folder_is_an_error_and_stray_files_are_named(tmp_path):
    studies = copy(tmp_path, "deng2017", "wong2021")
    (studies / "wong2021").rename(studies / ".wong2021")
    (studies / "deng2017" / "outcome.csv").write_text("group\n", encoding="utf-8")
    (studies / "deng2017" / ".DS_Store").write_bytes(b"\0\0")
    errs = errors_of(studies)
    assert any("studies/.wong2021: is a hidden folder" in e for e in errs), errs
    assert any("studies/deng2017/outcome.csv: 'outcome.csv' is not a known file of a study folder; did you mean "
               "'outcomes.csv'?" in e for e in errs), errs


def test_hidden_file_is_a_listed_warning_and_a_ledger_row(tmp_path):
    studies = copy(tmp_path, "deng2017")
    (studies / "deng2017" / ".DS_Store").write_bytes(b"\0\0")
    records = load_records(studies, sources_dir=SOURCES, root=tmp_path)
    assert records.warnings == ["studies/deng2017/.DS_Store: hidden file, not read"]
    row = records.ledger.loc[records.ledger["file"] == "studies/deng2017/.DS_Store"].iloc[0]
    assert (row["status"], row["line"], row["study"]) == ("excluded", 0, "deng2017")


def test_bom_is_accepted_and_latin1_names_line_and_encoding(tmp_path):
    studies = copy(tmp_path, "deng2017")
    csv = studies / "deng2017" / "outcomes.csv"
    csv.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes())
    load_records(studies, sources_dir=SOURCES, root=tmp_path)  # a UTF-8 byte-order mark is accepted
    cointerventions = studies / "deng2017" / "cointerventions.csv"
    text = cointerventions.read_text(encoding="utf-8")
    cointerventions.write_bytes(text.replace("concurrent", "concurrént", 1).encode("latin-1", errors="replace"))
    errs = errors_of(studies)
    assert any("cointerventions.csv, line" in e and "is not UTF-8 (in Windows-1252/Latin-1 it would be 'é'); the "
               "expected encoding is UTF-8" in e for e in errs), errs


def test_reviewer_file_checked_with_line_and_key(tmp_path):
    studies = copy(tmp_path, "wong2021")
    path = studies / "wong2021" / "appraisal.yaml"
    edit(path, "    judgement: unclear", "    judgement: uncler")
    edit(path, "  - tool: jbi_case_series\n    item: Q9", "  - tool: jbi_case_series\n    item: Q9\n    itme: Q9")
    errs = errors_of(studies)
    judgement_line = line_of(path, "judgement: uncler")
    assert any(f"appraisal.yaml, line {judgement_line}, key judgements." in e and ".judgement: 'uncler' is not a "
               "known judgement of jbi_case_series; did you mean 'unclear'?" in e for e in errs), errs
    assert any(f"appraisal.yaml, line {line_of(path, 'itme: Q9')}, key judgements." in e and ".itme: is not a known "
               "key; did you mean 'item'?" in e for e in errs), errs


def test_reviewer_file_with_a_python_tag_is_refused_with_its_line(tmp_path):
    studies = copy(tmp_path, "wong2021")
    path = studies / "wong2021" / "appraisal.yaml"
    edit(path, "reviewer: ", "reviewer: !!python/object/apply:os.system ['true'] #")
    errs = errors_of(studies)
    assert any(f"appraisal.yaml, line {line_of(path, 'python/object')}: is not valid YAML" in e and "no tags" in e
               for e in errs), errs
