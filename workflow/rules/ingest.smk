# ingest: read and validate every study record, keep provenance, report disagreements.


rule validate_records:
    input:
        get_record_files(),
    output:
        tables=expand("results/records/{table}.parquet", table=RECORD_TABLES),
        studies="results/records/studies.json",
        ledger="results/records/ledger_validation.csv",
    params:
        dirs=get_record_dirs(),
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/validate_records.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/validate_records.py"


rule report_discrepancies:
    input:
        records=rules.validate_records.output.tables,
        studies=rules.validate_records.output.studies,
        dose_conflicts="results/harmonized/dose_conflicts.csv",
        doses="results/tables/doses.csv",
        evidence="results/tables/evidence.csv",
    output:
        csv=report(
            "results/tables/discrepancies.csv",
            caption="../report/discrepancies.rst",
            category="Records",
            labels={"table": "discrepancies"},
        ),
        md="results/tables/discrepancies.md",
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/report_discrepancies.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/report_discrepancies.py"


rule write_ledger:
    input:
        validation=rules.validate_records.output.ledger,
        doses="results/harmonized/ledger_doses.csv",
        outcomes="results/harmonized/ledger_outcomes.csv",
    output:
        ledger="results/tables/ledger.csv",
        quote_checks=report(
            "results/tables/quote_checks.csv",
            caption="../report/quote_checks.rst",
            category="Records",
            labels={"table": "quotes checked against a source text"},
        ),
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/write_ledger.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/write_ledger.py"
