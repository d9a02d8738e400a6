"""One source of truth per quantity: which record row the synthesis uses when several reports give it.

The records keep every report of a fact side by side (text and table, abstract and full text, a paper and
its update, the reviews that re-tabulate it). This step declares, for each study x group x quantity x
timepoint, the one row every summary, cumulative dose and analysis reads, why, and what it did not use.

Keys (one selected row per key; the other rows of the key are its alternatives):

* ``outcomes``: study, group, measure, metric, timepoint. All ``stat`` rows of the chosen report are kept
  together (an ``events`` and its ``n`` from one report: numerator and denominator never mixed); a
  statistic it lacks (e.g. the analysed n beside a table's mean and SD) comes from the next report that
  gives it, except for ``cumulative_measures``.
* ``adverse_events``: study, group, seriousness: every event row of the chosen report (patients with a
  serious event in an arm are counted from one report; another report's differently named events are its
  alternatives, listed but not added).
* ``interventions``: an administration is study, group, ``seq``: rows of several reports with the same
  ``seq`` describe one administration and count once. A summary row (``seq`` empty) is keyed by its
  ``summary`` kind and route: facts about administrations (a course total, a median, a range, a
  recommended regimen), never more administrations.
* ``participants``: study, group, subtype; each column is chosen on its own (the arm size from one report,
  the ages perhaps from another), and the selected table holds one merged row per key whose ``file`` and
  ``line`` are those of the row giving ``n`` (else the first-ranked row).
* ``cointerventions``: study, group, therapy, relation.

Ranking within a key: a reviewer's pin (``resources/studies/<id>/selection.yaml``) first; then a value a
source states before one the curator derived from several of its statements (a row with ``derived``); then
the kind of the row's source in ``source_preference`` order (config ``evidence.source_preference``); for measures in
``evidence.cumulative_measures`` a report giving both numerator and denominator before one giving only
one of them; then the first row in the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from evsynth.common.inputs import yaml_data

__all__ = [
    "ALTERNATIVE_SEPARATOR", "DEFAULT_PREFERENCE", "EVIDENCE_COLUMNS", "KEYS", "SelectionError", "alternatives",
    "load_pins", "select_evidence", "used_rows",
]

#: Default order of source kinds, most trusted first (config ``evidence.source_preference``).
DEFAULT_PREFERENCE = ["table", "text", "figure", "abstract", "registry", "curator_note", "secondary"]
DEFAULT_CUMULATIVE = ["death", "survival", "relapse"]

KEYS = {
    "outcomes": ["study", "group", "measure", "metric", "timepoint"],
    "adverse_events": ["study", "group", "serious"],
    "interventions": ["study", "group", "administration"],
    "participants": ["study", "group", "subtype"],
    "cointerventions": ["study", "group", "therapy", "relation"],
}
_META = {"study", "file", "line", "source", "quote", "note", "group", "derived"}
#: Between two alternatives in ``evidence.csv`` (values themselves may hold ';').
ALTERNATIVE_SEPARATOR = " | "
_ALTERNATIVE = re.compile(r"^(?P<value>.*) \[(?P<source>\S+) (?P<kind>\S+), (?P<file>.+):(?P<line>\d+)\]$")
EVIDENCE_COLUMNS = [
    "study", "table", "group", "quantity", "timepoint", "value", "source", "source_kind", "file", "line",
    "rule", "pinned", "alternatives", "differs",
]


class SelectionError(ValueError):
    """A reviewer's pin that does not match the records, said with the file and what was expected."""


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() in ("", "nan", "None", "<NA>")


def _text(v) -> str:
    if _blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def load_pins(studies_dir: str | Path, paths: list[str] | None = None) -> pd.DataFrame:
    """Reviewers' pins from ``<study>/selection.yaml``: table, group, quantity, timepoint, source, reason.

    Format::

        pins:
          - table: outcomes         # outcomes | adverse_events | interventions | participants | cointerventions
            group: all
            quantity: death         # measure, event, administration (seq or summary key), column, therapy
            timepoint: 5 years      # optional: the pin holds at every timepoint when absent
            source: EULAR2017       # a key of study.yaml sources
            reason: "why this report"
    """
    files = sorted(paths) if paths is not None else sorted(str(p) for p in Path(studies_dir).glob("*/selection.yaml"))
    rows = []
    for path in files:
        doc = yaml_data(Path(path).read_text(encoding="utf-8")) or {}
        pins = doc.get("pins")
        if not isinstance(pins, list):
            raise SelectionError(f"{path}: expected a list under 'pins', found {type(pins).__name__}")
        for k, pin in enumerate(pins, start=1):
            missing = [c for c in ("table", "group", "quantity", "source", "reason") if _blank((pin or {}).get(c))]
            if missing:
                raise SelectionError(f"{path}: pin {k} lacks {', '.join(missing)} (each pin needs table, group, "
                                     f"quantity, source and reason; timepoint is optional)")
            if pin["table"] not in KEYS:
                raise SelectionError(f"{path}: pin {k}: table {pin['table']!r} is not one of {sorted(KEYS)}")
            rows.append({"study": Path(path).parent.name, "pin_file": str(path), "pin": k,
                         **{c: _text(pin.get(c)) for c in ("table", "group", "quantity", "timepoint", "source",
                                                           "reason")}})
    return pd.DataFrame(rows, columns=["study", "pin_file", "pin", "table", "group", "quantity", "timepoint",
                                       "source", "reason"])


def _administration(iv: pd.DataFrame) -> pd.Series:
    """The administration key: ``seq`` for an administration, ``<summary>:<route>`` for a summary row."""
    seq = iv["seq"] if "seq" in iv else pd.Series(np.nan, index=iv.index)
    kind = iv["summary"] if "summary" in iv else pd.Series("", index=iv.index)
    kind = kind.where(~kind.map(_blank), "per_administration")
    route = iv["route"].map(lambda v: "unspecified" if _blank(v) else str(v)) if "route" in iv else "unspecified"
    return pd.Series(np.where(seq.map(_blank), "summary " + kind.astype(str) + ":" + route,
                              "seq " + seq.map(_text)), index=iv.index)


def _prepare(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    f = frame.copy()
    if name == "interventions":
        f["administration"] = _administration(f)
    for col in KEYS[name]:
        if col not in f:
            f[col] = ""
        f[col] = f[col].map(_text)
    return f


def _quantity(name: str, row: pd.Series, column: str | None = None) -> str:
    if name == "outcomes":
        metric = row.get("metric")
        return f"{row['measure']}" + (f" ({metric})" if not _blank(metric) and metric != "level" else "") + \
            f": {row['stat']}"
    if name == "adverse_events":
        return f"{row['event']}"
    if name == "interventions":
        return f"administration {row['administration']}"
    if name == "participants":
        return column + (f" ({row['subtype']})" if row.get("subtype") else "")
    return f"{row['therapy']}: {row['relation']}"


def _value(name: str, row: pd.Series) -> str:
    if name == "outcomes":
        if str(row.get("stat")) == "percent":  # a percent of the unit's count ("6% of patients"), not a count
            return _text(row["value"]) + "%" + ("" if _blank(row.get("unit")) else f" of {row['unit']}")
        unit = "" if _blank(row.get("unit")) else f" {row['unit']}"
        return _text(row["value"]) + unit
    if name == "adverse_events":
        return "; ".join(f"{c}={_text(row.get(c))}" for c in ("event", "serious", "n_patients", "n_events",
                                                              "n_at_risk") if not _blank(row.get(c)))
    if name == "interventions":
        parts = [_text(row.get("dose_text"))]
        if not _blank(row.get("count")):
            parts.append(f"count {_text(row['count'])}")
        if not _blank(row.get("route")):
            parts.append(str(row["route"]))
        return "; ".join(p for p in parts if p) or "(dose not stated)"
    return _text(row.get("timepoint"))


def _kind_rank(studies: dict, preference: list[str]):
    order = {k: i for i, k in enumerate(preference)}

    def rank(study: str, source) -> tuple[int, str]:
        src = ((studies.get(study) or {}).get("sources") or {}).get(str(source)) or {}
        kind = str(src.get("kind", "")) if isinstance(src, dict) else ""
        return order.get(kind, len(order)), kind
    return rank


def _pin_mask(pins: pd.DataFrame, name: str, frame: pd.DataFrame, quantity_of) -> tuple[pd.Series, pd.Series]:
    """Rows a pin selects, and the pin's reason per row (each pin compared with its own study's rows only)."""
    hit = pd.Series(False, index=frame.index)
    why = pd.Series("", index=frame.index, dtype=object)
    if pins is None or pins.empty:
        return hit, why
    wanted = pins.loc[pins["table"] == name].to_dict("records")
    if not wanted:
        return hit, why
    quantity, group, source = quantity_of(frame), frame["group"].map(_text), frame["source"].map(_text)
    timepoint = frame["timepoint"].map(_text) if "timepoint" in frame else None
    rows_of = frame.groupby("study", sort=False).indices  # study -> positions
    for pin in wanted:
        at = rows_of.get(pin["study"], np.array([], dtype=int))
        m = (group.iloc[at] == pin["group"]) & (source.iloc[at] == pin["source"]) \
            & (quantity.iloc[at] == pin["quantity"])
        if pin["timepoint"]:
            m &= timepoint.iloc[at] == pin["timepoint"] if timepoint is not None else False
        if not m.any():
            raise SelectionError(
                f"{pin['pin_file']}: pin {pin['pin']} (table {pin['table']}, group {pin['group']}, quantity "
                f"{pin['quantity']!r}, timepoint {pin['timepoint'] or 'any'}, source {pin['source']}) matches no "
                f"record row; expected a row of {pin['study']}/{name}.csv with that group, "
                f"{'measure' if name == 'outcomes' else 'key'} and source")
        labels = m.index[m.to_numpy()]
        hit[labels] = True
        why[labels] = f"pinned by reviewer ({pin['pin_file']}, pin {pin['pin']}): {pin['reason']}"
    return hit, why


def _pin_quantity(name: str):
    col = {"outcomes": "measure", "adverse_events": "event", "interventions": "administration",
           "cointerventions": "therapy"}.get(name)
    if col is None:
        return lambda f: pd.Series("", index=f.index)
    return lambda f: f[col].map(_text)


def _ranked(name: str, frame: pd.DataFrame, studies: dict, preference: list[str], cumulative: list[str],
            pins: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ranking columns: pinned, kind rank, completeness, line; sorted best first per key."""
    rank = _kind_rank(studies, preference)
    kinds = [rank(s, src) for s, src in zip(frame["study"], frame["source"])]
    f = frame.assign(_kind_rank=[k[0] for k in kinds], source_kind=[k[1] for k in kinds],
                     _line=pd.to_numeric(frame["line"], errors="coerce"))
    pinned, why = _pin_mask(pins, name, f, _pin_quantity(name))
    f["_pinned"], f["_pin_reason"] = pinned, why
    f["_derived"] = (f["derived"].map(lambda v: not _blank(v)) if "derived" in f
                     else pd.Series(False, index=f.index)).astype(int)
    f["_complete"] = 0
    if name == "outcomes" and len(f):
        keys = KEYS[name] + ["source"]
        stats = f.assign(_events=f["stat"].eq("events"), _n=f["stat"].eq("n")).groupby(keys)[["_events", "_n"]].any()
        complete = (~(stats["_events"] & stats["_n"])).astype(int).rename("_c")
        f = f.join(complete, on=keys)
        f["_complete"] = np.where(f["measure"].isin(cumulative), f["_c"], 0)
        f = f.drop(columns="_c")
    return f.sort_values(KEYS[name] + ["_pinned", "_derived", "_kind_rank", "_complete", "_line"],
                         ascending=[True] * len(KEYS[name]) + [False, True, True, True, True], kind="stable")


def _rule(best: pd.Series, preference: list[str], n_sources: int, cumulative: bool, derived_rows: bool = False) -> str:
    if best["_pinned"]:
        return best["_pin_reason"]
    if n_sources <= 1 and not (derived_rows and not best.get("_derived")):
        return "only report" + (f"; derived by the curator: {best['derived']}" if best.get("_derived") else "")
    rule = "a stated value before one derived from several statements; " if derived_rows else ""
    rule += f"source preference ({' > '.join(preference)}): {best['source_kind'] or 'unknown kind'}"
    if cumulative:
        rule += "; numerator and denominator from one report"
    return rule + "; first row on ties"


def _alternatives(rows: list[dict], value_of, exclude_source) -> tuple[str, list]:
    alts, values = [], []
    for r in rows:
        if _text(r["source"]) == exclude_source:
            continue
        v = value_of(r)
        alts.append(f"{v} [{r['source']} {r['source_kind'] or '?'}, {r['file']}:{_text(r['line'])}]")
        values.append(v)
    return ALTERNATIVE_SEPARATOR.join(alts), values


def _key_groups(f: pd.DataFrame, keys: list[str]) -> tuple[list[dict], list, list[range]]:
    """The rows of ``f`` (sorted by ``keys`` first, as :func:`_ranked` returns it) as dicts, their index labels,
    and the positions of each key's rows in key order: what ``f.groupby(keys, sort=True)`` iterates, in one pass
    of plain Python instead of a pandas frame per key (the cost stays linear and small as the corpus grows)."""
    rows = f.to_dict("records")
    key = list(zip(*(f[c].tolist() for c in keys)))
    runs, start = [], 0
    for i in range(1, len(key) + 1):
        if i == len(key) or key[i] != key[start]:
            runs.append(range(start, i))
            start = i
    return rows, f.index.tolist(), runs


def _select_rowwise(name: str, frame: pd.DataFrame, studies: dict, preference: list[str], cumulative: list[str],
                    pins: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Outcomes, adverse events, interventions, cointerventions: the chosen report's rows per key."""
    if frame.empty:
        return frame, []
    f = _ranked(name, _prepare(name, frame), studies, preference, cumulative, pins)
    rows, labels, runs = _key_groups(f, KEYS[name])
    keep, evidence = [], []
    for run in runs:
        g = [rows[i] for i in run]
        sources = [_text(r["source"]) for r in g]
        best = g[0]
        chosen = [k for k, src in enumerate(sources) if src == sources[0]]
        filled: set[int] = set()
        if name == "outcomes" and best["measure"] not in cumulative:
            # a statistic the preferred report lacks (e.g. its n) from the next report that gives it;
            # never for cumulative measures, whose numerator and denominator come from one report
            taken, stats = set(chosen), {g[k]["stat"] for k in chosen}
            for k, r in enumerate(g):
                if k not in taken and r["stat"] not in stats:
                    stats.add(r["stat"])  # the first row of each missing statistic
                    filled.add(k)
                    chosen.append(k)
        if name not in ("outcomes", "adverse_events") and not (
                name == "interventions" and str(best["administration"]).startswith("summary")):
            chosen = chosen[:1]  # one row per administration, event, therapy (a summary's facts stay together)
        keep += [labels[run[k]] for k in chosen]
        taken = set(chosen)
        others = [r for k, r in enumerate(g) if k not in taken]
        is_cum = name == "outcomes" and best["measure"] in cumulative
        rule = _rule(best, preference, len(set(sources)), is_cum, any(r["_derived"] for r in g))
        for k in chosen:
            r = g[k]
            rule_r = rule if k not in filled else (
                f"{rule}; {r['stat']} not in the preferred report ({best['source']}): from {r['source']}")
            same = others
            if name == "outcomes":
                same = [o for o in others if o["stat"] == r["stat"]]
            elif name == "adverse_events":
                same = [o for o in others if o["event"] == r["event"]] or others
            alts, values = _alternatives(same, lambda x: _value(name, x), "")
            value = _value(name, r)
            evidence.append({
                "study": r["study"], "table": name, "group": r["group"], "quantity": _quantity(name, r),
                "timepoint": _text(r.get("timepoint")), "value": value, "source": r["source"],
                "source_kind": r["source_kind"], "file": r["file"], "line": r["line"], "rule": rule_r,
                "pinned": bool(r["_pinned"]), "alternatives": alts,
                "differs": any(v != value for v in values),
            })
    selected = f.loc[sorted(keep)]
    return selected[list(frame.columns) + (["administration"] if name == "interventions" else [])], evidence


def _select_participants(frame: pd.DataFrame, studies: dict, preference: list[str],
                         pins: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """One merged row per (study, group, subtype): each column from its best-ranked row that gives it."""
    if frame.empty:
        return frame, []
    f = _ranked("participants", _prepare("participants", frame), studies, preference, [], None)
    value_cols = [c for c in frame.columns if c not in _META and c not in ("subtype",)]
    pinned_by: dict[tuple, dict] = {}  # (study, group, column) -> its first pin
    if pins is not None and len(pins):
        for pin in pins.loc[pins["table"] == "participants"].to_dict("records"):
            pinned_by.setdefault((pin["study"], pin["group"], pin["quantity"]), pin)
    rows, _, runs = _key_groups(f, KEYS["participants"])
    merged, evidence = [], []
    for run in runs:
        g = [rows[i] for i in run]
        key = (g[0]["study"], g[0]["group"])
        out = dict(g[0])
        anchor = g[0]
        for col in value_cols:
            has = [r for r in g if not _blank(r[col])]
            pin = pinned_by.get((*key, col))
            if pin is not None:
                pinned = [r for r in has if _text(r["source"]) == pin["source"]]
                if not pinned:
                    raise SelectionError(f"{pin['pin_file']}: pin {pin['pin']} (participants, group {pin['group']}, "
                                         f"column {col}, source {pin['source']}) matches no row giving {col}")
                reason = f"pinned by reviewer ({pin['pin_file']}, pin {pin['pin']}): {pin['reason']}"
                has = [{**r, "_pin_reason": reason, "_pinned": True} for r in pinned] + [
                    r for r in has if not any(r is p for p in pinned)]
            if not has:
                out[col] = np.nan if col != "condition" else out[col]
                continue
            best = has[0]
            out[col] = best[col]
            if col == "n":
                anchor = best
            value = _text(best[col])
            alts, values = _alternatives(has[1:], lambda x: _text(x[col]), "")
            evidence.append({
                "study": key[0], "table": "participants", "group": key[1],
                "quantity": _quantity("participants", best, col), "timepoint": "", "value": value,
                "source": best["source"], "source_kind": best["source_kind"], "file": best["file"],
                "line": best["line"], "rule": _rule(best, preference, len({_text(r["source"]) for r in has}), False,
                                                     any(r["_derived"] for r in has)),
                "pinned": bool(best["_pinned"]), "alternatives": alts, "differs": any(v != value for v in values),
            })
        for c in ("file", "line", "source", "quote", "note"):
            if c in out:
                out[c] = anchor[c]
        merged.append(out)
    sel = pd.DataFrame(merged, columns=list(f.columns))
    sel["subtype"] = sel["subtype"].where(sel["subtype"].map(lambda v: not _blank(v)), np.nan)
    return sel[list(frame.columns)].reset_index(drop=True), evidence


def select_evidence(tables: dict[str, pd.DataFrame], studies: dict, preference: list[str] | None = None,
                    cumulative_measures: list[str] | None = None,
                    pins: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """``(evidence, selected)``: the evidence table (:data:`EVIDENCE_COLUMNS`) and the record tables
    holding only the selected rows (interventions gain the ``administration`` key column)."""
    preference = list(preference or DEFAULT_PREFERENCE)
    cumulative = list(cumulative_measures if cumulative_measures is not None else DEFAULT_CUMULATIVE)
    selected, evidence = {}, []
    for name, frame in tables.items():
        if name == "participants":
            sel, ev = _select_participants(frame, studies, preference, pins)
        elif name in KEYS:
            sel, ev = _select_rowwise(name, frame, studies, preference, cumulative, pins)
        else:
            sel, ev = frame, []
        selected[name] = sel.reset_index(drop=True)
        evidence += ev
    table = pd.DataFrame(evidence, columns=EVIDENCE_COLUMNS)
    table["line"] = pd.to_numeric(table["line"], errors="coerce").astype("Int64")
    table = table.sort_values(["study", "table", "group", "quantity", "timepoint", "file", "line"], kind="stable")
    return table.reset_index(drop=True), selected


def alternatives(text) -> list[dict]:
    """The alternatives of an ``evidence.csv`` row as dicts: value, source, kind, file, line."""
    if _blank(text):
        return []
    out = []
    for part in str(text).split(ALTERNATIVE_SEPARATOR):
        m = _ALTERNATIVE.match(part)
        if m:
            out.append({**m.groupdict(), "line": int(m["line"])})
    return out


def used_rows(evidence: pd.DataFrame) -> set[tuple[str, int]]:
    """The (file, line) pairs of the rows the synthesis uses."""
    return {(str(f), int(ln)) for f, ln in zip(evidence["file"], evidence["line"]) if not pd.isna(ln)}
