"""The report's words: a rule, a verdict, its notes, a setup and a recipe as a reader reads them (numbers
through units.num, the one formatter). Never imports torch."""
from __future__ import annotations

import math
import re
from pathlib import Path

from trickbench import config, io, rules, units


VERDICT_ORDER = {"replicated": 0, "reversed": 1, "not replicated": 1, "inconclusive": 2, "no data": 3}


FRAGILE = 0.8   # a decided verdict that fewer seed resamples than this reproduce is labelled fragile


FEW_SEEDS = 5   # below this, a positive verdict says it rests on the t interval's normality


def _rule_text(rule: dict, names: dict | None = None) -> str:
    """The rule in words; arms by their labels (`names`: arm -> label) rather than identifiers."""
    if names:
        rule = {**rule, **{k: f"“{names.get(rule[k], rule[k])}”" for k in ("arm", "baseline") if k in rule}}
        if "arms" in rule:
            rule["arms"] = [f"“{names.get(a, a)}”" for a in rule["arms"]]
    return rules.get(rule["type"]).text(rule, units.num)


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
        notes.append(f"{s['verdict_uncorrected']} before Holm (p_Holm = {units.num(s['p_holm'], 2)})")
    if s["verdict"] == "inconclusive" and s.get("n_needed"):
        from trickbench.stats import N_NEEDED_CAP
        notes.append(f"not decidable at this effect size (> {N_NEEDED_CAP:,} seeds)" if s["n_needed"] > N_NEEDED_CAP
                     else f"~{s['n_needed']} seeds would decide it (80% power)")
    if s["verdict"] in ("replicated", "equivalent", "reversed") and not s.get("no_spread") \
            and rules.get(s["rule"]["type"]).t_interval and s.get("n", 0) < FEW_SEEDS:
        notes.append(f"from {s['n']} seeds: rests on normal per-seed differences (exact sign-flip p = {units.num(s.get('p_signflip'), 3)})")
    if s.get("stability") is not None and s["stability"] < FRAGILE and s["verdict"] != "inconclusive":
        notes.append(f"fragile: the same verdict in only {s['stability']:.0%} of seed resamples")
    failed = s.get("failed_arm", 0) + s.get("failed_baseline", 0)
    if failed:
        how = "left out with their seeds" if s.get("failed_as", "exclude") == "exclude" else f"counted as {units.num(s['failed_as'])}"
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


def _design_text(s: dict) -> str:
    """What the tier's design lets the rule reach (analyse.design_check), where it limits it."""
    if "p_min" not in s:
        return ""
    if s["p_min"] is None:
        return "Undecidable by design at this tier: the arms it needs are not run here (or an order rule has fewer than 3 seeds)."
    if s["p_min"] > 0:
        ok = "below" if s["decidable"] else "not below"
        return (f"By design: smallest attainable two-sided p {units.num(s['p_min'], 2)}, {ok} Holm's strictest "
                f"0.05/{s['holm_k']} = {units.num(0.05 / s['holm_k'], 2)}.")
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


def _n_text(s: dict) -> str:
    n, total = s.get("n", 0), s.get("n_total")
    return f"{n}/{total}" if total not in (None, n) else str(n)


def _mean_sd(arm: dict, metric: str) -> str:
    """'0.948 ± 0.01', or '–' where no run of the arm has the metric (never '–±–')."""
    mean, sd = arm["mean"].get(metric), arm.get("std", {}).get(metric)
    if units.num(mean) == "–":
        return "–"
    return units.num(mean) + (f" ± {units.num(sd, 2)}" if units.num(sd) != "–" else "")


def _value_text(v) -> str:
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "no", None: "none"}[v]
    if isinstance(v, float):
        return units.num(v, 3)
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


LEVELS = ["paper scale", "reduced", "stand-in", "plumbing"]   # strongest evidence first


POSITIVE = ("replicated", "equivalent", "as expected")


NEGATIVE = ("reversed", "not replicated", "not equivalent", "unexpected effect")


def label(claim: dict, sub: dict) -> str:
    """A sub-claim's short name: its claim-file `label`, else its statement (70 characters at
    most: the schema and a test hold the claim files to it)."""
    for c in claim.get("subclaims", []):
        if c.get("id") == sub["id"]:
            return (c.get("label") or c["statement"]).rstrip(".")
    return sub.get("statement", sub["id"]).rstrip(".")


def seeds_text(evidence: str, seeds: int) -> str:
    """What "What we ran" adds after a tier's evidence: the seeds per stochastic arm the runs were
    resolved with, unless the evidence already names that many ("5 seeds", "5 test seeds"); an
    evidence that names another count (a --seeds override) is corrected beside it."""
    named = re.findall(r"(\d+) (?:test )?seeds?\b", evidence)
    if named and int(named[-1]) == seeds:
        return ""
    return f"; {seeds} seed(s) per stochastic arm" + (" in these runs" if named else "")


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


def _num(v: str):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
