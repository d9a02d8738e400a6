# describe: per-patient and per-study tables rebuilt from the records, and where the sources disagree.


rule report_discrepancies:
    input:
        records=rules.validate_records.output.tables,
        studies=rules.validate_records.output.studies,
        dose_conflicts=rules.harmonize_doses.output.conflicts,
        doses=rules.harmonize_doses.output.doses,
        evidence=rules.select_evidence.output.evidence,
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


rule tabulate_cases:
    input:
        records=rules.validate_records.output.tables,
        studies=rules.validate_records.output.studies,
        discrepancies=rules.report_discrepancies.output.csv,
        measures=f"{config['vocabulary_dir']}/measures.yaml",
    output:
        csv=report(
            "results/tables/cases.csv",
            caption="../report/cases.rst",
            category="Pediatric cases",
            labels={"table": "summary table rebuilt"},
        ),
        md="results/tables/cases.md",
    resources:
        mem_mb=1000,
        runtime=10,
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
        csv=report(
            "results/tables/studies.csv",
            caption="../report/studies.rst",
            category="Records",
            labels={"table": "studies"},
        ),
        md="results/tables/studies.md",
    params:
        followup_bound=config["followup"]["range_bound"],
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/tabulate_studies.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/tabulate_studies.py"


rule summarize_evidence:
    input:
        records=rules.select_evidence.output.tables,
        studies=rules.select_evidence.output.studies,
        outcomes=rules.harmonize_outcomes.output.parquet,
        doses=rules.harmonize_doses.output.doses,
        cumulative=rules.harmonize_doses.output.cumulative,
        responders=rules.harmonize_outcomes.output.responders,
    output:
        summaries=report(
            "results/tables/summaries.csv",
            caption="../report/summaries.rst",
            category="Descriptive summaries",
            labels={"table": "pooled descriptive summaries"},
        ),
        summaries_md="results/tables/summaries.md",
        cases=report(
            "results/tables/pediatric_cases.csv",
            caption="../report/pediatric_cases.rst",
            category="Pediatric cases",
            labels={"table": "per patient and outcome"},
        ),
        cases_md="results/tables/pediatric_cases.md",
        xlsx="results/tables/summaries.xlsx",
    params:
        conditions=config["summaries"]["conditions"],
        followup_bound=config["followup"]["range_bound"],
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/summarize_evidence.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/summarize_evidence.py"


rule tabulate_harms:
    input:
        records=rules.validate_records.output.tables,
        studies=rules.validate_records.output.studies,
        evidence=rules.select_evidence.output.evidence,
    output:
        csv=report(
            "results/tables/harms.csv",
            caption="../report/harms.rst",
            category="Harms",
            labels={"table": "every adverse event and death"},
        ),
        md="results/tables/harms.md",
        xlsx="results/tables/harms.xlsx",
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/tabulate_harms.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/tabulate_harms.py"
