# select: one report per quantity; every summary, cumulative dose and analysis reads only these rows.


rule select_evidence:
    input:
        records=rules.validate_records.output.tables,
        studies=rules.validate_records.output.studies,
        pins=get_selection_pins(),
    output:
        evidence=report(
            "results/tables/evidence.csv",
            caption="../report/evidence.rst",
            category="Records",
            labels={"table": "evidence used"},
        ),
        tables=expand("results/selected/{table}.parquet", table=RECORD_TABLES),
        studies="results/selected/studies.json",
    params:
        preference=config["evidence"]["source_preference"],
        cumulative_measures=config["evidence"]["cumulative_measures"],
    priority: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/select_evidence.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/select_evidence.py"
