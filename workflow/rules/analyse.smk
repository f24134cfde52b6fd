# Runs -> tidy tables and verdicts (pandas, no torch) -> figures (seaborn).
rule analyse:
    input:
        runs=lambda w: arm_outputs(w.claim),
        run_files=run_files,  # every seed's metrics.jsonl: a changed or deleted one is seen
        claim=lambda w: claim_file(w.claim),  # edits of rules or labels re-analyse, never retrain
        missing=missing_arms_marker,  # only when an arm has no runs/<arm>.jsonl yet (common.smk)
    output:
        # update(): Snakemake keeps the committed tables while the job runs (it would delete them
        # first) and restores them if it fails; our writes are atomic, so a kill leaves old or new
        runs=report(
            update(f"{RESULTS}/{{tier}}/{{claim}}/runs.csv"),
            caption="../report/runs.rst",
            category="{claim}",
            subcategory="{tier}",
        ),
        curves=update(f"{RESULTS}/{{tier}}/{{claim}}/curves.csv"),
        verdicts=update(f"{RESULTS}/{{tier}}/{{claim}}/verdicts.json"),
    log:
        f"{RESULTS}/{{tier}}/{{claim}}/logs/analyse.log",
    conda:
        "../envs/analysis.yaml"
    params:
        python=PYTHON,
        claims_dir=lambda w, input: str(Path(input.claim).parent),
        results=lambda w, output: results_root(output.verdicts, 3),
        seeds=SEEDS_ARG,
    shell:
        "{params.python} -m trickbench.cli analyse"
        " --claims-dir {params.claims_dir:q} --results {params.results:q} --tier {wildcards.tier}"
        " --claim {wildcards.claim} {params.seeds} > {log:q} 2>&1"


rule figure:
    input:
        curves=f"{RESULTS}/{{tier}}/{{claim}}/curves.csv",
        verdicts=f"{RESULTS}/{{tier}}/{{claim}}/verdicts.json",  # which grid members were tuned
        runs=f"{RESULTS}/{{tier}}/{{claim}}/runs.csv",  # figures of kind `runs`
        claim=lambda w: claim_file(w.claim),
    output:
        report(
            update(f"{REPORT_DIR}/figures/{{tier}}/{{claim}}_{{i}}.svg"),
            caption="../report/figure.rst",
            category="{claim}",
            subcategory="{tier}",
        ),
    log:
        f"{RESULTS}/{{tier}}/{{claim}}/logs/figure_{{i}}.log",
    conda:
        "../envs/analysis.yaml"
    params:
        caption=figure_caption,  # shown by --report (report/figure.rst)
        python=PYTHON,
        claims_dir=lambda w, input: str(Path(input.claim).parent),
        results=lambda w, input: results_root(input.curves, 3),
    shell:
        "{params.python} -m trickbench.cli figure"
        " --claims-dir {params.claims_dir:q} --results {params.results:q} --tier {wildcards.tier}"
        " --claim {wildcards.claim} --out {output:q} > {log:q} 2>&1"
