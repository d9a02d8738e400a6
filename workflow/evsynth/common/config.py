"""Checks on the run configuration that JSON Schema cannot express (across keys, against files)."""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    """A configuration problem, said in plain English with the key it concerns."""


def check_config(config: dict) -> None:
    """Raise :class:`ConfigError` naming every key whose value cannot work."""
    problems = []
    for key in ("studies_dir", "vocabulary_dir"):
        if not Path(config[key]).is_dir():
            problems.append(f"config key {key}: '{config[key]}' is not a folder")
    if config.get("provenance", {}).get("check_quotes_in_sources", True) and not Path(config["sources_dir"]).is_dir():
        problems.append(
            f"config key sources_dir: '{config['sources_dir']}' is not a folder; the quote checks need the "
            "source documents (set provenance.check_quotes_in_sources: false to skip them)"
        )
    if problems:
        raise ConfigError("\n".join(problems))


def analysis_spec(config: dict, name: str) -> dict:
    """One analysis with the defaults of ``analysis_defaults`` filled in (its own keys win)."""
    defaults = dict(config.get("analysis_defaults") or {})
    spec = dict(config["analyses"][name])
    merged = {**defaults, **spec}
    merged["timepoint"] = {**(defaults.get("timepoint") or {}), **(spec.get("timepoint") or {})}
    merged.setdefault("method", "REML")
    merged.setdefault("test", "knha")
    return merged


def check_analyses(config: dict, measures: set[str]) -> None:
    """Raise :class:`ConfigError` for analyses naming unknown measures or multiverse entries."""
    problems = []
    for name, spec in (config.get("analyses") or {}).items():
        for m in (spec.get("outcome") or {}).get("measures", []):
            if m not in measures:
                problems.append(f"config key analyses.{name}.outcome.measures: '{m}' is not a measure of the vocabulary")
        if not (spec.get("outcome") or {}).get("measures") and not (spec.get("outcome") or {}).get("adverse_events"):
            problems.append(f"config key analyses.{name}.outcome: give measures or adverse_events")
        if spec.get("effect") in ("MD", "OR", "RR", "RD") and (spec.get("outcome") or {}).get("measures") is None \
                and not (spec.get("outcome") or {}).get("adverse_events"):
            problems.append(f"config key analyses.{name}: a comparative effect needs an outcome")
    for i, item in enumerate((config.get("summary_of_findings") or {}).get("outcomes", [])):
        for name in [item.get("analysis"), *item.get("controlled", [])]:
            if name not in (config.get("analyses") or {}):
                problems.append(f"config key summary_of_findings.outcomes[{i}] ('{item.get('outcome')}'): '{name}' "
                                "is not an analysis of config key analyses")
    for name in (config.get("multiverse") or {}).get("analyses", []):
        if name not in (config.get("analyses") or {}):
            problems.append(f"config key multiverse.analyses: '{name}' is not an analysis of config key analyses")
    if problems:
        raise ConfigError("\n".join(problems))


def coerce_cli_values(value):
    """Numbers and booleans given as text (Snakemake passes nested ``--config`` values as strings).

    ``'0.7'`` becomes 0.7, ``'true'`` True; everything else is returned unchanged. Applied in place to
    dicts and lists so that ``--config harmonize='{prepost_correlation: 0.7}'`` validates as a number.
    """
    if isinstance(value, dict):
        for key in list(value):
            value[key] = coerce_cli_values(value[key])
        return value
    if isinstance(value, list):
        value[:] = [coerce_cli_values(v) for v in value]
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        try:
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return value
    return value
