# harmonize: one unit for every quantity, with the rule applied recorded on every row.


rule harmonize_doses:
    input:
        records=rules.validate_records.output.tables,
        studies=rules.validate_records.output.studies,
        selected=rules.select_evidence.output.tables,
    output:
        doses="results/tables/doses.csv",
        cumulative="results/tables/doses_cumulative.csv",
        conflicts="results/harmonized/dose_conflicts.csv",
        ledger="results/harmonized/ledger_doses.csv",
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/harmonize_doses.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/harmonize_doses.py"


rule harmonize_outcomes:
    input:
        records=rules.select_evidence.output.tables,
        studies=rules.select_evidence.output.studies,
        vocabulary=get_vocabulary_files(),
    output:
        table="results/tables/outcomes.csv",
        parquet="results/harmonized/outcomes.parquet",
        responders="results/tables/responders.csv",
        ledger="results/harmonized/ledger_outcomes.csv",
    params:
        summary_method=config["harmonize"]["summary_method"],
        prepost_correlation=config["harmonize"]["prepost_correlation"],
    priority: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/harmonize_outcomes.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/harmonize_outcomes.py"
