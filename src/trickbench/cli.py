"""Command line: the entry points the Snakemake rules call (and you can call by hand).

    python -m trickbench.cli run-arm  --claim amsgrad_synthetic --tier quick --arm adam_online --out results/quick/amsgrad_synthetic/runs/adam_online.jsonl
    python -m trickbench.cli analyse  --claim amsgrad_synthetic --tier quick
    python -m trickbench.cli figure   --claim amsgrad_synthetic --tier quick --out report/figures/quick/amsgrad_synthetic_0.svg
    python -m trickbench.cli report   --out report/report.pdf
    python -m trickbench.cli validate --tier smoke
    python -m trickbench.cli init my-study     # a new folder with the lecture's config/ (an installed package)
    python -m trickbench.cli verdict-changes --before <git rev>

Heavy imports (torch, pandas, seaborn) happen inside the command that needs them.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _common(p: argparse.ArgumentParser, claim=True):
    p.add_argument("--claims-dir", default="config/claims")
    p.add_argument("--results", default="results", help="results root (results/<tier>/<claim>/...)")
    p.add_argument("--tier", default="quick")
    p.add_argument("--seeds", type=int, default=None, help="override the claim's seeds at this tier")
    if claim:
        p.add_argument("--claim", required=True)


def _resolve(args):
    from trickbench import config
    claim = config.load_claim(Path(args.claims_dir) / f"{args.claim}.yaml")
    return config.resolve(claim, args.tier, args.seeds)


# run-arm's exit status when this machine cannot train the arm as asked (EX_TEMPFAIL): a long-run
# lane (workflow/scripts/longruns.sh) stops there and leaves the line for a machine that can
NOT_ON_THIS_MACHINE = 75


def _emulated_bf16(args) -> str | None:
    """Why explicit bf16 on this CPU is refused (it has no native bf16 units), or None."""
    from trickbench import provenance
    if args.precision != "bf16" or args.device != "cpu" or args.allow_emulated_bf16 or provenance.cpu_bf16():
        return None
    return (f"--precision bf16 on {provenance.cpu_model()}, a CPU without native bf16 units (AMX or AVX-512 "
            "BF16): emulated bf16 trains ResNet-56 about 25x slower than fp32 there (2 vs 55 images/s, one thread, "
            "AMD EPYC with AVX2, 2026-12-07). Train this arm on a machine with AMX or AVX-512 BF16 (a run never "
            "resumes in another precision), or pass --allow-emulated-bf16")


def _tier_engine(args, cat, root: Path, ctx: dict) -> str | None:
    """Where run-arm's precision and layout are `auto`, an arm trains in its tier's setup: the
    tier's declared `engine` ({precision, channels_last}), else the one every finished run of the
    claim at the tier recorded (a new arm beside committed baselines, a retrained seed beside its
    siblings: no silent mix; verdict.setup_of). Sets ctx; returns why this CPU cannot train that
    setup (bf16 without bf16 units), or None. Explicit flags (config precision/channels_last) win."""
    from trickbench import io, provenance, verdict
    if args.precision != "auto" or args.channels_last != "auto":
        return None
    declared = cat.claim["tiers"][cat.tier].get("engine")
    if declared:
        prec, layout, whence = declared["precision"], declared["channels_last"], "the tier declares"
    else:
        seen = {(u["precision"], u["layout"]) for p in sorted(root.glob("*/*/seed*/summary.json"))
                if (u := verdict.setup_of(io.read_json(p)))["precision"] in ("fp32", "bf16")}
        if len(seen) != 1:
            return None   # no finished run yet, or the tier already mixes setups (its verdicts say so)
        (prec, layout), whence = seen.pop(), "every finished run of the tier trained in"
        layout = layout == "channels_last"
    ctx["precision"], ctx["channels_last"] = prec, layout
    print(f"engine: {prec}, {'channels_last' if layout else 'contiguous'} ({whence}; --precision and "
          "--channels-last override)", flush=True)
    if prec == "bf16" and args.device == "cpu" and not provenance.cpu_bf16() and not args.allow_emulated_bf16:
        return (f"{whence} bf16; {provenance.cpu_model()} has no native bf16 units (emulated bf16 is ~25x slower "
                "than fp32): train it on a machine with AMX or AVX-512 BF16, or pass --precision fp32 to mix "
                "setups knowingly (its verdicts then say so)")
    return None


def cmd_run_arm(args):
    why = _emulated_bf16(args)
    if why:
        print(f"run-arm {args.claim}/{args.arm} @ {args.tier}: not on this machine: {why}", file=sys.stderr)
        sys.exit(NOT_ON_THIS_MACHINE)
    threads = str(args.threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = threads  # before numpy/torch load their BLAS
    if args.gpu_slots:
        # pick a free GPU before torch is imported, hold it until the job ends
        from trickbench.ops.gpuslot import gpu_slot
        with gpu_slot(args.gpu_slots, Path(args.results) / ".gpu-slots") as slot:
            print(f"GPU slot {slot} of {args.gpu_slots} (CUDA_VISIBLE_DEVICES={slot})")
            _run_arm(args)
    else:
        _run_arm(args)


def _run_arm(args):
    from trickbench import io
    from trickbench.tasks import run_family
    cat = _resolve(args)
    families = cat.families()
    if args.arm not in families:
        sys.exit(f"arm {args.arm!r} is not run at tier {args.tier!r}; arms: {', '.join(families)}")
    ctx = {"device": args.device, "data_root": args.data_root, "cache_dir": args.cache_dir, "threads": args.threads,
           "stack": args.stack, "precision": args.precision, "compile": args.compile,
           "channels_last": {"auto": "auto", "true": True, "false": False}[args.channels_last],
           "micro_batch": "auto" if args.micro_batch == "auto" else (int(args.micro_batch) or None)}
    root = Path(args.results) / args.tier / args.claim / "runs"
    if cat.claim["task"] == "classify":
        why = _tier_engine(args, cat, root, ctx)
        if why:
            print(f"run-arm {args.claim}/{args.arm} @ {args.tier}: not on this machine: {why}", file=sys.stderr)
            sys.exit(NOT_ON_THIS_MACHINE)
    seeds = None
    if args.only_seeds is not None:
        try:
            seeds = [int(x) for x in args.only_seeds.split(",")]
        except ValueError:
            sys.exit(f"--only-seeds {args.only_seeds!r}: expected comma-separated integers, e.g. 0,2")
        if not set(seeds) <= set(cat.seeds):
            sys.exit(f"--only-seeds {args.only_seeds}: seeds {sorted(set(seeds) - set(cat.seeds))} are not test seeds "
                     f"of {args.claim} at tier {args.tier} (its test seeds: {cat.seeds})")
    try:
        summaries = run_family(cat, args.arm, root, ctx, seeds)
    except RuntimeError as e:
        sys.exit(str(e))
    io.write_jsonl(args.out, summaries)
    bad = [s for s in summaries if s["outcome"] != "ok"]
    print(f"{args.claim}/{args.arm} @ {args.tier}: {len(summaries)} runs, "
          f"{len(bad)} not ok ({', '.join(sorted({s['outcome'] for s in bad})) or '-'})")


def cmd_analyse(args):
    from trickbench import analyse
    cat = _resolve(args)
    analyse.analyse_claim(cat, Path(args.results), partial=args.partial)


def cmd_figure(args):
    from trickbench import figures
    cat = _resolve(args)
    figures.claim_figure(cat, Path(args.results), Path(args.out))


def cmd_report(args):
    from trickbench import report
    report.build(Path(args.results), Path(args.claims_dir), Path(args.report_dir), Path(args.out),
                 Path(args.readme) if args.readme else None)


def cmd_validate(args):
    from trickbench import config, plan
    if args.tier not in config.TIERS:
        raise config.ConfigError(f"unknown tier {args.tier!r}; known: {', '.join(config.TIERS)}")
    claims = config.load_claims(args.claims_dir)
    for cid, claim in claims.items():
        if args.tier not in claim["tiers"]:
            print(f"{cid} @ {args.tier}: no settings for this tier; left out")
            continue
        cat = config.resolve(claim, args.tier, args.seeds)
        config.check_model_args(cat)
        plan.check_metrics_written(cat)
        runs = sum(cat.expected_runs(f) for f in cat.families())
        print(f"{cid} @ {args.tier}: {len(cat.arms)} arms, {runs} runs")


def cmd_prune(args):
    """Delete run folders under results/<tier>/ that no current arm points to (an old grid point,
    an old recipe hash). Prints what it would delete unless --yes."""
    import shutil
    from trickbench import config
    for cid, claim in config.load_claims(args.claims_dir).items():
        if args.tier not in claim["tiers"]:
            continue
        cat = config.resolve(claim, args.tier, args.seeds)
        live = {(a.name, a.hash) for a in cat.arms.values()}
        runs = Path(args.results) / args.tier / cid / "runs"
        for arm_dir in sorted(p for p in runs.glob("*") if p.is_dir()):
            for run in sorted(p for p in arm_dir.iterdir() if p.is_dir()):
                if (arm_dir.name, run.name) not in live:
                    print(("deleting " if args.yes else "stale (use --yes to delete) ") + str(run))
                    if args.yes:
                        shutil.rmtree(run)
            if args.yes and not any(arm_dir.iterdir()):
                arm_dir.rmdir()


def cmd_measure_share(args):
    """compute_share for finished stochastic-depth runs trained before it was recorded: the model's
    stage costs measured here, once per model, batch, precision and layout (they do not depend on
    the weights or on p_L), written into each run's summary and its arm's runs/<arm>.jsonl with the
    machine that measured them ("compute_share_measured")."""
    import datetime
    import torch
    from trickbench import io, provenance, train
    from trickbench.models import MODELS
    from trickbench.tricks import stochastic_depth as sd
    torch.set_num_threads(1)
    runs_dir = Path(args.results) / args.tier / args.claim / "runs"
    todo = []
    for f in sorted(runs_dir.glob("*/*/seed*/summary.json")):
        s = io.read_json(f)
        spec = s["recipe"].get("stochastic_depth")
        if s["outcome"] == "ok" and "compute_share" not in s["metrics"] and "branch_share" in s["metrics"]:
            todo.append((f, s, spec))
    ctx = {"data_root": args.data_root, "cache_dir": args.cache_dir, "device": "cpu", "threads": 1}
    measured, machine = {}, {"cpu": provenance.cpu_model(), "cpu_bf16": provenance.cpu_bf16(),
                             "date": datetime.date.today().isoformat()}
    for f, s, spec in todo:
        r = s["recipe"]
        if not spec or spec.get("mode", "batch") != "batch":
            share = 1.0
        else:
            key = (r["model"], repr(r["model_args"]), r["dataset"], r["batch_size"], s.get("precision"), s.get("layout"))
            if key not in measured:
                data, (x, y), _, _, (mean, std) = train.load_data(r, ctx, torch.device("cpu"))
                model = MODELS.build(r["model"], data.shape, data.num_classes, **r["model_args"])
                engine = train.Engine(torch.device("cpu"), s.get("precision", "fp32"),
                                      channels_last=s.get("layout") == "channels_last")
                if engine.channels_last:
                    model.to(memory_format=torch.channels_last)
                measured[key] = sd.batch_costs(model, x, y, mean, std, engine, r["batch_size"])
                print(f"{key[0]} {key[1]} batch {key[3]} {key[4]} {key[5]}: stage shares "
                      f"{[round(c, 3) for _, c in measured[key]]}")
            share = sd.expected_share(measured[key], spec)
        s["metrics"]["compute_share"] = share
        s["compute_share_measured"] = {**machine, "after_the_run": True}
        io.write_json(f, s)
        print(f"{f.parent.relative_to(runs_dir)}: compute_share {share:.3f}")
    for jl in sorted(runs_dir.glob("*.jsonl")):   # the arms' tables, rewritten from the summaries
        rows = io.read_jsonl(jl)
        new = [io.read_json(runs_dir / r["arm"] / r["config_hash"] / f"seed{r['seed']}" / "summary.json")
               if (runs_dir / r["arm"] / r["config_hash"] / f"seed{r['seed']}" / "summary.json").exists() else r
               for r in rows]
        if new != rows:
            io.write_jsonl(jl, new)


def cmd_verdict_changes(args):
    """Verdicts at a git revision (as its report showed them) against the current analysis."""
    from trickbench.ops import changes
    rows = changes.compare(changes.load_at(args.before, args.results), changes.load_at(None, args.results))
    changes.write(rows, Path(args.out), args.before)
    changed = [r for r in rows if r["changed"]]
    print(f"{len(changed)} of {len(rows)} sub-claim verdicts changed; written to {args.out}")
    for r in changed:
        print(f"  {r['tier']}/{r['claim']}.{r['subclaim']}: {r['verdict_before']} -> {r['verdict_after']}")


def cmd_reproduction(args):
    """A retrained tier's verdicts against the committed ones (README, "Reproduce")."""
    from trickbench.ops import changes
    rows = changes.reproduction(Path(args.committed), Path(args.results), args.tier)
    changes.write_rows(rows, Path(args.out), f"tier {args.tier}: {args.results} (retrained) against {args.committed} (committed)")
    agree = sum(r["agree"] for r in rows)
    print(f"{agree} of {len(rows)} sub-claim verdicts agree with the committed ones; written to {args.out}")


def cmd_canary(args):
    from trickbench.ops import canary
    ctx = {"device": "cpu", "data_root": args.data_root, "cache_dir": args.cache_dir, "threads": args.threads}
    rows = canary.check(args.results, args.tier, ctx, args.claims_dir, args.claim or None)
    print(canary.explain(rows, args.tier))
    if args.out and rows:
        canary.write_table(rows, args.out)
    if not rows:
        sys.exit(f"no committed runs of the classify task in {args.results}/{args.tier}")
    if not all(r["ok"] for r in rows):
        sys.exit(1)


def cmd_init(args):
    """A folder of one's own: config/config.yaml and config/claims/ as this version ships them."""
    import shutil

    from trickbench import resources
    dest = Path(args.dir) / "config"
    pairs = [(resources.path("config.yaml"), dest / "config.yaml")]
    pairs += [(f, dest / "claims" / f.name) for f in sorted(resources.path("claims").glob("*.yaml"))]
    there = [str(d) for _, d in pairs if d.exists()]
    if there:
        sys.exit(f"init: {len(there)} file(s) already there, nothing written (first: {there[0]}); "
                 "remove them or choose another folder")
    for src, d in pairs:
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, d)
    print(f"wrote {dest}/config.yaml and {len(pairs) - 1} claim files; next: "
          f"cd {args.dir} && snakemake --cores all --config tier=smoke (README, \"Using it as a module\")")


def _add_run_arm(sub) -> None:
    """`trickbench run-arm`: the training command every job and lane runs."""
    p = sub.add_parser("run-arm", help="train every seed of one arm, every grid point of a grid arm (resumes)")
    _common(p)
    p.add_argument("--arm", required=True)
    p.add_argument("--out", required=True, help="JSON lines: one run summary per seed")
    p.add_argument("--data-root", default="data")
    p.add_argument("--cache-dir", default=None, help="decoded-tensor cache (default: <data-root>/cache)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--gpu-slots", type=int, default=0, help="GPUs on this machine: take one free one per job")
    p.add_argument("--stack", action="store_true", help="train the pending seeds of an MLP arm as one stacked model")
    p.add_argument("--only-seeds", default=None, metavar="S[,S...]",
                   help="train only these of the tier's test seeds (one arm split over parallel long-run lanes)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="auto: bf16 on CUDA, and on a CPU with native bf16 units for conv models; fp32 otherwise")
    p.add_argument("--allow-emulated-bf16", action="store_true",
                   help="train --precision bf16 on a CPU without native bf16 units (refused otherwise: exit 75)")
    p.add_argument("--channels-last", default="auto", choices=["auto", "true", "false"],
                   help="memory layout of activations and conv weights; auto: on CUDA, and for conv models in bf16 on a CPU")
    p.add_argument("--micro-batch", default="auto",
                   help="at most this many images per forward pass (0: off; auto: 256 on a CPU, off on CUDA)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.set_defaults(fn=cmd_run_arm)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="trickbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from trickbench import __version__
    ap.add_argument("--version", action="version", version=f"trickbench {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True)
    _add_run_arm(sub)
    p = sub.add_parser("analyse", help="per-claim tidy tables and verdicts")
    p.add_argument("--partial", action="store_true",
                   help="analyse a tier still being run: arms without results count as not run yet (no data)")
    _common(p)
    p.set_defaults(fn=cmd_analyse)
    p = sub.add_parser("figure", help="the claim's figure")
    _common(p)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_figure)
    p = sub.add_parser("report", help="render report.pdf from every tier in results/")
    _common(p, claim=False)
    p.add_argument("--report-dir", default="report")
    p.add_argument("--out", default="report/report.pdf")
    p.add_argument("--readme", default="README.md",
                   help="rewrite the results table between its markers in this file, if it has them ('' : never)")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("prune", help="delete run folders of arms/recipes no longer in the claim files")
    _common(p, claim=False)
    p.add_argument("--yes", action="store_true")
    p.set_defaults(fn=cmd_prune)
    p = sub.add_parser("measure-share", help="compute_share for finished stochastic-depth runs made before it was recorded")
    p.add_argument("--results", default="results")
    p.add_argument("--tier", required=True)
    p.add_argument("--claim", default="stochastic_depth")
    p.add_argument("--data-root", default="data")
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(fn=cmd_measure_share)
    p = sub.add_parser("verdict-changes", help="which verdicts changed since a git revision (a new statistic or rule)")
    p.add_argument("--before", required=True, help="git revision whose results/*/*/verdicts.json are the old verdicts")
    p.add_argument("--results", default="results")
    p.add_argument("--out", default="results/verdict-changes.csv")
    p.set_defaults(fn=cmd_verdict_changes)
    p = sub.add_parser("reproduction", help="a retrained tier's verdicts against the committed ones")
    p.add_argument("--committed", required=True, help="the committed results folder (results)")
    p.add_argument("--results", required=True, help="the retrained results folder")
    p.add_argument("--tier", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_reproduction)
    p = sub.add_parser("canary", help="retrain epoch 1 of one committed run per arm: does today's code still give it?")
    p.add_argument("--tier", required=True)
    p.add_argument("--claim", action="append", help="only this claim (repeatable); default: every claim")
    p.add_argument("--results", default="results")
    p.add_argument("--claims-dir", default="config/claims")
    p.add_argument("--data-root", default="data")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="keep the rows in this CSV (e.g. results/cpu/canary.csv; other claims' rows stay)")
    p.set_defaults(fn=cmd_canary)
    p = sub.add_parser("init", help="write config/ (config.yaml, the lecture's claim files) into a new folder")
    p.add_argument("dir", nargs="?", default=".")
    p.set_defaults(fn=cmd_init)
    p = sub.add_parser("validate", help="check config/claims for a tier without running anything")
    _common(p, claim=False)
    p.set_defaults(fn=cmd_validate)
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    from trickbench.config import ConfigError
    from trickbench.io import DamagedFile
    try:
        args.fn(args)
    except ConfigError as e:
        sys.exit(f"config error: {e}")
    except DamagedFile as e:   # a results file that does not read as written: named, with its repair
        sys.exit(f"damaged results file: {e}")


if __name__ == "__main__":
    main()
