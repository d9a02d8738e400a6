"""The effect measures an analysis may declare (config ``effect``): one registry for the analyses, the
forest plots, the multiverse, the summary of findings and GRADE (which effects are comparative, proportions,
ratios: :func:`codes`).

Each :class:`Measure` says on which scale it is pooled, how it goes back to the natural scale (by the
engine's :func:`evsynth.stats.effects.backtransform`), how its axis is labelled, where its null line is
(None: no null for a single-arm proportion) and whether it compares an MSC arm with a comparator arm
(``paired``) or describes MSC arms alone. What it is called is said here too (:attr:`Measure.words`,
:attr:`Measure.analysis_label`): the forest plots' axes and captions, the specification curves, the funnel plots
and the summary of findings take their wording from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Measure:
    code: str
    label: str  # the measure on its natural scale (the analysis scale's name: :attr:`analysis_label`)
    scale: str  # back-transform to the natural scale: identity, exp, ilogit, ipft (pooled.csv ``scale``)
    null: float | None  # no-effect value on the analysis scale; None: no null line
    paired: bool  # MSC arm vs comparator arm (else MSC arms alone)
    binary: bool  # events / n (else means)

    def backtransform(self, x, ni=None) -> np.ndarray:
        """Values on the natural scale (Freeman-Tukey: with the harmonic mean of the sizes ``ni``; NaN without)."""
        if self.code == "PFT" and (ni is None or len(np.atleast_1d(ni)) == 0):
            return np.full(np.shape(np.atleast_1d(x)), np.nan)
        # the engine (scipy) only where a value is back-transformed: config checks and every job read this registry
        from evsynth.stats.effects import backtransform as engine_backtransform

        return engine_backtransform(self.code, x, ni)

    @property
    def proportion(self) -> bool:
        """A single-arm proportion (events / n of MSC arms): PLO, PR, PFT."""
        return self.binary and not self.paired

    @property
    def ratio(self) -> bool:
        """Pooled on the log scale and shown as a ratio (null 1 on the natural scale): OR, RR."""
        return self.scale == "exp"

    @property
    def words(self) -> str:
        """The measure in running text, on the natural scale and with what a paired measure compares: 'mean
        change from baseline', 'odds ratio, MSC vs placebo'. A paired measure's comparator arms are the placebo
        arms (:func:`evsynth.pool.datasets.msc_arms`)."""
        if self.proportion:
            return "proportion of MSC-treated patients"
        name = self.label.lower()
        if not self.paired:
            return name
        return f"{name}, MSC vs placebo" if self.ratio else f"{name}, MSC minus placebo"

    @property
    def analysis_label(self) -> str:
        """The measure on the scale it is pooled on (a funnel plot's axis): log ratios, logit or Freeman-Tukey
        proportions, the others as they are."""
        prefix = {"exp": "Log ", "ilogit": "Logit ", "ipft": "Freeman-Tukey transformed "}.get(self.scale)
        return self.label if prefix is None else prefix + self.label.lower()

    @property
    def plot_transform(self) -> str | None:
        """The forest plot's ``transform`` (:mod:`evsynth.report.axes`)."""
        return None if self.scale == "identity" else self.scale


MEASURES: dict[str, Measure] = {m.code: m for m in (
    Measure("MC", "Mean change from baseline", "identity", 0.0, paired=False, binary=False),
    Measure("MD", "Mean difference", "identity", 0.0, paired=True, binary=False),
    Measure("PLO", "Proportion", "ilogit", None, paired=False, binary=True),
    Measure("PR", "Proportion", "identity", None, paired=False, binary=True),
    Measure("PFT", "Proportion", "ipft", None, paired=False, binary=True),
    Measure("OR", "Odds ratio", "exp", 0.0, paired=True, binary=True),
    Measure("RR", "Risk ratio", "exp", 0.0, paired=True, binary=True),
    Measure("RD", "Risk difference", "identity", 0.0, paired=True, binary=True),
)}


def codes(**properties: bool) -> frozenset[str]:
    """The effect codes whose registry entries have these properties, e.g. ``codes(paired=True)``."""
    return frozenset(code for code, m in MEASURES.items()
                     if all(getattr(m, name) == value for name, value in properties.items()))


def measure(effect: str) -> Measure:
    """The registry entry of a config ``effect`` (case-insensitive)."""
    try:
        return MEASURES[str(effect).upper()]
    except KeyError:
        raise ValueError(f"effect {effect!r}: expected one of {sorted(MEASURES)}") from None
