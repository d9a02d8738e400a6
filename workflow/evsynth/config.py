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
