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


from trickbench import config, io, provenance, resources, rules, units
from trickbench.config import TIERS, figure_paths

VERDICT_ORDER = {"replicated": 0, "reversed": 1, "not replicated": 1, "inconclusive": 2, "no data": 3}
FRAGILE = 0.8   # a decided verdict that fewer seed resamples than this reproduce is labelled fragile
FEW_SEEDS = 5   # below this, a positive verdict says it rests on the t interval's normality


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


def _rule_text(rule: dict, names: dict | None = None) -> str:
    """The rule in words; arms by their labels (`names`: arm -> label) rather than identifiers."""
    if names:
        rule = {**rule, **{k: f"“{names.get(rule[k], rule[k])}”" for k in ("arm", "baseline") if k in rule}}
        if "arms" in rule:
            rule["arms"] = [f"“{names.get(a, a)}”" for a in rule["arms"]]
    return rules.get(rule["type"]).text(rule, fmt)


def _shown(s: dict) -> str:
    """The verdict word a reader sees: a negative control (`control: true`) that shows no effect
    reads "as expected", one that shows the effect "unexpected effect"."""
    if s.get("control"):
        if s["verdict"] in ("not replicated", "reversed"):
            return "as expected"
        if s["verdict"] == "replicated":
            return "unexpected effect"
    return s["verdict"]


def _regime_word(s: dict) -> str:
    """'' or 'regime check not met' (a regime check of the tier came out against it) or 'regime
    check not established' (still open)."""
    unmet = s.get("regime_unmet") or []
    if not unmet:
        return ""
    word = "not met" if any(u["verdict"] not in ("inconclusive", "no data") for u in unmet) else "not established"
    return f"regime check {word}"


def _regime_checks(s: dict) -> str:
    """The unmet regime checks themselves: 'Sanity: BN ResNet-20 reaches 88 % at batch 256 (not replicated)'."""
    return "; ".join(f"{u['label']} ({u['verdict']})" for u in s.get("regime_unmet") or [])


def _regime_text(s: dict) -> str:
    """'' or what the tier's regime checks (verdict.mark_regime) say against it: 'regime check not
    met: Sanity: BN ResNet-20 reaches 88 % at batch 256 (not replicated)'."""
    word = _regime_word(s)
    return f"{word}: {_regime_checks(s)}" if word else ""


def _verdict_note(s: dict, rerun: dict | None = None) -> str:
    notes = [t for t in [_regime_text(s)] if t]
    if rerun and rerun["verdict_new"] != rerun["verdict_committed"] and s["verdict"] == rerun["verdict_committed"]:
        notes.append(f"flipped on a rerun from scratch: {rerun['verdict_new']} ({rerun['setup_new']})")
    if s.get("mixed_setups"):
        notes.append(f"timings from more than one machine or precision ({'; '.join(s['timing_setups'])}): not compared")
    elif s.get("setup_mixed"):
        notes.append(f"runs in more than one setup, pooled: {s['setup_mixed']}")
    if s.get("tuning_unsettled"):
        notes.append(f"tuning choice not settled ({s['tuning_unsettled']}): more tune_seeds would settle it")
    if s.get("verdict_one_seed"):
        notes.append(f"one seed per arm so far ({s['verdict_one_seed']} on it): no spread to judge it by")
    if s.get("control") and s["verdict"] in ("not replicated", "reversed"):
        notes.append(f"a control: the paper expects no such effect ({s['verdict']})")
    if s.get("tuning_dependent"):
        # counted, not listed: the pairs of grid-member names ran to a page in a table cell
        # (verdicts.json keeps each pair's verdict under tied_choices)
        counts = {}
        for v in s["tied_choices"].values():
            counts[v] = counts.get(v, 0) + 1
        alt = ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        notes.append(f"depends on the tuned choice: {s['verdict_at_tuned']} at the tuned point, but at the "
                     f"{len(s['tied_choices'])} other pairing(s) of grid points tied with it on validation: {alt}")
    if s.get("holm_downgraded"):
        notes.append(f"{s['verdict_uncorrected']} before Holm (p_Holm = {fmt(s['p_holm'], 2)})")
    if s["verdict"] == "inconclusive" and s.get("n_needed"):
        from trickbench.stats import N_NEEDED_CAP
        notes.append(f"not decidable at this effect size (> {N_NEEDED_CAP:,} seeds)" if s["n_needed"] > N_NEEDED_CAP
                     else f"~{s['n_needed']} seeds would decide it (80% power)")
    if s["verdict"] in ("replicated", "equivalent", "reversed") and not s.get("no_spread") \
            and rules.get(s["rule"]["type"]).t_interval and s.get("n", 0) < FEW_SEEDS:
        notes.append(f"from {s['n']} seeds: rests on normal per-seed differences (exact sign-flip p = {fmt(s.get('p_signflip'), 3)})")
    if s.get("stability") is not None and s["stability"] < FRAGILE and s["verdict"] != "inconclusive":
        notes.append(f"fragile: the same verdict in only {s['stability']:.0%} of seed resamples")
    failed = s.get("failed_arm", 0) + s.get("failed_baseline", 0)
    if failed:
        how = "left out with their seeds" if s.get("failed_as", "exclude") == "exclude" else f"counted as {fmt(s['failed_as'])}"
        notes.append(f"{failed} diverged or timed-out run(s) {how}")
    return "; ".join(notes)


def _stability(s: dict, rerun: dict | None = None) -> str:
    """How robust a verdict is, for every row: the share of seed resamples that give the same
    verdict (analyse), 'exact' where there is no spread (deterministic runs), and, where the tier
    was retrained from scratch (results/<tier>/reproduction.csv), whether the verdict held."""
    if s["verdict"] == "no data":
        return "–"
    parts = []
    if s.get("no_spread"):
        parts.append("no spread")
    elif s.get("stability") is not None:
        parts.append(f"{s['stability']:.0%}")
    if rerun and s["verdict"] == rerun["verdict_committed"]:
        held = rerun["verdict_new"] == rerun["verdict_committed"]
        parts.append("rerun: " + ("exact" if held and rerun["exact"] == "True" else "held" if held else "flipped"))
    return " · ".join(parts) or "–"


def _reruns(results: Path) -> dict:
    """(tier, claim, sub-claim) -> its row of results/<tier>/reproduction.csv (a retrained tier)."""
    from trickbench.ops import changes
    out = {}
    for path in sorted(Path(results).glob("*/reproduction.csv")):
        for r in changes.read(path)[1]:
            out[(r["tier"], r["claim"], r["subclaim"])] = r
    return out


TABLE_METRICS = 8   # more declared metrics than this: the arms table keeps those the rules use


def table_metrics(metrics: dict, subclaims: list[dict]) -> list[str]:
    """The metrics the arms table shows: all of them, or, for a claim that declares many (pruning's
    32), the ones its sub-claims' rules use, in declaration order; every one stays in runs.csv."""
    if len(metrics) <= TABLE_METRICS:
        return list(metrics)
    used = {s["rule"].get(k) for s in subclaims for k in ("metric", "baseline_metric")}
    used |= {s["rule"].get("success", {}).get("metric") for s in subclaims}
    return [m for m in metrics if m in used]


def _design_text(s: dict) -> str:
    """What the tier's design lets the rule reach (analyse.design_check), where it limits it."""
    if "p_min" not in s:
        return ""
    if s["p_min"] is None:
        return "Undecidable by design at this tier: the arms it needs are not run here (or an order rule has fewer than 3 seeds)."
    if s["p_min"] > 0:
        ok = "below" if s["decidable"] else "not below"
        return (f"By design: smallest attainable two-sided p {fmt(s['p_min'], 2)}, {ok} Holm's strictest "
                f"0.05/{s['holm_k']} = {fmt(0.05 / s['holm_k'], 2)}.")
    return ""


def _p_holm(s: dict) -> str:
    if s.get("p_holm") is None:
        return "–"
    if s.get("no_spread"):
        return "– (no spread)"
    return "< 0.001" if s["p_holm"] < 0.001 else units.num(s["p_holm"], 2)   # exact in verdicts.json


def _duration(seconds: float, unit: str) -> str:
    """'5.2 CPU-h (18,720 s)' above an hour, '312.4 CPU-s' below."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} {unit}-h ({seconds:,.0f} s)"
    return f"{seconds:.1f} {unit}-s"


def _eval_cost(cost: dict, unit: str) -> str:
    """Evaluation time beside the training time: '—' where no run recorded it (trained before runs
    did), and how many runs did where only some."""
    n, total = cost.get("eval_recorded", 0), cost["runs"]
    if not n:
        return "—"
    text = _duration(cost["eval_s"], unit)
    return text if n == total else f"{text} ({n} of {total} runs)"


def budget_points(claim: dict, verdicts: list[dict]) -> list[dict]:
    """The claim's budget curve (claim file `budget_curve`): per tier with its sub-claim decided or
    open, the effect and interval against the steps the rule's arm took (its runs: images trained /
    batch), as a share of the paper's, and whether the tier's regime checks hold for it."""
    bc = claim.get("budget_curve")
    out = []
    for v in verdicts if bc else []:
        if bc.get("tiers") and v["tier"] not in bc["tiers"]:
            continue
        s = next((x for x in v["subclaims"] if x["id"] == bc["subclaim"]), None)
        arm = next((a for a in v["arms"] if s and a["arm"] == s["rule"].get("arm")), None)
        if s is None or arm is None or s.get("effect") is None or not arm.get("steps"):
            continue
        out.append({"tier": v["tier"], "steps": arm["steps"], "share": arm["steps"] / bc["paper_steps"],
                    "effect": s["effect"], "lo": s.get("ci_low"), "hi": s.get("ci_high"), "verdict": s["verdict"],
                    "in_regime": not s.get("regime_unmet")})
    return sorted(out, key=lambda p: p["steps"])


def steps_share(claim: dict, v: dict, s: dict) -> float | None:
    """The optimizer steps the rule's arm took at this tier (its runs: images trained / batch) as a
    share of the paper's (claim file: budget_curve.paper_steps, at the tiers it names: a stand-in's
    steps are not the paper's model's), or None where either is unknown."""
    bc = claim.get("budget_curve") or {}
    paper = bc.get("paper_steps") if not bc.get("tiers") or v.get("tier") in bc["tiers"] else None
    arm = next((a for a in v["arms"] if a["arm"] == s["rule"].get("arm")), None)
    return arm["steps"] / paper if paper and arm and arm.get("steps") else None


def regime_rows(checks: list[dict]) -> list[dict]:
    """A tier's regime checks as table rows: one per arm and metric, its mean over seeds against
    the threshold, every seed's value, met or not (regime.py)."""
    from trickbench.regime import show_value
    rows = []
    for c in checks:
        op = "≥" if c["direction"] == "greater" else "≤"
        for i, a in enumerate(c["arms"]):
            rows.append({"check": c["label"] if i == 0 else "", "arm": a["arm"], "metric": a["metric"],
                         "mean": f"{show_value(a['mean'], a['metric'])} (needs {op} {show_value(c['value'], a['metric'])})",
                         "seeds": ", ".join(show_value(v, a["metric"]).replace(" %", "") for _, v in sorted(a["seeds"].items(), key=lambda kv: int(kv[0]))),
                         "met": "met" if a["met"] else "not met"})
        for m in c.get("missing", []):
            rows.append({"check": "" if c["arms"] else c["label"], "arm": m, "metric": "", "mean": "no runs", "seeds": "",
                         "met": "no data"})
    return rows


def _costs(cost: dict) -> tuple[str, str]:
    """A tier's training and evaluation time, CPU-hours and GPU-hours apart ('42.6 CPU-h (…) +
    0.3 GPU-h (…)' where it holds both). Tiers analysed before the split was recorded: one unit,
    GPU where any run used one."""
    if "cpu_runs" not in cost:
        unit = "GPU" if cost.get("gpu") else "CPU"
        return _duration(cost["wall_s"], unit), _eval_cost(cost, unit)
    parts = [(u, cost[f"{k}_wall_s"], cost[f"{k}_eval_s"], cost[f"{k}_runs"]) for k, u in (("cpu", "CPU"), ("gpu", "GPU"))
             if cost[f"{k}_runs"]]
    wall = " + ".join(_duration(w, u) + (f" ({n} runs)" if len(parts) > 1 else "") for u, w, _, n in parts)
    if not cost.get("eval_recorded"):
        return wall, "—"
    ev = " + ".join(_duration(e, u) for u, _, e, _ in parts)
    n, total = cost["eval_recorded"], cost["runs"]
    return wall, ev if n == total else f"{ev} ({n} of {total} runs)"


def _n_text(s: dict) -> str:
    n, total = s.get("n", 0), s.get("n_total")
    return f"{n}/{total}" if total not in (None, n) else str(n)


def _mean_sd(arm: dict, metric: str) -> str:
    """'0.948 ± 0.01', or '–' where no run of the arm has the metric (never '–±–')."""
    mean, sd = arm["mean"].get(metric), arm.get("std", {}).get(metric)
    if fmt(mean) == "–":
        return "–"
    return fmt(mean) + (f" ± {fmt(sd, 2)}" if fmt(sd) != "–" else "")


def _value_text(v) -> str:
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "no", None: "none"}[v]
    if isinstance(v, float):
        return fmt(v, 3)
    if isinstance(v, (list, tuple)):
        return "/".join(_value_text(x) for x in v)
    return str(v)


def _flat(recipe: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in recipe.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        elif v not in (None, [], ""):
            out[prefix + k] = v
    return out


def _recipe_text(recipe: dict) -> str:
    """A recipe as a reader reads it: 'model_args.depth 110 · lr 0.1 · val_fraction 0.0833',
    nested keys dotted, floats to 3 significant digits (the exact recipe is in the appendix's
    hashes and in results/)."""
    return " · ".join(f"{k} {_value_text(v)}" for k, v in _flat(recipe).items())


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
        # the values this tier ran (a tier's `grids` narrows the claim file's), from the members' recipes
        ran = {k: sorted({_flat(a["recipe"]).get(k) for a in members} - {None}) for k in grid}
        out.append({"label": spec["label"], "differs": _recipe_text(differs), "paper": spec.get("paper", ""),
                    "grid": "; ".join(f"{k} ∈ {{{', '.join(map(str, vals))}}}" for k, vals in ran.items()),
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


LEVELS = ["paper scale", "reduced", "stand-in", "plumbing"]   # strongest evidence first


def _tally(rows: list[dict]) -> str:
    """'2 replicated · 1 reversed · 3 inconclusive' over sub-claim rows, in a fixed order."""
    words = ["replicated", "equivalent", "as expected", "reversed", "not replicated", "not equivalent",
             "unexpected effect", "inconclusive", "no data"]
    counts = {w: sum(r["verdict"] == w for r in rows) for w in words}
    return " · ".join(f"{n} {w}" for w, n in counts.items() if n)


POSITIVE = ("replicated", "equivalent", "as expected")
NEGATIVE = ("reversed", "not replicated", "not equivalent", "unexpected effect")


def label(claim: dict, sub: dict) -> str:
    """A sub-claim's short name: its claim-file `label`, else its statement (70 characters at
    most: the schema and a test hold the claim files to it)."""
    for c in claim.get("subclaims", []):
        if c.get("id") == sub["id"]:
            return (c.get("label") or c["statement"]).rstrip(".")
    return sub.get("statement", sub["id"]).rstrip(".")


def _in_progress(s: dict, missing: list[str]) -> bool:
    """Does the sub-claim rest on an arm of a tier still being run (analyse --partial) whose runs
    are not all in yet?"""
    rule = s.get("declared_rule") or s["rule"]
    arms = [rule[k] for k in ("arm", "baseline") if k in rule] + list(rule.get("arms", []))
    return any(a in missing or a.split("__")[0] in missing for a in arms)


def seeds_text(evidence: str, seeds: int) -> str:
    """What "What we ran" adds after a tier's evidence: the seeds per stochastic arm the runs were
    resolved with, unless the evidence already names that many ("5 seeds", "5 test seeds"); an
    evidence that names another count (a --seeds override) is corrected beside it."""
    named = re.findall(r"(\d+) (?:test )?seeds?\b", evidence)
    if named and int(named[-1]) == seeds:
        return ""
    return f"; {seeds} seed(s) per stochastic arm" + (" in these runs" if named else "")


def best_evidence(subs: list[dict]) -> dict:
    """(claim, sub-claim id) -> the row of the tier with the strongest evidence that has data for
    it: first a tier whose regime checks hold for it (a 3-epoch tier with the branches off is not
    stronger evidence for being a larger tier's sibling), then paper scale > reduced > stand-in
    (the smoke tier's plumbing never), the larger tier on a tie."""
    best = {}
    for r in subs:
        if r["level"] == "plumbing" or r["sub"]["verdict"] == "no data":
            continue
        key = (r["claim"], r["sub"]["id"])
        rank = (bool(r["sub"].get("regime_unmet")), LEVELS.index(r["level"]),
                -(TIERS.index(r["tier"]) if r["tier"] in TIERS else -1))
        if key not in best or rank < best[key][0]:
            best[key] = (rank, r)
    return {k: v[1] for k, v in best.items()}


def _related(claim: dict, sub: dict) -> set[str]:
    """The sub-claim and its variants: the one it tests again in another setting (`variant_of`) and
    those that test it again (clipping the classifier at λ 0.01, and at the λ a tier tuned)."""
    return {sub["id"], sub.get("variant_of")} | {s["id"] for s in claim.get("subclaims", [])
                                                 if s.get("variant_of") == sub["id"]}


def answers(claim_files: dict, subs: list[dict], pending: list[dict], order: dict) -> list[dict]:
    """Page 1: per trick (the claim files' `trick`), each sub-claim at its strongest evidence: what
    replicated and what went against the paper, with the effect in natural units (units.effect) and
    where it comes from; what is undecided, the tier's caveat (claim files' `caveat`) and what it
    would cost to decide (the tiers configured but not run). Also the per-tier tallies."""
    best = best_evidence(subs)
    tricks: dict[str, dict] = {}
    for cid in sorted(claim_files, key=lambda c: order.get(c, (100, c))):
        c = claim_files[cid]
        name = c.get("trick", c.get("title", cid))
        t = tricks.setdefault(name, {"trick": name, "headline": c.get("headline", ""), "found": [], "open": [],
                                     "caveats": [], "decide": [], "rows": [], "pending": [], "regimes": [],
                                     "awaiting": []})
        t["headline"] = t["headline"] or c.get("headline", "")
        for tier in c.get("tiers", {}):
            mine = [r for r in subs if r["claim"] == cid and r["tier"] == tier]
            if mine:
                t["rows"].append({"level": mine[0]["level"], "evidence": mine[0]["evidence"], "claim": cid,
                                  "tier": tier, "tally": _tally([{"verdict": _shown(r["sub"])} for r in mine]),
                                  "n": str(len(mine))})
        for sub in c.get("subclaims", []):
            r = best.get((cid, sub["id"]))
            if r is None:
                # no data anywhere yet: named where a tier in progress plans the runs that decide it
                for x in subs:
                    if (x["claim"], x["sub"]["id"]) == (cid, sub["id"]) and x.get("partial") \
                            and x["level"] != "plumbing" and x["sub"].get("p_min") is not None:
                        g = next((g for g in t["awaiting"] if (g["claim"], g["tier"]) == (cid, x["tier"])), None)
                        if g is None:
                            g = {"claim": cid, "tier": x["tier"], "level": x["level"], "labels": []}
                            t["awaiting"].append(g)
                        g["labels"].append(label(c, x["sub"]))
                continue
            shown = _shown(r["sub"])
            need = r["sub"].get("n_needed")
            # the other tiers (or the sub-claim it varies, `variant_of`) where the verdict differs:
            # shown beside it, never hidden behind the strongest
            others = [f"{x['tier']}{'' if x['sub']['id'] == sub['id'] else ' (' + label(c, x['sub']) + ')'}: "
                      f"{_shown(x['sub'])}, {units.effect(x['sub'])}"
                      + (f" ({_regime_word(x['sub'])})" if x["sub"].get("regime_unmet") else "")
                      for x in subs if x is not r and x["claim"] == cid and x["level"] != "plumbing"
                      and x["sub"]["verdict"] != "no data" and _shown(x["sub"]) != shown
                      and x["sub"]["id"] in _related(c, sub)
                      # a weaker tier that only left it open is no disagreement
                      and (LEVELS.index(x["level"]) <= LEVELS.index(r["level"]) or _shown(x["sub"]) != "inconclusive")]
            row = {"verdict": shown, "label": label(c, r["sub"]), "effect": units.effect(r["sub"]),
                   "paper_vs": units.paper_vs_ours(r["sub"]),
                   # a t interval over seeds (not an exact count test, nor deterministic runs)
                   "t_seeds": r["sub"].get("n") if rules.get(r["sub"]["rule"]["type"]).t_interval
                   and not r["sub"].get("no_spread") else None,
                   # how far the tier is from the paper's setup: its model and data, and its steps as
                   # a share of the paper's where the claim file gives the paper's
                   "distance": r["evidence"] + (f"; {units.num(100 * r['steps_share'], 2)} % of the paper's steps"
                                                if r.get("steps_share") else ""),
                   "steps_share": r.get("steps_share"),
                   "ours": units.ours(r["sub"]), "level": r["level"], "claim": cid,
                   "paper": fmt((r["sub"].get("paper") or {}).get("value")),
                   # a tier still being run (analysed --partial) says so wherever its verdicts show
                   "tier": r["tier"] + (", in progress" if r.get("partial") else ""),
                   "n": _n_text(r["sub"]), "regime": _regime_text(r["sub"]), "regime_word": _regime_word(r["sub"]),
                   "others": "; ".join(others),
                   # what deciding it would take at this effect size (t-test power, 80 %)
                   "decide": (f"~{need} seeds" if need and need <= 10_000 else "") if shown == "inconclusive" else ""}
            # page 1 names an unmet regime check once under the trick, with the tiers it failed at; each
            # verdict it governs says so in short
            if row["regime"]:
                text = f"{_regime_checks(r['sub'])}; it governs the verdicts marked so."
                g = next((g for g in t["regimes"] if g["word"] == row["regime_word"] and g["text"] == text), None)
                if g is None:
                    g = {"word": row["regime_word"], "text": text, "tiers": []}
                    t["regimes"].append(g)
                if r["tier"] not in g["tiers"]:
                    g["tiers"].append(r["tier"])
            if shown in POSITIVE or shown in NEGATIVE:
                t["found"].append(row)
            else:
                t["open"].append(row)
            caveat = c.get("tiers", {}).get(r["tier"], {}).get("caveat")
            if caveat and shown not in POSITIVE and not any(x["text"] == caveat for x in t["caveats"]):
                t["caveats"].append({"tier": r["tier"], "claim": cid, "text": caveat})
        for p in pending:
            if p["claim"] == cid and p["level"] != "plumbing":
                t["pending"].append({"text": f"{p['level']}: {p['evidence']} ({p['cost'] or 'cost not stated'})",
                                     "command": p["command"]})
                t["decide"].append({"level": p["level"], "evidence": p["evidence"], "cost": p["cost"] or "cost not stated",
                                    "tier": p["tier"], "claim": cid})
    for t in tricks.values():
        t["rows"].sort(key=lambda r: LEVELS.index(r["level"]))
        t["found"].sort(key=lambda r: (r["verdict"] not in POSITIVE, LEVELS.index(r["level"])))
        t["decide"].sort(key=lambda d: LEVELS.index(d["level"]))
        # the undecided, by the tier that answers them (strongest evidence first): two claim files of a
        # trick may share a sub-claim's label (a stand-in's and a ResNet's), and only the tier tells them apart
        t["open_groups"] = []
        for r in sorted(t["open"], key=lambda r: LEVELS.index(r["level"])):
            g = next((g for g in t["open_groups"] if (g["claim"], g["tier"]) == (r["claim"], r["tier"])), None)
            if g is None:
                g = {"tier": r["tier"], "level": r["level"], "claim": r["claim"], "rows": []}
                t["open_groups"].append(g)
            g["rows"].append(r)
        # a verdict whose regime check failed is neither for nor against the paper: counted apart
        n_grey = sum(bool(r["regime"]) for r in t["found"])
        n_pos = sum(r["verdict"] in POSITIVE and not r["regime"] for r in t["found"])
        n_neg = len(t["found"]) - n_pos - n_grey
        parts = [f"{n_pos} as the paper says" if n_pos else "", f"{n_neg} against it" if n_neg else "",
                 f"{n_grey} decided outside the paper's regime" if n_grey else "",
                 f"{len(t['open'])} undecided" if t["open"] else ""]
        total = len(t["found"]) + len(t["open"])
        t["sentence"] = (f"Of {total} sub-claim{'s' if total != 1 else ''} at their strongest evidence: "
                         + ", ".join(x for x in parts if x) + ".") if total else "Not run yet beyond the plumbing check."
    return [t for t in tricks.values() if t["rows"] or t["pending"]]


def limitations(answers_: list[dict], verdict_files: list[dict]) -> list[str]:
    """What limits the answers on page 1, counted from them (each sub-claim at its strongest
    evidence) and from the runs' own records: verdicts outside the paper's regime, stand-ins, small
    seed counts, how far the budgets are from the papers', lossy data, setups pooled."""
    rows = [r for t in answers_ for r in t["found"] + t["open"]]
    decided = [r for t in answers_ for r in t["found"]]
    out = []
    grey = [r for r in decided if r["regime"]]
    if grey:
        out.append(f"{len(grey)} of {len(decided)} decided verdicts come from a tier whose regime checks do not hold "
                   f"(drawn grey on page 1): " + "; ".join(sorted({r["label"] + " (" + r["tier"] + ")" for r in grey})) + ".")
    by_level = {lv: sum(r["level"] == lv for r in rows) for lv in LEVELS[:3]}
    out.append(f"Of {len(rows)} sub-claims at their strongest evidence, {by_level['paper scale']} are at paper scale, "
               f"{by_level['reduced']} reduced (the paper's kind of model and data, smaller or shorter) and "
               f"{by_level['stand-in']} on a stand-in (another model or data: a check of the mechanism).")
    shares: dict = {}   # (claim, tier) -> the shares of its rows' arms (AGC: two batch sizes)
    for r in rows:
        if r.get("steps_share"):
            shares.setdefault((r["claim"], r["tier"].split(",")[0]), set()).add(r["steps_share"])
    if shares:
        def span(vals):
            lo, hi = (units.num(100 * v, 2) for v in (min(vals), max(vals)))
            return lo if lo == hi else f"{lo}–{hi}"
        out.append("Where a claim file gives the paper's steps, our runs took " + "; ".join(
            f"{span(v)} % of them ({c}, {t})" for (c, t), v in sorted(shares.items(), key=lambda kv: min(kv[1]))) + ".")
    few = [r for r in decided if r.get("t_seeds") and r["t_seeds"] < 5]
    if few:
        out.append(f"{len(few)} decided verdicts rest on fewer than 5 seeds: their t intervals assume normal per-seed "
                   f"differences, which so few seeds cannot check (the exact sign-flip p-value is printed beside them).")
    lossy = sorted({d for v in verdict_files for d in v.get("datasets_used", []) if "JPEG" in d})
    if lossy:
        out.append("Lossy data: " + "; ".join(lossy) + ", not the original pixels.")
    mixed = sum(bool(s.get("setup_mixed")) for v in verdict_files for s in v["subclaims"])
    if mixed:
        out.append(f"{mixed} verdicts pool runs of more than one setup (machine, precision or layout), flagged where they appear.")
    return out


def forest_rows(claim_files: dict, subs: list[dict], order: dict) -> list[dict]:
    """One row per decisive sub-claim (decided either way: replicated, reversed, equivalent, ...;
    page 1 lists the undecided) at its strongest evidence whose effect is in pp (accuracies,
    shares, rates) or in % of time, in the claim's direction (units.forest), grouped by trick."""
    best = best_evidence(subs)
    rows = []
    for (cid, sid), r in best.items():
        f = units.forest(r["sub"])
        if f is None or _shown(r["sub"]) not in POSITIVE + NEGATIVE:
            continue
        c = claim_files[cid]
        rows.append({**f, "trick": c.get("trick", c.get("title", cid)), "label": label(c, r["sub"]),
                     "verdict": _shown(r["sub"]), "level": r["level"], "tier": r["tier"] + (" (partial)" if r.get("partial") else "")
                     + (" (regime not met)" if r["sub"].get("regime_unmet") else "")
                     + (" (fragile)" if r["sub"].get("stability") is not None and r["sub"]["stability"] < FRAGILE else ""),
                     "in_regime": not r["sub"].get("regime_unmet"),
                     "order": (order.get(cid, (100, cid)), [x["id"] for x in c.get("subclaims", [])].index(sid)
                               if any(x["id"] == sid for x in c.get("subclaims", [])) else 99)})
    rows.sort(key=lambda x: x.pop("order"))
    return rows


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
        entry = claims.setdefault(cid, {
            "id": cid, "title": claim.get("title", v["title"]), "lecture": claim.get("lecture", {}),
            "paper": claim.get("paper", {}), "tiers": []})
        common = {k: val for k, val in v["arms"][0]["recipe"].items()
                  if all(a["recipe"].get(k) == val for a in v["arms"])}
        families = _families(claim, v["arms"], common)
        shown = table_metrics(v["metrics"], v["subclaims"])
        names = {a["arm"]: a["label"] for a in v["arms"]} | {n: a["label"] for n, a in claim.get("arms", {}).items()}
        figs = []
        for i, path in enumerate(figure_paths(claim, fig_dir, tier)):
            if path.exists():
                figs.append({"path": str(fig_rel / path.relative_to(fig_dir)), "width": _svg_width_pt(path),
                             "caption": claim["figures"][i].get("caption", "")})
        spec = claim.get("tiers", {}).get(tier, {})
        level, evidence = spec.get("level", "stand-in"), spec.get("evidence") or v["data"]
        entry["tiers"].append({
            "tier": tier, "data": v["data"], "seeds": v["seeds"], "level": level, "evidence": evidence,
            "seeds_text": seeds_text(evidence, v["seeds"]),
            "note": v.get("note", "") + (f" Partial: not complete yet: {', '.join(v['missing_arms'])} (sub-claims on them use the runs finished so far, or show no data; a tuned grid arm is tuned over the points run so far)."
                                         if v.get("missing_arms") else ""),
            "used": ", ".join(v.get("datasets_used", [])),
            "devices": ", ".join(v["cost"]["devices"]),
            "regime_checks": regime_rows(v.get("regime_checks") or []),
            "common": _recipe_text(common),
            "tuning": (f"Grid arms are tuned on {v['tuning']['metric']} "
                       f"({'higher' if v['tuning']['direction'] == 'greater' else 'lower'} is better); "
                       "the tuned member (★) stands for its arm in the verdicts."
                       + (f" Each row reads the test seeds; a member trained on the tuning seeds "
                          f"({', '.join(map(str, v['tune_seeds']))}) alone shows those (“tuning seeds”)."
                          if v.get("tune_seeds") else "")
                       + "".join(f" Tuned at the edge of the grid, so the optimum may lie outside it: {fam} ({', '.join(keys)})."
                                 for fam, keys in v.get("grid_edge", {}).items())) if v.get("tuning") else "",
            "families": families,
            "arms": [{"name": a["arm"], "label": ("★ " if a.get("tuned") else "") + a["label"]
                      + (" (tuning seeds)" if a.get("seeds_read") == "tuning" else ""), "n": f"{a['n_ok']}/{a['n']}",
                      "outcomes": ", ".join(f"{k} {n}" for k, n in sorted(a["outcomes"].items())),
                      "differs": _recipe_text({k: val for k, val in a["recipe"].items() if k not in common}),
                      "means": [_mean_sd(a, m)
                                for m in shown]}
                     for a in v["arms"]],
            "metrics": [{"name": m, "desc": v["metrics"][m]} for m in shown],
            "metrics_left_out": len(v["metrics"]) - len(shown),
            "subclaims": [{"id": s["id"], "statement": s["statement"], "label": label(claim, s), "verdict": _shown(s),
                           "verdict_note": _verdict_note(s, reruns.get((tier, cid, s["id"]))),
                           "regime_word": _regime_word(s),
                           "stability": _stability(s, reruns.get((tier, cid, s["id"]))),
                           "paper": fmt((s.get("paper") or {}).get("value")),
                           "paper_source": (s.get("paper") or {}).get("source", ""),
                           "ours": units.ours(s), "effect": units.effect(s), "paper_vs": units.paper_vs_ours(s), "n": _n_text(s),
                           "p_holm": _p_holm(s),
                           "rule": _rule_text(s["rule"], names) + (f". {_design_text(s)}" if _design_text(s) else "")}
                          for s in v["subclaims"]],
            "figures": figs,
            "has_grid": any(len(f["grid"]) for f in families),
            "has_ours": any(f["ours"] for f in families),
            "has_paper": any(f["paper"] for f in families),
            "paper_metric": claim.get("paper_metric") or "",
        })
        for s in v["subclaims"]:
            subs.append({"claim": cid, "tier": tier, "level": level, "evidence": evidence, "sub": s,
                         "steps_share": steps_share(claim, v, s),
                         "partial": _in_progress(s, v.get("missing_arms", []))})
            summary.append({"claim": cid, "title": entry["title"], "tier": tier, "sub": label(claim, s),
                            "level": level, "evidence": evidence,
                            "data": ", ".join(v.get("datasets_used", [])) or v["data"],
                            "paper": fmt((s.get("paper") or {}).get("value")), "ours": units.ours(s),
                            "paper_source": (s.get("paper") or {}).get("source", ""),
                            "rule": _rule_text(s["rule"], names) + (f". {_design_text(s)}" if _design_text(s) else ""),
                            "effect": units.effect(s),
                            "n": _n_text(s), "verdict": _shown(s),
                            "verdict_note": _verdict_note(s, reruns.get((tier, cid, s["id"]))),
                            "stability": _stability(s, reruns.get((tier, cid, s["id"])))})
        wall, ev = _costs(v["cost"])
        cost.append({"claim": cid, "tier": tier, "runs": str(v["cost"]["runs"]), "wall": wall, "eval": ev,
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
    # and the tiers still being run (analysed --partial): what is in, and what they cost in all
    running = {(v["claim"], v["tier"]): (v["cost"]["runs"], v.get("runs_expected")) for v in loaded if v.get("missing_arms")}
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
    order = {cid: (c.get("order", 100), cid) for cid, c in claim_files.items()}
    # best evidence first (plumbing, the smoke tier, last), then the claim files' order
    summary.sort(key=lambda r: (LEVELS.index(r["level"]), order.get(r["claim"], (100, r["claim"])),
                                TIERS.index(r["tier"]) if r["tier"] in TIERS else 99))
    for i, r in enumerate(summary):   # the appendix names a claim's tier and evidence once, above its rows
        r["first"] = i == 0 or (summary[i - 1]["claim"], summary[i - 1]["tier"]) != (r["claim"], r["tier"])
    ordered = sorted(claims.values(), key=lambda c: order.get(c["id"], (100, c["id"])))
    for c in ordered:   # the effect against the training budget, over the claim's tiers
        bc = claim_files[c["id"]].get("budget_curve")
        c["budget"] = ({**bc, "points": budget_points(claim_files[c["id"]], [v for v in loaded if v["claim"] == c["id"]])}
                       if bc else None)
    for c in ordered:  # the main body shows each claim's strongest tier; the appendix the others
        ranked = sorted(c["tiers"], key=lambda t: (LEVELS.index(t["level"]) if t["level"] in LEVELS else 9,
                                                   -(TIERS.index(t["tier"]) if t["tier"] in TIERS else -1)))
        for t in c["tiers"]:
            t["main"] = t is ranked[0]
            t["tally"] = _tally([{"verdict": x["verdict"]} for x in t["subclaims"]])
    return {
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "code": {"commit": provenance.code_version()["commit"] or "unknown (no git history)",
                 "dirty": bool(provenance.code_version()["dirty"])},
        "answers": (ans := answers(claim_files, subs, pending, order)),
        "limitations": limitations(ans, loaded),
        "forest": forest_rows(claim_files, subs, order),
        "summary": summary, "claims": ordered, "cost": cost, "pending": pending,
        "provenance": [{"tier": t, "commits": ", ".join(sorted(d["commits"])), "hosts": ", ".join(sorted(d["hosts"])),
                        "versions": ", ".join(f"{k} {val}" for k, val in d["versions"].items()),
                        "datasets": "; ".join(f"{k}: {h}" for k, h in sorted(d["datasets"].items())) or "generated only",
                        "hashes": d["hashes"],
                        "command": f"snakemake --cores all --config tier={t}"}
                       for t, d in prov.items()],
    }


MNIST_EPOCH = 468 * 128  # training images per MNIST epoch at batch 128 (full 60k, last batch dropped)


def _same_numbers(r: dict) -> str:
    """How close a stacked-linear row's two backwards came: bit for bit, or float rounding (another
    summation order: the largest difference relative to the largest magnitude, under 1e-5), or not."""
    if r["bit_identical"]:
        return "bit for bit the same"
    rel = r.get("max_rel_diff")
    return f"the same to {rel:.0e} relative" if rel is not None and rel < 1e-5 else "NOT the same numbers"


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
        elif b.get("suite") == "engine":   # the CPU choices (trickbench.ops.bench_engine), each a ratio
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
                               "ratio": f"{r['ratio']:.2f}×", "mflop": fmt(r["flops_per_image"] / 1e6),
                               "mfu": fmt(r["mfu"], 2) if r.get("mfu") is not None else "–",
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
                        "peak": fmt(b["stacked_fraction_of_peak"], 2) if "stacked_fraction_of_peak" in b else "–"})
    return {"mlp": mlp, "models": models, "tta": tta, "layouts": layouts, "pipeline": pipeline, "engine": engine}


def _names(results: Path, claims_dir: Path) -> dict:
    """(tier, claim, sub-claim) -> (claim title, sub-claim label, its current verdicts.json entry):
    what a table of ids reads as, and what the current analysis says."""
    out, files = {}, {}
    for vf in Path(results).glob("*/*/verdicts.json"):
        v = io.read_json(vf)
        if v["claim"] not in files:
            cf = Path(claims_dir) / f"{v['claim']}.yaml"
            files[v["claim"]] = config.load_yaml(cf.read_text()) if cf.exists() else {}
        claim = files[v["claim"]]
        for sub in v["subclaims"]:
            out[(v["tier"], v["claim"], sub["id"])] = (claim.get("title", v["claim"]), label(claim, sub), sub)
    return out


def _where(names: dict, tier: str, claim: str, sub: str) -> tuple[str, str]:
    title, lab, _ = names.get((tier, claim, sub), (claim, sub, None))
    return f"{title} · {tier}", lab


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
                         "effect": f"{fmt(_num(r['effect_committed']))} → {fmt(_num(r['effect_new']))}",
                         "moved": fmt(_num(moved), 2) if moved else "–"})
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


def _num(v: str):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


FLAT_COLUMNS = ("trick", "claim", "tier", "level", "subclaim", "statement", "verdict", "verdict_uncorrected",
                "metric", "effect", "ci_low", "ci_high", "n", "p_value", "p_holm", "p_min", "decidable",
                "paper_value", "paper_source", "setup_mixed", "tuning_unsettled")


def flat_verdicts(results: Path, claims_dir: Path) -> list[dict]:
    """Every sub-claim of every claim at every tier in results/, one row each, raw numbers (the
    report's tables round them): results/verdicts.csv."""
    rows = []
    for path in sorted(Path(results).glob("*/*/verdicts.json")):
        v = io.read_json(path)
        cf = Path(claims_dir) / f"{v['claim']}.yaml"
        claim = config.load_yaml(cf.read_text()) if cf.exists() else {}
        level = claim.get("tiers", {}).get(v["tier"], {}).get("level", "")
        for sc in v["subclaims"]:
            rows.append({"trick": claim.get("trick", ""), "claim": v["claim"], "tier": v["tier"], "level": level,
                         "subclaim": sc["id"], "statement": sc["statement"], "verdict": sc["verdict"],
                         "verdict_uncorrected": sc.get("verdict_uncorrected", ""),
                         "metric": sc["rule"].get("metric", ""), "effect": sc.get("effect"),
                         "ci_low": sc.get("ci_low"), "ci_high": sc.get("ci_high"), "n": sc.get("n"),
                         "p_value": sc.get("p_value"), "p_holm": sc.get("p_holm"), "p_min": sc.get("p_min"),
                         "decidable": sc.get("decidable"), "paper_value": (sc.get("paper") or {}).get("value", ""),
                         "paper_source": (sc.get("paper") or {}).get("source", ""),
                         "setup_mixed": sc.get("setup_mixed", ""), "tuning_unsettled": sc.get("tuning_unsettled", "")})
    return rows


def write_flat_verdicts(results: Path, claims_dir: Path) -> Path:
    import csv
    import io as _io
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FLAT_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows({k: ("" if r[k] is None else r[k]) for k in FLAT_COLUMNS} for r in flat_verdicts(results, claims_dir))
    out = Path(results) / "verdicts.csv"
    io.atomic_write_text(out, buf.getvalue())
    return out


README_START = "<!-- results: written by `trickbench report` (the pipeline's report rule) from results/; edits are overwritten -->"
README_END = "<!-- end of results -->"


def readme_table(answers_: list[dict]) -> str:
    """Page 1 as a Markdown table for the README: each sub-claim at its strongest evidence."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")
    lines = ["| Trick | Sub-claim | Verdict | Change, arm − baseline [95 % interval; 90 % for equivalence] | Paper | Evidence |",
             "|---|---|---|---|---|---|"]
    for t in answers_:
        for r in t["found"] + t["open"]:
            lines.append(f"| {cell(t['trick'])} | {cell(r['label'])} | {cell(r['verdict'])} | {cell(r['effect'])} | "
                         f"{cell(r['paper'])} | {cell(r['level'])} (`{r['tier']}`)"
                         f"{'; ' + r['paper_vs'] if r.get('paper_vs') else ''}"
                         f"{'; ' + r['regime_word'] if r['regime_word'] else ''}"
                         f"{'; elsewhere: ' + r['others'] if r.get('others') else ''} |")
    return "\n".join(lines)


def readme_describes(readme: Path, results: Path) -> bool:
    """Whether README's results table is of `results`: only the results folder beside it (the
    committed one). A side run (another results_dir, the README's reproduce command) never rewrites it."""
    return Path(results).resolve() == Path(readme).resolve().parent / "results"


def update_readme(path: Path, table: str) -> bool:
    """Replace the block between README_START and README_END in `path` with `table`; False (and
    nothing written) where the file or its markers are absent (a folder of one's own)."""
    path = Path(path)
    if not path.exists():
        return False
    text = path.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    new = f"{head}{README_START}\n{table}\n{README_END}{tail}"
    if new != text:
        io.atomic_write_text(path, new)
    return True


def build(results: Path, claims_dir: Path, report_dir: Path, out: Path, readme: Path | None = None) -> None:
    import typst

    report_dir = Path(report_dir)
    fig_dir = report_dir / "figures"
    data = gather(results, claims_dir, fig_dir, Path("figures"))
    data["speed"] = speed(results)
    names = _names(results, claims_dir)
    data["changes"] = verdict_changes(results, names)
    data["reproduction"] = reproduction(results, names)
    data["canary"] = canaries(results)
    data["forest_figures"] = []
    if data["forest"]:
        from trickbench import figures  # matplotlib: only when a report is built
        data["forest_figures"] = [f"figures/{p.name}" for p in figures.forest_figures(data["forest"], fig_dir)]
    if not data["claims"]:
        raise FileNotFoundError(f"no results/*/*/verdicts.json under {results}: run the pipeline first")
    for c in data["claims"]:
        if c.get("budget") and c["budget"]["points"]:
            from trickbench import figures  # matplotlib: only when a report is built
            name = f"budget_{c['id']}.svg"
            figures.budget_figure(c["budget"], c["title"], fig_dir / name)
            c["budget"]["figure"] = f"figures/{name}"
    build_dir = report_dir / "build"
    io.write_json(build_dir / "data.json", data)
    write_flat_verdicts(results, claims_dir)   # the same verdicts as one table, for scripts
    if readme is not None and readme_describes(readme, results):
        update_readme(readme, readme_table(data["answers"]))
    elif readme is not None:
        print(f"{readme} left alone: its table is of {Path(readme).resolve().parent / 'results'}, this report of {results}")
    template, source = report_dir / "report.typ", resources.path("report.typ")
    if template.resolve() != source.resolve():
        shutil.copyfile(source, template)
    pdf = typst.compile(str(template), root=str(report_dir))
    io.atomic_write_bytes(out, pdf)
