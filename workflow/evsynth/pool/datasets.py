"""Analysis datasets: records -> one row per study arm or comparison with ``yi, vi, n`` and every flag a
sensitivity analysis or the multiverse needs (metafor's ``escalc`` step; pooled by :mod:`evsynth.pool.analysis`).

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

The long table (:func:`long_table`): the datasets of one analysis under every harmonization variant
``(r, imputation)`` at once, one row per (variant, study) with ``yi, vi, n`` and the flags filters read
(``imputed``, ``confounded``, ``high_risk``, ``design``, ``population``). What no variant changes is built once
per corpus (imputed summaries, each arm's reported or derived change, lookups by study and arm); a
specification -- the main analysis, a sensitivity variant, a multiverse cell -- is a variant and a mask over
its rows. :func:`analysis_dataset` is its one-variant case.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


from evsynth.common.inputs import InputError
from evsynth.common.measures import measure
from evsynth.describe.harms import patients_with_event
from evsynth.harmonize.imputation import impute_summary
from evsynth.stats.effects import escalc


UNCONTROLLED = {"case_report", "case_series"}

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
    best: dict[tuple, float] = {}  # the best score per (study, group), in one pass
    keys = list(zip(inside["study"], inside["group"]))
    for key, s in zip(keys, score.tolist()):
        if s > best.get(key, -math.inf):
            best[key] = s
    return inside.loc[[s == best.get(key) for key, s in zip(keys, score.tolist())]]


def _stats_wide(frame: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """One row per ``index`` (sorted) with a value per statistic (the first given; columns sorted), ``imputed``
    (any), ``imputation`` (the methods, sorted), ``lines`` (in order, once each) and ``file`` (the first);
    keys with a missing part and keys without any value are left out (pandas' pivot table of the rows)."""
    groups: dict[tuple, dict] = {}
    columns = [frame[c].tolist() for c in [*index, "stat", "value_h", "imputed", "imputation", "line", "file"]]
    for *key, stat, value, imputed, method, line, file in zip(*columns):
        if any(pd.isna(k) for k in key):
            continue
        g = groups.setdefault(tuple(key), {"values": {}, "imputed": False, "methods": set(), "lines": {}, "file": None})
        if not pd.isna(value):
            g["values"].setdefault(stat, value)
        g["imputed"] = g["imputed"] or bool(imputed)
        if method:
            g["methods"].add(method)
        g["lines"][str(line)] = None
        if g["file"] is None and not pd.isna(file):
            g["file"] = file
    keys = sorted(k for k, g in groups.items() if g["values"])
    stats = sorted({stat for g in groups.values() for stat in g["values"]})
    out = {c: [k[i] for k in keys] for i, c in enumerate(index)}
    out.update({stat: [groups[k]["values"].get(stat, np.nan) for k in keys] for stat in stats})
    out.update(imputed=[groups[k]["imputed"] for k in keys],
               imputation=[";".join(sorted(groups[k]["methods"])) for k in keys],
               lines=[";".join(groups[k]["lines"]) for k in keys], file=[groups[k]["file"] for k in keys])
    return pd.DataFrame(out)


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


def _continuous_arms(corpus: Corpus, measures: list[str], window: dict, r: float, imputation: str) -> list[dict]:
    """Per (study, group): change mean, SD, n and how they were obtained (one dict per arm). The pre-post
    correlation ``r`` enters only the changes derived from follow-up and baseline summaries, all in one
    ``escalc`` call (elementwise: the values of one call per arm)."""
    prep = _continuous_prep(corpus, measures, window, imputation)
    if prep is None:
        return []
    reported, derived, patients = prep
    rows = list(reported)
    if derived:
        inputs = {k: [rec[k] for rec in derived] for k in ("m1i", "m2i", "sd1i", "sd2i", "ni")}
        try:
            es = escalc("MC", **inputs, ri=[r] * len(derived))
        except ValueError:  # name the arm the engine refuses
            for rec in derived:
                _escalc_at(rec, "MC", **{k: [rec[k]] for k in inputs}, ri=[r])
            raise
        for rec, yi, vi in zip(derived, es.yi, es.vi):
            how = f"follow-up minus baseline; change SD from r={r:g}" + rec["how"]
            rows.append({**rec["key"], "mean": yi, "sd": math.sqrt(vi * rec["ni"]), "n": rec["ni"], "imputed": True,
                         "how": how, "lines": rec["lines"], "file": rec["file"]})
    return rows + patients


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
    return prep is not None and bool(prep[1])


def _has_medians(outcomes_h: pd.DataFrame, measures: list[str]) -> bool:
    """Whether any reported (not imputed) row of these measures is a median."""
    o = outcomes_h
    return bool((o["measure"].isin(measures) & ~o["imputed"].astype(bool) & o["stat"].eq("median")).any())


def _summaries(corpus: Corpus, imputation: str) -> pd.DataFrame:
    """Every reported outcome row with the means and SDs ``imputation`` estimates (:func:`impute_summary`, per
    study, group, measure, timepoint and metric), once per corpus and method. Derived change rows are left
    out: change SDs are derived with each analysis' pre-post correlation (:func:`_continuous_arms`)."""
    def build():
        o = corpus.outcomes_h
        o = impute_summary(o.loc[~o["imputed"].astype(bool)], method=imputation)
        return o.loc[~(o["imputed"].astype(bool) & o["metric"].eq("change"))]
    return _memo(corpus, ("summaries", imputation), build)


def _continuous_tables(corpus: Corpus, measures: list[str], window: dict, imputation: str):
    """What :func:`_continuous_arms` reads, built once per (measures, window, imputation): the arms with a
    reported change (rows), the arms whose change is derived from follow-up and baseline summaries (their
    inputs), individual patients' changes (one row per study). ``None``: no rows."""
    o = _summaries(corpus, imputation)
    o = o.loc[o["measure"].isin(measures)]
    if o.empty:
        return None
    # aggregate arms: reported change first
    agg = o.loc[o["stat"].isin(["mean", "sd", "n", "unspecified"])]
    change = _stats_wide(_pick_time(agg.loc[agg["metric"] == "change"], window),
                         ["study", "group", "measure", "timepoint", "time_months"])
    level = agg.loc[agg["metric"] == "level"]
    base = _stats_wide(level.loc[level["timepoint"] == "baseline"], ["study", "group", "measure"])
    post = _stats_wide(_pick_time(level, window), ["study", "group", "measure", "timepoint", "time_months"])
    both = post.merge(base, on=["study", "group", "measure"], suffixes=("", "_0")) if len(base) and len(post) else None
    reported, derived = [], []
    done = set()
    for rec in change.to_dict("records"):
        if not (np.isfinite(rec.get("mean", np.nan)) and np.isfinite(rec.get("sd", np.nan))):
            continue
        n = rec.get("n", np.nan)
        n = n if np.isfinite(n) else _arm_n(corpus, rec["study"], rec["group"])
        reported.append({**_key(rec), "mean": rec["mean"], "sd": rec["sd"], "n": n, "imputed": bool(rec["imputed"]),
                         "how": "reported change" + (f" ({rec['imputation']})" if rec["imputation"] else ""),
                         "lines": rec["lines"], "file": rec["file"]})
        done.add((rec["study"], rec["group"]))
    for rec in both.to_dict("records") if both is not None else []:
        if (rec["study"], rec["group"]) in done:
            continue
        m1, m0 = rec.get("mean", np.nan), rec.get("mean_0", np.nan)
        s1, s0 = rec.get("sd", np.nan), rec.get("sd_0", np.nan)
        if not all(np.isfinite(x) for x in (m1, m0, s1, s0)):
            continue
        n = rec.get("n", np.nan)
        n = n if np.isfinite(n) else rec.get("n_0", np.nan)
        n = n if np.isfinite(n) else _arm_n(corpus, rec["study"], rec["group"])
        how = ""
        if rec["imputed"] or rec["imputed_0"]:
            how = "; means/SDs " + ";".join(x for x in (rec["imputation"], rec["imputation_0"]) if x)
        derived.append({"key": _key(rec), "study": rec["study"], "m1i": m1, "m2i": m0, "sd1i": s1, "sd2i": s0,
                        "ni": n, "how": how, "lines": f"{rec['lines_0']};{rec['lines']}", "file": rec["file"]})
        done.add((rec["study"], rec["group"]))
    return reported, derived, _patients_changes(o, window, {s for s, _ in done})


def _patients_changes(o: pd.DataFrame, window: dict, with_arms: set) -> list[dict]:
    """Individual patients: per study and measure, the mean and SD of the patients' changes from baseline
    (studies in ``with_arms`` use their arm summaries instead)."""
    ind = o.loc[(o["stat"] == "value") & (o["metric"] == "level")]
    if not len(ind):
        return []
    b = ind.loc[ind["timepoint"] == "baseline"].sort_values("line").drop_duplicates(["study", "group", "measure"])
    f = _pick_time(ind, window).sort_values("line").drop_duplicates(["study", "group", "measure"])
    pairs = f.merge(b, on=["study", "group", "measure"], suffixes=("", "_0"))
    pairs["change"] = pairs["value_h"] - pairs["value_h_0"]
    rows = []
    for (study, measure), g in pairs.groupby(["study", "measure"]):
        if study in with_arms:
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
    return rows


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
    one 'patients' row by :func:`_continuous_arms`. Per (variant, study) of the long table, grouped at once.
    """
    if arms.empty or not indiv:
        return arms
    is_ind = arms["study"].isin(indiv)
    ind = arms.loc[is_ind]
    whole = ind.loc[ind["group"].isin(["all", "patients"])].drop_duplicates(["variant", "study"])
    keep = [arms.loc[~is_ind], whole]
    if measure(effect).binary:
        done = set(zip(whole["variant"], whole["study"]))
        parts = ind.loc[[key not in done for key in zip(ind["variant"], ind["study"])]]
        for _, g in parts.groupby(["variant", "study"]):  # only series reporting patients one by one
            first = g.iloc[0].to_dict()
            first.update(group="patients", events=g["events"].sum(), n=g["n"].sum(),
                         how=f"summed over patients {', '.join(g['group'])}", lines=";".join(g["lines"]))
            keep.append(pd.DataFrame([first]))
    return pd.concat(keep, ignore_index=True)


def _flags(corpus: Corpus, frame: pd.DataFrame) -> pd.DataFrame:
    """Add design, population, confounding and risk-of-bias flags per study."""
    confounded = _memo(corpus, ("confounded",), lambda: _confounding(corpus.tables["cointerventions"]))
    out = frame.copy()
    study = out["study"]
    out["design"] = [corpus.studies[s].get("design") for s in study]
    out["population"] = [corpus.studies[s].get("population") for s in study]
    out["confounded"] = study.isin(confounded.index)
    out["cointerventions"] = study.map(confounded).fillna("")
    out["high_risk"] = study.isin(corpus.high_risk)
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
    """Studies left out of each variant's dataset and why, in the order found (one table at the end, not one per
    study or variant); every variant starts from the studies the record filters leave out (``dropped``)."""

    def __init__(self, dropped: pd.DataFrame, variants: int) -> None:
        first = dropped[["study", "reason"]].to_dict("records")
        self.rows = [{**row, "variant": v} for v in range(variants) for row in first]
        self.studies = [{row["study"] for row in first} for _ in range(variants)]

    def add(self, variant: int, study: str, reason: str) -> None:
        self.rows.append({"study": study, "reason": reason, "variant": variant})
        self.studies[variant].add(study)

    def table(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=["study", "reason", "variant"])
        return frame.sort_values(["variant", "study"], kind="stable").reset_index(drop=True)


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
    return {**_single_arm_fields(rec, arms_rule), "yi": es.yi[0], "vi": es.vi[0]}


def _single_arm_fields(rec: dict, arms_rule: str) -> dict:
    """A single-arm dataset row but its effect size."""
    return {**{k: rec[k] for k in ("study", "group", "measure", "timepoint", "imputed", "how", "lines", "file")},
            "n": rec["n"], "events1": rec.get("events", np.nan), "mean1": rec.get("mean", np.nan),
            "sd1": rec.get("sd", np.nan), "arms": arms_rule}


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

    The one variant ``(r, imputation)`` of :func:`long_table`.
    """
    data, excluded = long_table(corpus, spec, [(r, imputation)], arm=arm, min_patients=min_patients)
    return variant_dataset(data, 0), excluded.drop(columns="variant")


def variant_dataset(table: pd.DataFrame, variant: int) -> pd.DataFrame:
    """One variant's dataset from a :func:`long_table`, as :func:`analysis_dataset` gives it (a frame without
    columns when no study has data)."""
    if table.empty or not (table["variant"] == variant).any():
        return pd.DataFrame()
    return table.loc[table["variant"] == variant].drop(columns="variant").reset_index(drop=True)


def long_table(corpus: Corpus, spec: dict, variants: list[tuple[float, str]], arm: str = "msc",
               min_patients: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The analysis datasets of every harmonization variant ``(r, imputation)`` in one long table.

    One row per (variant, study) -- its arm for single-arm measures, its comparison for paired ones -- with
    ``yi, vi, n``, how they were obtained, and every flag a filter reads (``imputed``, ``confounded``,
    ``high_risk``, ``design``, ``population``); ``variant`` is the position in ``variants``. ``excluded``:
    every study left out, per variant, and why. The rules are :func:`analysis_dataset`'s, applied with
    grouped operations over all variants and studies at once; a specification (a sensitivity variant, a
    multiverse cell) is a variant and a mask over the rows.
    """
    effect = spec["effect"].upper()
    paired = measure(effect).paired
    window = spec.get("timepoint", {})
    studies, dropped = eligible_studies(corpus, spec.get("records", {}))
    excluded = _Excluded(dropped, len(variants))
    measures = spec["outcome"].get("measures", [])
    if min_patients is None:
        min_patients = int(spec.get("individual_min_patients", 3))
    if measure(effect).binary:
        one = _binary_arms(corpus, spec, window)
        parts = [one.assign(variant=v) for v in range(len(variants))] if len(one) else []
    else:
        parts = [pd.DataFrame([{**row, "variant": v} for v, (r, imputation) in enumerate(variants)
                               for row in _continuous_arms(corpus, measures, window, r, imputation)])]
        parts = [p for p in parts if len(p)]
    arms = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["study", "group", "measure",
                                                                                  "variant"])
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
        for rec in arms.loc[small, ["variant", "study", "n"]].to_dict("records"):
            excluded.add(rec["variant"], rec["study"], (
                f"individual-level series of {int(rec['n'])} patient{'s' if rec['n'] != 1 else ''} (fewer than "
                f"individual_min_patients = {min_patients}): described per patient, not pooled as a mean"))
        arms = arms.loc[~small]
    if measures and len(arms) and not spec["outcome"].get("combine_definitions", False):
        arms = _one_definition(arms, measures, excluded)
    arms = arms.reset_index(drop=True)
    rows: list = []
    single: list[int] = []  # rows[i] is None: the one MSC arm at arms position single[j], fitted in one batch
    positions = arms.groupby(["variant", "study"], sort=False).indices
    is_msc, is_placebo = arms["is_msc"].to_numpy(bool), arms["is_placebo"].to_numpy(bool)
    records = arms.to_dict("records") if len(arms) else []
    for v in range(len(variants)):
        for study in studies:
            at = positions.get((v, study), ())
            msc_at = [i for i in at if is_msc[i]]
            if len(msc_at) == 1 and not paired:  # the usual case, without a table per study
                single.append(msc_at[0])
                rows.append(None)
                continue
            if not msc_at:
                if study not in excluded.studies[v]:
                    excluded.add(v, study, "no usable MSC-arm data for this outcome and timepoint"
                                 if arm == "msc" else "no placebo arm with data for this outcome and timepoint")
                continue
            if paired and not any(is_placebo[i] for i in at):
                excluded.add(v, study, "no comparator arm with data")
                continue
            a = arms.iloc[at]
            msc, ctrl = a.loc[a["is_msc"]], a.loc[a["is_placebo"]]
            if paired:
                row = _paired_row(study, msc, ctrl, effect)
            else:
                rec, arms_rule = _one_arm(msc, effect, spec.get("multiple_arms", "combine"))
                row = _single_arm_row(rec, arms_rule, effect)
            rows.append({**row, "variant": v})
    singles = iter(_single_arm_rows([records[i] for i in single], effect))
    rows = [next(singles) if row is None else row for row in rows]
    excluded_table = excluded.table()
    data = pd.DataFrame(rows)
    if data.empty:
        return data, excluded_table
    variant = data.pop("variant")
    data = _flags(corpus, data)
    data["label"] = [f"{study} ({group})" for study, group in zip(data["study"], data["group"])]
    data["variant"] = variant
    return data.sort_values(["variant", "study", "group"]).reset_index(drop=True), excluded_table


def _one_definition(arms: pd.DataFrame, measures: list[str], excluded: _Excluded) -> pd.DataFrame:
    """One outcome definition per pooled estimate (per variant): the first listed measure with data in an MSC
    or comparator arm; studies measuring only another are excluded, named."""
    order = {m: i for i, m in enumerate(measures)}
    none = len(measures)  # the rank of a definition not listed, or of no definition
    rank = arms["measure"].map(lambda m: order.get(_definition(m), none)).to_numpy()
    used = (arms["is_msc"] | arms["is_placebo"]).to_numpy()
    variant = arms["variant"].to_numpy()
    primary = {v: rank[used & (variant == v)].min(initial=none) for v in np.unique(variant)}
    first = np.array([primary[v] for v in variant], dtype=int)
    other = (rank != first) | (first == none)
    with_primary = set(zip(variant[~other], arms["study"].to_numpy()[~other]))
    for (v, study), g in arms.loc[other & used].groupby(["variant", "study"]):
        if (v, study) not in with_primary:
            name = measures[primary[v]] if primary[v] < none else None
            excluded.add(v, study, (
                f"outcome defined as {', '.join(sorted(set(g['measure'])))}, not {name} (the first listed "
                "measure with data); set outcome.combine_definitions: true to pool definitions together"))
    return arms.loc[~other]


def _paired_row(study: str, msc: pd.DataFrame, ctrl: pd.DataFrame, effect: str) -> dict:
    """A paired dataset row (yi, vi): the study's MSC arms (combined) against its comparator arms."""
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
    return row


def _single_arm_rows(recs: list[dict], effect: str) -> list[dict]:
    """:func:`_single_arm_row` of many one-arm records, with one ``escalc`` call (the same values, elementwise);
    a value the engine refuses is named by its own row's call."""
    if not recs:
        return []
    try:
        if effect == "MC":
            es = escalc("MN", mi=[r["mean"] for r in recs], sdi=[r["sd"] for r in recs], ni=[r["n"] for r in recs])
        else:
            es = escalc(effect, xi=[r["events"] for r in recs], ni=[r["n"] for r in recs])
    except ValueError:
        for rec in recs:
            _single_arm_row(rec, "", effect)
        raise
    return [{**_single_arm_fields(rec, ""), "yi": yi, "vi": vi, "variant": rec["variant"]}
            for rec, yi, vi in zip(recs, es.yi, es.vi)]
