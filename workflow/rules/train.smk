import shlex


# One job per claim-file arm: all of its seeds (and grid points) in one process; start-up of
# Python + torch costs seconds, a small run less.
# A killed job resumes: finished seeds are skipped and a partial one continues from its checkpoint.
rule train:
    input:
        stale_marker,  # only when runs/<arm>.jsonl lacks runs the config asks for (common.smk)
    output:
        update(f"{RESULTS}/{{tier}}/{{claim}}/runs/{{arm}}.jsonl"),  # kept while the job runs
    log:
        f"{RESULTS}/{{tier}}/{{claim}}/logs/{{arm}}.log",
    conda:
        "../envs/trickbench.yaml"
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=240,  # minutes, for cluster executors; a killed run resumes from its checkpoint
        # one GPU per job when training on CUDA: caps concurrency locally (--resources gpu=N)
        # and becomes --gpus=1 under the SLURM executor; tasks=1 explicitly (plugin issues #316, #459)
        gpu=1 if config["device"] == "cuda" or config["gpu_slots"] else 0,
        tasks=1,
    params:
        config_hash=arm_hash,
        python=PYTHON,
        claims_dir=config["claims_dir"],
        results=lambda w, output: results_root(output[0], 4),
        data_root=config["data_root"],
        cache_dir=(
            f"--cache-dir {shlex.quote(config['cache_dir'])}"
            if config["cache_dir"]
            else ""
        ),
        device=config["device"],
        seeds=SEEDS_ARG,
        gpu_slots=config["gpu_slots"],
        stack="--stack" if config["stack_seeds"] else "",
        engine=f"--precision {config['precision']} --channels-last {str(config['channels_last']).lower()} --micro-batch {config['micro_batch']}"
        + (" --compile" if config["compile"] else ""),
    shell:
        "{params.python} -m trickbench.cli run-arm"
        " --claims-dir {params.claims_dir:q} --results {params.results:q} --tier {wildcards.tier}"
        " --claim {wildcards.claim} --arm {wildcards.arm} --out {output:q} {params.seeds}"
        " --data-root {params.data_root:q} {params.cache_dir} --device {params.device} --threads {threads}"
        " --gpu-slots {params.gpu_slots} {params.stack} {params.engine}"
        " > {log:q} 2>&1"
