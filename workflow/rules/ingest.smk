# ingest: read and validate every study record, keep provenance.


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
