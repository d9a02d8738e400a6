# report: the ledger of every input row, the dose plot, the software, config and inputs of the run, and what changed since a previous run.


# The run's software, config and a digest of every input: one job (three small files), rerun when the config or
# a record file changes.
rule record_environment:
    input:
        get_record_files(),
        # written for a validated run only: bad records stop the run before any table
        validated=rules.validate_records.output.studies,
    output:
        software=report(
            "results/report/software.csv",
            caption="../report/software.rst",
            category="Run",
            labels={"table": "software versions"},
        ),
        config=report(
            "results/report/config.yaml",
            caption="../report/config.rst",
            category="Run",
            labels={"table": "config used"},
        ),
        inputs="results/tables/run_inputs.csv",
    params:
        dirs=get_record_dirs(),
        config=recorded_config(config),
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/record_environment.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/record_environment.py"


rule compare_runs:
    input:
        unpack(get_compared_tables),
        manifest=rules.record_environment.output.inputs,
    output:
        csv=report(
            "results/tables/changes.csv",
            caption="../report/changes.rst",
            category="Run",
            labels={"table": "what changed since the previous run"},
        ),
        md="results/tables/changes.md",
    params:
        previous=config["compare_to"],
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/compare_runs.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/compare_runs.py"


rule write_ledger:
    input:
        validation=rules.validate_records.output.ledger,
        doses=rules.harmonize_doses.output.ledger,
        outcomes=rules.harmonize_outcomes.output.ledger,
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


rule plot_doses:
    input:
        doses=rules.harmonize_doses.output.doses,
        studies=rules.validate_records.output.studies,
    output:
        report(
            multiext("results/plots/doses", ".png", ".svg"),
            caption="../report/doses.rst",
            category="Descriptive summaries",
        ),
    params:
        conditions=config["summaries"]["conditions"],
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/plot_doses.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/plot_doses.py"
