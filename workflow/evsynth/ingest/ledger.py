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
    grouped = frame.groupby(["study", "file", "line"], sort=True)
    out = grouped.agg(
        status=("status", "last"),
        reason=("reason", lambda r: " | ".join(dict.fromkeys(str(x) for x in r if str(x) != "nan"))),
    ).reset_index()
    return out
