# Runs -> tidy tables and verdicts (pandas, no torch) -> figures (seaborn).
rule analyse:
    input:
        lambda w: arm_outputs(w.claim),
    output:
        runs=f"{RESULTS}/{{tier}}/{{claim}}/runs.csv",
        curves=f"{RESULTS}/{{tier}}/{{claim}}/curves.csv",
        verdicts=f"{RESULTS}/{{tier}}/{{claim}}/verdicts.json",
    params:
        claims_dir=config["claims_dir"],
        results=RESULTS,
        seeds=f"--seeds {config['seeds']}" if config["seeds"] else "",
    log:
        f"{RESULTS}/{{tier}}/{{claim}}/logs/analyse.log",
    shell:
        "PYTHONPATH={SRC:q}${{PYTHONPATH:+:$PYTHONPATH}} python -m trickbench.cli analyse"
        " --claims-dir {params.claims_dir:q} --results {params.results:q} --tier {wildcards.tier}"
        " --claim {wildcards.claim} {params.seeds} > {log:q} 2>&1"


rule figure:
    input:
        curves=f"{RESULTS}/{{tier}}/{{claim}}/curves.csv",
    output:
        report(
            f"{REPORT_DIR}/figures/{{tier}}/{{claim}}_{{i}}.svg",
            caption="../report/figure.rst",
            category="{claim}",
            subcategory="{tier}",
        ),
    params:
        claims_dir=config["claims_dir"],
        results=RESULTS,
    log:
        f"{RESULTS}/{{tier}}/{{claim}}/logs/figure_{{i}}.log",
    shell:
        "PYTHONPATH={SRC:q}${{PYTHONPATH:+:$PYTHONPATH}} python -m trickbench.cli figure"
        " --claims-dir {params.claims_dir:q} --results {params.results:q} --tier {wildcards.tier}"
        " --claim {wildcards.claim} --out {output:q} > {log:q} 2>&1"
