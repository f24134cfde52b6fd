# trickbench: config -> runs -> tables -> figures -> report/report.pdf
#   snakemake --cores all                        # default tier (config/config.yaml: quick)
#   snakemake --cores all --config tier=smoke    # seconds per claim, as CI runs it
# The workflow is workflow/Snakefile (what a module, snakedeploy and the snakemake-workflows
# catalog load); this file only includes it for runs from the repository root.


include: "workflow/Snakefile"


# Snakemake drops the default target of an included file, so it is named again here.
rule default:
    default_target: True
    input:
        rules.all.input,
