# trickbench: config -> runs -> tables -> figures -> report/report.pdf
#   snakemake --cores all                        # default tier (config/config.yaml: quick)
#   snakemake --cores all --config tier=smoke    # seconds per claim, as CI runs it
from snakemake.utils import min_version

min_version("8.0")


def _parse_or_explain(path):
    """Snakemake says only "Config file is not valid JSON or YAML": name the line and column."""
    import yaml

    try:
        with open(path) as f:
            yaml.safe_load(f)
    except FileNotFoundError:
        return
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else path
        raise WorkflowError(f"config file {where}: {getattr(e, 'problem', None) or e}")


_parse_or_explain("config/config.yaml")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/report.smk"


# cheap steps stay on the submitting machine under cluster executors; only training is submitted
localrules:
    all,
    analyse,
    figure,
    report,


# The tier's tables are targets in their own right: Snakemake does not rebuild a missing
# intermediate file when the report that was made from it is newer, so deleting results/<tier>/
# (or a claim's folder) would otherwise leave a report of runs no longer on disk.
rule all:
    input:
        REPORT_PDF,
        [f"{RESULTS}/{TIER}/{c}/verdicts.json" for c in CLAIMS],
    default_target: True
