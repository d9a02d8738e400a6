"""A living review: a study whose sources cannot be shipped (no `file`) is ingested with its quotes flagged as
not checked, and counted; a new study is scaffolded with a template, empty tables and a list of what to fill."""

import shutil
from pathlib import Path

import yaml

from evsynth.ingest.ledger import build_ledger, quote_checks
from evsynth.ingest.records import NOT_CHECKED, load_records

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SOURCES = DATA / "sources"


def demo_without_file(tmp_path: Path, keys=("text", "table")) -> Path:
    """The demo corpus with the `file` of the given sources removed (a paper whose text we may not ship)."""
    dest = tmp_path / "studies"
    shutil.copytree(DATA / "studies", dest)
    path = dest / "demo2020" / "study.yaml"
    study = yaml.safe_load(path.read_text())
    for key in keys:
        del study["sources"][key]["file"]
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return dest


def test_sources_without_file_are_ingested_and_flagged_unchecked(tmp_path):
    studies = demo_without_file(tmp_path)
    records = load_records(studies, sources_dir=SOURCES, root=tmp_path)
    ledger = records.ledger
    assert len(ledger) == sum(len(t) for t in records.tables.values()) > 0
    assert (ledger["status"] == "flagged").all()
    assert ledger["reason"].str.contains(f"quote {NOT_CHECKED} (source 'text' names no file)", regex=False).any()
    assert ledger["reason"].str.contains("source 'table' names no file", regex=False).any()


def test_only_the_rows_of_the_fileless_source_are_flagged(tmp_path):
    studies = demo_without_file(tmp_path, keys=("table",))
    records = load_records(studies, sources_dir=SOURCES, root=tmp_path)
    outcomes = records.tables["outcomes"]
    table_lines = set(outcomes.loc[outcomes["source"] == "table", "line"])
    flagged = records.ledger[records.ledger["file"].str.endswith("outcomes.csv")]
    assert set(flagged.loc[flagged["status"] == "flagged", "line"]) == table_lines
    assert set(flagged.loc[flagged["status"] == "accepted", "line"]) == set(outcomes["line"]) - table_lines


def test_a_fileless_quote_is_still_checked_for_its_numbers(tmp_path):
    """Not checked against a text, but still checked: the number must appear in its quote."""
    studies = demo_without_file(tmp_path)
    path = studies / "demo2020" / "outcomes.csv"
    path.write_text(path.read_text().replace("value,8,score", "value,9,score", 1))
    try:
        load_records(studies, sources_dir=SOURCES, root=tmp_path)
    except ValueError as exc:
        assert "line 2, column value: '9' does not appear in its quote" in str(exc)
    else:
        raise AssertionError("a number missing from its quote was accepted")


def test_quote_checks_counts_unchecked_rows_per_study_and_in_total(tmp_path):
    studies = demo_without_file(tmp_path, keys=("table",))
    records = load_records(studies, sources_dir=SOURCES, root=tmp_path)
    checks = quote_checks(build_ledger([records.ledger]))
    n_table = sum(int((t["source"] == "table").sum()) for t in records.tables.values())
    row = checks.set_index("study").loc["demo2020"]
    assert row["quotes_not_checked"] == n_table > 0
    assert row["quotes_checked"] == len(records.ledger) - n_table
    assert row["why_not_checked"] == "source 'table' names no file"
    assert checks.iloc[-1]["study"] == "all" and checks.iloc[-1]["quotes_not_checked"] == n_table


def test_with_every_file_present_nothing_is_flagged():
    records = load_records(DATA / "studies", sources_dir=SOURCES, root=DATA)
    assert (records.ledger["status"] == "accepted").all()
    assert quote_checks(records.ledger).iloc[-1]["quotes_not_checked"] == 0


# ---- new-study scaffold -------------------------------------------------------------------------------------

def test_new_study_scaffolds_template_and_tables_and_lists_what_to_fill(tmp_path, capsys):
    from evsynth.__main__ import main
    from evsynth.ingest.records import TABLES

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"studies_dir": str(tmp_path / "studies"), "sources_dir": str(SOURCES),
                                      "vocabulary_dir": str(ROOT / "resources" / "vocabulary")}))
    assert main(["--configfile", str(config), "new-study", "smith2024"]) == 0
    folder = tmp_path / "studies" / "smith2024"
    template = (folder / "study.yaml").read_text()
    assert yaml.safe_load(template) == {"id": "smith2024"}  # everything else is a comment
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "study.schema.yaml").read_text())
    for key in set(schema["properties"]) - {"id"}:
        assert f"# {key} (" in template, key
    assert "case_report | case_series" in template  # the design terms, from the vocabulary
    for table in TABLES:
        header = (folder / f"{table}.csv").read_text()
        columns = yaml.safe_load((ROOT / "workflow" / "schemas" / f"{table}.schema.yaml").read_text())["properties"]
        assert header == ",".join(columns) + "\n"
    out = capsys.readouterr().out
    for key in ("citation", "year", "design", "population", "conditions", "level", "sources"):
        assert f"key {key}: is required but missing" in out


def test_a_filled_scaffold_validates_and_its_fileless_source_is_flagged(tmp_path):
    from evsynth.ingest.scaffold import new_study

    folder, todo = new_study("smith2024", tmp_path, ROOT / "resources" / "vocabulary", SOURCES)
    assert len(todo) == 7
    with open(folder / "study.yaml", "a", encoding="utf-8") as f:
        f.write('citation: "Smith J. A paywalled case report. Journal 2024;1:1-2."\nyear: 2024\n'
                "design: case_report\npopulation: adult\nconditions: [SLE]\nlevel: individual\n"
                "sources: {text: {kind: text, text: Case}}\n")
    with open(folder / "participants.csv", "a", encoding="utf-8") as f:
        f.write("P1,1,SLE,,female,,,,34,,,,,,,,,,,text,A 34-year-old woman with SLE received MSC.,\n")
    records = load_records(folder, ROOT / "resources" / "vocabulary", SOURCES, root=tmp_path)
    assert records.tables["participants"]["age_at_msc_years"].tolist() == [34.0]
    assert records.ledger["status"].tolist() == ["flagged"]


def test_new_study_refuses_a_bad_id_and_an_existing_folder(tmp_path):
    from evsynth.ingest.scaffold import new_study

    vocab = ROOT / "resources" / "vocabulary"
    try:
        new_study("Smith-2024", tmp_path, vocab)
    except ValueError as exc:
        assert "surname and the year" in str(exc)
    else:
        raise AssertionError("a bad id was accepted")
    new_study("smith2024", tmp_path, vocab)
    (tmp_path / "smith2024" / "study.yaml").write_text("id: smith2024\n# mine\n")
    try:
        new_study("smith2024", tmp_path, vocab)
    except FileExistsError:
        pass
    else:
        raise AssertionError("an existing folder was overwritten")
    assert (tmp_path / "smith2024" / "study.yaml").read_text() == "id: smith2024\n# mine\n"
