"""Provenance checks: a recorded number must appear in its quote, a quote in its source file.

Scraped sources print numbers in many ways; :func:`numbers_in` reads them all so that the check
is strict about the value but tolerant of formatting:

- ``1:640`` gives 1 and 640; ``8/10`` gives 8 and 10; ``1:80–160`` gives 1, 80 and 160;
- ``100 × 106`` and ``100 × 10^6`` give 100, 106/6 and also the product 1e8;
- ``−1.05`` (Unicode minus) gives 1.05 (signs are compared without regard to the minus sign, since
  quotes often carry the sign in a header: "change −2.1");
- ``1,234`` gives 1234; ``53.3%`` gives 53.3; ``China12`` (a scraped table) gives 12;
- a digit run glued to letters (a flattened table cell boundary, ``months20.84Fixed``) is also read
  split at every position (2 and 0.84, 20 and .84), since the cell boundary was lost;
- number words: ``one`` ... ``twenty``, ``Eighty-seven``, ``two hundred``; a stated absence
  (``no``, ``not ... any``, ``without``) gives 0.

A value no single sentence states but several do together (an age at MSC implied by a case's timeline:
onset at 9, "three years into her illness", "over the next 9 months", "over the following 48 months") is
a *derived* value: its row's ``derived`` column holds the arithmetic (``9 + 3 + 9/12 + 48/12``), its
quote joins the sentences with ``...``, and :func:`evaluate_derivation` checks that every number of the
arithmetic is in the quote (or is a unit conversion of :data:`DERIVATION_CONSTANTS`) and computes it.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from functools import lru_cache
from pathlib import Path

NUMBER_WORDS = {
    "zero": 0, "no": 0, "none": 0, "one": 1, "single": 1, "two": 2, "twice": 2, "both": 2, "three": 3,
    "thrice": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "half": 0.5,
    # a reported absence ("did not have any ...", "without ...") is a zero
    "not": 0, "without": 0, "never": 0, "neither": 0, "nor": 0,
}
_NUM = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+(?!\d)|\d*\.\d+|\d+)")
_POW = re.compile(
    r"(\d*\.?\d+)\s*[×xX*]\s*10\s*(?:\^|\(|\s)?\s*(\d{1,2})\)?(?!\d)"
    r"|(\d*\.?\d+)\s*[×xX*]\s*10([5-9]|1[0-2])(?!\d)"
)
_WORD = re.compile(r"[A-Za-z]+")
# a number run glued to letters on a side is a flattened table ("6 months20.84Fixed": 2 and 0.84)
_GLUED = re.compile(r"(?<=[A-Za-z])(\d[\d.]*\d|\d)|(\d[\d.]*\d|\d)(?=[A-Za-z])")
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_UNITS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_COMPOUND = re.compile(r"\b(" + "|".join(_TENS) + r")(?:[- ](" + "|".join(_UNITS) + r"))?\b")
_HUNDRED = re.compile(r"\b(one|two|three|four|five|six|seven|eight|nine) hundred\b")
_MARKUP = re.compile(r"\*\*|`")
_WS = re.compile(r"\s+")
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…|\[\.\.\.\])\s*")


def normalize_text(text: str) -> str:
    """Collapse white space, drop Markdown emphasis and unify dashes and minus signs."""
    text = _MARKUP.sub("", str(text))
    text = text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2014", "-")
    text = text.replace("\u00a0", " ").replace("\u2009", " ").replace("\u202f", " ")
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return _WS.sub(" ", text).strip()


def numbers_in(quote: str) -> set[float]:
    """Every number a reader could take from ``quote`` (see the module docstring)."""
    text = normalize_text(quote)
    found: set[float] = set()
    for match in _NUM.finditer(text):
        found.add(float(match.group(1).replace(",", "")))
    for m in _POW.finditer(text):
        mantissa, power = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        found.add(float(mantissa) * 10 ** int(power))
    for m in _GLUED.finditer(text):
        token = m.group(1) or m.group(2)
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            try:
                found.update((float(left), float(right)))
            except ValueError:
                continue
    lower = text.lower()
    for word in _WORD.findall(lower):
        if word in NUMBER_WORDS:
            found.add(float(NUMBER_WORDS[word]))
    for tens, unit in _COMPOUND.findall(lower):
        found.add(float(_TENS[tens] + (NUMBER_WORDS[unit] if unit else 0)))
    for unit in _HUNDRED.findall(lower):
        found.add(float(NUMBER_WORDS[unit] * 100))
    return found


def value_in_quote(value: float, quote: str) -> bool:
    """True when ``value`` (or its absolute value) is one of :func:`numbers_in` ``quote``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    target = abs(float(value))
    return any(math.isclose(target, n, rel_tol=1e-9, abs_tol=1e-12) for n in numbers_in(quote))


def word_count(quote: str) -> int:
    """Words in a quote, as a reader counts them (white-space separated)."""
    return len(normalize_text(quote).split())


@lru_cache(maxsize=64)
def _normalized_file(path: str) -> str:
    return normalize_text(Path(path).read_text(encoding="utf-8"))


def quote_in_file(quote: str, path: str | Path) -> bool:
    """True when ``quote`` appears in the file, white space normalized.

    An elision (``...``, ``…``) splits the quote into parts that must appear in order.
    """
    haystack = _normalized_file(str(path))
    parts = [p for p in _ELLIPSIS.split(normalize_text(quote)) if p.strip()]
    if not parts:
        return False
    position = 0
    for part in parts:
        part = part.strip().strip('"').strip()
        found = haystack.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


#: Numbers a derivation may use without a quote: unit conversions (months, weeks, days per year; days per
#: week; percent).
DERIVATION_CONSTANTS = {12.0: "months per year", 52.0: "weeks per year", 365.0: "days per year",
                        7.0: "days per week", 100.0: "percent"}
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate_derivation(expression: str, quote: str) -> tuple[float | None, str | None]:
    """``(value, None)`` for an arithmetic ``expression`` (numbers, ``+ - * /``, parentheses) whose every
    number is in ``quote`` or is one of :data:`DERIVATION_CONSTANTS`; ``(None, problem)`` otherwise."""
    text = str(expression).replace("\u2212", "-").replace("\u00d7", "*").replace("×", "*")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None, "is not arithmetic: write numbers with + - * / and parentheses, e.g. '9 + 3 + 9/12 + 48/12'"
    quoted = numbers_in(quote)
    missing: list[str] = []

    def value(node) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            number = float(node.value)
            if number not in DERIVATION_CONSTANTS and not any(
                    math.isclose(number, q, rel_tol=1e-9, abs_tol=1e-12) for q in quoted):
                missing.append(f"{number:g}")
            return number
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return -value(node.operand) if isinstance(node.op, ast.USub) else value(node.operand)
        raise ValueError(ast.dump(node))

    try:
        result = value(tree.body)
    except (ValueError, ZeroDivisionError):
        return None, "is not arithmetic: write numbers with + - * / and parentheses, e.g. '9 + 3 + 9/12 + 48/12'"
    if missing:
        return None, (f"uses {', '.join(missing)}, not in the row's quote (a derivation's numbers come from its "
                      f"quote, or are unit conversions: {', '.join(f'{k:g}' for k in DERIVATION_CONSTANTS)})")
    return result, None


def matches_derivation(value: float, result: float) -> bool:
    """True when ``value`` is ``result`` to the decimals ``value`` is written with (16.75 or 16.8 for 16.75)."""
    written = f"{float(value):.10g}"
    decimals = len(written.split(".")[1]) if "." in written else 0
    return abs(float(value) - result) <= 0.5 * 10 ** -decimals + 1e-9
