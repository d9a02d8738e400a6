"""Checks on the run configuration: its schema, and what JSON Schema cannot express (across keys, files).

Every problem names where the value came from -- ``config/config.yaml`` (or a ``--configfile``) with its line,
or ``--config`` -- the key path, the value, and for a closed list the allowed values and the closest one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from evsynth.common import inputs
from evsynth.common.measures import MEASURES

PAIRED_EFFECTS = {code for code, m in MEASURES.items() if m.paired}


class ConfigError(ValueError):
    """A configuration problem, said in plain English with the key it concerns."""


class ConfigLocator:
    """Where a config key was set: the last of the config files, ``--configfile`` files and ``--config`` to set it.

    ``configfiles`` are in the order Snakemake applies them (the workflow's ``configfile:`` first, then the
    ``--configfile`` ones); ``cli`` is the ``--config`` mapping, which wins over all files.
    """

    def __init__(self, configfiles=(), cli: Mapping | None = None, root: str | Path | None = None):
        self.docs = []
        for path in configfiles:
            shown = _shown(path, root)
            doc = inputs.load_yaml(path, shown=shown)
            self.docs.append((shown, doc))
        self.cli = dict(cli or {})
        # keys given twice (YAML keeps the last silently), encodings: reported by check_run_config
        self.problems = [p for _, doc in self.docs for p in doc.problems]

    def where(self, path: tuple) -> tuple[str, int | None]:
        """(source, line) of the key ``path`` (a missing key: the last file, at its parent's line)."""
        node = self.cli
        if path and isinstance(node, Mapping) and path[0] in node:
            return "--config", None
        for shown, doc in reversed(self.docs):
            if _has(doc.data, path[:1]):
                return shown, doc.line_of(*path)
        return (self.docs[-1][0], None) if self.docs else ("config", None)

    def say(self, path: tuple, value, expected: str) -> str:
        source, line = self.where(tuple(path))
        return str(inputs.Problem(source, line, ".".join(str(p) for p in path) or None, value, expected))


def _has(data, path: tuple) -> bool:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return False
        data = data[key]
    return True


def _shown(path, root) -> str:
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path(root or Path.cwd()).resolve()))
    except ValueError:
        return str(path)


def exit_on_unreadable_config(path: str | Path) -> None:
    """Before Snakemake reads ``path``: a YAML or encoding problem exits 1 with the file, line and what is wrong.

    (Snakemake's own message says only "Config file is not valid JSON or YAML", pointing at the Snakefile.)
    """
    import sys

    if not Path(path).is_file():
        return
    doc = inputs.load_yaml(path, shown=str(path))
    if doc.problems:
        sys.exit("error: " + "\n".join(str(p) for p in doc.problems))


def validate_config(config: dict, schema: str | Path | dict, locator: ConfigLocator | None = None) -> None:
    """Raise :class:`ConfigError` with every schema violation, each naming its source, line, key and value."""
    locator = locator or ConfigLocator()
    problems = inputs.schema_problems(config, inputs.load_schema(schema), "config",
                                      locate=lambda path: locator.where(tuple(path)))
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in the configuration:\n" + "\n".join(str(p) for p in problems))


def check_run_config(config: dict, schema: str | Path, locator: ConfigLocator | None = None) -> None:
    """Everything the workflow checks before it plans a job; raises :class:`ConfigError` with every problem.

    Schema defaults are filled in (Snakemake's ``validate``); on a violation the problems are said with
    :func:`validate_config` (source, line, key, value, allowed values and the closest one) instead of a schema
    dump. Then the cross-key checks and the analyses against the vocabulary.
    """
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    from evsynth.common.vocabulary import load_vocabulary

    locator = locator or ConfigLocator()
    if locator.problems:
        raise ConfigError("\n".join(str(p) for p in locator.problems))
    coerce_cli_values(config)
    try:
        validate(config, str(Path(schema).resolve()))
    except WorkflowError:
        validate_config(config, schema, locator)
        raise
    check_config(config, locator)
    vocabulary = load_vocabulary(config["vocabulary_dir"])
    check_analyses(config, set(vocabulary.measures), vocabulary, locator)


def check_config(config: dict, locator: ConfigLocator | None = None) -> None:
    """Raise :class:`ConfigError` naming every key whose value cannot work."""
    locator = locator or ConfigLocator()
    problems = []
    for key in ("studies_dir", "vocabulary_dir"):
        if not Path(config[key]).is_dir():
            problems.append(locator.say((key,), config[key], "is not a folder"))
    if config.get("provenance", {}).get("check_quotes_in_sources", True) and not Path(config["sources_dir"]).is_dir():
        problems.append(locator.say(
            ("sources_dir",), config["sources_dir"], "is not a folder; the quote checks need the source documents "
            "(set provenance.check_quotes_in_sources: false to skip them)"))
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


#: The analysis keys the multiverse reads: what builds its datasets (evsynth.pool.datasets.analysis_dataset),
#: the defaults of its grid, and the title of its curve. The estimator, test, level and sensitivity variants are
#: not among them: the grid chooses those, so editing them reruns the analysis, not its share of the multiverse.
MULTIVERSE_KEYS = ("effect", "outcome", "records", "timepoint", "individual_min_patients", "multiple_arms",
                   "prepost_correlation", "imputation", "title")


def multiverse_spec(spec: dict) -> dict:
    """The part of an analysis' spec (:data:`MULTIVERSE_KEYS`) that can change its multiverse rows or curve."""
    return {key: spec[key] for key in MULTIVERSE_KEYS if key in spec}


#: Machine settings: top-level config keys that change how a run is split into jobs, never a result (the cluster
#: profiles set them). The run's record of its config (results/report/config.yaml, run_inputs.csv, and so the
#: "what changed" report) leaves them out, so a cluster run and a local run record the same config.
MACHINE_SETTINGS = ("shard_multiverse", "warm_worker")


def recorded_config(config: dict) -> dict:
    """The config as a run records it: every analysis choice, without the :data:`MACHINE_SETTINGS`."""
    return {key: value for key, value in config.items() if key not in MACHINE_SETTINGS}


# analysis `records` filters: key -> vocabulary kind of its terms
RECORD_FILTERS = {"populations": "population", "conditions": "condition", "designs": "design",
                  "cell_sources": "cell_source", "routes": "route", "donors": "donor"}


def check_analyses(config: dict, measures: set[str], vocabulary=None, locator: ConfigLocator | None = None) -> None:
    """Raise :class:`ConfigError` for analyses naming unknown measures, filter terms or multiverse entries.

    ``vocabulary`` (a :class:`evsynth.common.vocabulary.Vocabulary`) enables the check of the ``records``
    filters: a term no study could carry would silently give an empty analysis.
    """
    from evsynth.common.vocabulary import unknown_message

    locator = locator or ConfigLocator()
    problems = []
    for name, spec in (config.get("analyses") or {}).items():
        for i, m in enumerate((spec.get("outcome") or {}).get("measures", [])):
            if m not in measures:
                problems.append(locator.say(("analyses", name, "outcome", "measures", i), m,
                                            unknown_message("measure of the vocabulary", m, sorted(measures))))
        if not (spec.get("outcome") or {}).get("measures") and not (spec.get("outcome") or {}).get("adverse_events"):
            problems.append(locator.say(("analyses", name, "outcome"), None, "give measures or adverse_events"))
        if spec.get("effect") in PAIRED_EFFECTS and (spec.get("outcome") or {}).get("measures") is None \
                and not (spec.get("outcome") or {}).get("adverse_events"):
            problems.append(locator.say(("analyses", name), None, "a comparative effect needs an outcome"))
        if vocabulary is not None:
            for key, kind in RECORD_FILTERS.items():
                for i, term in enumerate((spec.get("records") or {}).get(key) or []):
                    if not vocabulary.is_known(kind, str(term)):
                        problems.append(locator.say(
                            ("analyses", name, "records", key, i), term,
                            vocabulary.unknown_term_message(kind, str(term))
                            + "; no study could match it, so the analysis would be empty"))
    analyses = sorted(config.get("analyses") or {})
    for i, item in enumerate((config.get("summary_of_findings") or {}).get("outcomes", [])):
        for j, name in enumerate([item.get("analysis"), *item.get("controlled", [])]):
            if name not in analyses:
                key = ("summary_of_findings", "outcomes", i) + (("analysis",) if j == 0 else ("controlled", j - 1))
                problems.append(locator.say(key, name, f"(outcome '{item.get('outcome')}') "
                                            + unknown_message("analysis of config key analyses", name, analyses)))
    for i, name in enumerate((config.get("multiverse") or {}).get("analyses", [])):
        if name not in analyses:
            problems.append(locator.say(("multiverse", "analyses", i), name,
                                        unknown_message("analysis of config key analyses", name, analyses)))
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
