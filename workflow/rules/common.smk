# All workflow Python lives here: config validation, input functions, wildcard constraints.
import sys
from pathlib import Path

from evsynth.appraise.tools import bias_tools
from evsynth.common.config import (
    ConfigError,
    ConfigLocator,
    analysis_spec,
    check_run_config,
    multiverse_spec,
    recorded_config,
)
from evsynth.common.io import output_folder_problem
from evsynth.ingest.records import TABLES
from evsynth.report.forest_rows import scale_shown


# A config problem names config/config.yaml (or --configfile/--config), line, key, value and allowed values.
try:
    check_run_config(
        config,
        Path(workflow.basedir) / "schemas/config.schema.yaml",
        ConfigLocator(
            [*workflow.configfiles, *workflow.overwrite_configfiles],
            workflow.config_settings.config,
        ),
    )
except ConfigError as exc:
    sys.exit(f"error: {exc}")
# A file named results/ or a read-only folder: one line, no traceback.
for folder in ("results", "logs"):
    if output_folder_problem(folder):
        sys.exit(f"error: {output_folder_problem(folder)}")

ANALYSES = sorted(config.get("analyses") or {})
MULTIVERSE = (config.get("multiverse") or {}).get("analyses", [])
APPRAISAL_TOOLS = "resources/appraisal/tools.yaml"
BIAS_TOOLS = bias_tools(
    APPRAISAL_TOOLS, config["studies_dir"], config["summaries"]["conditions"]
)
RECORD_TABLES = list(TABLES)


wildcard_constraints:
    analysis="[a-z][a-z0-9_]*",


def get_record_files():
    """Every file of every study folder, plus the vocabulary, schemas and source texts they are checked against."""
    files = sorted(
        str(p) for p in Path(config["studies_dir"]).rglob("*") if p.is_file()
    )
    files += sorted(str(p) for p in Path(config["vocabulary_dir"]).glob("*.yaml"))
    files += sorted(str(p) for p in Path("workflow/schemas").glob("*.schema.yaml"))
    if config["provenance"]["check_quotes_in_sources"]:
        files += sorted(
            str(p) for p in Path(config["sources_dir"]).glob("*") if p.is_file()
        )
    files.append(APPRAISAL_TOOLS)
    return files


def get_record_dirs():
    """Folders the record validator reads (given as a mapping, since they are folders, not files)."""
    return {
        "studies": config["studies_dir"],
        "vocabulary": config["vocabulary_dir"],
        "tools": APPRAISAL_TOOLS,
        "sources": (
            config["sources_dir"]
            if config["provenance"]["check_quotes_in_sources"]
            else None
        ),
    }


def get_override_files():
    """Reviewers' appraisal.yaml files (one per study that has one)."""
    return sorted(str(p) for p in Path(config["studies_dir"]).glob("*/appraisal.yaml"))


def get_grade_overrides():
    """The reviewer's GRADE override file, when it exists (absent: no overrides)."""
    path = Path(config["summary_of_findings"]["overrides"])
    return [str(path)] if path.exists() else []


def get_selection_pins():
    """Reviewers' selection.yaml files (a study's pinned choice of report per quantity)."""
    return sorted(str(p) for p in Path(config["studies_dir"]).glob("*/selection.yaml"))


def get_vocabulary_files():
    """The vocabulary files harmonization reads (measures first; the folder is taken from it)."""
    names = ["measures.yaml", "units.yaml", "responders.yaml", "terms.yaml"]
    return [f"{config['vocabulary_dir']}/{name}" for name in names]


def get_analysis_spec(wildcards):
    """The analysis' config with defaults filled in: a params value, so editing it reruns only it."""
    return analysis_spec(config, wildcards.analysis)


def get_scale_shown(wildcards):
    """What the analysis' forest plot shows, in words (its caption in the Snakemake report, report/forest.rst;
    the evidence page's caption says the same): evsynth.report.forest_rows.scale_shown.
    """
    return scale_shown(analysis_spec(config, wildcards.analysis)["effect"])


def get_analysis_specs():
    """Every analysis' config with defaults filled in (combine_pooled's review comparison, the summary of
    findings and the evidence page read them all)."""
    return {name: analysis_spec(config, name) for name in ANALYSES}


def get_multiverse_specs(names=None):
    """The multiverse's params: its grid and, per analysis (``names``; default: every multiverse analysis, the
    one job of a local run), the keys of that analysis' spec the multiverse reads (multiverse_spec): editing
    another key of an analysis (its estimator, test, level or variants) does not rerun the multiverse.
    """
    grid = config.get("multiverse") or {}
    names = grid.get("analyses", []) if names is None else names
    return {
        "grid": {**grid, "analyses": list(names)},
        "analyses": {
            name: multiverse_spec(analysis_spec(config, name)) for name in names
        },
    }


def get_multiverse_spec(wildcards):
    """One multiverse shard's params (shard_multiverse): one analysis' grid and spec keys."""
    return get_multiverse_specs([wildcards.analysis])


def get_result_tables():
    """Every CSV table under results/tables/ (and the software versions): the data dictionary describes
    each column of each; a test checks that no table the pipeline writes is missing here.
    """
    tables = [
        "analysis_excluded",
        "analysis_studies",
        "bias_checklist",
        "bias_overall",
        "cases",
        "discrepancies",
        "doses",
        "doses_cumulative",
        "evidence",
        "flow_of_records",
        "harms",
        "influence",
        "ledger",
        "multiverse",
        "outcomes",
        "pediatric_cases",
        "pooled",
        "quote_checks",
        "responders",
        "review_comparison",
        "run_inputs",
        "studies",
        "summaries",
        "summary_of_findings",
    ]
    return [f"results/tables/{t}.csv" for t in tables] + ["results/report/software.csv"]


def get_compared_tables(wildcards):
    """This run's tables that compare_runs compares with the previous run's (those the workflow makes)."""
    from evsynth.report.changes import COMPARED

    made = set(get_final_outputs(compare=False))
    tables = {Path(name).stem: f"results/tables/{name}" for name in COMPARED}
    return {key: path for key, path in tables.items() if path in made}


def get_final_outputs(compare=True):
    """The targets of the default run, i.e. the tables and plots a reviewer reads."""
    changes = ["results/tables/changes.csv", "results/tables/changes.md"]
    return (changes if compare and config.get("compare_to") else []) + [
        "results/tables/ledger.csv",
        "results/tables/quote_checks.csv",
        "results/tables/run_inputs.csv",
        "results/tables/discrepancies.csv",
        "results/tables/cases.csv",
        "results/tables/cases.md",
        "results/tables/studies.csv",
        "results/tables/doses.csv",
        "results/tables/doses_cumulative.csv",
        "results/tables/outcomes.csv",
        "results/tables/responders.csv",
        "results/tables/bias_checklist.csv",
        "results/tables/harms.csv",
        "results/tables/evidence.csv",
        "results/tables/pooled.csv",
        "results/tables/pooled.xlsx",
        "results/tables/multiverse.csv",
        *expand(
            "results/plots/multiverse/{analysis}_specification_curve.{ext}",
            analysis=MULTIVERSE,
            ext=["png", "svg"],
        ),
        "results/tables/summaries.csv",
        "results/tables/pediatric_cases.csv",
        "results/tables/review_comparison.csv",
        "results/plots/doses.png",
        "results/tables/summaries.xlsx",
        "results/tables/summary_of_findings.csv",
        "results/index.html",
        "results/tables/data_dictionary.csv",
        "results/report/software.csv",
    ]
