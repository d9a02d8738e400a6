# report: what the HTML report shows besides the tables and plots: the software and the config of the run.


rule record_environment:
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
    params:
        config=config,
    log:
        "logs/record_environment.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/record_environment.py"
