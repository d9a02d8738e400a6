"""The harmonize rules: validated records -> doses (per administration and cumulative) and outcomes in one
unit each, with the rule applied on every row."""

from __future__ import annotations

from pathlib import Path

from evsynth.common.code import code_name
from evsynth.common.io import load_saved_records, write_csv
from evsynth.common.vocabulary import load_vocabulary
from evsynth.harmonize.imputation import impute_summary, load_thresholds, responders
from evsynth.harmonize.tables import (
    cumulative_doses, harmonize_curated_doses, harmonize_outcomes, implied_weight_conflicts, mark_selected,
    selected_doses,
)
from evsynth.harmonize.units import load_units
from evsynth.ingest.ledger import ledger_part


def run_harmonize_doses(input, output, params=None, wildcards=None) -> None:
    """input: records, studies, selected (select_evidence's tables: doses.csv marks the selected rows, and
    the cumulative doses count only them); output: doses, cumulative, conflicts (implied-weight
    disagreements, each naming its ``check``, for discrepancies.csv), ledger."""
    records = load_saved_records(input.records, input.studies)
    selected = load_saved_records(input.selected, input.studies).tables["interventions"]
    doses = harmonize_curated_doses(records.tables["interventions"], records.tables["participants"])
    doses = mark_selected(doses, selected)
    conflicts = implied_weight_conflicts(doses).assign(check=code_name(implied_weight_conflicts))
    write_csv(doses, output.doses)
    write_csv(cumulative_doses(selected_doses(doses)), output.cumulative)
    write_csv(conflicts, output.conflicts)
    write_csv(ledger_part(doses, "converted", "dose read: " + doses["rule"].astype(str)), output.ledger)


def complete_outcomes(outcomes, vocabulary_dir: str | Path, summary_method: str, prepost_correlation: float):
    """Outcomes in one unit per measure (:func:`harmonize_outcomes`) with missing means/SDs imputed and
    flagged (:func:`impute_summary`); ``line`` as text."""
    vocabulary_dir = Path(vocabulary_dir)
    measures = load_vocabulary(vocabulary_dir).measures
    harmonized = harmonize_outcomes(outcomes, measures, load_units(vocabulary_dir / "units.yaml"))
    completed = impute_summary(harmonized, method=summary_method, r=prepost_correlation)
    completed["line"] = completed["line"].astype(str).str.replace(r"\.0$", "", regex=True)
    return completed


def run_harmonize_outcomes(input, output, params, wildcards=None) -> None:
    """input: records, studies, vocabulary (files; the folder is taken from the first); output: table (CSV),
    parquet, responders, ledger; params: summary_method, prepost_correlation."""
    records = load_saved_records(input.records, input.studies)
    vocabulary_dir = Path(input.vocabulary[0]).parent
    completed = complete_outcomes(records.tables["outcomes"], vocabulary_dir, params.summary_method,
                                  params.prepost_correlation)
    original = completed.loc[~completed["imputed"].astype(bool)]
    write_csv(completed, output.table)
    completed.to_parquet(output.parquet, index=False)
    write_csv(responders(completed, load_thresholds(vocabulary_dir / "responders.yaml")), output.responders)
    write_csv(ledger_part(original, "converted", "outcome harmonized: " + original["rule"].astype(str)), output.ledger)
