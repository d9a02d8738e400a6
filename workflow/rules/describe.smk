# describe: per-patient and per-study tables rebuilt from the records.


rule tabulate_cases:
    input:
        records=rules.validate_records.output.tables,
        studies=rules.validate_records.output.studies,
        discrepancies=rules.report_discrepancies.output.csv,
        measures=f"{config['vocabulary_dir']}/measures.yaml",
    output:
        csv="results/tables/cases.csv",
        md="results/tables/cases.md",
    log:
        "logs/tabulate_cases.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/tabulate_cases.py"


rule tabulate_studies:
    input:
        records=rules.validate_records.output.tables,
        studies=rules.validate_records.output.studies,
        doses=rules.harmonize_doses.output.doses,
    output:
        csv="results/tables/studies.csv",
        md="results/tables/studies.md",
    log:
        "logs/tabulate_studies.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/tabulate_studies.py"
