"""Scaffold a new study folder for a reviewer: ``python -m evsynth new-study smith2024``.

It writes ``<studies_dir>/<id>/study.yaml`` (only ``id`` set; every other key present as a comment that says
what it holds and which terms it takes, read from the study schema and the vocabulary, so the template cannot
drift from what the validator accepts), one empty CSV per record table with its header (the columns of the
table's schema, in schema order), and then validates the folder and lists what is left to fill.
"""

from __future__ import annotations

import re
from pathlib import Path

from evsynth.common.vocabulary import load_vocabulary
from evsynth.ingest.records import (
    SCHEMA_DIR,
    TABLES,
    RecordValidationError,
    load_schema,
    load_records,
)

STUDY_ID = re.compile(r"^[a-z][a-z_]*[0-9]{4}[a-z]?$")
# study.yaml keys whose value is a term of vocabulary/terms.yaml (the key of that list).
TERM_KEYS = {"design": "design", "population": "population", "level": "level", "conditions": "condition"}
EXAMPLES = {
    "citation": '"Smith J, Doe A. Title. Journal 2024;1:1-10."',
    "doi": "10.xxxx/xxxxx",
    "pmid": "null",
    "year": "2024",
    "conditions": "[SLE]",
    "note": '"What a reviewer should know about this study."',
    "registration": "null",
    "includes": "[]",
}


def study_template(study_id: str, schema: dict, vocabulary, folder: str | Path = "") -> str:
    """study.yaml with ``id`` set and every other schema key as a comment (description, allowed terms)."""
    lines = [
        f"# {study_id}: a new study. Fill in the keys below (uncomment them); the format is resources/README.md.",
        "# Every number in the tables needs a `source` (a key of `sources`) and a verbatim `quote` of at most",
        "# 40 words containing it. A source without `file` is accepted, but its quotes are flagged as",
        "# 'not checked against a source text' in results/tables/ledger.csv.",
        f"# Check the folder at any time: python -m evsynth check {folder}",
        "",
        f"id: {study_id}",
    ]
    required = set(schema.get("required", []))
    for key, spec in schema["properties"].items():
        if key == "id":
            continue
        what = spec.get("description", "")
        if key in TERM_KEYS:
            what += " (terms: " + " | ".join(vocabulary.known(TERM_KEYS[key])) + ")"
        need = "required" if key in required else "optional"
        lines.append("")
        lines.append(f"# {key} ({need}): {what}")
        if key == "sources":
            kinds = " | ".join(vocabulary.known("source_kind"))
            fields = spec["additionalProperties"]["properties"]
            lines.append("# sources:")
            lines.append("#   text:                       # a source key the table rows name in `source`")
            for name, field_spec in fields.items():
                hint = kinds if name == "kind" else field_spec.get("description", "")
                lines.append(f"#     {name}: ...  # {hint}".rstrip())
        elif key == "appraisal":
            lines.append("# appraisal:  # facts a bias checklist needs; the keys are listed in resources/README.md")
            lines.append('#   selection: {value: consecutive, source: text, quote: "..."}')
        else:
            lines.append(f"# {key}: {EXAMPLES.get(key, '...')}")
    return "\n".join(lines) + "\n"


def table_header(table: str, schema_dir: Path) -> str:
    """The header line of an empty record table: its schema's columns, in order."""
    return ",".join(load_schema(table, schema_dir)["properties"]) + "\n"


def new_study(study_id: str, studies_dir: str | Path, vocabulary_dir: str | Path,
              sources_dir: str | Path | None = None, schema_dir: str | Path | None = None) -> tuple[Path, list[str]]:
    """Create the study folder and return it with the validator's list of what is left to fill.

    Refuses an id that is not ``surnameYYYY[a-z]`` and a folder that already exists (nothing is overwritten).
    """
    if not STUDY_ID.match(study_id):
        raise ValueError(f"study id '{study_id}' must be the first author's surname and the year, lower case, "
                         "with an optional letter suffix (e.g. smith2024, wang2013a)")
    schema_dir = Path(schema_dir or SCHEMA_DIR)
    folder = Path(studies_dir) / study_id
    if folder.exists():
        raise FileExistsError(f"{folder} already exists; nothing was written")
    vocabulary = load_vocabulary(vocabulary_dir)
    folder.mkdir(parents=True)
    (folder / "study.yaml").write_text(study_template(study_id, load_schema("study", schema_dir), vocabulary, folder),
                                       encoding="utf-8")
    for table in TABLES:
        (folder / f"{table}.csv").write_text(table_header(table, schema_dir), encoding="utf-8")
    try:
        load_records(folder, vocabulary_dir, sources_dir, root=Path.cwd(), schema_dir=schema_dir)
    except RecordValidationError as exc:
        return folder, [str(e) for e in exc.errors]
    return folder, []

