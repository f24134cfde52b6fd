# trickbench: config -> runs -> tables -> figures -> report/report.pdf
#   snakemake --cores all                        # default tier (config/config.yaml: quick)
#   snakemake --cores all --config tier=smoke    # seconds per claim, as CI runs it
from snakemake.utils import min_version

min_version("8.0")


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


rule all:
    input:
        REPORT_PDF,
    default_target: True
