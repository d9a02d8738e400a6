"""GRADE certainty of a body of evidence, one outcome and population at a time, with the reason in words.

Each domain is its own small function returning a :class:`Rating` (levels to rate down, 0-2, and why),
so every rule is tested on its own. :func:`grade_table` applies them to a table of evidence rows (one row
per outcome and population, built by :mod:`evsynth.answer.sof`) and adds the final level and GRADE's
standard plain-language statement. A reviewer's judgement replaces a derived one (:func:`load_overrides`,
then ``grade_table(..., overrides=...)``) and is shown as such.

The rules (GRADE Handbook, section 5; GRADE guidelines 3-8 in J Clin Epidemiol 2011; statements from
GRADE guidelines 26, Santesso et al. 2020):

- **start**: high when the estimate is a randomized comparison (MSC vs comparator, every study an RCT);
  low otherwise. A single-arm estimate (a mean change, a proportion of treated patients) is a
  before-after or uncontrolled observation even when the arm belongs to a randomized trial, so it starts
  low.
- **risk of bias**: from the checklist's overall judgement per study (``bias_overall.csv``), weighted by
  the study's weight in the fit: very serious (-2) when every study is at high risk, serious (-1) when
  the high-risk share reaches ``rob_serious_share`` or no study is at low risk.
- **inconsistency**: not assessable with one study; very serious when I^2 >= ``i2_very_serious`` and
  the studies' point estimates fall on both sides of the null; serious when I^2 >= ``i2_serious``, the
  estimates fall on both sides of the null, or the prediction interval crosses a null its CI excludes.
- **indirectness**: one level per issue, at most two: the population differs from the one asked about
  (adult evidence for a pediatric question), a surrogate outcome, conditions mixed in one estimate of
  benefit.
- **imprecision**: one level per issue, at most two: the CI wider than the outcome's threshold, a
  comparative CI that includes the null, total events (binary) or patients (continuous) below the
  optimal information size.
- **publication bias**: a small-study test only where k >= ``min_k_small_study`` (Sterne 2011: 10);
  otherwise not assessable, with the reason, and not rated down.
- **final**: start minus the levels rated down, never below very low. Rating up (large effect,
  dose-response) is not derived; a reviewer can set it through an override.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evsynth.common.inputs import InputError, load_yaml
from evsynth.common.measures import codes

__all__ = [
    "LEVELS", "DOMAINS", "Rating", "GradeError", "starting_level", "rate_risk_of_bias", "rate_inconsistency",
    "rate_indirectness", "rate_imprecision", "rate_publication_bias", "final_level", "statement",
    "grade_table", "load_overrides", "DEFAULTS",
]

LEVELS = ["very low", "low", "moderate", "high"]
DOMAINS = ["risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias"]
RANDOMIZED = {"rct"}
COMPARATIVE = codes(paired=True)

#: Thresholds of the rating rules (config ``summary_of_findings.grade`` overrides any of them).
DEFAULTS = {
    "rob_serious_share": 0.5,     # share of the weight from studies at high risk that rates down once
    "i2_serious": 50.0,           # I^2 (%) that rates down once
    "i2_very_serious": 75.0,      # I^2 (%) that, with estimates on both sides of the null, rates down twice
    "ois_events": 300,            # optimal information size, binary outcomes: total events
    "ois_patients": 400,          # optimal information size, continuous outcomes: total patients
    "min_k_small_study": 10,      # studies needed for a small-study (funnel asymmetry) test
    "small_study_alpha": 0.10,    # p-value of the small-study test that rates down
}


class GradeError(InputError):
    """A reviewer's override file that cannot be applied, said in plain English."""


@dataclass(frozen=True)
class Rating:
    """One domain's judgement: levels rated down (0, 1, 2) and why; ``assessable`` False for 'not assessable'."""

    down: int
    reason: str
    assessable: bool = True

    @property
    def text(self) -> str:
        if not self.assessable:
            return f"not assessable: {self.reason}"
        label = {0: "not serious", 1: "serious (-1)", 2: "very serious (-2)"}[self.down]
        return f"{label}: {self.reason}"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _present(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


# --------------------------------------------------------------------------------------------
# the rules


def starting_level(designs: list[str], comparative: bool) -> tuple[str, str]:
    """(level, reason): high for a randomized comparison, low for anything else."""
    designs = sorted(set(designs))
    if comparative and designs and set(designs) <= RANDOMIZED:
        return "high", "randomized comparison (every study an RCT)"
    if not comparative:
        return "low", "single-arm estimate (no comparator), designs: " + ", ".join(designs or ["none"])
    return "low", "comparison includes non-randomized designs: " + ", ".join(designs)


def rate_risk_of_bias(judgements: list[str], weights: list[float] | None = None,
                      serious_share: float = DEFAULTS["rob_serious_share"]) -> Rating:
    """Rate down from the studies' overall bias judgements (low / some concerns / high, or ROBINS-I's
    low / moderate / serious / critical), weighted by the weights given (equal weights otherwise)."""
    if not judgements:
        return Rating(0, "no study", assessable=False)
    w = [1.0] * len(judgements) if weights is None else [float(x) if _present(x) else 0.0 for x in weights]
    if sum(w) <= 0:
        w = [1.0] * len(judgements)
    high = {"high", "serious", "critical"}
    low = {"low"}
    j = [str(x).strip().lower() for x in judgements]
    unknown = [x for x in j if x in ("", "nan", "none", "not applicable", "not appraised")]
    share_high = sum(wi for wi, x in zip(w, j) if x in high) / sum(w)
    n_high = sum(x in high for x in j)
    counts = f"{n_high} of {len(j)} studies at high risk ({share_high:.0%} of the weight)"
    if unknown:
        counts += f"; {len(unknown)} not appraised"
    if n_high == len(j):
        return Rating(2, counts)
    if share_high >= serious_share:
        return Rating(1, counts + f" >= {serious_share:.0%}")
    if not any(x in low for x in j):
        return Rating(1, counts + "; no study at low risk")
    return Rating(0, counts)


def rate_inconsistency(k: int, i2: float, study_estimates: list[float], null: float | None,
                       ci: tuple[float, float] | None = None, pi: tuple[float, float] | None = None,
                       i2_serious: float = DEFAULTS["i2_serious"],
                       i2_very_serious: float = DEFAULTS["i2_very_serious"]) -> Rating:
    """Rate down for unexplained heterogeneity: I^2, the direction of the study estimates, the PI."""
    if k < 2:
        return Rating(0, f"k = {k}: a single study, heterogeneity not estimable", assessable=False)
    reasons, both_sides = [], False
    if null is not None:
        above = sum(1 for y in study_estimates if y > null)
        below = sum(1 for y in study_estimates if y < null)
        both_sides = above > 0 and below > 0
        if both_sides:
            reasons.append(f"study estimates on both sides of {_fmt(null)} ({below} below, {above} above)")
    i2 = float(i2) if _present(i2) else float("nan")
    if _present(i2) and i2 >= i2_serious:
        reasons.append(f"I^2 = {i2:.0f}% >= {i2_serious:.0f}%")
    if null is not None and ci and pi and all(_present(x) for x in (*ci, *pi)):
        ci_excl = not (ci[0] <= null <= ci[1])
        pi_incl = pi[0] <= null <= pi[1]
        if ci_excl and pi_incl:
            reasons.append(f"the prediction interval ({_fmt(pi[0])} to {_fmt(pi[1])}) includes {_fmt(null)}, "
                           "the CI does not")
    if _present(i2) and i2 >= i2_very_serious and both_sides:
        return Rating(2, "; ".join(reasons))
    if reasons:
        return Rating(1, "; ".join(reasons))
    i2_text = f"I^2 = {i2:.0f}%" if _present(i2) else "I^2 not estimated"
    return Rating(0, f"{i2_text} < {i2_serious:.0f}%" + ("; study estimates on one side of the null"
                                                          if null is not None else ""))


def rate_indirectness(populations: list[str], target: str, surrogate: bool = False,
                      conditions: list[str] | None = None, benefit: bool = True) -> Rating:
    """One level per issue (at most two): another population than ``target``, a surrogate outcome,
    several conditions in one estimate of benefit."""
    issues = []
    others = sorted({p for p in populations if p != target})
    if others:
        issues.append(f"{', '.join(others)} evidence for a {target} question")
    if surrogate:
        issues.append("surrogate outcome (a laboratory measure, not how patients feel, function or survive)")
    conditions = sorted(set(conditions or []))
    if benefit and len(conditions) > 1:
        issues.append(f"conditions mixed in one estimate: {', '.join(conditions)}")
    if not issues:
        where = f"; conditions {', '.join(conditions)}" + ("" if benefit else " (harms pooled across conditions)") \
            if conditions else ""
        return Rating(0, f"{target} patients, the outcome itself{where}")
    return Rating(min(2, len(issues)), "; ".join(issues))


def rate_imprecision(ci_lb: float, ci_ub: float, total: float, ois: float, ois_unit: str,
                     width_threshold: float | None = None, null: float | None = None,
                     log_scale: bool = False) -> Rating:
    """One level per issue (at most two): CI wider than ``width_threshold`` (on the scale shown, or in
    log units for ratios), a comparative CI including ``null``, total ``ois_unit`` below ``ois``."""
    if not (_present(ci_lb) and _present(ci_ub)):
        return Rating(0, "no confidence interval", assessable=False)
    issues, fine = [], []
    if _present(width_threshold) and width_threshold is not None:
        width = (math.log(ci_ub) - math.log(ci_lb)) if log_scale and ci_lb > 0 else ci_ub - ci_lb
        unit = " (log units)" if log_scale else ""
        text = f"CI width {_fmt(width)}{unit} {'>' if width > width_threshold else '<='} {_fmt(width_threshold)}"
        (issues if width > width_threshold else fine).append(text)
    if null is not None and ci_lb <= null <= ci_ub:
        issues.append(f"CI {_fmt(ci_lb)} to {_fmt(ci_ub)} includes no effect ({_fmt(null)})")
    total = float(total) if _present(total) else 0.0
    if total < ois:
        issues.append(f"{total:.0f} {ois_unit} < optimal information size {ois:.0f}")
    else:
        fine.append(f"{total:.0f} {ois_unit} >= optimal information size {ois:.0f}")
    if issues:
        return Rating(min(2, len(issues)), "; ".join(issues))
    return Rating(0, "; ".join(fine))


def rate_publication_bias(k: int, small_study_p: float | None = None,
                          min_k: int = DEFAULTS["min_k_small_study"],
                          alpha: float = DEFAULTS["small_study_alpha"]) -> Rating:
    """Rate down once if a small-study test (k >= ``min_k``) has p < ``alpha``; else not assessable."""
    if k < min_k:
        return Rating(0, f"k = {k} < {min_k} studies, too few for a small-study test (funnel plot, Egger)",
                      assessable=False)
    if not _present(small_study_p):
        return Rating(0, f"k = {k} but no small-study test result", assessable=False)
    if small_study_p < alpha:
        return Rating(1, f"small-study test p = {small_study_p:.3g} < {alpha:g}")
    return Rating(0, f"small-study test p = {small_study_p:.3g} >= {alpha:g}")


def final_level(start: str, downs: list[int]) -> str:
    """Start level minus the levels rated down, never below very low."""
    return LEVELS[max(0, LEVELS.index(start) - sum(downs))]


def statement(level: str, intervention: str, outcome: str, population: str, comparative: bool,
              estimate: float | None = None, null: float | None = None, ci: tuple[float, float] | None = None) -> str:
    """GRADE's standard wording for the level of certainty (GRADE guidelines 26).

    Comparative estimates: 'reduces' / 'likely reduces' / 'may reduce' (or increases), or 'results in
    little to no difference' when the CI includes the null. Single-arm estimates describe what was
    observed after the intervention, never an effect. Very low: 'The evidence is very uncertain about the
    effect of ...'.
    """
    if level == "very low":
        return f"The evidence is very uncertain about the effect of {intervention} on {outcome} in {population}."
    if not comparative or estimate is None or null is None:
        seen = {"high": "is", "moderate": "is probably", "low": "may be"}[level]
        return (f"In {population} given {intervention}, {outcome} {seen} as estimated here; without a "
                "comparator this is not an effect of the treatment.")
    if ci and ci[0] <= null <= ci[1]:
        verb = {"high": "results", "moderate": "likely results", "low": "may result"}[level]
        return f"{_sentence(intervention)} {verb} in little to no difference in {outcome} in {population}."
    down = estimate < null
    verb = {"high": ("reduces", "increases"), "moderate": ("likely reduces", "likely increases"),
            "low": ("may reduce", "may increase")}[level][0 if down else 1]
    return f"{_sentence(intervention)} {verb} {outcome} in {population}."


# --------------------------------------------------------------------------------------------
# the table


def _split(value) -> list[str]:
    if not _present(value) or value == "":
        return []
    return [x for x in str(value).split(";") if x]


def _floats(value) -> list[float]:
    return [float(x) for x in _split(value)]


def grade_table(evidence: pd.DataFrame, settings: dict | None = None,
                overrides: list[dict] | None = None) -> pd.DataFrame:
    """GRADE columns for each evidence row, with a reviewer's overrides applied and shown.

    ``evidence`` columns (one row per outcome and population): ``outcome``, ``population`` (key the
    overrides match), ``population_label`` (words used in statements), ``target`` (the population asked
    about), ``k``, ``designs``, ``comparative``, ``null`` (NaN for none), ``log_scale``, ``estimate``,
    ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub``, ``i2``, ``study_estimates`` (';'-joined, on the scale of
    ``null``), ``bias_judgements`` and ``bias_weights`` (';'-joined, one per study), ``populations``,
    ``conditions`` (';'-joined), ``surrogate``, ``benefit``, ``total`` and ``ois_unit`` (events or
    patients), ``ci_width_threshold``, ``small_study_p``, ``intervention``.

    Returns ``start``, one column per domain (its text), ``downgrades`` ('domain -n; ...'),
    ``certainty``, ``statement`` and ``overrides`` (the reviewer's changes, empty if none). Rows with
    k = 0 get 'no evidence' and no domain text. Every override must match a row with evidence.
    """
    s = {**DEFAULTS, **(settings or {})}
    overrides = list(overrides or [])
    used: set[int] = set()
    rows = []
    for r in evidence.to_dict("records"):
        k = int(r["k"]) if _present(r.get("k")) else 0
        mine = [(j, o) for j, o in enumerate(overrides)
                if o["outcome"] == r["outcome"] and o["population"] == r["population"]]
        if k == 0:
            if mine:
                raise GradeError(f"{mine[0][1]['_where']}: '{r['outcome']}' in '{r['population']}' has no "
                                 "evidence to rate")
            rows.append({"start": "", **{d: "" for d in DOMAINS}, "downgrades": "", "certainty": "no evidence",
                         "statement": f"No study in this body of evidence reports {r['outcome']} in "
                                      f"{r['population_label']}.", "overrides": ""})
            continue
        null = float(r["null"]) if _present(r.get("null")) else None
        comparative = bool(r["comparative"])
        start, start_reason = starting_level(_split(r["designs"]), comparative)
        judgements = _split(r.get("bias_judgements"))
        weights = _floats(r.get("bias_weights")) or None
        ratings = {
            "risk_of_bias": rate_risk_of_bias(judgements, weights if weights and len(weights) == len(judgements)
                                              else None, s["rob_serious_share"]),
            "inconsistency": rate_inconsistency(k, r.get("i2"), _floats(r.get("study_estimates")), null,
                                                (r.get("ci_lb"), r.get("ci_ub")), (r.get("pi_lb"), r.get("pi_ub")),
                                                s["i2_serious"], s["i2_very_serious"]),
            "indirectness": rate_indirectness(_split(r.get("populations")), r["target"], bool(r.get("surrogate")),
                                              _split(r.get("conditions")), bool(r.get("benefit", True))),
            "imprecision": rate_imprecision(r.get("ci_lb"), r.get("ci_ub"), r.get("total"),
                                            float(s["ois_events"] if r["ois_unit"] == "events" else s["ois_patients"]),
                                            r["ois_unit"], r.get("ci_width_threshold"),
                                            null if comparative else None, bool(r.get("log_scale"))),
            "publication_bias": rate_publication_bias(k, r.get("small_study_p"), int(s["min_k_small_study"]),
                                                      float(s["small_study_alpha"])),
        }
        notes, level_set = [], None
        for j, o in mine:
            used.add(j)
            who = f" ({o['reviewer']})" if o.get("reviewer") else ""
            notes.append(f"{o['domain']}: {o['reason']}{who}")
            if o["domain"] == "certainty":
                level_set = o["rating"]
            else:
                ratings[o["domain"]] = Rating(-int(o["rating"]), f"reviewer override: {o['reason']}{who}")
        level = level_set or final_level(start, [x.down for x in ratings.values()])
        est = r.get("estimate") if _present(r.get("estimate")) else None
        rows.append({
            "start": f"{start}: {start_reason}",
            **{d: ratings[d].text for d in DOMAINS},
            "downgrades": "; ".join(f"{d} -{x.down}" for d, x in ratings.items() if x.down) or "none",
            "certainty": level,
            "statement": statement(level, r["intervention"], r["outcome"], r["population_label"], comparative,
                                   est, null, (r.get("ci_lb"), r.get("ci_ub"))),
            "overrides": "; ".join(notes),
        })
    unused = [o for j, o in enumerate(overrides) if j not in used]
    if unused:
        pairs = sorted(set(zip(evidence["outcome"], evidence["population"])))
        o = unused[0]
        raise GradeError(f"{o['_where']}: no summary-of-findings row for outcome '{o['outcome']}' and "
                         f"population '{o['population']}'; rows are {pairs}")
    return pd.DataFrame(rows, index=evidence.index,
                        columns=["start", *DOMAINS, "downgrades", "certainty", "statement", "overrides"])


# --------------------------------------------------------------------------------------------
# a reviewer's overrides


OVERRIDE_KEYS = {"outcome", "population", "domain", "rating", "reason", "reviewer"}


def load_overrides(path: str | Path | None) -> list[dict]:
    """Read and validate a reviewer's override file (YAML list; absent file or empty list: no overrides).

    Each entry: ``outcome`` (as in the summary of findings), ``population``, ``domain`` (one of
    :data:`DOMAINS` or ``certainty``), ``rating`` (0, -1, -2 for a domain: levels rated down; a level for
    ``certainty``, which may rate up), ``reason`` (required), ``reviewer`` (optional).
    """
    if path is None or not Path(path).exists():
        return []
    parsed = load_yaml(path)  # YAML syntax, tags, keys given twice, encoding: file and line
    if parsed.problems:
        raise GradeError("\n".join(str(p) for p in parsed.problems))
    doc = parsed.data
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise GradeError(f"{path}: expected a list of overrides, got {type(doc).__name__}")
    out = []
    for i, entry in enumerate(doc, start=1):
        where = f"{path}, line {parsed.line_of(i - 1)}, entry {i}"
        if not isinstance(entry, dict):
            raise GradeError(f"{where}: expected a mapping with keys {sorted(OVERRIDE_KEYS)}")
        unknown = set(entry) - OVERRIDE_KEYS
        if unknown:
            raise GradeError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(OVERRIDE_KEYS)}")
        for key in ("outcome", "population", "domain", "rating", "reason"):
            if entry.get(key) in (None, ""):
                raise GradeError(f"{where}: '{key}' is required")
        domain = entry["domain"]
        if domain not in (*DOMAINS, "certainty"):
            raise GradeError(f"{where}, domain: '{domain}' is not one of {[*DOMAINS, 'certainty']}")
        rating = entry["rating"]
        if domain == "certainty" and rating not in LEVELS:
            raise GradeError(f"{where}, rating: '{rating}' is not one of {LEVELS}")
        if domain != "certainty" and rating not in (0, -1, -2):
            raise GradeError(f"{where}, rating: '{rating}' is not one of 0, -1, -2 (levels rated down)")
        out.append({**entry, "_where": where})
    return out
