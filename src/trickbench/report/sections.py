"""The report's optional sections, each from files of its own under results/: speed (results/bench),
verdict changes between commits, the reproduction check, the canaries. Never imports torch."""
from __future__ import annotations

from pathlib import Path

from trickbench import io, units
from trickbench.report.text import _num, _shown, _where


MNIST_EPOCH = 468 * 128  # training images per MNIST epoch at batch 128 (full 60k, last batch dropped)


def _same_numbers(r: dict) -> str:
    """How close a stacked-linear row's two backwards came: bit for bit, or float rounding (another
    summation order: the largest difference relative to the largest magnitude, under 1e-5), or not."""
    if r["bit_identical"]:
        return "bit for bit the same"
    rel = r.get("max_rel_diff")
    return f"the same to {rel:.0e} relative" if rel is not None and rel < 1e-5 else "NOT the same numbers"


def _engine_rows(b: dict, where: str, dev: dict) -> list[dict]:
    """Suite engine: the CPU choices (trickbench.ops.bench_engine), each a ratio."""
    engine = []
    where += f" ({dev.get('cpu_bf16') or 'no bf16 units'}; load {b['load_before']:.1f}–{b['load_after']:.1f})"
    for name, r in b.get("models", {}).items():
        c = r["cores"]
        engine += [
            {"device": where, "choice": f"{name}, batch {r['batch']}: channels_last vs contiguous (bf16)",
             "base": f"{r['train_contiguous_img_s']:,.0f} img/s", "new": f"{r['train_channels_last_img_s']:,.0f} img/s",
             "ratio": f"{r['channels_last_over_contiguous']:.2f}×"},
            {"device": where, "choice": f"{name}: two 1-thread runs vs one 2-thread run (total)",
             "base": f"{c['one_two_thread_img_s']:,.0f} img/s", "new": f"{c['two_single_thread_img_s']:,.0f} img/s",
             "ratio": f"{c['two_single_over_one_double']:.2f}×"},
            {"device": where, "choice": f"{name}: an evaluation image vs a training image; "
                                        f"{r['share_of_bf16_peak']:.0%} of the bf16 peak",
             "base": f"{r['train_' + r['best_layout'] + '_img_s']:,.0f} img/s",
             "new": f"{r['eval_img_s']:,.0f} img/s", "ratio": f"{r['eval_over_train']:.2f}×"}]
    if "chunks" in b:
        c = b["chunks"]
        engine += [
            {"device": where, "choice": "NF-ResNet-20, batch 2048: in chunks of 256 vs whole",
             "base": f"{c['train_whole_img_s']:,.0f} img/s", "new": f"{c['train_chunks_256_img_s']:,.0f} img/s",
             "ratio": f"{c['train_chunks_over_whole']:.2f}×"},
            {"device": where, "choice": "NF-ResNet-20 evaluation: 256 vs 2000 images per pass",
             "base": f"{c['eval_batch_2000_img_s']:,.0f} img/s", "new": f"{c['eval_batch_256_img_s']:,.0f} img/s",
             "ratio": f"{c['eval_256_over_2000']:.2f}×"}]
    return engine


def speed(results: Path) -> dict:
    """The benchmark files in results/bench/ as report rows (python -m trickbench.ops.bench writes them)."""
    mlp, models, tta, layouts, pipeline, engine = [], [], [], [], [], []
    for f in sorted((Path(results) / "bench").glob("*.json")):
        b = io.read_json(f)
        dev = b.get("device", {})
        where = dev.get("gpu") or dev.get("cpu") or dev.get("device", "?")
        if b.get("suite") == "pipeline":
            pipeline.append({"device": f"{where} (load {b['load_before']:.1f}–{b['load_after']:.1f})",
                             "tier": f"{b['tier']}, {b['cores']} cores",
                             "jobs": f"{b['jobs'].get('train', 0)} train, "
                                     f"{sum(n for r, n in b['jobs'].items() if r not in ('train', 'all'))} other",
                             "wall": f"{b['wall_s'] / 60:.1f}", "train": f"{b['train_forced_wall_s']:.0f}",
                             "noop": f"{b['noop_wall_s']:.0f}",
                             "train_share": f"{b['train_overhead']:.1%}", "analysis": f"{b['analysis_wall_s']:.0f}",
                             "share": f"{b['overhead_bound']:.1%}"})
        elif b.get("suite") == "layouts":
            for name, r in b["layouts"].items():
                layouts.append({"device": f"{where} (load {b['load_before']:.1f}–{b['load_after']:.1f})",
                                "work": f"{b['seeds']} runs × {b['images_per_run']:,} img, {b['cores']} cores",
                                "layout": name + (" (fastest)" if name == b["best"] else ""),
                                "wall": f"{r['wall_s']:.1f}", "rph": f"{r['runs_per_hour']:,.0f}",
                                "ratio": f"{r['over_per_run_process']:.2f}×"})
        elif b.get("suite") == "engine":
            engine += _engine_rows(b, where, dev)
        elif b.get("suite") == "stacked-linear":   # one stacked MLP layer, two backwards (fp32, ms per step)
            where += f" (load {b['load_before']:.1f}–{b['load_after']:.1f})"
            for r in b["rows"]:
                engine.append({"device": where,
                               "choice": f"stacked MLP layer, {r['seeds']} seeds × batch {r['batch']}, "
                                         f"{r['fan_in']}→{r['fan_out']}: StackedLinear vs autograd's baddbmm backward "
                                         f"(fp32; {_same_numbers(r)})",
                               "base": f"{r['autograd_baddbmm_ms']:.2f} ms", "new": f"{r['stacked_linear_ms']:.2f} ms",
                               "ratio": f"{r['speedup']:.2f}×"})
        elif b.get("suite") == "models":
            if "load_before" in b:
                where += f" (load {b['load_before']:.1f}–{b['load_after']:.1f})"
            for name, r in b["models"].items():
                models.append({"file": f.name, "device": where, "model": name,
                               "engine": f"{r['engine_img_s']:,.0f}", "plain": f"{r['plain_img_s']:,.0f}",
                               "ratio": f"{r['ratio']:.2f}×", "mflop": units.num(r["flops_per_image"] / 1e6),
                               "mfu": units.num(r["mfu"], 2) if r.get("mfu") is not None else "–",
                               # CPU conv models: the engine in fp32 and under bf16 autocast, same process
                               "bf16": (f"{r['engine_fp32_img_s']:,.0f} / {r['engine_bf16_img_s']:,.0f} "
                                        f"({r['bf16_over_fp32']:.2f}×)") if "bf16_over_fp32" in r else "–"})
            t = b.get("time_to_accuracy")
            if t:
                reach = ", ".join(f"{float(k):.0%} in {v:.0f} s" for k, v in t["seconds_to_test_acc"].items() if v)
                last = t["curve"][-1] if t["curve"] else {}
                tta.append({"file": f.name, "device": where, "recipe": t["recipe"], "dataset": t["dataset"],
                            "reach": reach or "none of 80–92%",
                            "final": f"{last.get('test_acc', 0):.1%} after {last.get('epoch')} epochs, {last.get('wall_s', 0):.0f} s"})
        else:
            mlp.append({"file": f.name, "device": where, "seeds": str(b["seeds"]), "threads": str(b["threads"]),
                        "sequential": f"{b['sequential_img_s']:,.0f}", "stacked": f"{b['stacked_img_s']:,.0f}",
                        "ratio": f"{b['stacked_over_sequential']:.2f}×",
                        "epoch": f"{MNIST_EPOCH / b['sequential_img_s']:.2f} / {MNIST_EPOCH / b['stacked_img_s']:.2f}",
                        "peak": units.num(b["stacked_fraction_of_peak"], 2) if "stacked_fraction_of_peak" in b else "–"})
    return {"mlp": mlp, "models": models, "tta": tta, "layouts": layouts, "pipeline": pipeline, "engine": engine}


def verdict_changes(results: Path, names: dict | None = None) -> dict:
    """results/verdict-changes.csv (trickbench verdict-changes): the verdicts that a change of the
    statistics moved, for the report to say so, each beside what the current analysis says (the
    file is a record of one past change; the "now" column is recomputed on every build)."""
    from trickbench.ops import changes
    path = Path(results) / "verdict-changes.csv"
    if not path.exists():
        return {"head": "", "rows": [], "total": 0}
    names = names if names is not None else {}
    head, rows = changes.read(path)
    moved = []
    for r in rows:
        if r["changed"] != "True":
            continue
        where, lab = _where(names, r["tier"], r["claim"], r["subclaim"])
        now = names.get((r["tier"], r["claim"], r["subclaim"]), (None, None, None))[2]
        moved.append({"where": where, "subclaim": lab, "before": r["verdict_before"], "after": r["verdict_after"],
                      "now": _shown(now) if now else "no longer analysed",
                      "ci": units.effect(now) if now else "–"})
    return {"head": head, "rows": moved, "total": len(rows)}


def reproduction(results: Path, names: dict | None = None) -> dict:
    """results/<tier>/reproduction.csv (a retrained tier against the committed one) as report rows."""
    from trickbench.ops import changes
    rows, head, setups = [], "", set()
    names = names if names is not None else {}
    for path in sorted(Path(results).glob("*/reproduction.csv")):
        head, found = changes.read(path)
        for r in found:
            moved = r["moved_in_half_widths"]
            where, lab = _where(names, r["tier"], r["claim"], r["subclaim"])
            rows.append({"where": where, "subclaim": lab,
                         "committed": r["verdict_committed"], "new": r["verdict_new"],
                         "agree": "exact" if r["exact"] == "True" else "yes" if r["agree"] == "True" else "no",
                         "effect": f"{units.num(_num(r['effect_committed']))} → {units.num(_num(r['effect_new']))}",
                         "moved": units.num(_num(moved), 2) if moved else "–"})
            setups.add(f"committed: {r['setup_committed']}; retrained: {r['setup_new']}")
    agree = sum(r["agree"] != "no" for r in rows)
    return {"head": head, "rows": rows, "agree": agree, "setups": sorted(setups)}


def canaries(results: Path) -> list[dict]:
    """results/<tier>/canary.csv (`trickbench canary --out`) as one line per tier: how many committed
    runs were retrained for an epoch, on what, how many agree, to the bit, and which do not."""
    import csv

    from trickbench.ops.canary import RTOL, only_evaluation_moved
    out = []
    for path in sorted(Path(results).glob("*/canary.csv")):
        with path.open() as f:
            rows = list(csv.DictReader(f))
        if not rows:
            continue
        bad = [r for r in rows if r["ok"] != "True"]
        out.append({"tier": path.parent.name, "n": len(rows), "claims": len({r["claim"] for r in rows}),
                    "agree": len(rows) - len(bad),
                    "exact": sum(_num(r["max_rel_diff"]) == 0 for r in rows),
                    "eval_only": sum(only_evaluation_moved(r) for r in rows),
                    "cross_cpu": sum(bool(r.get("cross_cpu")) for r in rows),
                    "sensitive": sum((_num(r["tolerance"]) or 0) > RTOL.get(r["precision"], 0) for r in rows),
                    "where": "; ".join(sorted({f"{r['cpu']}, commit {r['commit']}, {r['date']}" for r in rows})),
                    "failed": [f"{r['claim']}/{r['arm']} seed {r['seed']}: {r['problem']}" for r in bad]})
    return out
