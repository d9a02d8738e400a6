"""Overall judgement per study and tool (bias_overall.csv and the checklist's overall rows).

* RoB 2: any domain high -> high; all low -> low; otherwise some concerns (so "no information" is never low).
* ROBINS-I: any critical -> critical; else any serious -> serious; all low -> low; else any no information ->
  no information; else moderate. ``high_risk`` = serious or critical.
* Murad / JBI: ``overall_no_items_high`` or more items judged "no" -> high, whatever the rest; otherwise the
  share of "yes" among items judged (items "not applicable" left out; "unclear" counts against):
  >= ``overall_yes_share_low`` with no item judged "no" -> low; >= ``overall_yes_share_concerns`` -> some
  concerns; below -> high (tools.yaml ``settings``; our convention, not Murad's or JBI's). So a study with
  several high-risk items never ranks above one with fewer. ``high_risk`` = high.
* none: not applicable, never high risk.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from evsynth.appraise.tools import OVERALL_ITEM

#: judgement words of every tool -> robvis colour category (plots and the forest plots' risk-of-bias column)
CATEGORY = {
    "yes": "low", "no": "high", "unclear": "unclear", "not applicable": "not_applicable",
    "low": "low", "some concerns": "some_concerns", "moderate": "some_concerns", "high": "high",
    "serious": "high", "critical": "critical", "no information": "no_information",
}


def overall_scale(tools: dict, tool: str) -> list[str]:
    """The judgements an overall row of ``tool`` may take."""
    if tool in ("murad", "jbi_case_series", "jbi_case_report") or tools["tools"][tool]["judgements"][0] == "yes":
        return ["low", "some concerns", "high"]
    if tool == "none":
        return ["not applicable"]
    return list(tools["tools"][tool]["judgements"])


def overall_rule(tool: str, judgements: list[str], settings: Mapping) -> tuple[str, str]:
    """The derived overall judgement of one study and tool from its item judgements, and why."""
    js = list(judgements)
    if tool == "none":
        return "not applicable", "Not appraised (systematic review)."
    if tool == "rob2":
        if "high" in js:
            return "high", "At least one domain at high risk."
        if js and all(j == "low" for j in js):
            return "low", "All domains at low risk."
        return "some concerns", "No domain high, not all low (some concerns or no information)."
    if tool == "robins_i":
        for level in ("critical", "serious"):
            if level in js:
                return level, f"At least one domain at {level} risk."
        if js and all(j == "low" for j in js):
            return "low", "All domains at low risk."
        if "no information" in js:
            return "no information", "No domain serious or critical; information lacking in at least one."
        return "moderate", "Low or moderate in all domains."
    judged = [j for j in js if j != "not applicable"]
    if not judged:
        return "some concerns", "No item could be judged."
    share = sum(j == "yes" for j in judged) / len(judged)
    lo = float(settings["overall_yes_share_low"])
    mid = float(settings["overall_yes_share_concerns"])
    cap = int(settings["overall_no_items_high"])
    n_yes, n_no = sum(j == "yes" for j in judged), sum(j == "no" for j in judged)
    why = f"{n_yes} of {len(judged)} items judged yes ({share:.0%}), {n_no} judged no;"
    # items judged "no" are flaws the share of "yes" must not average away: `cap` or more of them make the
    # study high whatever its share, and any one rules out low (tools.yaml settings; our convention)
    if n_no >= cap:
        return "high", f"{why} {n_no} items judged no (high risk) >= {cap}."
    if share >= lo and n_no == 0:
        return "low", f"{why} >= {lo:.0%} and none judged no."
    if share >= mid:
        return "some concerns", (f"{why} >= {mid:.0%}" + (f" and < {lo:.0%}." if share < lo else
                                                          "; not low: an item judged no."))
    return "high", f"{why} < {mid:.0%}."


def overall_judgements(checklist: pd.DataFrame, settings: Mapping) -> pd.DataFrame:
    """Overall judgement per study and tool: DataFrame(study, tool, overall, high_risk, source, rationale).

    A reviewer's ``overall`` row wins; otherwise :func:`overall_rule` with the thresholds of tools.yaml
    ``settings`` (pass ``tools["settings"]``). ``high_risk`` is True for RoB 2 high, ROBINS-I serious or
    critical, Murad/JBI high.
    """
    columns = ["study", "tool", "overall", "high_risk", "source", "rationale"]
    if checklist.empty:
        return pd.DataFrame(columns=columns)
    # One pass over plain lists (a pandas selection per study cost about 1.5 ms each: 6,561 studies took 4 s);
    # groups in the order of groupby(["study", "tool"], sort=True), rows in their order within each group.
    studies, tools = checklist["study"].tolist(), checklist["tool"].tolist()
    items, judgements = checklist["item"].tolist(), checklist["judgement"].tolist()
    sources = checklist["source"].tolist()
    rationales = checklist["rationale"].tolist() if "rationale" in checklist.columns else [None] * len(studies)
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(zip(studies, tools)):
        if not (pd.isna(key[0]) or pd.isna(key[1])):  # as groupby drops missing keys
            groups.setdefault(key, []).append(i)
    rows = []
    for (sid, tool) in sorted(groups):
        at = groups[(sid, tool)]
        reviewer = next((i for i in at if items[i] == OVERALL_ITEM and sources[i] == "reviewer"), None)
        if reviewer is not None:
            overall, source, why = judgements[reviewer], "reviewer", rationales[reviewer]
        else:
            overall, why = overall_rule(tool, [judgements[i] for i in at if items[i] != OVERALL_ITEM], settings)
            source = "derived"
        high = overall in ("high", "serious", "critical")
        rows.append({"study": sid, "tool": tool, "overall": overall, "high_risk": bool(high),
                     "source": source, "rationale": why})
    return pd.DataFrame(rows, columns=columns)
