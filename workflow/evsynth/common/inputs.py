"""Reading the files a person edits (records, reviewer files, config): every problem names file, line and key.

- :func:`read_text`: UTF-8 text. A UTF-8 byte-order mark is accepted and dropped; a UTF-16/32 byte-order mark
  or a byte that is not UTF-8 is a :class:`Problem` naming the line (and the character), the encoding expected
  and, where the bytes read as Windows-1252/Latin-1, what the character probably was.
- :func:`load_yaml`: a YAML document checked against a JSON schema (``workflow/schemas/*.schema.yaml``). Syntax
  errors, tags safe loading refuses (``!!python/object``), keys given twice and schema violations each come back
  as a :class:`Problem` with the line of the offending key, the dotted key path and, for an unknown key or a
  value outside an ``enum``, the closest allowed one. Reuse it for any new override file: write its schema in
  ``workflow/schemas/`` and call ``load_yaml(path, schema="<name>")``.

Nothing here raises on bad input; callers collect the problems (all at once) and raise their own error, or
raise :class:`InputError`, which the workflow steps report as one clean message (no traceback).
"""

from __future__ import annotations

import codecs
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# Found from the project folder (the working directory), like the records' schemas: a non-editable install
# ships no project files.
SCHEMA_DIR = Path("workflow") / "schemas"


class InputError(ValueError):
    """A problem in a file a person wrote (record, reviewer file, config): the message says where and what."""


@dataclass(frozen=True)
class Problem:
    """One problem in one place, shown as ``file, line N, key K: 'value' <what was expected>`` (``column C`` for
    a CSV file's column). The one problem type of every file a person edits: records, reviewer files, config."""

    file: str
    line: int | None
    key: str | None  # the YAML key path or config key, or the CSV column
    value: object
    expected: str

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.key:
            where.append(f"{'column' if str(self.file).lower().endswith('.csv') else 'key'} {self.key}")
        shown = "" if self.value is None or self.value == "" else f"'{self.value}' "
        return f"{', '.join(where)}: {shown}{self.expected}"


_FOREIGN_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                 (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def read_text(path: str | Path, shown: str | None = None) -> tuple[str | None, Problem | None]:
    """The file's text, or ``(None, problem)``: unreadable, a UTF-16/32 file, or a byte that is not UTF-8."""
    shown = shown or str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, Problem(shown, None, None, None, f"cannot be read: {exc.strerror or exc}")
    for bom, name in _FOREIGN_BOMS:
        if data.startswith(bom):
            return None, Problem(shown, 1, None, None, f"starts with a {name} byte-order mark; save it as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]  # a UTF-8 byte-order mark (spreadsheet export) is accepted
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start]
        guess = ""
        try:
            char = bytes([byte]).decode("cp1252")
            guess = f" (in Windows-1252/Latin-1 it would be '{char}')"
        except UnicodeDecodeError:
            pass
        return None, Problem(shown, line, None, None,
                             f"byte 0x{byte:02x} at character {column} is not UTF-8{guess}; the expected encoding "
                             "is UTF-8: save the file as UTF-8")


# -- YAML with lines ------------------------------------------------------------------------------

@dataclass
class YamlDocument:
    """A parsed YAML file: ``data`` (None when it could not be read), its ``problems`` and key lines."""

    file: str
    data: object = None
    problems: list[Problem] = field(default_factory=list)
    lines: dict[tuple, int] = field(default_factory=dict)

    def line_of(self, *path) -> int | None:
        """Line of the deepest key of ``path`` that exists (1-based), None for an empty file."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    @property
    def ok(self) -> bool:
        return not self.problems


def _walk(node, path: tuple, lines: dict, dups: list) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                dups.append((path + (key,), seen[key], line))
            seen.setdefault(key, line)
            lines[path + (key,)] = line
            _walk(value_node, path + (key,), lines, dups)
            lines[path + (key,)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines, dups)


def _dotted(path) -> str:
    return ".".join(str(p) for p in path)


def _yaml_problem(shown: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}: {problem}" if context else problem
    start = getattr(exc, "context_mark", None)
    if start is not None and mark is not None and start.line != mark.line:
        text += f" (it starts on line {start.line + 1})"
    if isinstance(exc, yaml.constructor.ConstructorError):
        text += " (only plain YAML is read: mappings, lists, text, numbers, true/false; no tags)"
    return Problem(shown, mark.line + 1 if mark else None, None, None, f"is not valid YAML: {text}")


def parse_yaml(text: str, shown: str) -> YamlDocument:
    """Parse YAML text (safe loading) into a :class:`YamlDocument` with key lines and duplicate-key problems."""
    doc = YamlDocument(file=shown)
    try:
        node = _compose(text)
    except yaml.YAMLError as exc:
        doc.problems.append(_yaml_problem(shown, exc))
        return doc
    if node is None:
        return doc
    dups: list = []
    _walk(node, (), doc.lines, dups)
    for path, first, again in dups:
        doc.problems.append(Problem(shown, again, _dotted(path), None,
                                    f"is given twice (lines {first} and {again}); YAML keeps only the last, "
                                    "so keep one"))
    try:
        doc.data = yaml_data(text)
    except yaml.YAMLError as exc:
        doc.problems.append(_yaml_problem(shown, exc))
        doc.data = None
    return doc


# libyaml's parser where PyYAML was built with it (the wheels are): the same nodes and objects as
# yaml.SafeLoader, several times faster; every job and Snakemake's parse of the workflow read YAML.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str):
    """The YAML node tree of a text (line numbers of keys), read as :func:`yaml_data` reads it."""
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return yaml.compose(text, Loader=yaml.SafeLoader)


def yaml_data(text: str):
    """The objects of a YAML text, as ``yaml.safe_load``; the one place the package parses YAML.

    Read with libyaml where available; a text libyaml refuses is parsed again by the pure-Python parser,
    so an error names the same line, column and problem either way."""
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return yaml.safe_load(text)


def load_schema(name_or_path: str | Path | dict) -> dict:
    """A schema by name (``appraisal`` -> ``workflow/schemas/appraisal.schema.yaml``), by path, or as given."""
    if isinstance(name_or_path, dict):
        return name_or_path
    path = Path(name_or_path)
    if not path.suffix:
        path = SCHEMA_DIR / f"{name_or_path}.schema.yaml"
    return yaml_data(path.read_text(encoding="utf-8"))


def closest(value, allowed) -> str | None:
    """The allowed value closest to ``value``: the same letters in another case first, else difflib; or None."""
    lowered: dict[str, str] = {}
    for a in allowed:
        lowered.setdefault(str(a).lower(), str(a))
    key = str(value).lower()
    if key in lowered:
        return lowered[key]
    match = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.0)
    return lowered[match[0]] if match else None


def _allowed_text(allowed) -> str:
    allowed = [str(a) for a in allowed]
    listing = ", ".join(allowed[:15]) + (", ..." if len(allowed) > 15 else "")
    return f"(allowed: {listing})"


def schema_problems(data, schema: dict, shown: str, line_of=None, prefix: tuple = (), locate=None) -> list[Problem]:
    """Every violation of ``schema`` by ``data`` as a :class:`Problem` with line, key path, value and hint.

    ``line_of(*path)`` gives a key's line; or ``locate(path) -> (file, line)`` when the keys of ``data`` come
    from several files (a config merged from config files and ``--config``).
    """
    if locate is None:
        line_of = line_of or (lambda *path: None)
        locate = lambda path: (shown, line_of(*path))  # noqa: E731
    import jsonschema  # ~0.2 s: loaded by the jobs that check a document against a schema

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        problems.extend(_explain(err, locate, prefix))
    # jsonschema raises one 'required' error per missing key, and each names the whole list: report each once.
    return list({str(p): p for p in problems}.values())


def _explain(err, locate, prefix: tuple) -> list[Problem]:
    path = tuple(err.absolute_path)
    key = _dotted(prefix + path) or None
    shown, line = locate(path)
    value = err.instance if not isinstance(err.instance, (dict, list)) else None
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted((err.schema.get("properties") or {}))
        extras = [k for k in err.instance if k not in allowed]
        out = []
        for extra in extras:
            hint = closest(extra, allowed)
            out.append(Problem(*locate(path + (extra,)), _dotted(prefix + path + (extra,)), None,
                               f"is not a known key{f'; did you mean {hint!r}?' if hint else ''} "
                               f"{_allowed_text(allowed)}"))
        return out
    if err.validator == "enum":
        hint = closest(err.instance, err.validator_value)
        return [Problem(shown, line, key, value,
                        f"is not one of the allowed values{f'; did you mean {hint!r}?' if hint else ''} "
                        f"{_allowed_text(err.validator_value)}")]
    if err.validator == "required":
        missing = [k for k in err.validator_value if isinstance(err.instance, dict) and k not in err.instance]
        return [Problem(shown, line, _dotted(prefix + path + (m,)), None, "is required but missing")
                for m in missing] or [Problem(shown, line, key, None, err.message)]
    if err.validator == "type":
        wanted = [err.validator_value] if isinstance(err.validator_value, str) else list(err.validator_value)
        said = " or ".join(_TYPE_WORDS.get(w, w) for w in wanted)
        if isinstance(err.instance, (dict, list)):
            return [Problem(shown, line, key, None, f"is {_TYPE_WORDS[_type_of(err.instance)]}; it must be {said}")]
        return [Problem(shown, line, key, value, f"must be {said}")]
    bounds = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
              "exclusiveMaximum": "less than"}
    if err.validator in bounds:
        return [Problem(shown, line, key, value, f"must be {bounds[err.validator]} {err.validator_value}")]
    if err.validator == "pattern":
        return [Problem(shown, line, key, value, f"must match the pattern {err.validator_value}")]
    return [Problem(shown, line, key, value, err.message)]


_TYPE_WORDS = {"object": "a mapping (key: value lines)", "array": "a list", "string": "text", "number": "a number",
               "integer": "a whole number", "boolean": "true or false", "null": "empty"}


def _type_of(value) -> str:
    return "object" if isinstance(value, dict) else "array"


def load_yaml(path: str | Path, schema: str | Path | dict | None = None, shown: str | None = None) -> YamlDocument:
    """Read ``path`` as UTF-8 YAML and, when ``schema`` is given, check it; problems carry file, line and key."""
    shown = shown or str(path)
    text, problem = read_text(path, shown)
    if problem is not None:
        return YamlDocument(file=shown, problems=[problem])
    doc = parse_yaml(text, shown)
    if schema is not None and doc.data is not None and not doc.problems:
        doc.problems.extend(schema_problems(doc.data, load_schema(schema), shown, doc.line_of))
    return doc
