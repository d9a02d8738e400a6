"""Controlled vocabularies kept as YAML data in ``resources/vocabulary/``.

A reviewer adds a term to the YAML; no code changes. An unknown term is reported with the
closest known term (``difflib``), so a typo such as ``intravenous`` for ``iv`` is easy to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


from evsynth.common.inputs import closest, yaml_data


#: Source kinds (study.yaml ``sources``) that count as a study's primary report (not secondary, registry or
#: figure): their sizes and follow-up are preferred.
PRIMARY_SOURCE_KINDS = ("text", "table", "abstract")


@dataclass(frozen=True)
class Vocabulary:
    """All term lists (``terms.yaml``) and the measure catalogue (``measures.yaml``)."""

    terms: dict[str, dict[str, str]]
    measures: dict[str, dict]
    directory: Path | None = field(default=None, compare=False)

    def known(self, kind: str) -> list[str]:
        """The known terms of one kind (``route``, ``measure``, ...)."""
        if kind == "measure":
            return sorted(self.measures)
        return sorted(str(t) for t in self.terms.get(kind, {}))

    def is_known(self, kind: str, term: str) -> bool:
        if kind == "measure":
            return term in self.measures
        return term in self.terms.get(kind, {})

    def units_of(self, measure: str) -> list[str]:
        """Units a measure may be recorded in."""
        return sorted(self.measures.get(measure, {}).get("units", {}) or {})

    def unknown_term_message(self, kind: str, term: str) -> str:
        """'is not a known <kind>; did you mean 'y'? (known: ...)' (the caller shows the term)."""
        return unknown_message(kind, term, self.known(kind))


def unknown_message(kind: str, term: str, known: list[str]) -> str:
    """Plain-English message for a term not in ``known``, naming the closest match."""
    close = closest(term, known)
    hint = f"; did you mean '{close}'?" if close else ""
    listing = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    return f"is not a known {kind}{hint} (known: {listing})"


def load_vocabulary(directory: str | Path) -> Vocabulary:
    """Read ``terms.yaml`` and ``measures.yaml`` from ``directory``."""
    directory = Path(directory)
    terms = yaml_data((directory / "terms.yaml").read_text(encoding="utf-8")) or {}
    measures = yaml_data((directory / "measures.yaml").read_text(encoding="utf-8")) or {}
    terms = {kind: {str(k): v for k, v in (entries or {}).items()} for kind, entries in terms.items()}
    return Vocabulary(terms=terms, measures=measures, directory=directory)
