"""What changed since a previous run (config key ``compare_to``): pooled estimates, certainty ratings and
discrepancies that changed, appeared or disappeared, and why.

Every run writes :func:`input_manifest` (``results/tables/run_inputs.csv``): a SHA-256 of each study folder,
vocabulary file and source text, and of each part of the config (every analysis on its own). Comparing two
manifests says *why* a result moved: studies added or removed, a study's records changed, the vocabulary or a
source text changed, or the config changed (which key). :func:`compare_runs` matches the rows of each compared
table on its key columns and reports, per row, the fields that differ at the precision the Markdown tables print
(4 significant digits), so a difference in the 16th digit is not news.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from evsynth.common.io import write_csv, write_markdown

#: Tables compared, their key columns and the fields whose change is reported (those present in both runs).
COMPARED = {
    "pooled.csv": {
        "what": "pooled estimate",
        "key": ["analysis", "subgroup", "variant"],
        "fields": ["k", "n", "estimate_bt", "ci_lb_bt", "ci_ub_bt", "i2", "studies", "converged"],
    },
    "summary_of_findings.csv": {
        "what": "certainty rating",
        "key": ["outcome", "population"],
        "fields": ["certainty", "k", "patients", "estimate", "ci_lb", "ci_ub", "downgrades", "studies"],
    },
    "discrepancies.csv": {
        "what": "discrepancy",
        "key": ["study", "group", "quantity", "timepoint", "source_a", "source_b", "kind"],
        "fields": ["value_a", "value_b"],
    },
}
COLUMNS = ["table", "what", "key", "change", "field", "before", "after", "why"]
IGNORED_CONFIG_KEYS = {"compare_to"}  # where to compare with is not an analysis choice


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _config_digest(value) -> str:
    return _digest(json.dumps(value, sort_keys=True, default=str).encode())


def input_manifest(studies_dir, vocabulary_dir, sources_dir, config: dict) -> pd.DataFrame:
    """One row per input (kind, name, sha256): study folders, vocabulary files, source texts, config parts."""
    rows = []
    for folder in sorted(p for p in Path(studies_dir).iterdir() if p.is_dir() and not p.name.startswith(".")):
        rows.append(("study", folder.name, _folder_digest(folder)))
    for path in sorted(Path(vocabulary_dir).glob("*.yaml")):
        rows.append(("vocabulary", path.name, _digest(path.read_bytes())))
    if sources_dir and Path(sources_dir).is_dir():
        for path in sorted(p for p in Path(sources_dir).iterdir() if p.is_file()):
            rows.append(("source", path.name, _digest(path.read_bytes())))
    for key in sorted(config):
        if key in IGNORED_CONFIG_KEYS:
            continue
        if key == "analyses":
            for name in sorted(config[key] or {}):
                rows.append(("config", f"analyses.{name}", _config_digest(config[key][name])))
        else:
            rows.append(("config", key, _config_digest(config[key])))
    return pd.DataFrame(rows, columns=["kind", "name", "sha256"])


def _manifest_changes(before: pd.DataFrame | None, after: pd.DataFrame) -> dict[str, dict[str, str]]:
    """kind -> name -> 'added' | 'removed' | 'changed' between two manifests."""
    out: dict[str, dict[str, str]] = {}
    if before is None:
        return out
    b = dict(zip(zip(before["kind"], before["name"]), before["sha256"]))
    a = dict(zip(zip(after["kind"], after["name"]), after["sha256"]))
    for key in sorted(set(a) | set(b)):
        state = "added" if key not in b else "removed" if key not in a else "changed" if a[key] != b[key] else None
        if state:
            out.setdefault(key[0], {})[key[1]] = state
    return out


def _studies_of(row: pd.Series) -> set[str]:
    """Study ids named in a row (its 'studies' cell like 'deng2017 (msc);wang2014 (all)', or its 'study')."""
    if "study" in row and isinstance(row["study"], str):
        return {row["study"]}
    cell = row.get("studies")
    if not isinstance(cell, str):
        return set()
    return {part.strip().split(" ")[0] for part in cell.split(";") if part.strip()}


def _why(row_before: pd.Series | None, row_after: pd.Series | None, changes: dict, has_manifest: bool) -> str:
    """The input changes that bear on one row: its studies added/removed/changed, its analysis' config."""
    reasons = []
    before = _studies_of(row_before) if row_before is not None else set()
    after = _studies_of(row_after) if row_after is not None else set()
    if after - before and row_before is not None:
        reasons.append("studies added: " + ", ".join(sorted(after - before)))
    if before - after and row_after is not None:
        reasons.append("studies dropped: " + ", ".join(sorted(before - after)))
    study_changes = changes.get("study", {})
    for state in ("added", "removed", "changed"):
        ids = sorted(s for s in before | after if study_changes.get(s) == state)
        if ids:
            label = {"added": "new study records", "removed": "study records removed",
                     "changed": "records changed"}[state]
            reasons.append(f"{label}: " + ", ".join(ids))
    row = row_after if row_after is not None else row_before
    analysis = row.get("analysis") if row is not None else None
    config = changes.get("config", {})
    if isinstance(analysis, str) and f"analyses.{analysis}" in config:
        reasons.append(f"config changed: analyses.{analysis} ({config[f'analyses.{analysis}']})")
    shared = sorted(k for k in config if not k.startswith("analyses."))
    if shared:
        reasons.append("config changed: " + ", ".join(shared))
    for kind, label in (("vocabulary", "vocabulary changed"), ("source", "source texts changed")):
        if changes.get(kind):
            reasons.append(f"{label}: " + ", ".join(sorted(changes[kind])))
    if not has_manifest:
        reasons.append("the previous run has no run_inputs.csv, so input changes cannot be named")
    return "; ".join(reasons) if reasons else "no input change found (software or code changed?)"


def _shown(value) -> str:
    """A cell as compared and shown: floats at 4 significant digits, missing as empty."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, dtype=object, keep_default_na=False).map(_number) if path.is_file() else None


def _number(cell: str):
    try:
        return float(cell) if cell not in ("", "True", "False") else cell
    except ValueError:
        return cell


def compare_table(name: str, before: pd.DataFrame, after: pd.DataFrame, changes: dict,
                  has_manifest: bool) -> list[dict]:
    """Rows of one table that changed, appeared or disappeared between two runs."""
    spec = COMPARED[name]
    key = [c for c in spec["key"] if c in before.columns and c in after.columns]
    fields = [c for c in spec["fields"] if c in before.columns and c in after.columns]
    out = []

    def keyed(frame):
        return {tuple(_shown(v) for v in row[key]): row for _, row in frame.iterrows()}

    b, a = keyed(before), keyed(after)
    for k in sorted(set(a) | set(b)):
        label = " / ".join(part for part in k if part)
        base = {"table": name.removesuffix(".csv"), "what": spec["what"], "key": label}
        if k not in b:
            out.append({**base, "change": "appeared", "field": "", "before": "",
                        "after": "; ".join(f"{f}={_shown(a[k][f])}" for f in fields),
                        "why": _why(None, a[k], changes, has_manifest)})
        elif k not in a:
            out.append({**base, "change": "disappeared", "field": "",
                        "before": "; ".join(f"{f}={_shown(b[k][f])}" for f in fields), "after": "",
                        "why": _why(b[k], None, changes, has_manifest)})
        else:
            differ = [f for f in fields if _shown(b[k][f]) != _shown(a[k][f])]
            for f in differ:
                out.append({**base, "change": "changed", "field": f, "before": _shown(b[k][f]),
                            "after": _shown(a[k][f]), "why": _why(b[k], a[k], changes, has_manifest)})
    return out


def compare_runs(previous_dir, current: dict[str, str], manifest: pd.DataFrame) -> pd.DataFrame:
    """Compare this run's tables (``current``: file name -> path) with those in ``previous_dir``.

    A table present in only one run is one row ('not in the previous run' / 'not in this run'); the first
    rows say which inputs changed overall, so the report reads top-down: why, then what.
    """
    previous_dir = Path(previous_dir)
    if not previous_dir.is_dir():
        raise FileNotFoundError(f"config key compare_to: '{previous_dir}' is not a folder holding a previous "
                                "run's results/tables")
    path = previous_dir / "run_inputs.csv"
    old_manifest = pd.read_csv(path, dtype=str, keep_default_na=False) if path.is_file() else None
    has_manifest = old_manifest is not None
    changes = _manifest_changes(old_manifest, manifest.astype(str))
    rows = []
    for kind in ("study", "config", "vocabulary", "source"):
        for name, state in sorted(changes.get(kind, {}).items()):
            rows.append({"table": "inputs", "what": kind, "key": name, "change": state, "field": "", "before": "",
                         "after": "", "why": ""})
    for name in COMPARED:
        before = _read(previous_dir / name)
        after = _read(Path(current[name])) if name in current else None
        if before is None and after is None:
            continue
        if before is None or after is None:
            rows.append({"table": name.removesuffix(".csv"), "what": COMPARED[name]["what"], "key": "(table)",
                         "change": "appeared" if before is None else "disappeared", "field": "", "before": "",
                         "after": "", "why": "not in the previous run" if before is None else "not in this run"})
            continue
        rows.extend(compare_table(name, before, after, changes, has_manifest))
    return pd.DataFrame(rows, columns=COLUMNS)


def write_changes(table: pd.DataFrame, csv_path, md_path, previous_dir) -> None:
    """changes.csv and changes.md (with a one-line summary of what changed)."""
    write_csv(table, csv_path)
    counts = table[table["table"] != "inputs"].groupby("change").size().to_dict()
    summary = ", ".join(f"{n} {c}" for c, n in sorted(counts.items())) or "nothing changed"
    write_markdown(table, md_path, "What changed since the previous run",
                   f"Compared with `{previous_dir}`: {summary}. Values at 4 significant digits.")
