"""results/*/*/verdicts.json + claim files + figures -> the one dict (build/data.json) the typst template
lays out. Never imports torch."""
from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

from trickbench import config, io, provenance, units
from trickbench.config import TIERS, figure_paths
from trickbench.report.evidence import (_costs, _families, _in_progress, _tally, answers, budget_points,
                                        forest_rows, limitations, regime_rows, steps_share, table_metrics)
from trickbench.report.text import (LEVELS, _design_text, _mean_sd, _n_text, _p_holm, _recipe_text,
                                    _regime_word, _reruns, _rule_text, _shown, _stability, _verdict_note, label,
                                    seeds_text)


def _svg_width_pt(path: Path, page_width: float = 490.0) -> float:
    """The figure's own width (matplotlib writes it in pt), capped at the text width: a one-panel
    figure is printed at its natural size instead of blown up to the page."""
    head = path.read_text()[:2000]
    m = re.search(r'width="([0-9.]+)pt"', head)
    return min(float(m.group(1)), page_width) if m else page_width


def _tuning_text(v: dict) -> str:
    if not v.get("tuning"):
        return ""
    return (f"Grid arms are tuned on {v['tuning']['metric']} "
            f"({'higher' if v['tuning']['direction'] == 'greater' else 'lower'} is better); "
            "the tuned member (★) stands for its arm in the verdicts."
            + (f" Each row reads the test seeds; a member trained on the tuning seeds "
               f"({', '.join(map(str, v['tune_seeds']))}) alone shows those (“tuning seeds”)."
               if v.get("tune_seeds") else "")
            + "".join(f" Tuned at the edge of the grid, so the optimum may lie outside it: {fam} ({', '.join(keys)})."
                      for fam, keys in v.get("grid_edge", {}).items()))


def _rule_line(s: dict, names: dict) -> str:
    return _rule_text(s["rule"], names) + (f". {_design_text(s)}" if _design_text(s) else "")


def _subclaim_row(s: dict, claim: dict, names: dict, rerun: dict | None) -> dict:
    """A sub-claim as its tier's table in the claim's section shows it."""
    return {"id": s["id"], "statement": s["statement"], "label": label(claim, s), "verdict": _shown(s),
            "verdict_note": _verdict_note(s, rerun), "regime_word": _regime_word(s), "stability": _stability(s, rerun),
            "paper": units.num((s.get("paper") or {}).get("value")),
            "paper_source": (s.get("paper") or {}).get("source", ""),
            "ours": units.ours(s), "effect": units.effect(s), "paper_vs": units.paper_vs_ours(s), "n": _n_text(s),
            "p_holm": _p_holm(s), "rule": _rule_line(s, names)}


def _summary_row(s: dict, claim: dict, v: dict, names: dict, rerun: dict | None, title: str, level: str,
                 evidence: str) -> dict:
    """A sub-claim as the appendix's table of every verdict shows it."""
    return {"claim": v["claim"], "title": title, "tier": v["tier"], "sub": label(claim, s), "level": level,
            "evidence": evidence, "data": ", ".join(v.get("datasets_used", [])) or v["data"],
            "paper": units.num((s.get("paper") or {}).get("value")), "ours": units.ours(s),
            "paper_source": (s.get("paper") or {}).get("source", ""), "rule": _rule_line(s, names),
            "effect": units.effect(s), "n": _n_text(s), "verdict": _shown(s),
            "verdict_note": _verdict_note(s, rerun), "stability": _stability(s, rerun)}


def _figures(claim: dict, tier: str, fig_dir: Path, fig_rel: Path) -> list[dict]:
    return [{"path": str(fig_rel / path.relative_to(fig_dir)), "width": _svg_width_pt(path),
             "caption": claim["figures"][i].get("caption", "")}
            for i, path in enumerate(figure_paths(claim, fig_dir, tier)) if path.exists()]


def _tier_entry(v: dict, claim: dict, level: str, evidence: str, reruns: dict, figs: list[dict]) -> dict:
    """One tier of a claim, as its section shows it: setup, arms with their means, sub-claims, figures."""
    tier, cid = v["tier"], v["claim"]
    common = {k: val for k, val in v["arms"][0]["recipe"].items() if all(a["recipe"].get(k) == val for a in v["arms"])}
    families = _families(claim, v["arms"], common)
    shown = table_metrics(v["metrics"], v["subclaims"])
    names = {a["arm"]: a["label"] for a in v["arms"]} | {n: a["label"] for n, a in claim.get("arms", {}).items()}
    partial = (f" Partial: not complete yet: {', '.join(v['missing_arms'])} (sub-claims on them use the runs finished "
               "so far, or show no data; a tuned grid arm is tuned over the points run so far)." if v.get("missing_arms") else "")
    return {
        "tier": tier, "data": v["data"], "seeds": v["seeds"], "level": level, "evidence": evidence,
        "seeds_text": seeds_text(evidence, v["seeds"]), "note": v.get("note", "") + partial,
        "used": ", ".join(v.get("datasets_used", [])), "devices": ", ".join(v["cost"]["devices"]),
        "regime_checks": regime_rows(v.get("regime_checks") or []), "common": _recipe_text(common),
        "tuning": _tuning_text(v), "families": families,
        "arms": [{"name": a["arm"], "label": ("★ " if a.get("tuned") else "") + a["label"]
                  + (" (tuning seeds)" if a.get("seeds_read") == "tuning" else ""), "n": f"{a['n_ok']}/{a['n']}",
                  "outcomes": ", ".join(f"{k} {n}" for k, n in sorted(a["outcomes"].items())),
                  "differs": _recipe_text({k: val for k, val in a["recipe"].items() if k not in common}),
                  "means": [_mean_sd(a, m) for m in shown]}
                 for a in v["arms"]],
        "metrics": [{"name": m, "desc": v["metrics"][m]} for m in shown],
        "metrics_left_out": len(v["metrics"]) - len(shown),
        "subclaims": [_subclaim_row(s, claim, names, reruns.get((tier, cid, s["id"]))) for s in v["subclaims"]],
        "figures": figs, "has_grid": any(len(f["grid"]) for f in families), "has_ours": any(f["ours"] for f in families),
        "has_paper": any(f["paper"] for f in families), "paper_metric": claim.get("paper_metric") or "",
    }


def _pending(claims_dir: Path, claim_files: dict, have: set, running: dict) -> list[dict]:
    """What the claim files declare but results/ does not hold yet (e.g. a GPU tier), and the tiers
    still being run (analysed --partial): what is in, and what they cost in all."""
    pending = []
    for cf in sorted(Path(claims_dir).glob("*.yaml")):
        c = config.load_yaml(cf.read_text())
        claim_files.setdefault(c["id"], c)
        for tier, spec in c.get("tiers", {}).items():
            if tier != "smoke" and ((c["id"], tier) not in have or (c["id"], tier) in running):
                done, total = running.get((c["id"], tier), (None, None))
                progress = f"in progress, {done}{f' of {total}' if total else ''} runs finished; " if done is not None else ""
                pending.append({"claim": c["id"], "tier": tier, "data": spec.get("data", ""), "note": spec.get("note", ""),
                                "level": spec.get("level", "stand-in"), "evidence": spec.get("evidence", spec.get("data", "")),
                                "cost": progress + spec.get("cost", ""),
                                "command": f"snakemake --cores all --config tier={tier} claims=[{c['id']}]"})
    return pending


def _add_provenance(prov: dict, v: dict) -> None:
    p, tier = v["provenance"], v["tier"]
    prov.setdefault(tier, {"commits": set(), "versions": p["versions"], "hosts": set(), "datasets": {}, "hashes": []})
    prov[tier]["commits"].update(p["commits"])
    prov[tier]["hosts"].update(p["hosts"])
    prov[tier]["datasets"].update(p.get("datasets", {}))
    prov[tier]["hashes"].append(f"{v['claim']}: " + ", ".join(f"{a} {h}" for a, h in p.get("config_hashes", {}).items()))


def _provenance_rows(prov: dict) -> list[dict]:
    return [{"tier": t, "commits": ", ".join(sorted(d["commits"])), "hosts": ", ".join(sorted(d["hosts"])),
             "versions": ", ".join(f"{k} {val}" for k, val in d["versions"].items()),
             "datasets": "; ".join(f"{k}: {h}" for k, h in sorted(d["datasets"].items())) or "generated only",
             "hashes": d["hashes"], "command": f"snakemake --cores all --config tier={t}"}
            for t, d in prov.items()]


def _rank_tiers(ordered: list[dict], claim_files: dict, loaded: list[dict]) -> None:
    """Each claim's budget curve over its tiers; its strongest tier in the main body, the others in the appendix."""
    for c in ordered:
        bc = claim_files[c["id"]].get("budget_curve")
        c["budget"] = ({**bc, "points": budget_points(claim_files[c["id"]], [v for v in loaded if v["claim"] == c["id"]])}
                       if bc else None)
        ranked = sorted(c["tiers"], key=lambda t: (LEVELS.index(t["level"]) if t["level"] in LEVELS else 9,
                                                   -(TIERS.index(t["tier"]) if t["tier"] in TIERS else -1)))
        for t in c["tiers"]:
            t["main"] = t is ranked[0]
            t["tally"] = _tally([{"verdict": x["verdict"]} for x in t["subclaims"]])


def gather(results: Path, claims_dir: Path, fig_dir: Path, fig_rel: Path) -> dict:
    verdict_files = sorted(Path(results).glob("*/*/verdicts.json"),
                           key=lambda p: (TIERS.index(p.parent.parent.name) if p.parent.parent.name in TIERS else 99, p.parent.name))
    claims, summary, cost, prov, claim_files, subs = {}, [], [], {}, {}, []
    loaded = [io.read_json(vf) for vf in verdict_files]  # (verdicts after Holm's correction per claim: analyse)
    reruns = _reruns(results)
    for v in loaded:
        tier, cid = v["tier"], v["claim"]
        cf = Path(claims_dir) / f"{cid}.yaml"
        claim = config.load_yaml(cf.read_text()) if cf.exists() else {"id": cid, "title": v["title"]}
        claim_files[cid] = claim
        entry = claims.setdefault(cid, {"id": cid, "title": claim.get("title", v["title"]), "lecture": claim.get("lecture", {}),
                                        "paper": claim.get("paper", {}), "tiers": []})
        spec = claim.get("tiers", {}).get(tier, {})
        level, evidence = spec.get("level", "stand-in"), spec.get("evidence") or v["data"]
        entry["tiers"].append(_tier_entry(v, claim, level, evidence, reruns, _figures(claim, tier, fig_dir, fig_rel)))
        names = {a["arm"]: a["label"] for a in v["arms"]} | {n: a["label"] for n, a in claim.get("arms", {}).items()}
        for s in v["subclaims"]:
            subs.append({"claim": cid, "tier": tier, "level": level, "evidence": evidence, "sub": s,
                         "steps_share": steps_share(claim, v, s), "partial": _in_progress(s, v.get("missing_arms", []))})
            summary.append(_summary_row(s, claim, v, names, reruns.get((tier, cid, s["id"])), entry["title"], level, evidence))
        wall, ev = _costs(v["cost"])
        cost.append({"claim": cid, "tier": tier, "runs": str(v["cost"]["runs"]), "wall": wall, "eval": ev,
                     "devices": ", ".join(v["cost"]["devices"])})
        _add_provenance(prov, v)
    have = {(c["id"], t["tier"]) for c in claims.values() for t in c["tiers"]}
    running = {(v["claim"], v["tier"]): (v["cost"]["runs"], v.get("runs_expected")) for v in loaded if v.get("missing_arms")}
    pending = _pending(claims_dir, claim_files, have, running)
    order = {cid: (c.get("order", 100), cid) for cid, c in claim_files.items()}
    # best evidence first (plumbing, the smoke tier, last), then the claim files' order
    summary.sort(key=lambda r: (LEVELS.index(r["level"]), order.get(r["claim"], (100, r["claim"])),
                                TIERS.index(r["tier"]) if r["tier"] in TIERS else 99))
    for i, r in enumerate(summary):   # the appendix names a claim's tier and evidence once, above its rows
        r["first"] = i == 0 or (summary[i - 1]["claim"], summary[i - 1]["tier"]) != (r["claim"], r["tier"])
    ordered = sorted(claims.values(), key=lambda c: order.get(c["id"], (100, c["id"])))
    _rank_tiers(ordered, claim_files, loaded)
    return {
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "code": {"commit": provenance.code_version()["commit"] or "unknown (no git history)",
                 "dirty": bool(provenance.code_version()["dirty"])},
        "answers": (ans := answers(claim_files, subs, pending, order)),
        "limitations": limitations(ans, loaded),
        "forest": forest_rows(claim_files, subs, order),
        "summary": summary, "claims": ordered, "cost": cost, "pending": pending, "provenance": _provenance_rows(prov),
    }
