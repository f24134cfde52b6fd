"""Regime checks: what every arm of a comparison must show for its verdict to be about the paper's
regime (issue 44), e.g. each arm fits its training set, or each NF + AGC arm's residual branches
have switched on. Declared in a claim file under `regime_checks`, with fixed thresholds committed
before the runs they judge (the `declared` line says when, and where one was applied to runs that
came before it). Not sub-claims: no p-value, no place in Holm's family, no tally. Each arm is
judged on its mean over its seeds, every seed shown:

    regime_checks:
      - id: every_arm_fits
        label: "Each arm fits its training set (eval-mode training accuracy ≥ 99 %)"
        arms: [constant, linear]        # claim-file arms (a grid: its tuned member)
        metrics: [final_train_acc]      # run metrics, or with `at: last_epoch` columns of its last epoch
        direction: greater
        value: 0.99
        abs: false                      # judge |x| (SkipInit gains may turn negative)
        guards: [lower_test_error]      # the sub-claims whose verdicts need it
        tiers: [cpu_long]               # where it applies
        declared: "..."

A check not met (or without data) marks each guarded sub-claim that has data (`regime_unmet`, the
report's "regime check not met: …"), naming the arm, the metric and by how much.
"""
from __future__ import annotations

from trickbench import units

NO_DATA = "no data"   # verdict.NO_DATA (config imports this module; verdict needs numpy)

KEYS = {"id", "label", "arms", "metrics", "direction", "value", "abs", "at", "guards", "tiers", "declared"}


def check_spec(claim: dict, where: str) -> list[str]:
    """Problems with the claim's regime_checks (config validation), [] when none."""
    out = []
    subs = {s["id"] for s in claim.get("subclaims", [])}
    for i, c in enumerate(claim.get("regime_checks") or []):
        at = f"{where}: regime_checks[{i}]"
        for k in ("id", "label", "arms", "metrics", "direction", "value", "guards", "declared"):
            if k not in c:
                out.append(f"{at}: needs {k!r}")
        out += [f"{at}: unknown key {k!r} (known: {', '.join(sorted(KEYS))})" for k in sorted(set(c) - KEYS)]
        out += [f"{at}: arm {a!r} is not an arm of the claim" for a in c.get("arms", []) if a not in claim["arms"]]
        out += [f"{at}: guards {g!r}, which is not a sub-claim" for g in c.get("guards", []) if g not in subs]
        if c.get("direction") not in ("greater", "less"):
            out.append(f"{at}: direction must be greater or less")
        if c.get("at", "summary") not in ("summary", "last_epoch"):
            out.append(f"{at}: at must be summary or last_epoch")
    return out


def _values(check: dict, arm: str, metric: str, runs: list[dict], history) -> dict[int, float]:
    out = {}
    for r in runs:
        if r["arm"] != arm or r["outcome"] != "ok":
            continue
        if check.get("at") == "last_epoch":
            rows = history(r)
            v = rows[-1].get(metric) if rows else None
        else:
            v = r["metrics"].get(metric)
        if v is not None:
            out[r["seed"]] = abs(v) if check.get("abs") else v
    return out


def show_value(v: float, metric: str) -> str:
    return units.num(100 * v, 3) + " %" if units.unit(metric) == "pp" else units.num(v, 3)


def evaluate(cat, runs: list[dict], selected: dict[str, str], history) -> list[dict]:
    """Each regime check of the claim that applies at this tier: per arm and metric, the mean over
    the arm's ok test runs (the tuned member of a grid), each seed's value, and whether it is met.
    `history(run)` gives a run's per-epoch rows (for `at: last_epoch`)."""
    out = []
    for check in cat.claim.get("regime_checks") or []:
        if check.get("tiers") and cat.tier not in check["tiers"]:
            continue
        sign = 1 if check["direction"] == "greater" else -1
        rows, failed, missing = [], [], []
        for family in check["arms"]:
            arm = selected.get(family, family)
            if arm not in cat.arms:
                continue   # not run at this tier
            for metric in check["metrics"]:
                vals = _values(check, arm, metric, runs, history)
                if not vals:
                    missing.append(f"{arm} {metric}")
                    continue
                mean = sum(vals.values()) / len(vals)
                met = sign * (mean - check["value"]) >= 0
                rows.append({"arm": arm, "metric": metric, "mean": mean, "seeds": vals, "met": met})
                if not met:
                    op = "<" if sign > 0 else ">"
                    off = sum(sign * (v - check["value"]) < 0 for v in vals.values())
                    failed.append(f"{arm} {metric} {show_value(mean, metric)} {op} {show_value(check['value'], metric)} "
                                  f"({off} of {len(vals)} seeds)")
        if not rows and not missing:
            continue
        result = "met" if not failed and not missing else ("not met: " + "; ".join(failed) if failed else NO_DATA)
        out.append({"id": check["id"], "label": check["label"], "direction": check["direction"],
                    "value": check["value"], "guards": check["guards"], "declared": check["declared"],
                    "result": result, "arms": rows, "missing": missing})
    return out


def mark(subclaims: list[dict], checks: list[dict]) -> None:
    """Each guarded sub-claim with data records every check of its tier that is not met (or has no
    data) under `regime_unmet`, as verdict.mark_regime does for the regime sub-claims."""
    for c in checks:
        if c["result"] == "met":
            continue
        for s in subclaims:
            if s["id"] in c["guards"] and s["verdict"] != NO_DATA:
                s.setdefault("regime_unmet", []).append({"id": c["id"], "label": c["label"], "verdict": c["result"]})
