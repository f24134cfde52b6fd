"""The report's data model per claim and trick: which tier is the strongest evidence, the first page's
answers, regime rows, the budget curve's points, the forest plot's rows, costs, tallies and the
Limitations section. Never imports torch."""
from __future__ import annotations

from trickbench import rules, units
from trickbench.config import TIERS
from trickbench.report.text import (FRAGILE, LEVELS, NEGATIVE, POSITIVE, _duration, _flat, _n_text,
                                    _recipe_text, _regime_checks, _regime_text, _regime_word, _shown, label)


TABLE_METRICS = 8   # more declared metrics than this: the arms table keeps those the rules use


def table_metrics(metrics: dict, subclaims: list[dict]) -> list[str]:
    """The metrics the arms table shows: all of them, or, for a claim that declares many (pruning's
    32), the ones its sub-claims' rules use, in declaration order; every one stays in runs.csv."""
    if len(metrics) <= TABLE_METRICS:
        return list(metrics)
    used = {s["rule"].get(k) for s in subclaims for k in ("metric", "baseline_metric")}
    used |= {s["rule"].get("success", {}).get("metric") for s in subclaims}
    return [m for m in metrics if m in used]


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


def _tally(rows: list[dict]) -> str:
    """'2 replicated · 1 reversed · 3 inconclusive' over sub-claim rows, in a fixed order."""
    words = ["replicated", "equivalent", "as expected", "reversed", "not replicated", "not equivalent",
             "unexpected effect", "inconclusive", "no data"]
    counts = {w: sum(r["verdict"] == w for r in rows) for w in words}
    return " · ".join(f"{n} {w}" for w, n in counts.items() if n)


def _in_progress(s: dict, missing: list[str]) -> bool:
    """Does the sub-claim rest on an arm of a tier still being run (analyse --partial) whose runs
    are not all in yet?"""
    rule = s.get("declared_rule") or s["rule"]
    arms = [rule[k] for k in ("arm", "baseline") if k in rule] + list(rule.get("arms", []))
    return any(a in missing or a.split("__")[0] in missing for a in arms)


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


def _awaiting(t: dict, c: dict, cid: str, sub: dict, subs: list[dict]) -> None:
    """A sub-claim with no data anywhere yet: named where a tier in progress plans the runs that decide it."""
    for x in subs:
        if (x["claim"], x["sub"]["id"]) == (cid, sub["id"]) and x.get("partial") \
                and x["level"] != "plumbing" and x["sub"].get("p_min") is not None:
            g = next((g for g in t["awaiting"] if (g["claim"], g["tier"]) == (cid, x["tier"])), None)
            if g is None:
                g = {"claim": cid, "tier": x["tier"], "level": x["level"], "labels": []}
                t["awaiting"].append(g)
            g["labels"].append(label(c, x["sub"]))


def _others(r: dict, c: dict, cid: str, sub: dict, subs: list[dict], shown: str) -> list[str]:
    """The other tiers (or the sub-claim it varies, `variant_of`) where the verdict differs: shown
    beside it, never hidden behind the strongest; a weaker tier that only left it open is no disagreement."""
    return [f"{x['tier']}{'' if x['sub']['id'] == sub['id'] else ' (' + label(c, x['sub']) + ')'}: "
            f"{_shown(x['sub'])}, {units.effect(x['sub'])}"
            + (f" ({_regime_word(x['sub'])})" if x["sub"].get("regime_unmet") else "")
            for x in subs if x is not r and x["claim"] == cid and x["level"] != "plumbing"
            and x["sub"]["verdict"] != "no data" and _shown(x["sub"]) != shown
            and x["sub"]["id"] in _related(c, sub)
            and (LEVELS.index(x["level"]) <= LEVELS.index(r["level"]) or _shown(x["sub"]) != "inconclusive")]


def _answer_row(r: dict, c: dict, cid: str, others: list[str]) -> dict:
    """A sub-claim at its strongest evidence, as page 1 shows it."""
    s, shown = r["sub"], _shown(r["sub"])
    need = s.get("n_needed")
    return {"verdict": shown, "label": label(c, s), "effect": units.effect(s), "paper_vs": units.paper_vs_ours(s),
            # a t interval over seeds (not an exact count test, nor deterministic runs)
            "t_seeds": s.get("n") if rules.get(s["rule"]["type"]).t_interval and not s.get("no_spread") else None,
            # how far the tier is from the paper's setup: its model and data, and its steps as a share
            # of the paper's where the claim file gives the paper's
            "distance": r["evidence"] + (f"; {units.num(100 * r['steps_share'], 2)} % of the paper's steps"
                                         if r.get("steps_share") else ""),
            "steps_share": r.get("steps_share"), "ours": units.ours(s), "level": r["level"], "claim": cid,
            "paper": units.num((s.get("paper") or {}).get("value")),
            # a tier still being run (analysed --partial) says so wherever its verdicts show
            "tier": r["tier"] + (", in progress" if r.get("partial") else ""),
            "n": _n_text(s), "regime": _regime_text(s), "regime_word": _regime_word(s), "others": "; ".join(others),
            # what deciding it would take at this effect size (t-test power, 80 %)
            "decide": (f"~{need} seeds" if need and need <= 10_000 else "") if shown == "inconclusive" else ""}


def _note_regime(t: dict, r: dict, row: dict) -> None:
    """Page 1 names an unmet regime check once under the trick, with the tiers it failed at; each
    verdict it governs says so in short."""
    text = f"{_regime_checks(r['sub'])}; it governs the verdicts marked so."
    g = next((g for g in t["regimes"] if g["word"] == row["regime_word"] and g["text"] == text), None)
    if g is None:
        g = {"word": row["regime_word"], "text": text, "tiers": []}
        t["regimes"].append(g)
    if r["tier"] not in g["tiers"]:
        g["tiers"].append(r["tier"])


def _finish_trick(t: dict) -> None:
    """Sorts, the undecided grouped by the tier that answers them, and the trick's sentence."""
    t["rows"].sort(key=lambda r: LEVELS.index(r["level"]))
    t["found"].sort(key=lambda r: (r["verdict"] not in POSITIVE, LEVELS.index(r["level"])))
    t["decide"].sort(key=lambda d: LEVELS.index(d["level"]))
    # two claim files of a trick may share a sub-claim's label (a stand-in's and a ResNet's): the tier tells them apart
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


def _claim_answers(t: dict, c: dict, cid: str, best: dict, subs: list[dict], pending: list[dict]) -> None:
    """One claim file's part of its trick's page-1 entry."""
    for tier in c.get("tiers", {}):
        mine = [r for r in subs if r["claim"] == cid and r["tier"] == tier]
        if mine:
            t["rows"].append({"level": mine[0]["level"], "evidence": mine[0]["evidence"], "claim": cid,
                              "tier": tier, "tally": _tally([{"verdict": _shown(r["sub"])} for r in mine]),
                              "n": str(len(mine))})
    for sub in c.get("subclaims", []):
        r = best.get((cid, sub["id"]))
        if r is None:
            _awaiting(t, c, cid, sub, subs)
            continue
        shown = _shown(r["sub"])
        row = _answer_row(r, c, cid, _others(r, c, cid, sub, subs, shown))
        if row["regime"]:
            _note_regime(t, r, row)
        (t["found"] if shown in POSITIVE or shown in NEGATIVE else t["open"]).append(row)
        caveat = c.get("tiers", {}).get(r["tier"], {}).get("caveat")
        if caveat and shown not in POSITIVE and not any(x["text"] == caveat for x in t["caveats"]):
            t["caveats"].append({"tier": r["tier"], "claim": cid, "text": caveat})
    for p in pending:
        if p["claim"] == cid and p["level"] != "plumbing":
            t["pending"].append({"text": f"{p['level']}: {p['evidence']} ({p['cost'] or 'cost not stated'})",
                                 "command": p["command"]})
            t["decide"].append({"level": p["level"], "evidence": p["evidence"], "cost": p["cost"] or "cost not stated",
                                "tier": p["tier"], "claim": cid})


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
        _claim_answers(t, c, cid, best, subs, pending)
    for t in tricks.values():
        _finish_trick(t)
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
