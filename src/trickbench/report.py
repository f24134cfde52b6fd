"""results/*/*/verdicts.json + claim files + figures -> report/report.pdf (typst). Never imports torch.

Python gathers and formats every number; the typst template (report/report.typ) only lays out
what it finds in build/data.json. Every tier that has results is shown, each labelled.
"""
from __future__ import annotations

import datetime as _dt
import math
import re
import shutil
from pathlib import Path


from trickbench import config, io, provenance, verdict
from trickbench.config import TIERS, figure_paths

TEMPLATE = provenance.REPO / "report" / "report.typ"
VERDICT_ORDER = {"replicated": 0, "not replicated": 1, "inconclusive": 2, "no data": 3}


def fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, str):
        return v
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.2e}".replace("e-0", "e−").replace("e-", "e−").replace("e+0", "e").replace("-", "−")
    return f"{v:.{digits}g}".replace("-", "−")


def _ours(s: dict) -> str:
    if s["verdict"] == "no data":
        return "–"
    if s["rule"]["type"] == "rate":
        mine = f"{s['successes']}/{s['n_total']}"
        return f"{mine} vs {s['baseline_successes']}/{s['baseline_n']}" if "baseline_successes" in s else mine
    if s["rule"]["type"] in ("compare", "equivalence") and "baseline_mean" in s:
        return f"{fmt(s['arm_mean'])} vs {fmt(s['baseline_mean'])}"
    if s["rule"]["type"] == "order":
        return "best " + s["rule"]["key"].rsplit(".", 1)[-1] + ": " + " → ".join(fmt(b) for b in s["best"])
    return fmt(s["arm_mean"])


def _rule_text(rule: dict) -> str:
    pct = round(100 * rule.get("confidence", 0.90 if rule["type"] == "equivalence" else 0.95))
    if rule["type"] == "equivalence":
        return (f"{rule['metric']}: {rule['arm']} − {rule['baseline']} within ±{fmt(rule['margin'])} "
                f"(TOST, paired {pct}% interval)")
    if rule["type"] == "order":
        return (f"best {rule['key']} by {rule['metric']} {rule['direction']} along {', '.join(rule['arms'])} "
                f"(bootstrap support over seeds ≥ {pct}%)")
    rel = {"less": "<", "greater": ">"}[rule["direction"]]
    if rule["type"] == "rate":
        succ = rule["success"]
        what = (f"outcome {succ['outcome']}" if "outcome" in succ else
                f"{succ['metric']} {'>' if succ['direction'] == 'greater' else '<'} {fmt(succ['value'])}")
        other = f"that of {rule['baseline']}" if "baseline" in rule else fmt(rule["value"])
        pooled = ", all grid members pooled" if rule.get("pool") else ""
        return f"share of {rule['arm']} runs with {what} {rel} {other} ({pct}% Wilson/Newcombe interval{pooled})"
    m = rule.get("min_effect", 0)
    margin = f" by > {fmt(m)}" if m else ""
    if rule["type"] == "compare":
        return f"{rule['metric']}: {rule['arm']} {rel} {rule['baseline']}{margin} (paired over seeds)"
    return f"{rule['metric']}: mean of {rule['arm']} {rel} {fmt(rule['value'])}{margin}"


def _interval(s: dict) -> str:
    if s["verdict"] == "no data":
        return "–"
    pct = round(100 * s["rule"].get("confidence", 0.90 if s["rule"]["type"] == "equivalence" else 0.95))
    if s["rule"]["type"] == "order":
        return f"support {fmt(s['effect'], 2)}"
    if s.get("no_spread"):
        return f"{fmt(s['effect'])} (no spread, n = {s['n']})"
    return f"{fmt(s['effect'])} [{fmt(s['ci_low'])}, {fmt(s['ci_high'])}] ({pct}%)"


def _verdict_note(s: dict) -> str:
    if s.get("mixed_setups"):
        return f"timings from more than one machine or precision ({'; '.join(s['timing_setups'])}): not compared"
    if s.get("holm_downgraded"):
        return f"{s['verdict_uncorrected']} before Holm (p_Holm = {fmt(s['p_holm'], 2)})"
    if s["verdict"] == "inconclusive" and s.get("n_needed"):
        return f"~{s['n_needed']} seeds would decide it (80% power)"
    return ""


def _n_text(s: dict) -> str:
    n, total = s.get("n", 0), s.get("n_total")
    return f"{n}/{total}" if total not in (None, n) else str(n)


def _recipe_text(recipe: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in recipe.items() if v not in (None, {}, []))


def _svg_width_pt(path: Path, page_width: float = 490.0) -> float:
    """The figure's own width (matplotlib writes it in pt), capped at the text width: a one-panel
    figure is printed at its natural size instead of blown up to the page."""
    head = path.read_text()[:2000]
    m = re.search(r'width="([0-9.]+)pt"', head)
    return min(float(m.group(1)), page_width) if m else page_width


def _families(claim: dict, arms: list[dict], common: dict) -> list[dict]:
    """Claim-file arms: what each sets beyond the shared recipe, and its grid (if any)."""
    out = []
    for name, spec in claim.get("arms", {}).items():
        members = [a for a in arms if a.get("family", a["arm"]) == name]
        if not members:
            continue
        grid = spec.get("grid") or {}
        differs = {k: val for k, val in members[0]["recipe"].items() if k not in common and k not in grid}
        out.append({"label": spec["label"], "differs": _recipe_text(differs), "paper": spec.get("paper", ""),
                    "grid": "; ".join(f"{k} ∈ {{{', '.join(map(str, vals))}}}" for k, vals in grid.items()),
                    "ours": _pooled(members, claim.get("paper_metric"))})
    return out


def _pooled(members: list[dict], metric: str | None) -> str:
    """Best / mean of `metric` over every finished run of a claim-file arm (grid points pooled), in
    percent as papers print accuracies: '97.4 / 91.7 of 38 runs (2 not finished: ...)'. '' when not declared."""
    ok = [a for a in members if a.get("n_ok") and metric in a.get("max", {})]
    if not metric or not ok:
        return ""
    n = sum(a["n_ok"] for a in ok)
    best = max(a["max"][metric] for a in ok)
    mean = min(best, sum(a["mean"][metric] * a["n_ok"] for a in ok) / n)  # equal runs: no 11.3 / 11.4 from rounding
    bad = sum(a["n"] - a["n_ok"] for a in members)
    return f"{100 * best:.1f} / {100 * mean:.1f} of {n} runs" + (f" ({bad} not finished: diverged or timed out)" if bad else "")


def gather(results: Path, claims_dir: Path, fig_dir: Path, fig_rel: Path) -> dict:
    verdict_files = sorted(Path(results).glob("*/*/verdicts.json"),
                           key=lambda p: (TIERS.index(p.parent.parent.name) if p.parent.parent.name in TIERS else 99, p.parent.name))
    claims, summary, cost, prov, claim_files = {}, [], [], {}, {}
    loaded = [io.read_json(vf) for vf in verdict_files]
    for tier in dict.fromkeys(v["tier"] for v in loaded):  # Holm across every sub-claim of a tier
        verdict.apply_holm([s for v in loaded if v["tier"] == tier for s in v["subclaims"]])
    for v in loaded:
        tier, cid = v["tier"], v["claim"]
        cf = Path(claims_dir) / f"{cid}.yaml"
        claim = config.load_yaml(cf.read_text()) if cf.exists() else {"id": cid, "title": v["title"]}
        claim_files[cid] = claim
        entry = claims.setdefault(cid, {
            "id": cid, "title": claim.get("title", v["title"]), "lecture": claim.get("lecture", {}),
            "paper": claim.get("paper", {}), "tiers": []})
        common = {k: val for k, val in v["arms"][0]["recipe"].items()
                  if all(a["recipe"].get(k) == val for a in v["arms"])}
        families = _families(claim, v["arms"], common)
        figs = []
        for i, path in enumerate(figure_paths(claim, fig_dir, tier)):
            if path.exists():
                figs.append({"path": str(fig_rel / path.relative_to(fig_dir)), "width": _svg_width_pt(path),
                             "caption": claim["figures"][i].get("caption", "")})
        entry["tiers"].append({
            "tier": tier, "data": v["data"], "seeds": v["seeds"],
            "note": v.get("note", "") + (f" Partial: not run yet: {', '.join(v['missing_arms'])} (their sub-claims show no data)."
                                         if v.get("missing_arms") else ""),
            "used": ", ".join(v.get("datasets_used", [])),
            "devices": ", ".join(v["cost"]["devices"]),
            "common": _recipe_text(common),
            "tuning": (f"Grid arms are tuned on {v['tuning']['metric']} "
                       f"({'higher' if v['tuning']['direction'] == 'greater' else 'lower'} is better); "
                       "the tuned member (★) stands for its arm in the verdicts."
                       + "".join(f" Tuned at the edge of the grid, so the optimum may lie outside it: {fam} ({', '.join(keys)})."
                                 for fam, keys in v.get("grid_edge", {}).items())) if v.get("tuning") else "",
            "families": families,
            "arms": [{"name": a["arm"], "label": ("★ " if a.get("tuned") else "") + a["label"], "n": f"{a['n_ok']}/{a['n']}",
                      "outcomes": ", ".join(f"{k} {n}" for k, n in sorted(a["outcomes"].items())),
                      "differs": _recipe_text({k: val for k, val in a["recipe"].items() if k not in common}),
                      "means": [fmt(a["mean"].get(m)) + (f" ± {fmt(a['std'][m], 2)}" if m in a.get("std", {}) else "")
                                for m in v["metrics"]]}
                     for a in v["arms"]],
            "metrics": [{"name": m, "desc": d} for m, d in v["metrics"].items()],
            "subclaims": [{"id": s["id"], "statement": s["statement"], "verdict": s["verdict"],
                           "verdict_note": _verdict_note(s),
                           "paper": fmt((s.get("paper") or {}).get("value")),
                           "paper_source": (s.get("paper") or {}).get("source", ""),
                           "ours": _ours(s), "effect": _interval(s), "n": _n_text(s),
                           "p_holm": fmt(s.get("p_holm"), 2),
                           "rule": _rule_text(s["rule"])} for s in v["subclaims"]],
            "figures": figs,
            "has_grid": any(len(f["grid"]) for f in families),
            "has_ours": any(f["ours"] for f in families),
            "paper_metric": claim.get("paper_metric") or "",
        })
        for s in v["subclaims"]:
            summary.append({"claim": cid, "title": entry["title"], "tier": tier, "sub": s["statement"],
                            "data": ", ".join(v.get("datasets_used", [])) or v["data"],
                            "paper": fmt((s.get("paper") or {}).get("value")), "ours": _ours(s),
                            "n": str(s.get("n", 0)), "verdict": s["verdict"], "verdict_note": _verdict_note(s)})
        cost.append({"claim": cid, "tier": tier, "runs": str(v["cost"]["runs"]),
                     "wall": f"{v['cost']['wall_s']:.1f} {'GPU' if v['cost'].get('gpu') else 'CPU'}-s",
                     "devices": ", ".join(v["cost"]["devices"])})
        p = v["provenance"]
        prov.setdefault(tier, {"commits": set(), "versions": p["versions"], "hosts": set(), "datasets": {},
                               "hashes": []})
        prov[tier]["commits"].update(p["commits"])
        prov[tier]["hosts"].update(p["hosts"])
        prov[tier]["datasets"].update(p.get("datasets", {}))
        prov[tier]["hashes"].append(f"{cid}: " + ", ".join(f"{a} {h}" for a, h in p.get("config_hashes", {}).items()))
    # what the claim files declare but results/ does not hold yet (e.g. a GPU tier)
    have = {(c["id"], t["tier"]) for c in claims.values() for t in c["tiers"]}
    pending = []
    for cf in sorted(Path(claims_dir).glob("*.yaml")):
        c = config.load_yaml(cf.read_text())
        claim_files.setdefault(c["id"], c)
        for tier, spec in c.get("tiers", {}).items():
            if tier != "smoke" and (c["id"], tier) not in have:
                pending.append({"claim": c["id"], "tier": tier, "data": spec.get("data", ""), "note": spec.get("note", "")})
    order = {cid: (c.get("order", 100), cid) for cid, c in claim_files.items()}
    summary.sort(key=lambda r: (order.get(r["claim"], (100, r["claim"])), TIERS.index(r["tier"]) if r["tier"] in TIERS else 99))
    ordered = sorted(claims.values(), key=lambda c: order.get(c["id"], (100, c["id"])))
    return {
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "code": {"commit": provenance.code_version()["commit"] or "unknown (no git history)",
                 "dirty": bool(provenance.code_version()["dirty"])},
        "summary": summary, "claims": ordered, "cost": cost, "pending": pending,
        "provenance": [{"tier": t, "commits": ", ".join(sorted(d["commits"])), "hosts": ", ".join(sorted(d["hosts"])),
                        "versions": ", ".join(f"{k} {val}" for k, val in d["versions"].items()),
                        "datasets": "; ".join(f"{k}: {h}" for k, h in sorted(d["datasets"].items())) or "generated only",
                        "hashes": d["hashes"],
                        "command": f"snakemake --cores all --config tier={t}"}
                       for t, d in prov.items()],
    }


MNIST_EPOCH = 468 * 128  # training images per MNIST epoch at batch 128 (full 60k, last batch dropped)


def speed(results: Path) -> dict:
    """The benchmark files in results/bench/ as report rows (python -m trickbench.bench writes them)."""
    mlp, models, tta, layouts, pipeline = [], [], [], [], []
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
        elif b.get("suite") == "models":
            if "load_before" in b:
                where += f" (load {b['load_before']:.1f}–{b['load_after']:.1f})"
            for name, r in b["models"].items():
                models.append({"file": f.name, "device": where, "model": name,
                               "engine": f"{r['engine_img_s']:,.0f}", "plain": f"{r['plain_img_s']:,.0f}",
                               "ratio": f"{r['ratio']:.2f}×", "mflop": fmt(r["flops_per_image"] / 1e6),
                               "mfu": fmt(r["mfu"], 2) if r.get("mfu") is not None else "–"})
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
                        "peak": fmt(b["stacked_fraction_of_peak"], 2) if "stacked_fraction_of_peak" in b else "–"})
    return {"mlp": mlp, "models": models, "tta": tta, "layouts": layouts, "pipeline": pipeline}


def build(results: Path, claims_dir: Path, report_dir: Path, out: Path) -> None:
    import typst

    report_dir = Path(report_dir)
    fig_dir = report_dir / "figures"
    data = gather(results, claims_dir, fig_dir, Path("figures"))
    data["speed"] = speed(results)
    if not data["claims"]:
        raise FileNotFoundError(f"no results/*/*/verdicts.json under {results}: run the pipeline first")
    build_dir = report_dir / "build"
    io.write_json(build_dir / "data.json", data)
    template = report_dir / "report.typ"
    if template.resolve() != TEMPLATE.resolve():
        shutil.copyfile(TEMPLATE, template)
    pdf = typst.compile(str(template), root=str(report_dir))
    io.atomic_write_bytes(out, pdf)
