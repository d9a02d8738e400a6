"""evsynth: the importable, tested logic behind the msc-evidence workflow, one subpackage per stage.

``common`` (io, config, vocabulary), ``ingest`` (records, provenance, ledger), ``harmonize`` (doses, outcomes,
imputation), ``stats`` (the engine: escalc, rma and friends; imports nothing else), ``appraise`` (bias
checklists), ``describe`` (studies, cases, summaries, discrepancies), ``pool`` (declared analyses, multiverse),
``report`` (plots, workbooks)."""

__version__ = "0.1.0"
