# trickbench: config -> runs -> tables -> figures -> report/report.pdf
#   snakemake --cores all                        # default tier (config/config.yaml: quick)
#   snakemake --cores all --config tier=smoke    # seconds per claim, as CI runs it
from snakemake.utils import min_version

min_version("8.10")  # update() flags on committed outputs


include: "workflow/rules/configfile.smk"  # a YAML error in config.yaml, named by line and column


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
    reproduction,
    figure,
    report,


# The tier's tables are targets in their own right: Snakemake does not rebuild a missing
# intermediate file when the report that was made from it is newer, so deleting results/<tier>/
# (or a claim's folder) would otherwise leave a report of runs no longer on disk.
rule all:
    default_target: True
    input:
        REPORT_PDF,
        [f"{RESULTS}/{TIER}/{c}/verdicts.json" for c in CLAIMS],
