"""One unit system for the report: a sub-claim's numbers as a reader compares them.

Accuracies (and other shares of a test set) print in % and their differences in percentage points
(pp); times in seconds and in % of the baseline's time; rates as k/n with the difference of shares
in pp; everything else (losses, regret, steps, iterates) as plain numbers, never in scientific
notation. `effect()` states the change the runs show, arm minus baseline, with its interval;
`forest()` the same effect in the claim's direction (right of 0: as the paper says) for the forest
plot. Never imports torch or pandas.
"""
from __future__ import annotations

import math

from trickbench import rules

def unit(metric: str | None) -> str:
    """'pp' (a share of a test set or of weights, 0-1: shown in %, differences in pp), 's' (seconds)
    or '' (a plain number), as the task or trick that writes the metric declares it (tasks.metric_unit)."""
    if not metric:
        return ""
    from trickbench.tasks import metric_unit
    return metric_unit(metric)


def num(v: float | None, digits: int = 3) -> str:
    """A number to `digits` significant digits, positional (0.00022, not 2.2e−4; below 1e−4 in
    powers of ten: 1e−8), thousands separated, with a true minus sign. The one number formatter of
    the report (a string, e.g. a grid value that is a name, passes through)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, str):   # a value a claim file gives as words (e.g. a grid of names)
        return v
    if v == 0:
        return "0"
    if abs(v) < 1e-4:   # 1e−8, 8.16e−5: positional would be a row of zeros
        mant, exp = f"{v:.{digits - 1}e}".split("e")
        mant = mant.rstrip("0").rstrip(".") if "." in mant else mant
        return f"{mant}e{int(exp)}".replace("-", "−")
    if abs(v) >= 10 ** digits:
        text = f"{v:,.0f}"
    else:
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
        text = f"{v:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text.replace("-", "−")


def _decimals(*vs: float) -> int:
    """One rounding for an effect and its interval, so they read against each other: none from
    100 up, 1 decimal from 10, 2 from 1, else three significant digits of the largest."""
    big = max((abs(v) for v in vs if v is not None and math.isfinite(v)), default=0)
    if big == 0:
        return 1
    return 0 if big >= 100 else 1 if big >= 10 else 2 if big >= 1 else min(6, 2 - math.floor(math.log10(big)))


def _fixed(v: float, decimals: int, signed: bool = False) -> str:
    if round(v, decimals) == 0:
        v = 0.0  # no "−0.00"
    text = f"{v:{'+' if signed and v != 0 else ''},.{decimals}f}"
    return text.replace("-", "−")


def pct(v: float | None) -> str:
    """A share as a percentage: 0.6683 -> '66.8 %', 0.0205 -> '2.05 %'."""
    if v is None:
        return "–"
    return f"{_fixed(100 * v, 1)} %" if abs(v) >= 0.1 else f"{num(100 * v)} %"


def _metric(s: dict) -> str | None:
    r = s["rule"]
    return r.get("metric") or r.get("success", {}).get("metric")


def _sign(s: dict) -> int:
    """+1 when the claim's direction is 'greater' (effect = arm − baseline), −1 when 'less'."""
    return -1 if s["rule"].get("direction") == "less" else 1


def value(s: dict, v: float | None) -> str:
    """A metric value of this sub-claim in its unit: '66.8 %', '126 s', '0.0412'."""
    return _in_unit(_metric(s), v)


def ours(s: dict) -> str:
    """Our side, in the metric's unit: '66.8 % vs 56.9 %', '3/5 vs 0/5', 'best clipping: 0.04 → 0.01';
    then the claim file's `beside` metrics: '72.1 % vs 74.6 %; training accuracy 95.9 % vs 100 %'."""
    if s["verdict"] == "no data":
        return "–"
    return "; ".join([_ours(s)] + [f"{b['label']} " + " vs ".join(
        _in_unit(b["metric"], b[k]) for k in ("arm", "baseline") if k in b) for b in s.get("beside", [])])


def _in_unit(metric: str | None, v: float | None) -> str:
    u = unit(metric)
    return "–" if v is None else pct(v) if u == "pp" else f"{num(v)} s" if u == "s" else num(v)


def _ours(s: dict) -> str:
    return rules.get(s["rule"]["type"]).ours(s, value)


def _effect_unit(s: dict) -> str | None:
    """The unit of the sub-claim's effect: its rule's (rates 'pp', orders None), else its metric's."""
    return rules.get(s["rule"]["type"]).unit(s["rule"], unit(_metric(s)))


def _arm_minus_baseline(s: dict) -> int:
    """The sign that turns the effect in the claim's direction into arm − baseline."""
    return rules.get(s["rule"]["type"]).sign(s["rule"])


def effect(s: dict) -> str:
    """The change the runs show, arm minus baseline (or the arm against the threshold), in the
    metric's unit, with its interval: '+3.1 pp [1.2, 5.0]', '−40.9 s [−47.1, −34.7] (−24 %)'.
    Rates: the difference of the shares in pp. Order rules: the bootstrap support."""
    r = s["rule"]
    if s["verdict"] == "no data" or s.get("effect") is None:
        return "–"
    u = _effect_unit(s)
    if u is None:   # not a difference: an order rule's bootstrap support
        return f"support {num(s['effect'], 2)}"
    eff, lo, hi = s["effect"], s.get("ci_low"), s.get("ci_high")
    sign = _arm_minus_baseline(s)   # the claim's direction -> arm − baseline
    scale = 100.0 if u == "pp" else 1.0
    change = sign * eff * scale
    bounds = None if s.get("no_spread") or lo is None or hi is None else sorted((sign * lo * scale, sign * hi * scale))
    d = _decimals(change, *(bounds or ()))
    spread = f" [{_fixed(bounds[0], d)}, {_fixed(bounds[1], d)}]" if bounds else ""
    text = f"{_fixed(change, d, signed=True)}{' pp' if u == 'pp' else ' s' if u == 's' else ''}{spread}"
    if u == "s" and s.get("baseline_mean"):
        rel = 100 * change / s["baseline_mean"]
        text += f" ({_fixed(rel, _decimals(rel), signed=True)} %)"
    if "margin" in r:
        text += f", margin ±{num(r['margin'] * scale)}{' pp' if u == 'pp' else ''}"
    return text


def paper_vs_ours(s: dict) -> str:
    """The paper's effect (claim file: paper.effect, arm − baseline) against our interval, in
    words: inside it, beyond it (its size not reproduced), short of it (ours larger), or on the
    other side of 0; '' where the paper states no effect in the rule's units or we have no interval."""
    p = (s.get("paper") or {}).get("effect")
    r = s["rule"]
    u = _effect_unit(s)
    if p is None or s.get("effect") is None or s.get("ci_low") is None or s.get("no_spread") \
            or u is None or not rules.get(r["type"]).paper_effect:
        return ""
    sign = _arm_minus_baseline(s)
    lo, hi = sorted((sign * s["ci_low"], sign * s["ci_high"]))
    scale = 100.0 if u == "pp" else 1.0
    shown = f"{_fixed(p * scale, _decimals(p * scale, lo * scale, hi * scale), signed=True)}{' pp' if u == 'pp' else ' s' if u == 's' else ''}"
    if lo <= p <= hi:
        return f"the paper's {shown} lies inside our interval"
    mid = (lo + hi) / 2
    if p * mid <= 0:
        return f"the paper's {shown} lies outside our interval, on the other side of 0"
    return (f"the paper's {shown} lies beyond our interval: its size is not reproduced" if abs(p) > abs(mid)
            else f"ours is larger than the paper's {shown}")


def forest(s: dict) -> dict | None:
    """The effect in the claim's direction for the forest plot, in pp (shares, rates) or in % of
    the baseline's time; None where the unit is neither (losses, steps, iterates) or no interval."""
    r = s["rule"]
    u = _effect_unit(s)
    if s["verdict"] == "no data" or u is None or s.get("ci_low") is None or s.get("effect") is None:
        return None
    if u == "pp":
        scale, axis = 100.0, "pp"
    elif u == "s" and s.get("baseline_mean"):
        scale, axis = 100.0 / s["baseline_mean"], "% time"
    else:
        return None
    row = {"axis": axis, "effect": s["effect"] * scale, "lo": s["ci_low"] * scale, "hi": s["ci_high"] * scale}
    if "margin" in r:
        row["margin"] = r["margin"] * scale
    return row
