"""Load and validate study records (``resources/studies/<id>/``).

The format is documented in ``resources/README.md``; the machine-readable schemas are in
``workflow/schemas/``. :func:`load_records` reads every study, checks it and either returns a
:class:`Records` or raises :class:`RecordValidationError` holding *all* the problems found, each of
which names the file, line, column, value and what was expected.

Command line: ``python -m evsynth.ingest.records check resources/studies[/<id>] [--sources DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evsynth.common import inputs
from evsynth.common.timepoints import TIMEPOINT
from evsynth.ingest import crosscheck, provenance
from evsynth.common.vocabulary import Vocabulary, load_vocabulary, unknown_message

TABLES = ("participants", "interventions", "outcomes", "adverse_events", "cointerventions")
MAX_QUOTE_WORDS = 40
SPECIAL_GROUPS = {"all", "pooled"}
# Project files are found relative to the project directory (the working directory, as Snakemake runs), never
# relative to where the package is installed, so a non-editable `pip install .` reads the same files.
SCHEMA_DIR = inputs.SCHEMA_DIR
VOCABULARY_DIR = Path("resources") / "vocabulary"
VALIDATED = "validated: schema, vocabulary, number in quote, quote in source"
# A source of this kind is the curator's own wording in the extraction notes (a paraphrase or a value column),
# not the publication's words: its rows validate like any other, and the ledger says what they are.
CURATOR_NOTE = "curator_note"
CURATOR_NOTE_REASON = "curator's paraphrase, not the source's words"
# A row whose value no single sentence states (``derived``: the arithmetic over numbers of its quote).
DERIVED_REASON = "derived by the curator from several statements of the source"
PROVENANCE_REQUIRED = ("every row needs its source and quote (a value the curator derived cites a source of kind "
                       "curator_note: resources/README.md)")


#: One problem in one place of a record (``file, line N, column C: 'value' <problem>``): the problem type of
#: every file a person edits, :class:`evsynth.common.inputs.Problem`.
RecordError = inputs.Problem


class RecordValidationError(ValueError):
    """Raised with every :class:`RecordError` found, so a curator fixes them in one pass."""

    def __init__(self, errors: list[RecordError]):
        self.errors = list(errors)
        lines = [str(e) for e in self.errors]
        super().__init__(f"{len(lines)} problem(s) in the study records:\n" + "\n".join(lines))


@dataclass
class Records:
    """Validated records: ``studies`` maps id -> study.yaml; ``tables`` maps name -> long frame.

    Every table frame has the CSV columns plus ``study``, ``file`` and ``line`` (the 1-based physical
    line of the row in its CSV, the header being line 1). Numeric columns are floats, empty cells NaN.
    """

    studies: dict[str, dict]
    tables: dict[str, pd.DataFrame]
    ledger: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: list[str] = field(default_factory=list)  # files under the studies folder that were not read

    def study_table(self) -> pd.DataFrame:
        """One row per study with its identity and design."""
        rows = []
        for sid, s in sorted(self.studies.items()):
            rows.append({
                "study": sid, "citation": s.get("citation"), "year": s.get("year"),
                "design": s.get("design"), "population": s.get("population"),
                "conditions": ";".join(s.get("conditions", [])), "level": s.get("level"),
                "doi": s.get("doi"), "pmid": None if s.get("pmid") is None else str(s.get("pmid")),
            })
        return pd.DataFrame(rows)


def load_schema(name: str, schema_dir: Path) -> dict:
    """One record schema (``<name>.schema.yaml``) from ``schema_dir``."""
    return inputs.yaml_data((schema_dir / f"{name}.schema.yaml").read_text(encoding="utf-8"))


def _relative(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def read_csv_with_lines(path: Path) -> tuple[list[str], pd.DataFrame]:
    """Read a CSV as strings, adding ``line``: the physical line on which each row starts."""
    text, problem = inputs.read_text(path)
    if problem is not None:
        raise inputs.InputError(problem.expected, problem)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    rows, lines = [], []
    start = reader.line_num + 1
    for row in reader:
        if any(cell.strip() for cell in row):
            rows.append(row)
            lines.append(start)
        start = reader.line_num + 1
    header = [h.strip() for h in header]
    width = len(header)
    fixed = [(r + [""] * width)[:width] if len(r) <= width else r for r in rows]
    frame = pd.DataFrame([r[:width] for r in fixed], columns=header, dtype=object)
    frame["line"] = lines
    frame.attrs["overlong"] = [(ln, len(r)) for ln, r in zip(lines, rows) if len(r) > width]
    return header, frame


class _Checker:
    """Collects errors while checking one corpus."""

    def __init__(self, vocab: Vocabulary, sources_dir: Path | None, root: Path | None, schema_dir: Path,
                 tools: dict | None = None):
        self.vocab = vocab
        self.tools = tools
        self.sources_dir = sources_dir
        self.root = root
        self.schema_dir = schema_dir
        self.errors: list[RecordError] = []
        # (file, line) of table rows whose quote could not be checked -> why (the ledger says so)
        self.unchecked: dict[tuple[str, int], str] = {}
        self.warnings: list[tuple[str, str]] = []
        self.study_schema = load_schema("study", schema_dir)
        self.table_schemas = {t: load_schema(t, schema_dir) for t in TABLES}

    def error(self, file: str, line, column, value, expected: str) -> None:
        self.errors.append(RecordError(file, line, column, value, expected))

    def warn(self, file: str, why: str) -> None:
        """A file under the studies folder that is not read (listed in the ledger and on the terminal)."""
        self.warnings.append((file, why))

    def add_problems(self, problems) -> None:
        """Problems found by :mod:`evsynth.common.inputs` (YAML, encodings) as record errors."""
        for p in problems:
            self.error(p.file, p.line, p.key, p.value, p.expected)

    # -- study.yaml -------------------------------------------------------------------------
    def check_study(self, folder: Path) -> dict | None:
        path = folder / "study.yaml"
        rel = _relative(path, self.root)
        if not path.exists():
            self.error(_relative(folder, self.root), None, None, None, "study.yaml is missing (it is required)")
            return None
        text, problem = inputs.read_text(path, rel)
        if problem is not None:
            self.add_problems([problem])
            return None
        doc = inputs.parse_yaml(text, rel)
        self.add_problems(doc.problems)
        study = doc.data
        if doc.problems and study is None:
            return None
        if not isinstance(study, dict):
            self.error(rel, None, None, None, "must be a YAML mapping of keys to values")
            return None
        line = doc.line_of
        for p in inputs.schema_problems(study, self.study_schema, rel, line):
            self.add_problems([p])
        if study.get("id") != folder.name:
            self.error(rel, line("id"), "id", study.get("id"), f"must equal the folder name '{folder.name}'")
        for key, kind in (("design", "design"), ("population", "population"), ("level", "level")):
            if isinstance(study.get(key), str) and not self.vocab.is_known(kind, study[key]):
                self.error(rel, line(key), key, study[key], self.vocab.unknown_term_message(kind, study[key]))
        for i, cond in enumerate(study.get("conditions") or []):
            if not self.vocab.is_known("condition", str(cond)):
                self.error(rel, line("conditions", i), "conditions", cond,
                           self.vocab.unknown_term_message("condition", str(cond)))
        for skey, src in (study.get("sources") or {}).items():
            if not isinstance(src, dict):
                continue
            if isinstance(src.get("kind"), str) and not self.vocab.is_known("source_kind", src["kind"]):
                self.error(rel, line("sources", skey, "kind"), f"sources.{skey}.kind", src["kind"],
                           self.vocab.unknown_term_message("source_kind", src["kind"]))
            if self.sources_dir is not None and isinstance(src.get("file"), str):
                if not (self.sources_dir / src["file"]).is_file():
                    self.error(rel, line("sources", skey, "file"), f"sources.{skey}.file", src["file"],
                               f"is not a file in the sources folder {self.sources_dir}")
        for fact, entry in (study.get("appraisal") or {}).items():
            if isinstance(entry, dict) and entry.get("quote"):
                self.check_quote(rel, line("appraisal", fact, "quote"), f"appraisal.{fact}.quote", entry.get("source"),
                                 entry["quote"], study)
        return study

    # -- reviewer / override files ------------------------------------------------------------
    def check_override(self, folder: Path, name: str, schema: str, study: dict) -> None:
        """A reviewer file of the study folder against its schema; appraisal.yaml also against tools.yaml."""
        path = folder / name
        rel = _relative(path, self.root)
        doc = inputs.load_yaml(path, schema=self.schema_dir / f"{schema}.schema.yaml", shown=rel)
        self.add_problems(doc.problems)
        data = doc.data
        if not isinstance(data, dict):
            if data is None and not doc.problems:
                self.error(rel, None, None, None, "is empty; delete it or give its entries")
            return
        if data.get("study") is not None and str(data["study"]) != folder.name:
            self.error(rel, doc.line_of("study"), "study", data["study"], f"must equal the folder name '{folder.name}'")
        if name != "appraisal.yaml":
            return
        entries = data.get("judgements") if isinstance(data.get("judgements"), list) else []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or "tool" not in entry or "item" not in entry:
                continue  # reported by the schema
            where = lambda *k: doc.line_of("judgements", i, *k)  # noqa: E731
            key = f"judgements.{i}"
            tool, item = str(entry["tool"]), str(entry["item"])
            judgement = entry.get("judgement")
            if isinstance(judgement, bool):
                judgement = "yes" if judgement else "no"
            if self.tools is not None:
                tools = self.tools.get("tools") or {}
                if tool not in tools:
                    self.error(rel, where("tool"), f"{key}.tool", tool, unknown_message("tool", tool, sorted(tools)))
                else:
                    items = [str(it["id"]) for it in tools[tool].get("items") or []] + ["overall"]
                    if item not in items:
                        self.error(rel, where("item"), f"{key}.item", item, unknown_message(f"item of {tool}", item, items))
                    scale = list(tools[tool].get("judgements") or [])
                    if item == "overall":
                        scale = sorted(set(scale) | {"low", "some concerns", "high"})
                    if judgement is not None and str(judgement).lower() not in scale:
                        self.error(rel, where("judgement"), f"{key}.judgement", judgement,
                                   unknown_message(f"judgement of {tool}", str(judgement), scale))
            if entry.get("source") is not None or entry.get("quote"):
                if entry.get("quote"):
                    self.check_quote(rel, where("quote"), f"{key}.quote", entry.get("source"), entry["quote"], study)
                elif entry.get("source") not in (study.get("sources") or {}):
                    self.error(rel, where("source"), f"{key}.source", entry.get("source"),
                               unknown_message("source key of study.yaml", entry.get("source"),
                                               sorted(study.get("sources") or {})))

    # -- provenance ---------------------------------------------------------------------------
    def check_quote(self, rel: str, line, column: str, source_key, quote: str, study: dict) -> None:
        sources = study.get("sources") or {}
        if source_key in (None, ""):
            return  # an empty source is reported as such (every row needs its source and quote)
        if not isinstance(source_key, str) or source_key not in sources:
            known = sorted(sources)
            self.error(rel, line, "source", source_key, unknown_message("source key of study.yaml", source_key, known))
            return
        words = provenance.word_count(quote)
        if words > MAX_QUOTE_WORDS:
            self.error(rel, line, column, _clip(quote), f"is {words} words long; a quote has at most {MAX_QUOTE_WORDS}")
        src_file = sources[source_key].get("file") if isinstance(sources[source_key], dict) else None
        if self.sources_dir is not None and src_file and (self.sources_dir / src_file).is_file():
            if not provenance.quote_in_file(quote, self.sources_dir / src_file):
                self.error(rel, line, column, _clip(quote),
                           f"does not appear verbatim in {src_file} (white space normalized)")
        elif line is not None:
            self.unchecked[(rel, int(line))] = unchecked_reason(source_key, src_file, self.sources_dir)

    # -- tables -------------------------------------------------------------------------------
    def check_table(self, folder: Path, table: str, study: dict) -> pd.DataFrame | None:
        path = folder / f"{table}.csv"
        if not path.exists() and not path.is_symlink():  # a broken link is reported as unreadable
            return None
        rel = _relative(path, self.root)
        schema = self.table_schemas[table]
        props = schema["properties"]
        try:
            header, frame = read_csv_with_lines(path)
        except inputs.InputError as exc:
            problem = exc.args[1]
            self.error(rel, problem.line, None, None, problem.expected)
            return None
        except csv.Error as exc:
            self.error(rel, None, None, None, f"cannot be read as CSV: {exc}")
            return None
        # popped, not read: pandas deep-copies a frame's attrs on every operation, and the tables (saved with
        # them to Parquet) would carry the copy cost into every later stage
        for ln, width in frame.attrs.pop("overlong", []):
            self.error(rel, ln, None, None, f"has {width} cells but the header has {len(header)} columns")
        for col in header:
            if col not in props:
                self.error(rel, 1, col, col, unknown_message(f"column of {table}.csv", col, list(props)))
        for col in schema.get("required", []):
            if col not in header:
                self.error(rel, 1, col, None, f"required column '{col}' is missing from the header")
        frame = frame.drop(columns=[c for c in frame.columns if c not in props and c != "line"])
        for col in props:
            if col not in frame.columns:
                frame[col] = ""
        frame = frame.map(lambda v: v.strip() if isinstance(v, str) else v)
        frame.insert(0, "study", study.get("id", folder.name))
        frame.insert(1, "file", rel)
        self._check_cells(rel, table, frame, props, schema.get("required", []), study)
        return frame

    def _check_cells(self, rel: str, table: str, frame: pd.DataFrame, props: dict, required: list, study: dict):
        # plain lists and numpy per column: a file has tens of rows, and a dozen pandas operations per column
        # were most of the validation's time
        lines = frame["line"].to_numpy()
        cells = dict(zip(props, frame[list(props)].astype(str).to_numpy().T.tolist())) if len(frame) else {}
        for col, spec in props.items():
            values = cells.get(col, [])
            empty = np.array([v == "" for v in values], dtype=bool)
            if col in required:
                why = PROVENANCE_REQUIRED if col in ("source", "quote") else f"'{col}' is required"
                for ln in lines[empty]:
                    self.error(rel, int(ln), col, None, f"is empty; {why}")
            kind = spec.get("type")
            if kind in ("number", "integer"):
                given = np.array([None if e else v for v, e in zip(values, empty)], dtype=object)
                number = np.asarray(pd.to_numeric(given, errors="coerce"), dtype=float)
                known = ~np.isnan(number)
                for k in np.flatnonzero(~empty & ~known):
                    self.error(rel, int(lines[k]), col, values[k], f"is not a number ({spec.get('description', col)})")
                if kind == "integer":
                    for k in np.flatnonzero(~empty & known & (number != np.floor(number))):
                        self.error(rel, int(lines[k]), col, values[k], "must be a whole number")
                if "minimum" in spec:
                    for k in np.flatnonzero(known & (number < spec["minimum"])):
                        self.error(rel, int(lines[k]), col, values[k], f"must be at least {spec['minimum']}")
                frame[col] = number
            if "enum" in spec:
                for ln, v in zip(lines, values):
                    if v and v not in spec["enum"]:
                        self.error(rel, int(ln), col, v, unknown_message(f"value of {col}", v, list(spec["enum"])))
            vocab_kind = spec.get("x-vocabulary")
            if vocab_kind:
                for ln, v in zip(lines, values):
                    if v and not self.vocab.is_known(vocab_kind, v):
                        self.error(rel, int(ln), col, v, self.vocab.unknown_term_message(vocab_kind, v))
            if spec.get("x-timepoint"):
                for ln, v in zip(lines, values):
                    if v and not TIMEPOINT.match(v):
                        self.error(rel, int(ln), col, v,
                                   "is not a timepoint: use baseline, post, or '<n> <days|weeks|months|years>' "
                                   "(a range as '<a>-<b> <unit>')")
        self._check_groups(rel, frame, study)
        self._check_provenance(rel, table, frame, props, study)
        if table == "outcomes":
            self._check_units(rel, frame)
        if table == "interventions":
            self._check_interventions(rel, frame)

    def _check_groups(self, rel: str, frame: pd.DataFrame, study: dict) -> None:
        if study.get("level") != "individual":
            return
        for ln, g in zip(frame["line"], frame["group"].astype(str)):
            if g and g not in SPECIAL_GROUPS and not re.fullmatch(r"P\d+", g):
                self.error(rel, int(ln), "group", g,
                           "must be a patient id like P1 (level: individual), or 'all'")

    def _check_provenance(self, rel: str, table: str, frame: pd.DataFrame, props: dict, study: dict) -> None:
        numeric_cols = [c for c, s in props.items() if s.get("type") in ("number", "integer")
                        and c not in ("seq",)]
        for row in frame.itertuples(index=False):
            d = row._asdict()
            quote = d.get("quote") or ""
            if not quote:
                continue  # already reported as missing
            self.check_quote(rel, d["line"], "quote", d.get("source"), quote, study)
            derivation, result = d.get("derived") or "", None
            if derivation:
                result, problem = provenance.evaluate_derivation(derivation, quote)
                if problem:
                    self.error(rel, d["line"], "derived", derivation, problem)
            derived_cols = []
            for col in numeric_cols:
                value = d.get(col)
                if value is None or (isinstance(value, float) and np.isnan(value)) or isinstance(value, str):
                    continue
                if col in ("n", "n_at_risk", "n_patients") and value == 1 and re.fullmatch(r"P\d+", str(d.get("group"))):
                    continue  # one patient is one patient: structural, not a reported number
                if not provenance.value_in_quote(value, quote):
                    if result is not None and provenance.matches_derivation(value, result):
                        derived_cols.append(col)
                        continue
                    self.error(rel, d["line"], col, _fmt(value), f"does not appear in its quote \"{_clip(quote)}\""
                               + (f" nor equals its derivation ({derivation} = {result:g})" if result is not None
                                  else ""))
            if result is not None and not derived_cols:
                self.error(rel, d["line"], "derived", derivation,
                           f"= {result:g}, but no value of the row that its quote lacks equals it (a derived row "
                           "holds the derived value; every other number of the row is in its quote)")
            for col, spec in props.items():
                if spec.get("x-in-quote") and d.get(col):
                    if provenance.normalize_text(d[col]) not in provenance.normalize_text(quote):
                        self.error(rel, d["line"], col, d[col], "must appear exactly as written in its quote")

    def _check_units(self, rel: str, frame: pd.DataFrame) -> None:
        for ln, measure, unit in zip(frame["line"], frame["measure"].astype(str), frame["unit"].astype(str)):
            if not measure or not unit or not self.vocab.is_known("measure", measure):
                continue
            allowed = self.vocab.units_of(measure)
            if unit not in allowed:
                self.error(rel, int(ln), "unit", unit,
                           unknown_message(f"unit of {measure}", unit, allowed))

    def _check_interventions(self, rel: str, frame: pd.DataFrame) -> None:
        summary = frame["seq"].isna()
        kind = frame["summary"].fillna("").astype(str) if "summary" in frame else pd.Series("", index=frame.index)
        per_admin = summary & kind.isin(["", "per_administration"])
        for ln in frame.loc[per_admin & frame["count"].isna(), "line"]:
            self.error(rel, int(ln), "count", None,
                       "is empty; a summary row (no seq) must say how many administrations it stands for "
                       "(or say in `summary` that it is a total, median, mean, central value, range, regimen or routes)")
        for ln, k in zip(frame.loc[~summary & kind.ne(""), "line"], kind[~summary & kind.ne("")]):
            self.error(rel, int(ln), "summary", k,
                       "is set on an administration row (seq given); `summary` describes a row without seq")
        given = frame.loc[~summary]
        dup = given.duplicated(subset=["group", "seq", "source"], keep=False)
        first = {}
        for ln, g, s, src in given.loc[dup, ["line", "group", "seq", "source"]].itertuples(index=False):
            key = (g, s, src)
            if key in first:
                self.error(rel, int(ln), "seq", _fmt(s), f"is used twice for group {g} in the same source "
                                                         f"(lines {first[key]} and {int(ln)})")
            else:
                first[key] = int(ln)


NOT_CHECKED = "not checked against a source text"


def unchecked_reason(source_key: str, src_file: str | None, sources_dir: Path | None) -> str:
    """Why a row's quote was not checked against a source text (ledger reason, status 'flagged')."""
    if not src_file:
        why = f"source '{source_key}' names no file"
    else:
        why = "quote checks are off (provenance.check_quotes_in_sources: false)"
    return f"validated: schema, vocabulary, number in quote; quote {NOT_CHECKED} ({why})"


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _clip(text: str, n: int = 60) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 3] + "..."


def study_folders(studies_dir: str | Path) -> list[Path]:
    """Study folders under ``studies_dir`` (or the folder itself when it holds a study.yaml)."""
    studies_dir = Path(studies_dir)
    if not studies_dir.is_dir():
        return []
    if (studies_dir / "study.yaml").exists():
        return [studies_dir]
    return sorted(p for p in studies_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


# Files a study folder may hold, besides the tables: file name -> schema (workflow/schemas/<schema>.schema.yaml).
# A reviewer/override file another stage reads belongs here, so that it is validated with the records (file,
# line and key in every error) and a misspelt name is an error instead of a file nobody reads.
OVERRIDE_FILES = {"appraisal.yaml": "appraisal"}
STUDY_FILES = ("study.yaml", *OVERRIDE_FILES, *(f"{t}.csv" for t in TABLES))
_DATA_SUFFIXES = (".csv", ".yaml", ".yml", ".tsv", ".xlsx", ".json")


def survey_files(studies_dir: Path, folders: list[Path], checker: "_Checker") -> None:
    """Name every entry under the studies folder that is not read: errors for what may hold data, warnings else."""
    rel = lambda p: _relative(p, checker.root)  # noqa: E731
    top = [] if folders == [studies_dir] else sorted(studies_dir.iterdir())
    for entry in top:
        if entry.name.startswith("."):
            if entry.is_dir():
                checker.error(rel(entry), None, None, None,
                              "is a hidden folder (its name starts with a dot) and would not be read; rename it to "
                              "its study id, or move it out of the studies folder")
            else:
                checker.warn(rel(entry), "hidden file, not read")
        elif not entry.is_dir():
            if entry.suffix.lower() in _DATA_SUFFIXES:
                checker.error(rel(entry), None, None, None,
                              "is a file where study folders are expected (resources/studies/<study_id>/"
                              f"{entry.name}?); records are read only from study folders")
            else:
                checker.warn(rel(entry), "not a study folder, not read")
    for folder in folders:
        for entry in sorted(folder.iterdir()):
            if entry.name in STUDY_FILES and (entry.is_file() or entry.is_symlink()):
                continue
            if entry.name.startswith(".") and not entry.is_dir():
                checker.warn(rel(entry), "hidden file, not read")
            elif entry.is_dir():
                checker.error(rel(entry), None, None, None,
                              "is a folder inside a study folder; a study folder holds only "
                              f"{', '.join(STUDY_FILES)}")
            elif entry.name in STUDY_FILES:
                checker.error(rel(entry), None, None, None, "cannot be read (not a regular file)")
            elif entry.suffix.lower() in _DATA_SUFFIXES or entry.name.lower() in {f.lower() for f in STUDY_FILES}:
                checker.error(rel(entry), None, None, entry.name,
                              unknown_message("file of a study folder", entry.name, list(STUDY_FILES))
                              + "; it would not be read")
            else:
                checker.warn(rel(entry), "not a record file, not read")


def load_records(
    studies_dir: str | Path,
    vocabulary_dir: str | Path | None = None,
    sources_dir: str | Path | None = None,
    root: str | Path | None = None,
    schema_dir: str | Path | None = None,
    tools_path: str | Path | None = None,
) -> Records:
    """Read and validate every study under ``studies_dir``.

    ``sources_dir`` is where the source files named in ``study.yaml`` live (``resources/sources``);
    when given, every quote whose source names a ``file`` must appear in it. A row whose quote is not
    checked (its source names no file, or ``sources_dir`` is None) is accepted but ``flagged`` in the
    ledger as "not checked against a source text", never silently trusted. ``root`` makes file names in
    messages and in the ``file`` column relative (default: the working directory, the project root).
    ``vocabulary_dir`` and ``schema_dir`` default to ``resources/vocabulary`` and ``workflow/schemas`` there.
    Raises :class:`RecordValidationError`.
    """
    root = Path(root) if root is not None else Path.cwd()
    vocab = load_vocabulary(vocabulary_dir or VOCABULARY_DIR)
    tools_path = Path(tools_path) if tools_path is not None else Path("resources") / "appraisal" / "tools.yaml"
    tools = inputs.yaml_data(tools_path.read_text(encoding="utf-8")) if tools_path.is_file() else None
    checker = _Checker(vocab, Path(sources_dir) if sources_dir else None, root, Path(schema_dir or SCHEMA_DIR), tools)
    studies: dict[str, dict] = {}
    parts: dict[str, list[pd.DataFrame]] = {t: [] for t in TABLES}
    folders = study_folders(studies_dir)
    if not folders:
        checker.error(str(studies_dir), None, None, None, "is not a folder holding study folders")
    else:
        survey_files(Path(studies_dir), folders, checker)
    for folder in folders:
        study = checker.check_study(folder)
        if study is None:
            continue
        studies[folder.name] = study
        frames = {}
        for table in TABLES:
            frame = checker.check_table(folder, table, study)
            frames[table] = frame
            if frame is not None:
                parts[table].append(frame)
        crosscheck.check_study(folder.name, study, frames, checker.error,
                               _relative(folder / "participants.csv", checker.root))
        for name, schema in OVERRIDE_FILES.items():
            if (folder / name).exists() or (folder / name).is_symlink():
                checker.check_override(folder, name, schema, study)
    if checker.errors:
        raise RecordValidationError(checker.errors)
    tables = {}
    for table in TABLES:
        cols = ["study", "file", "line", *checker.table_schemas[table]["properties"]]
        frame = pd.concat(parts[table], ignore_index=True) if parts[table] else pd.DataFrame(columns=cols)
        frame = frame[cols]
        tables[table] = frame.sort_values(["study", "line"], kind="stable").reset_index(drop=True)
    ledger = pd.concat(
        [t[["study", "file", "line", "source"]] for t in tables.values()], ignore_index=True
    ).assign(status="accepted", reason=VALIDATED)
    reasons = [checker.unchecked.get((f, int(ln))) for f, ln in zip(ledger["file"], ledger["line"])]
    unchecked = pd.Series([r is not None for r in reasons], index=ledger.index, dtype=bool)
    ledger.loc[unchecked, "status"] = "flagged"
    ledger.loc[unchecked, "reason"] = [r for r in reasons if r is not None]
    curator_keys = {(sid, key) for sid, s in studies.items() for key, src in (s.get("sources") or {}).items()
                    if isinstance(src, dict) and src.get("kind") == CURATOR_NOTE}
    curator = [(s, k) in curator_keys for s, k in zip(ledger["study"], ledger["source"])]
    ledger.loc[curator, "reason"] = ledger.loc[curator, "reason"] + "; " + CURATOR_NOTE_REASON
    derived = pd.concat([t["derived"] if "derived" in t else pd.Series("", index=t.index, dtype=object)
                         for t in tables.values()], ignore_index=True).fillna("").astype(str)
    ledger.loc[derived.ne("").to_numpy(), "reason"] = ledger.loc[derived.ne("").to_numpy(), "reason"] + (
        "; " + DERIVED_REASON + ": " + derived[derived.ne("")]).to_numpy()
    ledger = ledger.drop(columns="source")
    if checker.warnings:
        ledger = pd.concat([ledger, _unread_files(checker)], ignore_index=True)
    return Records(studies=studies, tables=tables, ledger=ledger,
                   warnings=[f"{file}: {why}" for file, why in checker.warnings])


def _unread_files(checker: _Checker) -> pd.DataFrame:
    """Ledger rows (line 0: the whole file) for the files under the studies folder that were not read."""
    rows = []
    for file, why in checker.warnings:
        parts = Path(file).parts
        study = parts[-2] if len(parts) >= 2 and not parts[-2].startswith(".") and parts[-2] != "studies" else ""
        rows.append({"study": study, "file": file, "line": 0, "status": "excluded", "reason": why})
    return pd.DataFrame(rows, columns=["study", "file", "line", "status", "reason"])


def report_warnings(records: Records) -> None:
    """Name the files under the studies folder that were not read (also ledger rows), on stderr and the terminal."""
    for warning in records.warnings:
        print(f"warning: {warning}", file=sys.stderr)
        if sys.stderr is not sys.__stderr__:
            print(f"warning: {warning}", file=sys.__stderr__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evsynth.ingest.records", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate study folders and print every problem")
    check.add_argument("path", nargs="?", default="resources/studies")
    check.add_argument("--sources", default="resources/sources")
    check.add_argument("--vocabulary", default=str(VOCABULARY_DIR))
    check.add_argument("--schemas", default=str(SCHEMA_DIR))
    args = parser.parse_args(argv)
    sources = Path(args.sources)
    if not sources.is_dir():
        print(f"warning: sources folder {sources} not found; quotes are not checked against source files",
              file=sys.stderr)
        sources = None
    try:
        records = load_records(args.path, args.vocabulary, sources, root=Path.cwd(), schema_dir=args.schemas)
    except RecordValidationError as exc:
        print(exc, file=sys.stderr)
        return 1
    report_warnings(records)
    counts = {t: len(f) for t, f in records.tables.items()}
    print(f"ok: {len(records.studies)} stud{'y' if len(records.studies) == 1 else 'ies'}; rows: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
