"""Meta-analyses declared in config: records -> per-study effect sizes -> pooled rows.

metafor's separation is kept: :func:`analysis_dataset` plays ``escalc`` (one row per study arm or
comparison with ``yi, vi`` and every flag a sensitivity analysis needs), :func:`pool` plays ``rma``
(through :mod:`evsynth.stats`), and :func:`run_analysis` adds subgroups and sensitivity variants.

Effect measures (``effect`` in config):

- ``MC``: single-arm mean change from baseline (MSC arms). A reported change (mean, SD, n) is used as
  is (yi = mean change, vi = SD^2/n). Otherwise follow-up minus baseline means, with the change SD from
  the two SDs and the pre-post correlation ``r`` (metafor ``escalc("MC")``), flagged ``imputed``.
  Individual-level studies contribute one row: the mean and SD of their patients' changes (n >= 2).
- ``MD``: MSC arm minus comparator arm (change if both report it, else follow-up level).
- ``PLO``, ``PR``, ``PFT``: single-arm proportions (events / n) in MSC arms.
- ``OR``, ``RR``, ``RD``: MSC arm vs comparator arm, events / n.

Several MSC arms of one study against one comparator are combined into one arm (Cochrane Handbook
6.5.2.10: summed n, pooled mean and SD; summed events), so the comparator is not counted twice.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scipy.stats import norm

from evsynth.common.code import code_name
from evsynth.common.config import MULTIVERSE_KEYS, multiverse_spec  # noqa: F401  (the multiverse's params)
from evsynth.common.inputs import InputError
from evsynth.common.measures import codes, measure
from evsynth.describe.harms import patients_with_event
from evsynth.harmonize.imputation import impute_summary
from evsynth.stats import rma_many, rma_mh, subgroup_analysis
from evsynth.stats.effects import escalc

UNCONTROLLED = {"case_report", "case_series"}
POOLED_COLUMNS = [
    "analysis", "outcome", "measure", "subgroup", "variant", "k", "n", "estimate", "ci_lb", "ci_ub",
    "pi_lb", "pi_ub", "tau2", "i2", "q", "pval", "method", "test", "model", "scale", "estimate_bt", "ci_lb_bt",
    "ci_ub_bt", "pi_lb_bt", "pi_ub_bt", "se", "q_pval", "tau2_ci_lb", "tau2_ci_ub", "converged", "message",
    "uncontrolled_only", "designs", "definitions", "studies", "imputed_rows", "confounded_rows", "function", "spec",
]
#: The analysis choices a pooled row repeats in its ``spec`` column (with the analysis name, the row's
#: ``function`` and the config, any number is two hops from the code and the choice that made it).
SPEC_KEYS = ("effect", "method", "test", "level", "prepost_correlation", "imputation", "timepoint")


@dataclass(frozen=True)
class Corpus:
    """What analyses read: study metadata, record tables, harmonized outcomes, bias judgements.

    ``memo`` holds what is derived from these once and reused by every dataset built from the corpus (lookups
    by study and arm, each outcome's rows with summaries imputed): a multiverse or a set of sensitivity
    variants builds many datasets from one corpus. The tables must not be changed after the first dataset.
    """

    studies: dict
    tables: dict[str, pd.DataFrame]
    outcomes_h: pd.DataFrame
    high_risk: frozenset = frozenset()
    memo: dict = field(default_factory=dict, compare=False, repr=False)


def _memo(corpus: Corpus, key: tuple, build):
    """``build()`` once per corpus and ``key``."""
    if key not in corpus.memo:
        corpus.memo[key] = build()
    return corpus.memo[key]


def _key_of(value) -> str:
    """A memo key for a config mapping (records filters, timepoint window)."""
    return json.dumps(value, sort_keys=True, default=str)


# --------------------------------------------------------------------------------------------
# selecting records


def msc_arms(interventions: pd.DataFrame) -> pd.DataFrame:
    """(study, group) pairs that received an MSC product, and those that received a comparator."""
    agent = interventions["agent"].astype(str)
    arms = interventions.assign(is_msc=agent.str.startswith("msc"), is_placebo=agent.eq("placebo"))
    return arms.groupby(["study", "group"], as_index=False)[["is_msc", "is_placebo"]].any()


def _msc_interventions(corpus: Corpus) -> dict[str, pd.DataFrame]:
    """Each study's MSC intervention rows (one grouping of the table, not a scan per study)."""
    def build():
        iv = corpus.tables["interventions"]
        used = iv.loc[iv["agent"].astype(str).str.startswith("msc")]
        return {sid: g for sid, g in used.groupby("study", sort=False)}
    return _memo(corpus, ("msc_interventions",), build)


def eligible_studies(corpus: Corpus, records: dict) -> tuple[list[str], pd.DataFrame]:
    """Studies passing the analysis' record filters, and a table of the others with the reason."""
    keep, studies_dropped = _memo(corpus, ("eligible", _key_of(records)), lambda: _eligible(corpus, records))
    return list(keep), studies_dropped.copy()


def _eligible(corpus: Corpus, records: dict) -> tuple[list[str], pd.DataFrame]:
    keep, dropped = [], []
    msc_rows = _msc_interventions(corpus)
    empty = corpus.tables["interventions"].iloc[:0]
    for sid in sorted(corpus.studies):
        s = corpus.studies[sid]
        reasons = []
        if s.get("design") == "systematic_review":
            reasons.append("systematic review: its pooled results are compared, not re-pooled")
        for key, field in (("populations", "population"), ("designs", "design")):
            if records.get(key) and s.get(field) not in records[key]:
                reasons.append(f"{field} {s.get(field)} not in {records[key]}")
        if records.get("conditions") and not set(s.get("conditions", [])) & set(records["conditions"]):
            reasons.append(f"conditions {s.get('conditions')} not in {records['conditions']}")
        used = msc_rows.get(sid, empty)
        for key, col in (("cell_sources", "cell_source"), ("routes", "route"), ("donors", "donor")):
            if records.get(key) and not set(used[col].dropna()) & set(records[key]):
                reasons.append(f"{col} {sorted(set(used[col].dropna()))} not in {records[key]}")
        if reasons:
            dropped.append({"study": sid, "reason": "; ".join(reasons)})
        else:
            keep.append(sid)
    return keep, pd.DataFrame(dropped, columns=["study", "reason"])


def _pick_time(frame: pd.DataFrame, window: dict) -> pd.DataFrame:
    """Rows at the one follow-up time per (study, group) chosen by ``window`` (prefer latest/earliest/closest)."""
    t = frame["time_months"]
    lo, hi = float(window.get("min_months", 0)), float(window.get("max_months", 1e9))
    timed = t.notna() & (t > 0) & (t >= lo) & (t <= hi)
    if window.get("include_untimed", False):
        # 'post' (after MSC, time not stated): used only where no timed value exists; flagged in `timepoint`
        untimed = frame["timepoint"].eq("post")
        has_timed = frame.loc[timed].set_index(["study", "group", "measure"]).index
        keys = pd.MultiIndex.from_frame(frame[["study", "group", "measure"]])
        timed = timed | (untimed & ~keys.isin(has_timed))
        frame = frame.assign(time_months=frame["time_months"].where(~untimed, lo))
    inside = frame.loc[timed]
    if inside.empty:
        return inside
    prefer = window.get("prefer", "latest")
    if prefer == "closest":
        score = -(inside["time_months"] - float(window.get("target_months", 12))).abs()
    elif prefer == "earliest":
        score = -inside["time_months"]
    else:
        score = inside["time_months"]
    best = inside.assign(_s=score).groupby(["study", "group"])["_s"].transform("max")
    return inside.loc[inside.assign(_s=score)["_s"] == best]


def _stats_wide(frame: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """One row per ``index`` with columns per statistic (first value), ``imputed`` and ``lines``."""
    frame = frame.assign(line=frame["line"].astype(str))
    wide = frame.pivot_table(index=index, columns="stat", values="value_h", aggfunc="first")
    info = frame.groupby(index).agg(
        imputed=("imputed", "any"), imputation=("imputation", lambda s: ";".join(sorted({x for x in s if x}))),
        lines=("line", lambda s: ";".join(dict.fromkeys(s))), file=("file", "first"),
    )
    return wide.join(info).reset_index()


def _arm_n(corpus: Corpus, study: str, group: str, source: str | None = None) -> float:
    """The arm's size: from ``source`` when that report gives one (numerator and denominator from one
    report), else its first participants row."""
    sizes = _memo(corpus, ("arm_sizes",), lambda: _arm_sizes(corpus.tables["participants"]))
    rows = sizes.get((study, group), [])
    same = [n for src, n in rows if src == str(source)] if source is not None else []
    values = same or [n for _, n in rows]
    return float(values[0]) if values else float("nan")


def _arm_sizes(participants: pd.DataFrame) -> dict[tuple, list[tuple[str, float]]]:
    """(study, group) -> its participants rows with an ``n``, in line order, as (source, n)."""
    p = participants.loc[participants["n"].notna()].sort_values("line")
    out: dict[tuple, list[tuple[str, float]]] = {}
    for study, group, source, n in zip(p["study"], p["group"], p["source"].astype(str), p["n"]):
        out.setdefault((study, group), []).append((source, n))
    return out


def _continuous_arms(corpus: Corpus, measures: list[str], window: dict, r: float, imputation: str) -> pd.DataFrame:
    """Per (study, group): change mean, SD, n and how they were obtained."""
    prep = _continuous_prep(corpus, measures, window, imputation)
    if prep is None:
        return pd.DataFrame()
    change, both, pairs, _ = prep
    rows = []
    done = set()
    for rec in change.to_dict("records"):
        if not (np.isfinite(rec.get("mean", np.nan)) and np.isfinite(rec.get("sd", np.nan))):
            continue
        n = rec.get("n", np.nan)
        n = n if np.isfinite(n) else _arm_n(corpus, rec["study"], rec["group"])
        rows.append({**_key(rec), "mean": rec["mean"], "sd": rec["sd"], "n": n, "imputed": bool(rec["imputed"]),
                     "how": "reported change" + (f" ({rec['imputation']})" if rec["imputation"] else ""),
                     "lines": rec["lines"], "file": rec["file"]})
        done.add((rec["study"], rec["group"]))
    if both is not None:
        for rec in both.to_dict("records"):
            if (rec["study"], rec["group"]) in done:
                continue
            m1, m0 = rec.get("mean", np.nan), rec.get("mean_0", np.nan)
            s1, s0 = rec.get("sd", np.nan), rec.get("sd_0", np.nan)
            if not all(np.isfinite(x) for x in (m1, m0, s1, s0)):
                continue
            n = rec.get("n", np.nan)
            n = n if np.isfinite(n) else rec.get("n_0", np.nan)
            n = n if np.isfinite(n) else _arm_n(corpus, rec["study"], rec["group"])
            es = _escalc_at({**rec, "lines": f"{rec['lines_0']};{rec['lines']}"}, "MC", m1i=[m1], m2i=[m0],
                            sd1i=[s1], sd2i=[s0], ni=[n], ri=[r])
            sd = math.sqrt(es.vi[0] * n)
            how = f"follow-up minus baseline; change SD from r={r:g}"
            if rec["imputed"] or rec["imputed_0"]:
                how += "; means/SDs " + ";".join(x for x in (rec["imputation"], rec["imputation_0"]) if x)
            rows.append({**_key(rec), "mean": es.yi[0], "sd": sd, "n": n, "imputed": True, "how": how,
                         "lines": f"{rec['lines_0']};{rec['lines']}", "file": rec["file"]})
            done.add((rec["study"], rec["group"]))
    # individual patients: mean and SD of the patients' changes, one row per study
    if pairs is not None:
        for (study, measure), g in pairs.groupby(["study", "measure"]):
            if study in {s for s, _ in done}:
                continue
            if len(g) < 2:  # one patient: no SD of changes; described, never pooled as a mean
                rows.append({"study": study, "group": "patients", "measure": measure, "n": 1.0, "mean": np.nan,
                             "sd": np.nan, "small_series": True, "timepoint": g["timepoint"].iloc[0],
                             "time_months": g["time_months"].max(), "imputed": False, "how": "one patient",
                             "lines": "", "file": g["file"].iloc[0]})
                continue
            rows.append({"study": study, "group": "patients", "measure": measure,
                         "timepoint": ";".join(sorted(set(g["timepoint"]))), "time_months": g["time_months"].max(),
                         "mean": g["change"].mean(), "sd": g["change"].std(ddof=1), "n": float(len(g)),
                         "imputed": False, "how": f"mean and SD of {len(g)} patients' changes ({', '.join(g['group'])})",
                         "lines": ";".join(str(x) for x in list(g["line_0"]) + list(g["line"])), "file": g["file"].iloc[0]})
    return pd.DataFrame(rows)


def _continuous_prep(corpus: Corpus, measures: list[str], window: dict, imputation: str):
    """:func:`_continuous_tables`, once per corpus and what changes them."""
    # the imputation method changes only means and SDs estimated from a median: without one, no dataset differs
    medians = _memo(corpus, ("medians", tuple(measures)), lambda: _has_medians(corpus.outcomes_h, measures))
    return _memo(corpus, ("continuous", tuple(measures), _key_of(window), imputation if medians else ""),
                 lambda: _continuous_tables(corpus, measures, window, imputation))


def uses_correlation(corpus: Corpus, spec: dict, imputation: str) -> bool:
    """Whether the pre-post correlation changes this analysis' dataset: only an arm whose change is derived
    from follow-up and baseline summaries (no reported change) uses it."""
    if spec["effect"].upper() not in ("MC", "MD"):
        return False
    prep = _continuous_prep(corpus, spec["outcome"].get("measures", []), spec.get("timepoint", {}), imputation)
    return prep is not None and prep[3]


def _has_medians(outcomes_h: pd.DataFrame, measures: list[str]) -> bool:
    """Whether any reported (not imputed) row of these measures is a median."""
    o = outcomes_h
    return bool((o["measure"].isin(measures) & ~o["imputed"].astype(bool) & o["stat"].eq("median")).any())


def _continuous_tables(corpus: Corpus, measures: list[str], window: dict, imputation: str):
    """What :func:`_continuous_arms` reads, built once per (measures, window, imputation): the reported changes,
    follow-up beside baseline summaries, individual patients' follow-up beside baseline. ``None``: no rows.

    The pre-post correlation plays no part here: :func:`impute_summary` uses it only for derived change rows,
    which are dropped (change SDs are derived in :func:`_continuous_arms` with the analysis' r).
    """
    o = corpus.outcomes_h
    o = o.loc[o["measure"].isin(measures) & ~o["imputed"].astype(bool)]
    if o.empty:
        return None
    o = impute_summary(o, method=imputation)
    o = o.loc[~(o["imputed"].astype(bool) & o["metric"].eq("change"))]  # change SDs are derived with r
    # aggregate arms: reported change first
    agg = o.loc[o["stat"].isin(["mean", "sd", "n", "unspecified"])]
    change = _stats_wide(_pick_time(agg.loc[agg["metric"] == "change"], window),
                         ["study", "group", "measure", "timepoint", "time_months"])
    level = agg.loc[agg["metric"] == "level"]
    base = _stats_wide(level.loc[level["timepoint"] == "baseline"], ["study", "group", "measure"])
    post = _stats_wide(_pick_time(level, window), ["study", "group", "measure", "timepoint", "time_months"])
    both = post.merge(base, on=["study", "group", "measure"], suffixes=("", "_0")) if len(base) and len(post) else None
    reported = {(rec["study"], rec["group"]) for rec in change.to_dict("records")
                if np.isfinite(rec.get("mean", np.nan)) and np.isfinite(rec.get("sd", np.nan))}
    derived = both is not None and any(
        (rec["study"], rec["group"]) not in reported
        and all(np.isfinite(rec.get(c, np.nan)) for c in ("mean", "mean_0", "sd", "sd_0"))
        for rec in both.to_dict("records"))
    pairs = None
    ind = o.loc[(o["stat"] == "value") & (o["metric"] == "level")]
    if len(ind):
        b = ind.loc[ind["timepoint"] == "baseline"].sort_values("line").drop_duplicates(["study", "group", "measure"])
        f = _pick_time(ind, window).sort_values("line").drop_duplicates(["study", "group", "measure"])
        pairs = f.merge(b, on=["study", "group", "measure"], suffixes=("", "_0"))
        pairs["change"] = pairs["value_h"] - pairs["value_h_0"]
    return change, both, pairs, derived


def _escalc_at(where: dict, *args, **kwargs):
    """``escalc`` for one study's row: a value the engine refuses names the study, file and lines it came from."""
    try:
        return escalc(*args, **kwargs)
    except ValueError as exc:
        raise InputError(f"{where.get('file')}, line {where.get('lines')}: study {where.get('study')}: the effect "
                         f"size cannot be computed from these rows: {exc}") from None


def _key(rec: dict) -> dict:
    return {k: rec[k] for k in ("study", "group", "measure", "timepoint", "time_months")}


def _binary_arms(corpus: Corpus, spec: dict, window: dict) -> pd.DataFrame:
    """Per (study, group): events and n from outcomes (events/n, percent with n, survival) or adverse events."""
    rows = []
    outcome = spec["outcome"]
    if outcome.get("adverse_events"):
        ae = corpus.tables["adverse_events"]
        want = outcome["adverse_events"]
        sel = ae.copy()
        if want.get("serious"):
            sel = sel.loc[sel["serious"].isin(want["serious"])]
        if want.get("event_contains"):
            pattern = "|".join(want["event_contains"])
            sel = sel.loc[sel["event"].str.contains(pattern, case=False, regex=True)]
        sel = sel.loc[sel["n_patients"].notna()]
        for (study, group), g in sel.groupby(["study", "group"]):
            g = g.sort_values("line")
            events, rule = patients_with_event(g)
            at_risk = g["n_at_risk"].dropna()
            sources = list(dict.fromkeys(g["source"].astype(str)))
            n = float(at_risk.max()) if len(at_risk) else _arm_n(corpus, study, group, sources[0])
            names = "; ".join(f"'{e}'" for e in g["event"])
            how = f"adverse events: {names} (patients with the event / at risk)"
            if rule:
                how += f"; {rule}"
            if not len(at_risk):
                how += "; n at risk = arm size"
            rows.append({"study": study, "group": group, "measure": "adverse_event",
                         "timepoint": ";".join(sorted(set(g["timepoint"].dropna().astype(str)))) or "",
                         "time_months": np.nan, "events": events, "n": n, "imputed": False,
                         "how": how, "lines": ";".join(str(int(x)) for x in g["line"]), "file": g["file"].iloc[0]})
        return pd.DataFrame(rows)
    measures = outcome["measures"]
    o = corpus.outcomes_h
    o = o.loc[(o["measure"].isin(measures + ["survival"])) & o["stat"].isin(["events", "n", "percent"])
              & ~o["imputed"].astype(bool)]
    picked = _pick_time(o, window)
    wide = _stats_wide(picked, ["study", "group", "measure", "timepoint", "time_months", "source"])
    survival_n = {(r["study"], r["group"], r["timepoint"], r["source"]): r.get("n", np.nan)
                  for r in wide.loc[wide["measure"] == "survival"].to_dict("records")}
    for rec in wide.sort_values(["study", "group", "measure"]).to_dict("records"):
        events, n = rec.get("events", np.nan), rec.get("n", np.nan)
        how = "events / n as reported"
        same = survival_n.get((rec["study"], rec["group"], rec["timepoint"], rec["source"]), np.nan)
        if not np.isfinite(n) and rec["measure"] != "survival" and np.isfinite(same):
            n = same
            how = "events as reported; n from the survival row of the same report and time"
        elif not np.isfinite(n):
            n = _arm_n(corpus, rec["study"], rec["group"], rec["source"])
            how = "events as reported; n = arm size (same report where it gives one)"
        if not np.isfinite(events) and np.isfinite(rec.get("percent", np.nan)) and np.isfinite(n):
            events = round(rec["percent"] * n / 100)
            how = f"events derived from {rec['percent']:g}% of n={n:g}"
        if rec["measure"] == "survival":
            if "death" not in measures or not np.isfinite(events):
                continue
            events, how = n - events, f"deaths derived as n - survivors ({n:g} - {n - (n - events):g})"
        if not (np.isfinite(events) and np.isfinite(n)):
            continue
        rows.append({**_key(rec), "events": events, "n": n, "imputed": how.startswith("events derived"),
                     "how": how, "lines": rec["lines"], "file": rec["file"]})
    frame = pd.DataFrame(rows)
    if len(frame):  # one measure per arm: the first listed in config wins
        order = {m: i for i, m in enumerate(measures + ["survival"])}
        frame = frame.assign(_o=frame["measure"].map(order)).sort_values(["study", "group", "_o"])
        frame = frame.drop_duplicates(["study", "group"]).drop(columns="_o")
    return frame


def _one_row_per_individual_study(arms: pd.DataFrame, indiv: set, effect: str) -> pd.DataFrame:
    """A case series contributes one row: its study-level ('all' or 'patients') row, else its patients summed.

    Patients' binary rows are summed (events and n); continuous patients' rows were already pooled into
    one 'patients' row by :func:`_continuous_arms`.
    """
    if arms.empty or not indiv:
        return arms
    is_ind = arms["study"].isin(indiv)
    keep = [arms.loc[~is_ind]]
    for study, g in arms.loc[is_ind].groupby("study"):
        whole = g.loc[g["group"].isin(["all", "patients"])]
        if len(whole):
            keep.append(whole.iloc[[0]])
        elif measure(effect).binary and len(g):
            first = g.iloc[0].to_dict()
            first.update(group="patients", events=g["events"].sum(), n=g["n"].sum(),
                         how=f"summed over patients {', '.join(g['group'])}", lines=";".join(g["lines"]))
            keep.append(pd.DataFrame([first]))
    return pd.concat(keep, ignore_index=True)


def _flags(corpus: Corpus, frame: pd.DataFrame) -> pd.DataFrame:
    """Add design, population, confounding and risk-of-bias flags per study."""
    confounded = _memo(corpus, ("confounded",), lambda: _confounding(corpus.tables["cointerventions"]))
    out = frame.copy()
    out["design"] = out["study"].map(lambda s: corpus.studies[s].get("design"))
    out["population"] = out["study"].map(lambda s: corpus.studies[s].get("population"))
    out["confounded"] = out["study"].isin(confounded.index)
    out["cointerventions"] = out["study"].map(confounded).fillna("")
    out["high_risk"] = out["study"].isin(corpus.high_risk)
    return out


def _confounding(co: pd.DataFrame) -> pd.Series:
    """Per study, the co-interventions around MSC that confound its change ('a; b')."""
    around = co.loc[co["relation"].isin(["concurrent", "added_after", "stopped_during", "stopped_before"])]
    return around.groupby("study")["therapy"].apply(lambda s: "; ".join(sorted(set(s))))


def _combine_continuous(arms: pd.DataFrame) -> dict:
    n = arms["n"].to_numpy(float)
    m = arms["mean"].to_numpy(float)
    s = arms["sd"].to_numpy(float)
    N = n.sum()
    mean = float((n * m).sum() / N)
    ss = ((n - 1) * s**2).sum() + (n * (m - mean) ** 2).sum()
    return {"mean": mean, "sd": float(math.sqrt(ss / (N - 1))), "n": float(N)}


def _definition(measure: str) -> str:
    """The outcome definition of an arm's row ('survival' rows are read as deaths)."""
    return "death" if measure == "survival" else str(measure)


class _Excluded:
    """Studies left out of a dataset and why, in the order found (one table at the end, not one per study)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.rows = frame[["study", "reason"]].to_dict("records")
        self.studies = {row["study"] for row in self.rows}

    def add(self, study: str, reason: str) -> None:
        self.rows.append({"study": study, "reason": reason})
        self.studies.add(study)

    def table(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=["study", "reason"])
        return frame.sort_values("study", kind="stable").reset_index(drop=True)


def _one_arm(arms: pd.DataFrame, effect: str, rule: str) -> tuple[dict, str]:
    """Several MSC arms of one study in a single-arm analysis as ONE row, and how (rule ``multiple_arms``).

    ``combine``: Cochrane Handbook 6.5.2.10 (summed n; pooled mean and SD; summed events); ``largest``:
    the arm with most patients (ties: the first group name). A study-wide ``all`` row, where present, is
    the whole study and is used instead of its parts.
    """
    arms = arms.sort_values("group")
    if len(arms) == 1:
        return arms.iloc[0].to_dict(), ""
    if arms["group"].eq("all").any():
        return arms.loc[arms["group"].eq("all")].iloc[0].to_dict(), "the study-wide 'all' row, not its arms"
    groups = ", ".join(arms["group"])
    if rule == "largest":
        pick = arms.sort_values(["n", "group"], ascending=[False, True]).iloc[0].to_dict()
        return pick, f"arm {pick['group']} (the largest of {groups}; multiple_arms: largest)"
    first = arms.iloc[0].to_dict()
    if effect == "MC":
        first.update(_combine_continuous(arms))
    else:
        first.update(events=float(arms["events"].sum()), n=float(arms["n"].sum()))
    first.update(group="+".join(arms["group"]), imputed=bool(arms["imputed"].any()),
                 timepoint=";".join(dict.fromkeys(arms["timepoint"].astype(str))),
                 how="; ".join(dict.fromkeys(arms["how"])), lines=";".join(arms["lines"].astype(str)))
    return first, f"arms {groups} combined into one (Cochrane Handbook 6.5.2.10)"


def _single_arm_row(rec: dict, arms_rule: str, effect: str) -> dict:
    """A single-arm dataset row (yi, vi) from one arm's (or the combined arms') record."""
    if effect == "MC":
        es = _escalc_at(rec, "MN", mi=[rec["mean"]], sdi=[rec["sd"]], ni=[rec["n"]])
    else:
        es = _escalc_at(rec, effect, xi=[rec["events"]], ni=[rec["n"]])
    return {**{k: rec[k] for k in ("study", "group", "measure", "timepoint", "imputed", "how", "lines", "file")},
            "n": rec["n"], "events1": rec.get("events", np.nan), "mean1": rec.get("mean", np.nan),
            "sd1": rec.get("sd", np.nan), "arms": arms_rule, "yi": es.yi[0], "vi": es.vi[0]}


def analysis_dataset(corpus: Corpus, spec: dict, r: float = 0.5, imputation: str = "wan2014",
                     arm: str = "msc", min_patients: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per study (arm for single-arm measures, comparison for paired ones) with ``yi, vi``.

    Returns ``(dataset, excluded)``: ``excluded`` names every study considered and why it is not in
    the dataset, so nothing is dropped silently. The declared rules (config/README.md):

    - several MSC arms of one study are one row (``multiple_arms``: ``combine`` or ``largest``);
    - an individual-level series with fewer than ``min_patients`` patients (default: the spec's
      ``individual_min_patients``, 3) is described, not pooled as a mean (``MC``);
    - outcome definitions (measures) are not mixed unless ``outcome.combine_definitions`` is true: the
      first listed measure with data defines the outcome; studies measuring another are excluded, named;
    - ``arm="comparator"`` builds the same single-arm dataset from the placebo arms instead.
    """
    effect = spec["effect"].upper()
    window = spec.get("timepoint", {})
    studies, dropped = eligible_studies(corpus, spec.get("records", {}))
    excluded = _Excluded(dropped)
    measures = spec["outcome"].get("measures", [])
    if min_patients is None:
        min_patients = int(spec.get("individual_min_patients", 3))
    arms = _binary_arms(corpus, spec, window) if measure(effect).binary else _continuous_arms(corpus, measures, window, r, imputation)
    if arms.empty:
        arms = pd.DataFrame(columns=["study", "group", "measure"])
    arms = arms.loc[arms["study"].isin(studies)]
    kinds = _memo(corpus, ("msc_arms",), lambda: msc_arms(corpus.tables["interventions"]))
    arms = arms.merge(kinds, on=["study", "group"], how="left")
    indiv = {s for s in studies if corpus.studies[s].get("level") == "individual"}
    arms["is_msc"] = arms["is_msc"].astype("boolean").fillna(False).astype(bool) | arms["study"].isin(indiv) | (
        arms["group"].eq("all") & arms["study"].map(lambda s: corpus.studies[s].get("design") != "rct"))
    arms["is_placebo"] = arms["is_placebo"].astype("boolean").fillna(False).astype(bool)
    arms = _one_row_per_individual_study(arms, indiv, effect)
    if arm == "comparator":
        arms = arms.assign(is_msc=arms["is_placebo"], is_placebo=False)
    if effect == "MC" and len(arms):
        small = arms["study"].isin(indiv) & arms["group"].eq("patients") & (arms["n"] < min_patients)
        for rec in arms.loc[small].to_dict("records"):
            excluded.add(rec["study"], (
                f"individual-level series of {int(rec['n'])} patient{'s' if rec['n'] != 1 else ''} (fewer than "
                f"individual_min_patients = {min_patients}): described per patient, not pooled as a mean"))
        arms = arms.loc[~small]
    # one outcome definition per pooled estimate unless the config says otherwise
    if measures and len(arms) and not spec["outcome"].get("combine_definitions", False):
        used = arms.loc[arms["is_msc"] | arms["is_placebo"]]
        present = {_definition(m) for m in used["measure"]}
        primary = next((m for m in measures if m in present), None)
        other = arms["measure"].map(_definition) != primary
        with_primary = set(arms.loc[~other, "study"])
        for study, g in arms.loc[other & (arms["is_msc"] | arms["is_placebo"])].groupby("study"):
            if study not in with_primary:
                excluded.add(study, (
                    f"outcome defined as {', '.join(sorted(set(g['measure'])))}, not {primary} (the first listed "
                    "measure with data); set outcome.combine_definitions: true to pool definitions together"))
        arms = arms.loc[~other]
    rows = []
    positions = arms.groupby("study", sort=False).indices
    is_msc, is_placebo = arms["is_msc"].to_numpy(bool), arms["is_placebo"].to_numpy(bool)
    records = arms.to_dict("records") if len(arms) else []
    for study in studies:
        at = positions.get(study, ())
        msc_at = [i for i in at if is_msc[i]]
        if len(msc_at) == 1 and not measure(effect).paired:  # the usual case, without a table per study
            rec = records[msc_at[0]]
            rows.append(_single_arm_row(rec, "", effect))
            continue
        a = arms.iloc[at] if len(at) else arms.iloc[:0]
        msc, ctrl = a.loc[a["is_msc"]], a.loc[a["is_placebo"]]
        if msc.empty:
            if study not in excluded.studies:
                excluded.add(study, "no usable MSC-arm data for this outcome and timepoint"
                                 if arm == "msc" else "no placebo arm with data for this outcome and timepoint")
            continue
        if measure(effect).paired:
            if ctrl.empty:
                excluded.add(study, "no comparator arm with data")
                continue
            row = {"study": study, "group": "+".join(msc["group"]) + " vs " + "+".join(ctrl["group"]),
                   "measure": msc["measure"].iloc[0], "timepoint": msc["timepoint"].iloc[0],
                   "imputed": bool(msc["imputed"].any() or ctrl["imputed"].any()),
                   "how": "; ".join(sorted(set(msc["how"]) | set(ctrl["how"]))),
                   "lines": ";".join(list(msc["lines"]) + list(ctrl["lines"])), "file": msc["file"].iloc[0]}
            if effect == "MD":
                t, c = _combine_continuous(msc), _combine_continuous(ctrl)
                es = _escalc_at(row, "MD", m1i=[t["mean"]], m2i=[c["mean"]], sd1i=[t["sd"]], sd2i=[c["sd"]],
                            n1i=[t["n"]], n2i=[c["n"]])
                row.update(n=t["n"] + c["n"], n1=t["n"], n2=c["n"], mean1=t["mean"], sd1=t["sd"],
                           mean2=c["mean"], sd2=c["sd"])
            else:
                e1, n1 = msc["events"].sum(), msc["n"].sum()
                e2, n2 = ctrl["events"].sum(), ctrl["n"].sum()
                es = _escalc_at(row, effect, ai=[e1], n1i=[n1], ci=[e2], n2i=[n2])
                row.update(n=n1 + n2, n1=n1, n2=n2, events1=e1, events2=e2)
            row.update(yi=es.yi[0], vi=es.vi[0])
            rows.append(row)
        else:
            rec, arms_rule = _one_arm(msc, effect, spec.get("multiple_arms", "combine"))
            rows.append(_single_arm_row(rec, arms_rule, effect))
    data = pd.DataFrame(rows)
    if data.empty:
        return data, excluded.table()
    data = _flags(corpus, data)
    data["label"] = [f"{study} ({group})" for study, group in zip(data["study"], data["group"])]
    return data.sort_values(["study", "group"]).reset_index(drop=True), excluded.table()


# --------------------------------------------------------------------------------------------
# pooling


PROPORTIONS = codes(proportion=True)
CONTRAST = {"MC": "MD", "PLO": "OR", "PR": "OR", "PFT": "OR"}
SMALL_STUDY_REF = "Sterne 2011 (BMJ 343:d4002); Cochrane Handbook 13.3.5.4"


def _model(spec: dict, effect: str | None = None) -> str:
    """``glmm`` (binomial-normal) or ``normal`` (normal-normal on the analysis scale) for this analysis."""
    effect = (effect or spec["effect"]).upper()
    return "glmm" if effect == "PLO" and spec.get("proportion_model", "glmm") == "glmm" else "normal"


def _definitions(data: pd.DataFrame) -> str:
    """Which outcome definitions a row pools, with their studies: 'remission: deng2017; ...'."""
    if data.empty or "measure" not in data:
        return ""
    parts = data.assign(d=data["measure"].map(_definition)).groupby("d", sort=True)["study"].agg(
        lambda s: ", ".join(dict.fromkeys(s)))
    return "; ".join(f"{d}: {studies}" for d, studies in parts.items())


def spec_text(spec: dict) -> str:
    """The analysis choices behind a pooled row, as ``key=value; ...`` (keys :data:`SPEC_KEYS`)."""
    def value(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {value(x)}" for k, x in sorted(v.items())) + "}"
        return f"{v:g}" if isinstance(v, float) else str(v)
    return "; ".join(f"{k}={value(spec[k])}" for k in SPEC_KEYS if k in spec)


def study_intervals(yi, vi, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Each study's Wald interval at ``level`` (percent, or a fraction), as metafor's forest draws them."""
    level = level * 100 if 0 < level <= 1 else level
    crit = norm.ppf(0.5 + level / 200)
    yi, se = np.asarray(yi, dtype=float), np.sqrt(np.asarray(vi, dtype=float))
    return yi - crit * se, yi + crit * se


def _row(spec_name: str, spec: dict, data: pd.DataFrame, fit: dict, subgroup: str, variant: str,
         effect: str | None = None, function=None) -> dict:
    """One pooled.csv row; ``function`` computed ``fit`` (default :func:`pool`)."""
    effect = (effect or spec["effect"]).upper()
    ni = data["n"].to_numpy(float) if len(data) else None
    bt = {f"{c}_bt": float(measure(effect).backtransform([fit.get(c, np.nan)], ni)[0])
          for c in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")}
    bt.update({k: fit[k] for k in bt if k in fit})  # a fit may give its natural-scale values (exact CIs)
    designs = sorted(set(data["design"])) if len(data) else []
    return {
        "analysis": spec_name, "outcome": ";".join(spec["outcome"].get("measures", ["adverse_event"])),
        "measure": effect, "subgroup": subgroup, "variant": variant, "k": int(len(data)),
        "n": float(data["n"].sum()) if len(data) else 0.0,
        **{c: fit.get(c, np.nan) for c in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "i2", "q", "pval",
                                           "se", "q_pval", "tau2_ci_lb", "tau2_ci_ub")},
        "method": fit.get("method", spec.get("method")), "test": fit.get("test", spec.get("test")),
        "model": fit.get("model", "normal-normal"),
        "scale": measure(effect).scale, **bt,
        "converged": bool(fit.get("converged", False)), "message": fit.get("message", ""),
        "uncontrolled_only": bool(designs) and set(designs) <= UNCONTROLLED,
        "designs": ";".join(designs), "definitions": _definitions(data),
        "studies": ";".join(data["label"]) if len(data) else "",
        "imputed_rows": int(data["imputed"].sum()) if len(data) else 0,
        "confounded_rows": int(data["confounded"].sum()) if len(data) else 0,
        "function": code_name(function or pool), "spec": spec_text(spec),
    }


def _single_proportion(data: pd.DataFrame, level: float) -> dict:
    """A single study's observed proportion with its exact (Clopper-Pearson) interval: nothing is pooled."""
    from evsynth.describe.summaries import clopper_pearson

    x, n = float(data["events1"].iloc[0]), float(data["n"].iloc[0])
    lo, hi = clopper_pearson([x], [n], level=level / 100)
    p = x / n
    logit = math.log(p / (1 - p)) if 0 < p < 1 else np.nan
    return {"estimate": logit, "estimate_bt": p, "ci_lb_bt": float(lo[0]), "ci_ub_bt": float(hi[0]),
            "converged": False, "model": "single study",
            "message": f"k = 1: a single study, not pooled; its observed proportion {x:g}/{n:g} with an exact "
                       "(Clopper-Pearson) interval"}


def pool(data: pd.DataFrame, method: str, test: str, level: float = 95, model: str = "normal") -> dict:
    """One fit of ``data``: random-effects (or FE) on ``yi, vi``, or the binomial-normal GLMM on events/n.

    k < 2 gives a row saying why. ``model="glmm"`` (``PLO`` only) is metafor's ``rma.glmm(measure="PLO")``
    (ML, z-based Wald CI and prediction interval; no continuity correction).
    """
    if len(data) == 0:
        return {"converged": False, "message": "no study has data for this analysis", "method": method, "test": test}
    if model == "glmm":
        if len(data) == 1:
            return {**_single_proportion(data, level), "method": "ML", "test": "z"}
        from evsynth.stats.glmm import pool_proportions_glmm

        g = pool_proportions_glmm(data["events1"].to_numpy(float), data["n"].to_numpy(float), level=level)
        return {"estimate": g.estimate, "se": g.se, "ci_lb": g.ci_lb, "ci_ub": g.ci_ub, "pi_lb": g.pi_lb,
                "pi_ub": g.pi_ub, "tau2": g.tau2, "pval": g.pval, "converged": g.converged, "method": "ML",
                "test": "z", "model": "binomial-normal GLMM",
                "message": "" if g.message == "converged" else f"GLMM: {g.message}"}
    fit = rma_many(data.assign(_all=0), "_all", method=method, test=test, level=level).iloc[0].to_dict()
    if len(data) == 1:
        fit["message"] = "k = 1: a single study, not pooled"
    return fit


def _small_study_rows(name: str, spec: dict, data: pd.DataFrame, model: str,
                      funnel: dict | None = None) -> list[dict]:
    """Egger's regression test and trim-and-fill where k >= ``small_study_min_k`` (default 10), else why not.

    ``funnel`` (a dict, filled in place where assessable): what the funnel plot draws, so the report recomputes
    nothing: ``yi, vi`` (the studies), ``estimate`` (the normal-normal fit they centre on), ``filled_yi,
    filled_vi`` (trim-and-fill's imputed studies) and ``notes`` (Egger's test and trim-and-fill in words)."""
    min_k = int(spec.get("small_study_min_k", 10))
    method, test, level = spec["method"], spec["test"], spec.get("level", 95)
    rows = []
    if len(data) < min_k:
        why = (f"not assessable: k = {len(data)} < {min_k} studies; small-study tests and funnel plots are not "
               f"meaningful with fewer studies ({SMALL_STUDY_REF})")
        for variant in ("Egger's regression test", "trim-and-fill"):
            rows.append(_row(name, spec, data, {"converged": False, "message": why, "method": method, "test": test,
                                                "model": ""}, "all", variant))
        return rows
    from evsynth.stats import regtest
    from evsynth.stats.trimfill import trimfill

    note = " (on the normal-normal model's yi, vi)" if model == "glmm" else ""
    eg = regtest(data["yi"], data["vi"], model="rma", method=method, test="z", level=level, min_k=min_k)
    rows.append(_row(name, spec, data, {"estimate": eg.estimate, "ci_lb": eg.ci_lb, "ci_ub": eg.ci_ub,
                                        "pval": eg.pval, "converged": eg.reported, "method": method, "test": "z",
                                        "message": (f"Egger's test z = {eg.stat:.3f}, p = {eg.pval:.3g}; estimate = "
                                                    f"limit estimate{note}" if eg.reported else eg.reason)},
                     "all", "Egger's regression test", function=regtest))
    try:
        tf = trimfill(data["yi"], data["vi"], method=method, test=test, level=level)
    except ValueError as exc:
        rows.append(_row(name, spec, data, {"converged": False, "method": method, "test": test, "model": "",
                                            "message": f"trim-and-fill not computed: {exc}"}, "all", "trim-and-fill"))
        return rows
    rows.append(_row(name, spec, data, {**{c: getattr(tf.fit, c) for c in (
        "estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "i2", "q", "pval", "se")},
        "converged": tf.fit.converged, "method": method, "test": test,
        "message": f"trim-and-fill ({tf.estimator}): {tf.k0} studies imputed on the {tf.side} side{note}"},
        "all", "trim-and-fill", function=trimfill))
    rows[-1]["k"] = len(data) + tf.k0
    if funnel is not None:
        funnel.update(yi=data["yi"].to_numpy(float), vi=data["vi"].to_numpy(float),
                      estimate=float(pool(data, method, test, level, "normal")["estimate"]),
                      filled_yi=tf.filled_yi, filled_vi=tf.filled_vi, level=level,
                      notes=[rows[-2]["message"], rows[-1]["message"]])
    return rows


def _unknown_seriousness(spec: dict) -> tuple[str, dict | None] | None:
    """For an analysis of serious adverse events: how events of unknown seriousness are treated (a
    sentence for the main row) and the spec of the variant that counts them as serious; else None."""
    if "death" in (spec["outcome"].get("measures") or []):
        return ("every recorded death counts (serious by definition); adverse events of unknown seriousness are "
                "not deaths and are listed in harms.csv"), None
    want = spec["outcome"].get("adverse_events") or {}
    serious = list(want.get("serious") or [])
    if not serious or "unknown" in serious:
        return None
    variant = {**spec, "outcome": {**spec["outcome"], "adverse_events": {**want, "serious": serious + ["unknown"]}}}
    return ("events of unknown seriousness are not counted as serious (listed in harms.csv; the variant "
            "'seriousness unknown counted as serious' counts them)"), variant


def pool_mh(data: pd.DataFrame, effect: str, level: float = 95) -> dict:
    """Mantel-Haenszel equal-effects fit of the 2x2 tables (``events1, n1, events2, n2``) of an
    OR/RR/RD analysis (metafor ``rma.mh``): the sparse-data alternative to inverse-variance pooling
    (no continuity correction in the estimate)."""
    fit = rma_mh(data["events1"], data["n1"], data["events2"], data["n2"], measure=effect, level=level)
    ok = bool(np.isfinite(fit.estimate))
    return {"estimate": fit.estimate, "se": fit.se, "ci_lb": fit.ci_lb, "ci_ub": fit.ci_ub, "pval": fit.pval,
            "q": fit.q, "q_pval": fit.q_pval, "i2": fit.i2, "tau2": 0.0 if ok else np.nan, "method": "MH",
            "test": "z", "model": "Mantel-Haenszel (2x2 tables)", "converged": ok and len(data) >= 2,
            "message": fit.message or ("k = 1: a single study, not pooled" if len(data) == 1 else "")}


def run_analysis(name: str, spec: dict, corpus: Corpus) -> dict[str, pd.DataFrame]:
    """The main fit, its subgroups, its sensitivity variants and its controlled contrast, as rows of ``pooled.csv``.

    Returns ``pooled`` (rows with :data:`POOLED_COLUMNS`), ``studies`` (the dataset with weights and
    CIs, for the forest plot), ``excluded`` (studies considered and why they are out) and ``funnel`` (what
    the funnel plot draws; empty where k < ``small_study_min_k``, see :func:`_small_study_rows`).
    """
    method, test, level = spec["method"], spec["test"], spec.get("level", 95)
    r, imputation = spec.get("prepost_correlation", 0.5), spec.get("imputation", "wan2014")
    effect = spec["effect"].upper()
    model = _model(spec)
    data, excluded = analysis_dataset(corpus, spec, r=r, imputation=imputation)
    main = pool(data, method, test, level, model)
    rows = [_row(name, spec, data, main, "all", "main")]
    for dim in spec.get("subgroups", []):
        if len(data) < 2 or data[dim].nunique() < 2:
            rows.append({**_row(name, spec, data, {"converged": False, "method": method, "test": test,
                         "message": f"subgroups by {dim}: fewer than two subgroups with data"}, f"{dim}: test", "main")})
            continue
        sub = subgroup_analysis(data["yi"], data["vi"], data[dim], method=method, test=test, level=level)
        for rec in sub.fits.to_dict("records"):
            part = data.loc[data[dim] == rec["group"]]
            fit = pool(part, method, test, level, model) if model == "glmm" else rec
            rows.append(_row(name, spec, part, fit, f"{dim}={rec['group']}", "main",
                             function=pool if model == "glmm" else subgroup_analysis))
        note = f"test for subgroup differences ({sub.approach} tau^2 per subgroup), df={sub.df}"
        if model == "glmm":
            note += ("; computed on the normal-normal logit model (0.5 added to zero cells), since the GLMM has no "
                     "finite estimate for a single zero-event study")
        rows.append(_row(name, spec, data, {"converged": bool(np.isfinite(sub.q_between)), "method": method,
                                            "test": test, "q": sub.q_between, "pval": sub.pval,
                                            "message": note + (f"; {sub.message}" if sub.message else "")},
                         f"{dim}: test", "main", function=subgroup_analysis))
    # outcome definitions other than the one pooled: each on its own row, never mixed in
    measures = spec["outcome"].get("measures", [])
    if measures and not spec["outcome"].get("combine_definitions", False):
        pooled_def = {_definition(m) for m in data["measure"]} if len(data) else set()
        for m in measures:
            if m in pooled_def or (m == "death" and "survival" in pooled_def):
                continue
            one = {**spec, "outcome": {**spec["outcome"], "measures": [m]}}
            part, _ = analysis_dataset(corpus, one, r=r, imputation=imputation)
            if len(part):
                rows.append(_row(name, spec, part, pool(part, method, test, level, model), f"definition={m}", "main"))
    # variants of a single study would only repeat it
    sens = spec.get("sensitivity", []) if len(data) >= 2 else []
    if "leave1out" in sens and len(data) >= 3:
        for i in range(len(data)):
            part = data.drop(index=data.index[i])
            rows.append(_row(name, spec, part, pool(part, method, test, level, model), "all",
                             f"leave out {data['label'].iloc[i]}"))
    variants = []
    if "exclude_confounded" in sens:
        variants.append(("exclude confounded by co-interventions", data.loc[~data["confounded"]]))
    if "exclude_imputed" in sens:
        variants.append(("exclude imputed or derived values", data.loc[~data["imputed"]]))
    if "exclude_high_risk" in sens:
        variants.append(("exclude high risk of bias", data.loc[~data["high_risk"]]))
    if "exclude_uncontrolled" in sens:
        variants.append(("exclude case reports and series", data.loc[~data["design"].isin(UNCONTROLLED)]))
    for label, part in variants:
        rows.append(_row(name, spec, part, pool(part, method, test, level, model), "all", label))
    if "proportion_model" in sens and effect == "PLO":
        if model == "glmm":
            rows.append(_row(name, spec, data, pool(data, method, test, level, "normal"), "all",
                             f"normal-normal logit model ({method}, {test}; 0.5 added to zero-event and all-event studies)"))
        else:
            rows.append(_row(name, spec, data, pool(data, method, test, level, "glmm"), "all", "binomial-normal GLMM"))
    unknown = _unknown_seriousness(spec)
    if unknown is not None:
        rows[0]["message"] = "; ".join(x for x in (rows[0]["message"], unknown[0]) if x)
        if unknown[1] is not None and "unknown_as_serious" in spec.get("sensitivity", []):
            d2, _ = analysis_dataset(corpus, unknown[1], r=r, imputation=imputation)
            rows.append(_row(name, spec, d2, pool(d2, method, test, level, model), "all",
                             "seriousness unknown counted as serious"))
    if "estimators" in sens:
        prefix = "normal-normal logit, " if model == "glmm" else ""
        for m in spec.get("estimators", ["FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB"]):
            if m != method:
                rows.append(_row(name, spec, data, pool(data, m, test, level), "all", f"{prefix}estimator {m}"))
    if "mantel_haenszel" in sens and effect in ("OR", "RR", "RD"):
        rows.append(_row(name, spec, data, pool_mh(data, effect, level), "all", "Mantel-Haenszel (equal effects)",
                         function=pool_mh))
    if "correlation" in sens and effect == "MC":
        for rr in spec.get("correlations", [0.3, 0.5, 0.7]):
            if rr != r:
                d2, _ = analysis_dataset(corpus, spec, r=rr, imputation=imputation)
                rows.append(_row(name, spec, d2, pool(d2, method, test, level), "all", f"pre-post correlation {rr:g}"))
    if "include_small_series" in spec.get("sensitivity", []) and effect == "MC":
        d2, _ = analysis_dataset(corpus, spec, r=r, imputation=imputation, min_patients=2)
        if len(d2) > len(data):
            rows.append(_row(name, spec, d2, pool(d2, method, test, level), "all",
                             "include individual-level series of 2 or more patients (mean and SD of their changes)"))
    funnel: dict = {}
    rows += _small_study_rows(name, spec, data, model, funnel)
    contrast_data = pd.DataFrame()
    if spec.get("controlled_contrast", True) and effect in CONTRAST:
        contrast_rows, contrast_data = _contrast_rows(name, spec, corpus, r, imputation)
        rows += contrast_rows
    pooled = pd.DataFrame(rows)[POOLED_COLUMNS]
    if len(data) and model == "normal" and main.get("converged"):
        w = 1 / (data["vi"] + (main.get("tau2") or 0.0))
        data["weight"] = 100 * w / w.sum()
    else:  # a GLMM has no inverse-variance weights; a single study has none to share
        data["weight"] = np.nan if len(data) else pd.Series(dtype=float)
    if len(data):
        data["ci_lb"], data["ci_ub"] = study_intervals(data["yi"], data["vi"], level)
        if effect in PROPORTIONS:  # what a reader sees per study: observed proportion, exact interval
            from evsynth.describe.summaries import clopper_pearson

            lo, hi = clopper_pearson(data["events1"], data["n"], level=level / 100)
            data["prop"] = data["events1"] / data["n"]
            data["prop_ci_lb"], data["prop_ci_ub"] = lo, hi
        data.insert(0, "analysis", name)
        data.insert(1, "role", "main")
    if len(contrast_data):  # the randomized comparisons behind the contrast row, after the main studies
        lb, ub = study_intervals(contrast_data["yi"], contrast_data["vi"], level)
        contrast_data = contrast_data.assign(ci_lb=lb, ci_ub=ub)
        contrast_data.insert(0, "analysis", name)
        contrast_data.insert(1, "role", "controlled contrast")
        data = pd.concat([data, contrast_data], ignore_index=True) if len(data) else contrast_data
    return {"pooled": pooled, "studies": data, "excluded": excluded.assign(analysis=name), "funnel": funnel}


def _contrast_rows(name: str, spec: dict, corpus: Corpus, r: float, imputation: str) -> tuple[list[dict], pd.DataFrame]:
    """MSC vs placebo in the randomized studies of a single-arm analysis, and the placebo arms' own change.

    ``MC`` analyses get a mean difference (``MD``), proportions an odds ratio (``OR``), both from the
    randomized (``rct``) studies among the analysis' records: a ``main`` row of subgroup ``all`` whose
    ``measure`` is the comparative one and whose message says what it is. The placebo arms are also
    pooled on the analysis' own scale (variant 'placebo arms ...'), so a reader sees how much the
    comparator changed. Returns the rows and the comparisons (for ``studies.csv``).
    """
    method, test, level = spec["method"], spec["test"], spec.get("level", 95)
    records = {**spec.get("records", {}), "designs": ["rct"]}
    contrast = {**spec, "effect": CONTRAST[spec["effect"].upper()], "records": records}
    data, _ = analysis_dataset(corpus, contrast, r=r, imputation=imputation)
    if data.empty:
        return [], data
    fit = pool(data, method, test, level)
    what = f"controlled contrast: MSC vs placebo ({contrast['effect']}, randomized studies only)"
    fit["message"] = what + (f"; {fit['message']}" if fit.get("message") else "")
    rows = [_row(name, contrast, data, fit, "all", "main", effect=contrast["effect"])]
    single = {**spec, "records": records}
    placebo, _ = analysis_dataset(corpus, single, r=r, imputation=imputation, arm="comparator")
    if len(placebo):
        rows.append(_row(name, single, placebo, pool(placebo, method, test, level, _model(spec)), "all",
                         "placebo arms of the randomized studies (their own change)"))
    return rows, data


MULTIVERSE_ORDER = ["analysis", "method", "test", "correlation", "imputation", "inclusion"]


def multiverse(corpus: Corpus, analyses: dict[str, dict], grid: dict) -> pd.DataFrame:
    """Every combination of the grid's choices for each listed analysis, fitted in batches.

    Datasets are built once per (analysis, correlation, imputation); each inclusion rule is a mask over
    its rows; then each (estimator, test) pair is one :func:`evsynth.stats.rma_many` call over all
    specifications at once.
    """
    names = grid.get("analyses") or list(analyses)
    stacked, specs = [], []
    spec_id = 0
    for name in names:
        spec = analyses[name]
        corrs = grid.get("correlations", [spec.get("prepost_correlation", 0.5)]) if spec["effect"].upper() == "MC" else [np.nan]
        imps = grid.get("imputation", [spec.get("imputation", "wan2014")]) if spec["effect"].upper() in ("MC", "MD") else [""]
        datasets: dict[tuple, pd.DataFrame] = {}
        for r, imp in itertools.product(corrs, imps):
            r_used = 0.5 if np.isnan(r) else r
            key = (imp, r_used if uses_correlation(corpus, spec, imp or "wan2014") else None)
            if key not in datasets:  # a dataset no correlation changes is built once
                datasets[key], _ = analysis_dataset(corpus, spec, r=r_used, imputation=imp or "wan2014")
            built = datasets[key]
            for incl in grid.get("inclusion", ["all"]):
                data = built.loc[_inclusion_mask(built, incl)] if len(built) else built
                specs.append({"spec": spec_id, "analysis": name, "effect": spec["effect"].upper(),
                              "correlation": r, "imputation": imp, "inclusion": incl,
                              "studies": ";".join(data["label"]) if len(data) else ""})
                if len(data):
                    stacked.append(data[["yi", "vi", "n"]].assign(spec=spec_id))
                spec_id += 1
    spec_frame = pd.DataFrame(specs)
    stack = pd.concat(stacked, ignore_index=True) if stacked else pd.DataFrame(columns=["yi", "vi", "n", "spec"])
    out = []
    for method, test in itertools.product(grid.get("estimators", ["REML"]), grid.get("tests", ["z"])):
        fits = rma_many(stack, "spec", method=method, test=test) if len(stack) else pd.DataFrame(columns=["spec"])
        merged = spec_frame.merge(fits, on="spec", how="left")
        for col in ("k", "estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "i2", "pval", "converged", "message"):
            if col not in merged.columns:  # no specification had data
                merged[col] = np.nan
        merged["method"], merged["test"] = method, test
        out.append(merged)
    result = pd.concat(out, ignore_index=True)
    result["converged"] = result["converged"].astype("boolean").fillna(False).astype(bool)
    result["message"] = result["message"].fillna("no study has data for this specification")
    sizes = {k: g["n"].to_numpy(float) for k, g in stack.groupby("spec")} if len(stack) else {}
    for c in ("estimate", "ci_lb", "ci_ub"):  # Freeman-Tukey back-transforms with each specification's sizes
        result[f"{c}_bt"] = [float(measure(e).backtransform([x], sizes.get(k))[0])
                             for e, x, k in zip(result["effect"], result[c], result["spec"])]
    cols = ["analysis", "effect", "method", "test", "correlation", "imputation", "inclusion", "k", "estimate", "ci_lb",
            "ci_ub", "pi_lb", "pi_ub", "tau2", "i2", "pval", "estimate_bt", "ci_lb_bt", "ci_ub_bt", "converged",
            "message", "studies"]
    result["k"] = result["k"].fillna(0).astype(int)
    return result[cols].sort_values(MULTIVERSE_ORDER).reset_index(drop=True)


def _inclusion_mask(data: pd.DataFrame, inclusion: str) -> np.ndarray:
    """The rows of a dataset a multiverse inclusion rule keeps."""
    if inclusion == "all":
        return np.ones(len(data), dtype=bool)
    return {"exclude_confounded": lambda: ~data["confounded"].to_numpy(bool),
            "exclude_imputed": lambda: ~data["imputed"].to_numpy(bool),
            "exclude_high_risk": lambda: ~data["high_risk"].to_numpy(bool),
            "exclude_uncontrolled": lambda: ~data["design"].isin(UNCONTROLLED).to_numpy()}[inclusion]()


def combine_multiverse(shards: list[pd.DataFrame]) -> pd.DataFrame:
    """The multiverse table from per-analysis shards (each a :func:`multiverse` of one analysis), in the order
    :func:`multiverse` gives all analyses at once; each specification is fitted on its own, so a shard's rows
    equal the rows of a single run."""
    return pd.concat(shards, ignore_index=True).sort_values(MULTIVERSE_ORDER).reset_index(drop=True)
