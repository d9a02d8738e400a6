# pool: the meta-analyses declared in config, one folder each, then the combined tables and the multiverse.

# What a pooling job reads (evsynth.pool.run.load_corpus): the selected records, harmonized outcomes, bias.
CORPUS = dict(
    records=rules.select_evidence.output.tables,
    studies=rules.select_evidence.output.studies,
    outcomes=rules.harmonize_outcomes.output.parquet,
    bias=rules.appraise_studies.output.overall,
)


rule pool_analysis:
    input:
        **CORPUS,
    output:
        pooled="results/analyses/{analysis}/pooled.csv",
        studies="results/analyses/{analysis}/studies.csv",
        excluded="results/analyses/{analysis}/excluded.csv",
        forest=report(
            multiext("results/analyses/{analysis}/forest", ".png", ".svg"),
            caption="../report/forest.rst",
            category="Meta-analyses",
            subcategory="{analysis}",
        ),
        funnel=directory("results/analyses/{analysis}/funnel"),
        influence="results/analyses/{analysis}/influence.csv",
        baujat=report(
            multiext("results/analyses/{analysis}/baujat", ".png", ".svg"),
            caption="../report/baujat.rst",
            category="Meta-analyses",
            subcategory="{analysis}",
        ),
    params:
        spec=get_analysis_spec,
        scale=get_scale_shown,
    priority: 1
    resources:
        mem_mb=1500,
        runtime=15,
    log:
        "logs/pool_analysis/{analysis}.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/pool_analysis.py"


rule combine_pooled:
    input:
        pooled=expand(rules.pool_analysis.output.pooled, analysis=ANALYSES),
        studies=expand(rules.pool_analysis.output.studies, analysis=ANALYSES),
        excluded=expand(rules.pool_analysis.output.excluded, analysis=ANALYSES),
        influence=expand(rules.pool_analysis.output.influence, analysis=ANALYSES),
        outcomes=rules.harmonize_outcomes.output.parquet,
    output:
        csv=report(
            "results/tables/pooled.csv",
            caption="../report/pooled.rst",
            category="Meta-analyses",
            labels={"table": "pooled estimates"},
        ),
        md="results/tables/pooled.md",
        xlsx="results/tables/pooled.xlsx",
        studies="results/tables/analysis_studies.csv",
        excluded="results/tables/analysis_excluded.csv",
        influence=report(
            "results/tables/influence.csv",
            caption="../report/influence.rst",
            category="Meta-analyses",
            labels={"table": "case diagnostics"},
        ),
        reviews=report(
            "results/tables/review_comparison.csv",
            caption="../report/review_comparison.rst",
            category="Meta-analyses",
            labels={"table": "ours vs published reviews"},
        ),
        reviews_md="results/tables/review_comparison.md",
    params:
        analyses=get_analysis_specs(),
    priority: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/combine_pooled.log",
    conda:
        "../envs/evsynth.yaml"
    script:
        "../scripts/combine_pooled.py"


# The multiverse. Locally one job fits every analysis' specifications and draws their curves (one job);
# with shard_multiverse (the cluster profiles set it) each analysis is its own job, run side by side, gathered
# by combine_multiverse. The table is the same either way (tests/test_scale_out.py).
if config["shard_multiverse"]:

    rule run_multiverse:
        input:
            **CORPUS,
        output:
            table="results/multiverse/{analysis}.parquet",
            curves=report(
                multiext(
                    "results/plots/multiverse/{analysis}_specification_curve",
                    ".png",
                    ".svg",
                ),
                caption="../report/specification_curve.rst",
                category="Multiverse",
            ),
        params:
            multiverse=get_multiverse_spec,
        priority: 2
        resources:
            mem_mb=2000,
            runtime=30,
        log:
            "logs/run_multiverse/{analysis}.log",
        conda:
            "../envs/evsynth.yaml"
        script:
            "../scripts/run_multiverse.py"

    rule combine_multiverse:
        input:
            expand(rules.run_multiverse.output.table, analysis=MULTIVERSE),
        output:
            csv=report(
                "results/tables/multiverse.csv",
                caption="../report/multiverse.rst",
                category="Multiverse",
                labels={"table": "multiverse"},
            ),
        resources:
            mem_mb=1000,
            runtime=10,
        log:
            "logs/combine_multiverse.log",
        conda:
            "../envs/evsynth.yaml"
        script:
            "../scripts/combine_multiverse.py"

else:

    rule run_multiverse:
        input:
            **CORPUS,
        output:
            csv=report(
                "results/tables/multiverse.csv",
                caption="../report/multiverse.rst",
                category="Multiverse",
                labels={"table": "multiverse"},
            ),
            curves=report(
                expand(
                    "results/plots/multiverse/{analysis}_specification_curve.{ext}",
                    analysis=MULTIVERSE,
                    ext=["png", "svg"],
                ),
                caption="../report/specification_curve.rst",
                category="Multiverse",
            ),
        params:
            multiverse=get_multiverse_specs(),
        priority: 2
        resources:
            mem_mb=2000,
            runtime=30,
        log:
            "logs/run_multiverse.log",
        conda:
            "../envs/evsynth.yaml"
        script:
            "../scripts/run_multiverse.py"
