"""Command line: the entry points the Snakemake rules call (and you can call by hand).

    python -m trickbench.cli run-arm  --claim amsgrad_synthetic --tier quick --arm adam_online --out results/quick/amsgrad_synthetic/runs/adam_online.jsonl
    python -m trickbench.cli analyse  --claim amsgrad_synthetic --tier quick
    python -m trickbench.cli figure   --claim amsgrad_synthetic --tier quick --out report/figures/quick/amsgrad_synthetic.svg
    python -m trickbench.cli report   --out report/report.pdf
    python -m trickbench.cli validate --tier smoke

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


def cmd_run_arm(args):
    threads = str(args.threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = threads  # before numpy/torch load their BLAS
    from trickbench import io
    from trickbench.tasks import TASKS
    cat = _resolve(args)
    if args.arm not in cat.arms:
        sys.exit(f"arm {args.arm!r} is not run at tier {args.tier!r}; arms: {', '.join(cat.arms)}")
    arm = cat.arms[args.arm]
    ctx = {"device": args.device, "data_root": args.data_root, "cache_dir": args.cache_dir, "threads": args.threads}
    root = Path(args.results) / args.tier / args.claim / "runs"
    summaries = TASKS.get(cat.claim["task"]).run_arm(args.claim, args.tier, arm, cat.seeds_of(args.arm), root, ctx)
    io.write_jsonl(args.out, summaries)
    bad = [s for s in summaries if s["outcome"] != "ok"]
    print(f"{args.claim}/{args.arm} @ {args.tier}: {len(summaries)} runs, "
          f"{len(bad)} not ok ({', '.join(sorted({s['outcome'] for s in bad})) or '-'})")


def cmd_analyse(args):
    from trickbench import analyse
    cat = _resolve(args)
    analyse.analyse_claim(cat, Path(args.results))


def cmd_figure(args):
    from trickbench import figures
    cat = _resolve(args)
    figures.claim_figure(cat, Path(args.results), Path(args.out))


def cmd_report(args):
    from trickbench import report
    report.build(Path(args.results), Path(args.claims_dir), Path(args.report_dir), Path(args.out))


def cmd_validate(args):
    from trickbench import config
    claims = config.load_claims(args.claims_dir)
    for cid, claim in claims.items():
        cat = config.resolve(claim, args.tier, args.seeds)
        runs = sum(len(cat.seeds_of(a)) for a in cat.arms)
        print(f"{cid} @ {args.tier}: {len(cat.arms)} arms, {runs} runs")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="trickbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run-arm", help="train every seed of one arm (resumes finished/partial runs)")
    _common(p)
    p.add_argument("--arm", required=True)
    p.add_argument("--out", required=True, help="JSON lines: one run summary per seed")
    p.add_argument("--data-root", default="data")
    p.add_argument("--cache-dir", default=None, help="decoded-tensor cache (default: <data-root>/cache)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(fn=cmd_run_arm)
    p = sub.add_parser("analyse", help="per-claim tidy tables and verdicts")
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
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("validate", help="check config/claims for a tier without running anything")
    _common(p, claim=False)
    p.set_defaults(fn=cmd_validate)
    args = ap.parse_args(argv)
    from trickbench.config import ConfigError
    try:
        args.fn(args)
    except ConfigError as e:
        sys.exit(f"config error: {e}")


if __name__ == "__main__":
    main()
