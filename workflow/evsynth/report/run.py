"""The report rules: the ledger of every input row, the dose plot, the software, config and inputs of the run,
and what changed since a previous run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evsynth.common.io import load_saved_studies, write_csv
from evsynth.ingest.ledger import build_ledger, quote_checks
from evsynth.report.changes import compare_runs, input_manifest, write_changes
from evsynth.report.environment import software_versions, write_config


def run_write_ledger(input, output, params=None, wildcards=None) -> None:
    """input: the partial ledgers (validation, doses, outcomes); output: ledger (ledger.csv), quote_checks
    (per study, the quotes checked against a source text and those not)."""
    ledger = build_ledger([pd.read_csv(path) for path in input])
    write_csv(ledger, output.ledger)
    write_csv(quote_checks(ledger), output.quote_checks)


def run_plot_doses(input, output, params=None, wildcards=None) -> None:
    """Dose per kg by study and route (input: doses, studies; output: the PNG and SVG; params.conditions: the
    question's conditions, the other studies are drawn as dosing references)."""
    from evsynth.report.dose_plot import dose_plot, dose_plot_rows  # matplotlib: only in the job that draws

    studies = load_saved_studies(input.studies)
    conditions = getattr(params, "conditions", None) if params is not None else None
    dose_plot(dose_plot_rows(pd.read_csv(input.doses), studies, conditions), list(output))


def run_record_environment(input, output, params, wildcards=None) -> None:
    """output: software (versions CSV), config (the config used; params.config), inputs (run_inputs.csv: a digest
    of every input of the run; params.dirs: studies, vocabulary, sources)."""
    write_csv(software_versions(), output.software)
    write_config(params.config, output.config)
    dirs = params.dirs
    write_csv(input_manifest(dirs["studies"], dirs["vocabulary"], dirs["sources"], params.config), output.inputs)


def run_compare_runs(input, output, params, wildcards=None) -> None:
    """What changed since the run in params.previous (config compare_to), and why: input: the compared tables
    (by name) and manifest (run_inputs.csv); output: csv, md."""
    current = {Path(path).name: path for key, path in input.items() if key != "manifest"}
    manifest = pd.read_csv(input.manifest, dtype=str)
    table = compare_runs(params.previous, current, manifest)
    write_changes(table, output.csv, output.md, params.previous)
