# Every claim of this tier, plus whatever other tiers already have in results/, into one PDF.
rule report:
    input:
        verdicts=[f"{RESULTS}/{TIER}/{c}/verdicts.json" for c in CLAIMS],
        figures=[f for c in CLAIMS for f in figure_outputs(c)],
        claims=[claim_file(c) for c in CLAIMS],
        template=str(resources.path("report.typ")),  # the clone's, or the package's
        reproduction=REPRODUCTION,  # [] unless compare_with is set
    output:
        report(update(REPORT_PDF), caption="../report/report.rst", category="Report"),
    log:
        f"{RESULTS}/{TIER}/logs/report.log",
    conda:
        "../envs/analysis.yaml"
    params:
        python=PYTHON,
        claims_dir=lambda w, input: str(Path(input.claims[0]).parent),
        results=lambda w, input: results_root(input.verdicts[0], 3),
        report_dir=lambda w, output: str(Path(output[0]).parent),
    shell:
        "{params.python} -m trickbench.cli report"
        " --claims-dir {params.claims_dir:q} --results {params.results:q}"
        " --report-dir {params.report_dir:q} --out {output:q} > {log:q} 2>&1"


# A retrained tier against the committed one (config compare_with; README, "Reproduce").
rule reproduction:
    input:
        verdicts=[f"{RESULTS}/{TIER}/{c}/verdicts.json" for c in CLAIMS],
    output:
        update(f"{RESULTS}/{TIER}/reproduction.csv"),
    log:
        f"{RESULTS}/{TIER}/logs/reproduction.log",
    conda:
        "../envs/analysis.yaml"
    params:
        python=PYTHON,
        committed=config["compare_with"] or "",
        tier=TIER,
        results=lambda w, input: results_root(input.verdicts[0], 3),
    shell:
        "{params.python} -m trickbench.cli reproduction"
        " --committed {params.committed:q} --results {params.results:q} --tier {params.tier} --out {output:q} > {log:q} 2>&1"
