"""Reading cell doses as the literature prints them, and the unit vocabulary.

``parse_dose(text)`` turns a record's ``dose_text`` into a :class:`Dose`. It reads what sources really
print, including scraped text where the power of ten lost its superscript. The rules, in order:

1. **Normalization.** ``×``/``x``/``X``/``*`` are multiplication signs; en/em dashes and the minus sign are
   ``-``; superscript digits become ``^d``; ``one`` ... ``ten`` before ``million``/``billion``/``thousand``
   become digits; case is ignored.
2. **Powers of ten.** After a mantissa and a multiplication sign, ``10^6``, ``10(6)``, ``10 (6)``, ``10 6``
   and ``106`` all mean 10^6 (likewise ``107``, ``108``, ``10 12``...). Without a preceding ``× ``
   a number is just a number: ``106 cells`` is 106 cells. ``2e6``, ``2 million``, ``2 billion`` are read
   too. A multiplication sign followed by ``10`` and no exponent (``1 × 10 autologous ... /kg``, the
   exponent was lost) is an error, as is an exponent ``0`` or one with a leading zero (``× 1000``).
3. **What a quantity is** is decided by the words that follow it up to the next number or ``;``:
   ``/kg``, ``per kg``, ``per kilogram`` (also with words in between: ``MSCs/kg``) make it cells per kg;
   a bare ``kg`` without ``/`` is read as per kg and the rule says so ("'/' missing"); ``cells``,
   ``MSCs`` make it a total cell count; ``cells/20 mL`` or ``cells/mL`` make it a concentration; a
   number followed by ``mL``/``cc`` is a volume. A power-of-ten count with no unit at all (``379 × 106``)
   is a total count (rule "unit not stated"), unless the same text also has a per-kg figure, in
   which case it is ambiguous and an error.
4. **Ranges** ``1-2 × 10^6/kg`` (shared power), ``2.5 × 10^7 - 1 × 10^8`` (each with its power) and
   ``... to ...`` give ``*_low``/``*_high``; the point value stays ``None``: no midpoint is ever made up.
5. **Combinations.** One total and one per-kg figure (``100 × 106 cells; approximately 1.8 × 106
   cells/kg/dose``) give both, and ``implied_weight_kg = cells / cells_per_kg``. A volume and a
   concentration give ``cells = volume × concentration`` (``40 mL of 2 × 10^7 cells/20 mL`` = 4 × 10^7).
   A volume and a total (``1 cc of ... MSC; 1.1 × 106 MSCs``) give the total and the volume.
6. **Errors** (:class:`DoseParseError`, naming the text and the reason): no number; a lost exponent;
   several totals or several per-kg figures that are not a range (a list such as
   ``379 × 106, 256 × 106, and 393 × 106 cells``: :class:`DoseListError`, whose ``doses`` hold the
   items so that a caller that knows which administration is which may split it); encoding artefacts
   such as ``1C2 106 kg`` (``C`` for a dash: not read, because ``106`` has no multiplier and could be
   the number 106); a bare power of ten without mantissa (``10 (6)``); a number whose role is not
   clear (``55 kg``, ``median 1.55 (ranging ...)``). Numbers followed by schedule words (``4 weeks``,
   ``3 doses``, ``30 minutes``, ``day 8``) are ignored and listed in the rule.

``Dose.rule`` says what was read, e.g. ``"total 1e+08 cells; per-kg 1.8e+06 (approximate); implied
weight = total / per-kg"``. ``cells_round`` and ``cells_per_kg_round`` are the half-widths of the
printed rounding intervals (``1.8 × 10^6`` printed with one decimal: ± 0.05 × 10^6); they feed the
"beyond rounding" comparison of implied weights in :mod:`evsynth.harmonize.tables`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from evsynth.common.timepoints import DAYS_PER_MONTH
from evsynth.common.inputs import yaml_data

__all__ = [
    "Dose",
    "DoseParseError",
    "DoseListError",
    "parse_dose",
    "parse_dose_items",
    "load_units",
    "DAYS_PER_MONTH",
]


class DoseParseError(ValueError):
    """A ``dose_text`` that cannot be read unambiguously. ``text`` and ``reason`` are attributes."""

    def __init__(self, text: Any, reason: str):
        self.text = text
        self.reason = reason
        super().__init__(f"cannot read dose {text!r}: {reason}")


class DoseListError(DoseParseError):
    """The text lists several doses (one per administration or per cohort); ``doses`` holds them."""

    def __init__(self, text: Any, reason: str, doses: list["Dose"]):
        self.doses = doses
        super().__init__(text, reason)


@dataclass(frozen=True)
class Dose:
    text: str
    cells: float | None = None
    cells_per_kg: float | None = None
    cells_low: float | None = None
    cells_high: float | None = None
    cells_per_kg_low: float | None = None
    cells_per_kg_high: float | None = None
    volume_ml: float | None = None
    implied_weight_kg: float | None = None
    cells_round: float | None = None
    cells_per_kg_round: float | None = None
    approximate: bool = False
    rule: str = ""


# --------------------------------------------------------------------------------------------
# Normalization

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_WORD_NUMBERS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
_SCALES = {"thousand": 1e3, "million": 1e6, "mio": 1e6, "billion": 1e9}


def _normalize(text: str) -> str:
    s = str(text)
    s = re.sub(r"([⁰¹²³⁴⁵⁶⁷⁸⁹]+)", lambda m: "^" + m.group(1).translate(_SUPERSCRIPTS), s)
    s = s.replace("\u00a0", " ").replace("\u2009", " ").replace("\u202f", " ")
    for ch in "–—−‐‑":
        s = s.replace(ch, "-")
    s = s.replace("×", " x ").replace("✕", " x ").replace("·", " x ")
    s = s.replace("’", "'").replace("µ", "u").replace("μ", "u")
    s = s.lower()
    # "2x10^6" -> "2 x 10^6"; "10*6" stays for the multiplier regex
    s = re.sub(r"(?<=\d)\s*[x*]\s*(?=10)", " x ", s)
    s = re.sub(
        r"\b(" + "|".join(_WORD_NUMBERS) + r")\b(?=\s+(?:million|billion|thousand)\b)",
        lambda m: _WORD_NUMBERS[m.group(1)],
        s,
    )
    return re.sub(r"\s+", " ", s).strip()


# --------------------------------------------------------------------------------------------
# Tokens

_NUM = r"\d{1,3}(?:,\d{3})+(?![\d.])|\d+(?:\.\d+)?"
# power of ten after a mantissa and "x": 10^6, 10(6), 10 (6), 10 6, 106
_POW = r"x\s*10\s*(?:\^\s*(?P<{p}a>\d{{1,2}})|\(\s*(?P<{p}b>\d{{1,2}})\s*\)|(?P<{p}c>\d{{1,2}})(?![\d.]))"
_EPOW = r"e\+?(?P<{p}e>\d{{1,2}})(?![\d.])"
_SCALE = r"(?P<{p}s>thousand|million|mio|billion)\b"


def _mult(p: str) -> str:
    return r"(?:\s*" + _POW.format(p=p) + r"|" + _EPOW.format(p=p) + r"|\s*" + _SCALE.format(p=p) + r")"


_QTY_RE = re.compile(
    # range, each side with its own power: 2.5 x 10^7 - 1 x 10^8
    r"(?P<r1>" + _NUM + r")" + _mult("r1") + r"\s*(?:-|to)\s*(?P<r2>" + _NUM + r")" + _mult("r2")
    # range with one shared power: 1-2 x 10^6
    + r"|(?P<s1>" + _NUM + r")\s*(?:-|to)\s*(?P<s2>" + _NUM + r")" + _mult("s")
    # single quantity with a power
    + r"|(?P<q>" + _NUM + r")" + _mult("q")
    # bare number
    + r"|(?P<b>" + _NUM + r")"
)

_SCHEDULE_WORDS = re.compile(
    r"^\s*(?:minutes?|min|hours?|h\b|days?|weeks?|wk|months?|years?|doses?|infusions?|injections?|"
    r"times|transfusions?|patients?|cohorts?|occasions?)\b"
)
_SCHEDULE_BEFORE = re.compile(r"(?:day|days|week|weeks|month|months|cohort|on|and|,)\s*$")


def _mantissa(s: str) -> tuple[float, int]:
    s = s.replace(",", "")
    dec = len(s.split(".")[1]) if "." in s else 0
    return float(s), dec


def _power(m: re.Match, p: str) -> tuple[float, str]:
    """The multiplier of group prefix ``p``: (factor, how it was written)."""
    for key, how in (("a", "^"), ("b", "()"), ("c", "flat"), ("e", "e")):
        g = m.groupdict().get(p + key)
        if g is not None:
            if g.startswith("0"):
                raise _Bad(f"'{m.group(0)}' has exponent {g!r}: not a power of ten that can be read")
            return 10.0 ** int(g), how
    g = m.groupdict().get(p + "s")
    if g is not None:
        return _SCALES[g], g
    return 1.0, ""


class _Bad(Exception):
    pass


@dataclass
class _Q:
    start: int
    end: int
    value: float | None
    low: float | None
    high: float | None
    half: float | None  # rounding half-width
    powered: bool  # carries a power of ten or a scale word
    kind: str = ""  # count | per_kg | conc | volume | denom | skip
    flags: tuple[str, ...] = ()
    denom_ml: float | None = None


def _scan(s: str) -> list[_Q]:
    out: list[_Q] = []
    for m in _QTY_RE.finditer(s):
        g = m.group
        if g("r1") is not None:
            (a, _), (b, _) = _mantissa(g("r1")), _mantissa(g("r2"))
            fa, _ = _power(m, "r1")
            fb, _ = _power(m, "r2")
            out.append(_Q(m.start(), m.end(), None, a * fa, b * fb, None, True))
        elif g("s1") is not None:
            (a, _), (b, _) = _mantissa(g("s1")), _mantissa(g("s2"))
            f, _ = _power(m, "s")
            out.append(_Q(m.start(), m.end(), None, a * f, b * f, None, True))
        elif g("q") is not None:
            v, dec = _mantissa(g("q"))
            f, how = _power(m, "q")
            flags = ("exponent in parentheses",) if how == "()" else ()
            if how == "flat":
                flags = ("flattened exponent",)
            out.append(_Q(m.start(), m.end(), v * f, None, None, 0.5 * 10.0**-dec * f, True, flags=flags))
        else:
            v, dec = _mantissa(g("b"))
            out.append(_Q(m.start(), m.end(), v, None, None, 0.5 * 10.0**-dec, False))
    return out


_PER_KG = re.compile(r"(/\s*kg\b|/\s*kilogram|\bper\s+(?:kg|kilogram)|\bkg\b)")
_CELLS = re.compile(r"\b(?:cells?|mscs?|mesenchymal)\b")
_CONC_1ML = re.compile(r"/\s*(?:ml|cc)\b|\bper\s+(?:ml|cc)\b")
_VOLUME = re.compile(r"^\s*(?:ml|cc)\b")
_BEFORE_DENOM = re.compile(r"(?:/|\bper)\s*$")


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _classify(s: str, qs: list[_Q]) -> list[str]:
    """Give each quantity its kind; returns notes for the rule."""
    notes: list[str] = []
    for i, q in enumerate(qs):
        nxt = qs[i + 1].start if i + 1 < len(qs) else len(s)
        after = s[q.end : nxt]
        clause = after.split(";")[0]
        before = s[: q.start]
        if not q.powered:
            if _VOLUME.match(after):
                q.kind = "denom" if _BEFORE_DENOM.search(before) else "volume"
                continue
            if _SCHEDULE_WORDS.match(after) or _SCHEDULE_WORDS.match(re.sub(r"^\s*(?:-|to)\s*\d+(?:\.\d+)?", "", s[q.end :])) or (
                _SCHEDULE_BEFORE.search(before) and re.search(r"(?:day|week|month)s?\s*[\d, and]*$", before)
            ):
                q.kind = "skip"
                notes.append(f"ignored schedule number {s[q.start:q.end]!r}")
                continue
            if re.match(r"^\s*(?:cells?|mscs?)\b", after) and not _PER_KG.search(clause):
                q.kind = "count"
                q.flags += ("plain number, no power of ten",)
                continue
            if re.match(r"^\s*\(\s*\d", s[q.end :]) and s[q.start : q.end] == "10":
                raise _Bad(f"'{s[q.start:q.end + 4].strip()}' is a power of ten without a mantissa")
            raise _Bad(f"the number {s[q.start:q.end]!r} has no role that can be read (not a dose, volume or schedule)")
        # powered quantity
        if _CONC_1ML.search(clause) and not _PER_KG.search(clause):
            q.kind = "conc"
            q.denom_ml = 1.0
        elif i + 1 < len(qs) and _BEFORE_DENOM.search(after) and _VOLUME.match(s[qs[i + 1].end :]):
            q.kind = "conc"
        elif _PER_KG.search(clause):
            q.kind = "per_kg"
            m = _PER_KG.search(clause)
            if m.group(1) == "kg":
                q.flags += ("'/' missing before 'kg': read as per kg",)
        elif _CELLS.search(clause):
            q.kind = "count"
        else:
            q.kind = "count"
            q.flags += ("unit not stated: read as total cells",)
    # attach denominators to concentrations
    for i, q in enumerate(qs):
        if q.kind == "conc" and q.denom_ml is None:
            d = qs[i + 1]
            if d.kind != "denom":
                raise _Bad("a concentration whose volume cannot be read")
            q.denom_ml = d.value
    return notes


def _items_text(qs: list[_Q], s: str) -> str:
    return ", ".join(repr(s[q.start : q.end]) for q in qs)


def _build(text: str, s: str, qs: list[_Q], notes: list[str]) -> Dose:
    counts = [q for q in qs if q.kind == "count"]
    perkg = [q for q in qs if q.kind == "per_kg"]
    concs = [q for q in qs if q.kind == "conc"]
    vols = [q for q in qs if q.kind == "volume"]
    approx = bool(re.search(r"\b(?:approx\w*|about|around|circa|ca\.)|~|≈", s))
    rule: list[str] = []
    if len(vols) > 1 or len(concs) > 1:
        raise _Bad(f"several volumes or concentrations ({_items_text(vols + concs, s)})")
    if perkg and any("unit not stated" in f for q in counts for f in q.flags):
        raise _Bad(
            "a count without unit next to a per-kg figure: cannot tell whether it is a total or per kg "
            f"({_items_text(counts + perkg, s)})"
        )
    cells = cells_lo = cells_hi = None
    cells_half = None
    volume = vols[0].value if vols else None
    if concs:
        c = concs[0]
        if counts:
            raise _Bad("both a total count and a concentration")
        if volume is None:
            raise _Bad("a concentration without the volume given")
        if c.value is None:
            raise _Bad("a concentration range cannot be multiplied out")
        cells = volume * c.value / c.denom_ml
        rule.append(f"total = {_fmt(volume)} mL x {_fmt(c.value)} cells/{_fmt(c.denom_ml)} mL")
    elif counts:
        if len(counts) > 1:
            raise _List(counts, "count")
        c = counts[0]
        if c.value is None:
            cells_lo, cells_hi = c.low, c.high
            rule.append(f"total cells range {_fmt(c.low)}-{_fmt(c.high)} (no midpoint)")
        else:
            cells, cells_half = c.value, c.half
            rule.append(f"total {_fmt(c.value)} cells")
        rule += list(c.flags)
        if volume is not None:
            rule.append(f"volume {_fmt(volume)} mL (total given, not a concentration)")
    pk = pk_lo = pk_hi = pk_half = None
    if perkg:
        if len(perkg) > 1:
            raise _List(perkg, "per_kg")
        q = perkg[0]
        if q.value is None:
            pk_lo, pk_hi = q.low, q.high
            rule.append(f"per-kg range {_fmt(q.low)}-{_fmt(q.high)} (no midpoint)")
        else:
            pk, pk_half = q.value, q.half
            rule.append(f"per-kg {_fmt(q.value)}")
        rule += list(q.flags)
    if cells is None and cells_lo is None and pk is None and pk_lo is None:
        if volume is not None:
            raise _Bad("only a volume, no cell number")
        raise _Bad("no cell number in the text")
    implied = None
    if cells is not None and pk is not None:
        implied = cells / pk
        rule.append("implied weight = total / per-kg")
    if approx:
        rule.append("stated as approximate")
    for v in (cells, pk):
        if v is not None and v < 1e4:
            rule.append("fewer than 10^4 cells: check the source for a lost exponent")
    rule += notes
    return Dose(
        text=text,
        cells=cells,
        cells_per_kg=pk,
        cells_low=cells_lo,
        cells_high=cells_hi,
        cells_per_kg_low=pk_lo,
        cells_per_kg_high=pk_hi,
        volume_ml=volume,
        implied_weight_kg=implied,
        cells_round=cells_half,
        cells_per_kg_round=pk_half,
        approximate=approx,
        rule="; ".join(rule),
    )


class _List(Exception):
    def __init__(self, qs: list[_Q], kind: str):
        self.qs = qs
        self.kind = kind


def parse_dose(text: Any) -> Dose:
    """Read one administration's dose from ``text``; raise :class:`DoseParseError` if it cannot be read."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        raise DoseParseError(text, "empty dose text")
    s = _normalize(str(text))
    try:
        if re.search(r"\d\s*c\s*\d", s):
            raise _Bad(
                "encoding artefact ('1C2' is probably '1-2'); not read because the power of ten has no "
                "multiplication sign"
            )
        qs = _scan(s)
        if not qs:
            raise _Bad("no number in the text")
        # a multiplication sign with 10 left unread: the exponent (or the mantissa) was lost
        rest = list(s)
        for q in qs:
            if q.powered:
                rest[q.start : q.end] = " " * (q.end - q.start)
        if re.search(r"x\s*10", "".join(rest)):
            raise _Bad("a power of ten without its exponent or mantissa ('x 10' with nothing readable)")
        notes = _classify(s, qs)
        qs = [q for q in qs if q.kind not in ("skip", "denom")]
        return _build(str(text), s, qs, notes)
    except _Bad as e:
        raise DoseParseError(text, str(e)) from None
    except _List as e:
        items = []
        for q in e.qs:
            kw = {"cells" if e.kind == "count" else "cells_per_kg": q.value}
            if q.value is None:
                kw = (
                    {"cells_low": q.low, "cells_high": q.high}
                    if e.kind == "count"
                    else {"cells_per_kg_low": q.low, "cells_per_kg_high": q.high}
                )
            half = {"cells_round" if e.kind == "count" else "cells_per_kg_round": q.half}
            items.append(Dose(text=str(text), rule=f"item of a list of {len(e.qs)}", **kw, **half))
        what = "totals" if e.kind == "count" else "per-kg figures"
        raise DoseListError(
            text,
            f"lists {len(e.qs)} {what} ({_items_text(e.qs, s)}); record one administration or cohort per row",
            items,
        ) from None


def parse_dose_items(text: Any) -> list[Dose]:
    """Like :func:`parse_dose` but a list of doses is returned item by item (one Dose each)."""
    try:
        return [parse_dose(text)]
    except DoseListError as e:
        return list(e.doses)


# --------------------------------------------------------------------------------------------
# Unit vocabulary


def load_units(path: str | Path) -> dict:
    """Load ``resources/vocabulary/units.yaml``; returns the mapping (``conversions``, ``stat_kinds``...)."""
    with open(path, encoding="utf-8") as fh:
        data = yaml_data(fh.read()) or {}
    conv = data.get("conversions") or []
    for c in conv:
        for key in ("from", "to", "factor"):
            if key not in c:
                raise ValueError(f"{path}: a conversion lacks {key!r}: {c}")
    return data
