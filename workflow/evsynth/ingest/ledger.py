"""The ledger: one row per input row (study, file, line) with its status and every reason it carries.

Each stage that reads record rows writes a partial ledger (validation, harmonization, ...);
:func:`build_ledger` joins them so nothing is dropped without a reason.
"""

from __future__ import annotations

import pandas as pd

STATUS_ORDER = {"accepted": 0, "converted": 1, "flagged": 2, "excluded": 3}


def build_ledger(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Join partial ledgers on (study, file, line): the worst status wins, reasons are joined with ' | '."""
    frame = pd.concat([p[["study", "file", "line", "status", "reason"]] for p in parts], ignore_index=True)
    frame["rank"] = frame["status"].map(STATUS_ORDER).fillna(len(STATUS_ORDER))
    frame = frame.sort_values(["study", "file", "line", "rank"], kind="stable")
    grouped = frame.groupby(["study", "file", "line"], sort=True, dropna=False)
    out = grouped.agg(
        status=("status", "last"),
        reason=("reason", lambda r: " | ".join(dict.fromkeys(str(x) for x in r if str(x) != "nan"))),
    ).reset_index()
    return out


def ledger_part(frame: pd.DataFrame, status: str, reason: pd.Series | str) -> pd.DataFrame:
    """A partial ledger (study, file, line, status, reason) for the input rows behind ``frame`` (rows without
    a record line, e.g. derived ones, are not input rows and are left out)."""
    part = frame[["study", "file", "line"]].copy()
    part["status"] = status
    part["reason"] = reason
    part = part.loc[part["line"].astype(str).str.fullmatch(r"\d+(\.0)?")]
    part["line"] = part["line"].astype(float).astype(int)
    return part


def quote_checks(ledger: pd.DataFrame) -> pd.DataFrame:
    """Per study: record rows, quotes checked against a source text and quotes not checked (with why).

    A row is "not checked" when its ledger reason says so (see :func:`evsynth.ingest.records.unchecked_reason`);
    the last row (``study`` = ``all``) totals the corpus, so the report can say how much rests on unchecked quotes.
    """
    from evsynth.ingest.records import NOT_CHECKED

    frame = ledger.assign(unchecked=ledger["reason"].astype(str).str.contains(NOT_CHECKED, regex=False))
    why = frame["reason"].astype(str).str.extract(rf"quote {NOT_CHECKED} \(([^)]*)\)", expand=False)
    frame = frame.assign(why=why.where(frame["unchecked"], ""))
    rows = []
    for study, g in frame.groupby("study", sort=True):
        rows.append({"study": study, "rows": len(g), "quotes_checked": int((~g["unchecked"]).sum()),
                     "quotes_not_checked": int(g["unchecked"].sum()),
                     "why_not_checked": "; ".join(sorted(set(g.loc[g["unchecked"], "why"])))})
    rows.append({"study": "all", "rows": len(frame), "quotes_checked": int((~frame["unchecked"]).sum()),
                 "quotes_not_checked": int(frame["unchecked"].sum()),
                 "why_not_checked": "; ".join(sorted(set(frame.loc[frame["unchecked"], "why"])))})
    return pd.DataFrame(rows, columns=["study", "rows", "quotes_checked", "quotes_not_checked", "why_not_checked"])
