# answer: the summary of findings with GRADE certainty (the one-screen answer to the question).


rule summarize_findings:
    input:
        pooled=rules.combine_pooled.output.csv,
        studies_rows=rules.combine_pooled.output.studies,
        excluded=rules.combine_pooled.output.excluded,
        bias=rules.appraise_studies.output.overall,
        studies=rules.tabulate_studies.output.csv,
        outcomes=rules.harmonize_outcomes.output.table,
        interventions="results/selected/interventions.parquet",
        participants="results/selected/participants.parquet",
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
        analyses=get_analysis_specs(),
    priority: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/summarize_findings.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/summarize_findings.py"


rule tabulate_flow:
    input:
        ledger=rules.write_ledger.output.ledger,
        studies=rules.validate_records.output.studies,
        excluded=rules.combine_pooled.output.excluded,
        studies_rows=rules.combine_pooled.output.studies,
        pooled=rules.combine_pooled.output.csv,
    output:
        csv=report(
            "results/tables/flow_of_records.csv",
            caption="../report/flow_of_records.rst",
            category="Records",
            labels={"table": "flow of records"},
        ),
        md="results/tables/flow_of_records.md",
        png="results/plots/flow_of_records.png",
        svg="results/plots/flow_of_records.svg",
    priority: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/tabulate_flow.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/tabulate_flow.py"


rule build_evidence_page:
    input:
        sof=rules.summarize_findings.output.csv,
        harms=rules.tabulate_harms.output.csv,
        pooled=rules.combine_pooled.output.csv,
        forests=expand("results/analyses/{analysis}/forest.png", analysis=ANALYSES),
        funnels=expand(rules.pool_analysis.output.funnel, analysis=ANALYSES),
        curves=expand(
            "results/plots/multiverse/{analysis}_specification_curve.png",
            analysis=MULTIVERSE,
        ),
        bias=rules.appraise_studies.output.overall,
        bias_plots=rules.plot_bias.output,
        discrepancies=rules.report_discrepancies.output.csv,
        studies=rules.tabulate_studies.output.csv,
        doses=rules.harmonize_doses.output.doses,
        doses_plot=rules.plot_doses.output[0],
        flow=rules.tabulate_flow.output.csv,
        flow_plot=rules.tabulate_flow.output.png,
        tables=get_result_tables(),
    output:
        html=report(
            "results/index.html",
            caption="../report/evidence_page.rst",
            category="0. The evidence page",
            labels={"page": "the question, the answer, the evidence"},
        ),
        dictionary=report(
            "results/tables/data_dictionary.csv",
            caption="../report/data_dictionary.rst",
            category="Records",
            labels={"table": "data dictionary"},
        ),
        dictionary_md="results/tables/data_dictionary.md",
    params:
        settings=config["summary_of_findings"],
        analyses=get_analysis_specs(),
    priority: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/build_evidence_page.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/build_evidence_page.py"
