# answer: the summary of findings with GRADE certainty (the one-screen answer to the question).


rule summarize_findings:
    input:
        pooled=rules.combine_pooled.output.csv,
        studies_rows=rules.combine_pooled.output.studies,
        bias=rules.appraise_studies.output.overall,
        studies=rules.tabulate_studies.output.csv,
        outcomes=rules.harmonize_outcomes.output.table,
        interventions="results/records/interventions.parquet",
        participants="results/records/participants.parquet",
        overrides=get_grade_overrides(),
    output:
        csv=report(
            "results/tables/summary_of_findings.csv",
            caption="../report/summary_of_findings.rst",
            category="Summary of findings",
            labels={"table": "summary of findings (GRADE)"},
        ),
        md="results/tables/summary_of_findings.md",
        xlsx="results/tables/summary_of_findings.xlsx",
    params:
        settings=config["summary_of_findings"],
        analyses={name: analysis_spec(config, name) for name in ANALYSES},
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/summarize_findings.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/summarize_findings.py"
