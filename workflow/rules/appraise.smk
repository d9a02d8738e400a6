# appraise: a bias checklist per study, derived from the records with reasons, overridable by a reviewer; its
# robvis plots are their own job, drawn while the analyses that wait for the judgements run.


rule appraise_studies:
    input:
        records=rules.validate_records.output.tables,
        studies=rules.validate_records.output.studies,
        tools=APPRAISAL_TOOLS,
        overrides=get_override_files(),
    output:
        csv=report(
            "results/tables/bias_checklist.csv",
            caption="../report/bias_checklist.rst",
            category="Risk of bias",
            labels={"table": "checklist"},
        ),
        md="results/tables/bias_checklist.md",
        overall="results/tables/bias_overall.csv",
    params:
        min_followup_months=config["appraisal"]["min_followup_months"],
        followup_bound=config["followup"]["range_bound"],
    priority: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/appraise_studies.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/appraise_studies.py"


rule plot_bias:
    input:
        checklist=rules.appraise_studies.output.csv,
        studies=rules.validate_records.output.studies,
    output:
        report(
            expand(
                "results/plots/bias/{tool}_{kind}.{ext}",
                tool=BIAS_TOOLS,
                kind=["traffic_light", "summary"],
                ext=["png", "svg"],
            ),
            caption="../report/bias_plots.rst",
            category="Risk of bias",
        ),
    params:
        colourblind=config["appraisal"]["colourblind"],
        conditions=config["summaries"]["conditions"],
    priority: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/plot_bias.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/plot_bias.py"
