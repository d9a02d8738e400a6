# msc-evidence: evidence synthesis for MSC therapy in refractory rheumatic disease.
# Stages: ingest -> harmonize -> describe / pool -> appraise -> report (one .smk each in workflow/rules).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/harmonize.smk"
include: "workflow/rules/describe.smk"
include: "workflow/rules/appraise.smk"
include: "workflow/rules/pool.smk"
include: "workflow/rules/answer.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
