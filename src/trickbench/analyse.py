"""Runs -> tidy tables and verdicts for one claim at one tier. pandas, never torch.

Writes into results/<tier>/<claim>/:
  runs.csv       one row per run: arm, tags, seed, outcome, final metrics, wall time
  curves.csv     one row per logged point (step or epoch) per run
  verdicts.json  per sub-claim: effect, t interval, n, p-values, the verdict before and after Holm's
                 correction over the claim's sub-claims; plus arms, tuning (and ties), setup, cost, provenance
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trickbench import io, regime, rules, tasks, verdict
from trickbench.rules.order import dotted
from trickbench.tasks import run_dir


def _std(values) -> float:
    """Sample std; exactly 0 when every value is the same (pandas gives ~1e-17 from rounding)."""
    return 0.0 if values.max() == values.min() else float(values.std(ddof=1))


def _on_gpu(run: dict) -> bool:
    """Whether a run trained on a GPU (its provenance names one)."""
    return bool((run.get("provenance") or {}).get("gpu"))


def claim_dir(results: Path, tier: str, claim_id: str) -> Path:
    return Path(results) / tier / claim_id


def load_runs(cat, results: Path, partial: bool = False) -> tuple[list[dict], list[str]]:
    """Every run of the claim at its tier, and the claim-file arms not complete yet (allowed only
    with `partial`: a tier still being run, e.g. over several sessions or GPU slots; there the
    finished runs of an arm whose job has not ended are read from their summary.json)."""
    runs, missing = [], []
    root = claim_dir(results, cat.tier, cat.id) / "runs"
    for name, members in cat.families().items():
        path = root / f"{name}.jsonl"
        if not path.exists():
            if partial:
                # a job still running: its finished runs (summary.json is written last, atomically)
                done = [io.read_json(p) for m in members for seed in cat.seeds_of(m)
                        if (p := run_dir(root, cat.arms[m], seed) / "summary.json").exists()]
                if cat.tuned_apart(name):  # and the test seeds of whichever member the tuning picked
                    done += [io.read_json(p) for m in members for seed in cat.seeds
                             if (p := run_dir(root, cat.arms[m], seed) / "summary.json").exists()]
                runs += done
                if len(done) < cat.expected_runs(name):
                    missing.append(name)
                continue
            raise FileNotFoundError(f"{path} is missing: run `snakemake` (or `trickbench run-arm`) for arm {name!r} first")
        runs += io.read_jsonl(path)
    if not runs:
        raise FileNotFoundError(f"no runs of {cat.id} at tier {cat.tier} under {results}")
    return runs, missing


def runs_table(cat, runs: list[dict]) -> pd.DataFrame:
    rows = []
    for r in runs:
        arm = cat.arms[r["arm"]]
        clash = set(arm.tags) & (set(r["metrics"]) | {"arm", "label", "seed", "outcome", "wall_s", "device", "commit",
                                                      *verdict.SETUP_KEYS})
        if clash:
            raise ValueError(f"arm {arm.name!r}: tag(s) {sorted(clash)} clash with run columns; rename the tag")
        prov = r.get("provenance") or {}
        rows.append({"tier": cat.tier, "claim": cat.id, "arm": arm.name, "label": arm.label, **arm.tags,
                     "seed": r["seed"], "outcome": r["outcome"], "diverged_at": r.get("diverged_at"),
                     **r["metrics"], "wall_s": r["wall_s"], "config_hash": r["config_hash"],
                     # the run's setup (verdict.setup_of) and the code that trained it
                     "device": "cuda" if prov.get("gpu") else "cpu", **verdict.setup_of(r),
                     "commit": (prov.get("commit") or "")[:12] + ("+dirty" if prov.get("dirty") else "")})
    return pd.DataFrame(rows)


def run_history(cat, root: Path, r: dict) -> list[dict]:
    """A run's metrics.jsonl, checked against its summary: the file must read (io.DamagedFile names
    the line), match the checksum the summary recorded (runs since 2026-12-07), and hold the epochs
    the summary counts. Else io.DamagedFile names the file and how to retrain that seed."""
    d = run_dir(root, cat.arms[r["arm"]], r["seed"])
    path = d / "metrics.jsonl"
    retrain = (f"retrain that seed: remove {d} and {root / (cat.arms[r['arm']].family + '.jsonl')}, then run "
               f"`snakemake --cores all` (or `trickbench run-arm --tier {cat.tier} --claim {cat.id} --arm "
               f"{cat.arms[r['arm']].family}`)")
    try:
        rows = io.read_jsonl(path)
    except FileNotFoundError:
        raise io.DamagedFile(f"{path} is missing, though its run's summary is there: {retrain}") from None
    except io.DamagedFile as e:
        raise io.DamagedFile(f"{e}; {retrain}") from None
    epochs = r["metrics"].get("epochs_done")
    if epochs is not None and len(rows) != epochs:
        raise io.DamagedFile(f"{path} holds {len(rows)} epochs, its run's summary {epochs}: {io.DAMAGED}; {retrain}")
    want = r.get("metrics_sha256")
    if want and io.sha256_file(path) != want:
        raise io.DamagedFile(f"{path} is not the file its run wrote (sha256 differs from the summary's "
                             f"metrics_sha256): {io.DAMAGED}; {retrain}")
    return rows


def curves_table(cat, results: Path, runs: list[dict], history=None) -> pd.DataFrame:
    """Every run's per-epoch rows, tagged; `history(run)` reads them (default: run_history)."""
    frames = []
    root = claim_dir(results, cat.tier, cat.id) / "runs"
    history = history or (lambda r: run_history(cat, root, r))
    for r in runs:
        arm = cat.arms[r["arm"]]
        path = run_dir(root, arm, r["seed"]) / "metrics.jsonl"
        df = pd.DataFrame(history(r))
        clash = set(arm.tags) & set(df.columns)
        if clash:
            raise ValueError(f"arm {arm.name!r}: tag(s) {sorted(clash)} clash with logged metrics in {path}; rename the tag")
        df.insert(0, "seed", r["seed"])
        for i, (k, v) in enumerate({"arm": arm.name, "label": arm.label, **arm.tags}.items()):
            df.insert(i, k, v)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def select_tuned(cat, table: pd.DataFrame) -> dict[str, str]:
    """Grid arm -> its member with the best mean tuning metric over ok runs (tasks.best_member;
    the tuning seeds only, for a grid tuned apart). Arms without a grid map to themselves."""
    tuning = cat.claim.get("tuning")
    selected = {}
    for family, members in cat.families().items():
        mine = table[table.arm.isin(members)]
        if cat.tuned_apart(family):
            mine = mine[mine.seed.isin(cat.tune_seeds)]
        best = None
        if tuning and len(members) > 1 and len(mine):
            vals = mine[tuning["metric"]] if tuning["metric"] in mine else pd.Series(np.nan, index=mine.index)
            runs = [{"arm": a, "outcome": o, "metrics": {tuning["metric"]: None if pd.isna(v) else float(v)}}
                    for a, o, v in zip(mine.arm, mine.outcome, vals)]
            best = tasks.best_member(members, runs, tuning)
        selected[family] = best or members[0]
    return selected


def tied_members(cat, table: pd.DataFrame, selected: dict[str, str]) -> dict[str, list[str]]:
    """Grid arm -> the members that tie with its tuned one on validation (itself first), for the
    families where any do. A member ties when its runs all finished (if the tuned one's did) and
    the tuned member's paired lead over it, over their common seeds, is within one standard error
    of that lead (the "one-SE rule" of model selection): the choice between them is noise, so a
    verdict must hold at each (verdict.evaluate). One seed: only an exact tie counts."""
    tuning = cat.claim.get("tuning")
    out = {}
    if not tuning:
        return out
    sign = 1 if tuning["direction"] == "greater" else -1
    metric = tuning["metric"]
    for family, members in cat.families().items():
        best = selected.get(family)
        if len(members) == 1 or best is None:
            continue
        mine = table[table.arm.isin(members)]
        complete = mine.groupby("arm").outcome.apply(lambda o: (o == "ok").all())
        ok = mine[(mine.outcome == "ok") & mine[metric].notna()] if metric in mine else mine.iloc[0:0]
        by = {a: dict(zip(g.seed, g[metric])) for a, g in ok.groupby("arm")}
        if best not in by:
            continue
        tied = [best]
        for m in members:
            if m == best or m not in by or (complete.get(best, False) and not complete.get(m, False)):
                continue
            seeds = sorted(set(by[best]) & set(by[m]))
            lead = np.array([sign * (by[best][k] - by[m][k]) for k in seeds])
            if not len(lead):
                continue
            se = float(lead.std(ddof=1) / np.sqrt(len(lead))) if len(lead) > 1 else 0.0
            if lead.mean() <= se:
                tied.append(m)
        if len(tied) > 1:
            out[family] = tied
    return out


def mark_unsettled(cat, subclaims: list[dict], unsettled: dict[str, list[str]]) -> None:
    """Each sub-claim whose rule uses a grid tuned apart whose pick ties with another member on the
    tuning seeds (tied_members: the lead within one standard error) gets `tuning_unsettled`."""
    for s in subclaims:
        rule = s["declared_rule"]
        names = [rule[k] for k in ("arm", "baseline") if k in rule] + list(rule.get("arms", []))
        parts = [f"{f}: {m[0]} picked, tied on validation with {', '.join(m[1:])} over tuning seeds "
                 f"{', '.join(map(str, cat.tune_seeds))}" for f, m in unsettled.items() if f in names]
        if parts:
            s["tuning_unsettled"] = "; ".join(parts)


def at_grid_edge(cat, selected: dict[str, str]) -> dict[str, list[str]]:
    """Grid keys whose tuned value is the smallest or largest tried: the optimum may lie outside
    the grid, and the report says so."""
    out = {}
    for family, member in selected.items():
        grid = cat.claim["arms"][family].get("grid") or {}
        recipe = cat.arms[member].recipe
        keys = [k for k, vals in grid.items()
                if len(vals) > 2 and all(isinstance(v, (int, float)) for v in vals)
                and dotted(recipe, k) in (min(vals), max(vals))]
        if keys:
            out[family] = keys
    return out


def planned_runs(cat, name: str, pool: bool = False) -> int:
    """How many runs the tier's design gives the arm a rule names (a grid family: its tuned
    member's test seeds, or with `pool` every member's runs), before any has trained."""
    fams = cat.families()
    if name in fams and (pool or len(fams[name]) == 1):
        return (cat.expected_runs(name) - (len(cat.tune_seeds) * len(fams[name]) if cat.tuned_apart(name) else 0)
                if pool else len(cat.seeds_of(fams[name][0])))
    if name in fams:   # a tuned grid family stands for one member
        return len(cat.seeds) if cat.tuned_apart(name) else len(cat.seeds_of(fams[name][0]))
    if name in cat.arms:
        return len(cat.seeds) if cat.tuned_apart(cat.arms[name].family) else len(cat.seeds_of(name))
    return 0


def design_check(cat, subclaims: list[dict], alpha: float = 0.05) -> None:
    """Decidable by design: per sub-claim the smallest p its rule can give with the tier's planned
    runs (verdict.smallest_p), and whether that clears Holm's strictest threshold alpha / k over the
    k sub-claims the tier's arms can decide. Added to each sub-claim as p_min, holm_k, decidable."""
    def n_of(rule):
        pool = bool(rule.get("pool"))
        if rules.get(rule["type"]).reads_tuning_seeds:   # an order: over the arms the tier runs, if two or more
            ns = [len(cat.tune_seeds) if cat.tuned_apart(a) else planned_runs(cat, a) for a in rule["arms"]]
            ns = [n for n in ns if n]
            return (min(ns) if len(ns) >= 2 else 0), len(ns)   # common seeds, arms run
        base = rule.get("baseline")
        if base and base != rule["arm"] and cat.families().get(base) == [rule["arm"]] \
                and rule.get("baseline_metric", rule.get("metric")) == rule.get("metric"):
            return 0, None   # the tier runs one value of the grid: the arm against itself
        return planned_runs(cat, rule["arm"], pool), (planned_runs(cat, base, pool) if base else None)
    # two-sided, as apply_holm corrects (order rules: their bootstrap p, undoubled)
    mins = [None if m is None else verdict.two_sided(m, s["declared_rule"]["type"])
            for s, m in zip(subclaims, (verdict.smallest_p(s["declared_rule"], *n_of(s["declared_rule"]))
                                        for s in subclaims))]
    k = sum(m is not None for m in mins)
    for s, m in zip(subclaims, mins):
        s |= {"p_min": m, "holm_k": k, "decidable": m is not None and k > 0 and m < alpha / k}


def _cost(runs: list[dict], provs: list[dict]) -> dict:
    """What the tier's runs cost; eval_s: evaluation outside the training time (runs trained before it
    was recorded lack it); CPU and GPU hours apart (a tier may hold both: agc_nfresnet_cifar cpu_long)."""
    return {"runs": len(runs), "wall_s": float(sum(r["wall_s"] for r in runs)),
            "eval_s": float(sum(r.get("eval_s", 0.0) for r in runs)),
            "eval_recorded": sum("eval_s" in r for r in runs),
            "devices": sorted({p.get("gpu") or p.get("cpu", "?") for p in provs}),
            "gpu": any(p.get("gpu") for p in provs),
            **{f"{kind}_{k}": v for kind, mine in (("gpu", [r for r in runs if _on_gpu(r)]),
                                                  ("cpu", [r for r in runs if not _on_gpu(r)]))
               for k, v in (("runs", len(mine)), ("wall_s", float(sum(r["wall_s"] for r in mine))),
                            ("eval_s", float(sum(r.get("eval_s", 0.0) for r in mine))))}}


def _provenance(cat, runs: list[dict], provs: list[dict]) -> dict:
    return {"commits": sorted({f"{p.get('commit')}{'+dirty' if p.get('dirty') else ''}" for p in provs}),
            "versions": provs[0].get("versions", {}) if provs else {},
            "hosts": sorted({p.get("host", "?") for p in provs}),
            "dataset_sha256": sorted({r["dataset_sha256"] for r in runs if r.get("dataset_sha256")}),
            "datasets": {r["dataset"]: r["dataset_sha256"] for r in runs if r.get("dataset_sha256")},
            "config_hashes": {a.name: a.hash for a in cat.arms.values()}}


def analyse_claim(cat, results: Path, partial: bool = False) -> dict:
    out_dir = claim_dir(results, cat.tier, cat.id)
    runs, missing = load_runs(cat, results, partial)
    table = runs_table(cat, runs)
    io.atomic_write_text(out_dir / "runs.csv", table.to_csv(index=False))
    root = claim_dir(results, cat.tier, cat.id) / "runs"
    read: dict = {}   # each run's metrics.jsonl read (and checked) once: curves, then regime checks

    def history(r):
        key = (r["arm"], r["seed"])
        if key not in read:
            read[key] = run_history(cat, root, r)
        return read[key]
    io.atomic_write_text(out_dir / "curves.csv", curves_table(cat, results, runs, history).to_csv(index=False))
    spec = cat.claim["tiers"][cat.tier]
    metrics = list(cat.claim["metrics"])
    selected = select_tuned(cat, table)
    # a grid tuned apart has one member with test seeds: its choice is final (ties cannot be
    # checked on the test seeds), and its tuning runs serve only the `order` rules
    tied = tied_members(cat, table, selected)
    ties = {f: m for f, m in tied.items() if not cat.tuned_apart(f)}
    # ... and where the tuning seeds cannot tell the pick from another member, every verdict it
    # feeds says so (a 3-seed pick that flips with the CPU decided dropout's quick verdicts)
    unsettled = {f: m for f, m in tied.items() if cat.tuned_apart(f)}
    tune = set(cat.tune_seeds)
    test_runs, tune_runs = [r for r in runs if r["seed"] not in tune], [r for r in runs if r["seed"] in tune]
    tuned = {m for fam, m in selected.items() if len(cat.families()[fam]) > 1}
    exact = frozenset(name for name, arm in cat.arms.items() if arm.deterministic)
    steps = {}   # optimizer steps a finished run took: images trained / batch (the budget curve's x)
    for r in runs:
        if r["outcome"] == "ok" and r.get("images_per_s") and r.get("wall_s") and r["recipe"].get("batch_size"):
            steps.setdefault(r["arm"], []).append(round(r["images_per_s"] * r["wall_s"] / r["recipe"]["batch_size"]))
    per_arm = []
    for name, arm in cat.arms.items():
        # an arm's row reads its test seeds, as the verdicts do; a grid member trained on the
        # tuning seeds alone shows those, and says so (pooled, they moved a mean 0.4 pp: issue 45)
        sub = table[table.arm == name]
        seeds_read = "test" if not tune or (~sub.seed.isin(tune)).any() or sub.empty else "tuning"
        sub = sub[sub.seed.isin(tune) == (seeds_read == "tuning")]
        ok = sub[sub.outcome == "ok"]
        per_arm.append({"arm": name, "label": arm.label, "tags": arm.tags, "config_hash": arm.hash,
                        "family": arm.family, "tuned": name in tuned, "seeds_read": seeds_read,
                        "recipe": arm.recipe, "n": int(len(sub)), "n_ok": int(len(ok)),
                        "outcomes": sub.outcome.value_counts().to_dict(),
                        "mean": {m: float(ok[m].mean()) for m in metrics if m in ok and len(ok)},
                        "std": {m: _std(ok[m]) for m in metrics if m in ok and len(ok) > 1},
                        "max": {m: float(ok[m].max()) for m in metrics if m in ok and len(ok)},
                        **({"steps": float(np.mean(steps[name]))} if steps.get(name) else {})})
    provs = [r["provenance"] for r in runs]
    result = {
        "claim": cat.id, "tier": cat.tier, "title": cat.claim["title"], "data": spec.get("data", ""),
        # what the runs actually read (e.g. "CIFAR-10 (JPEG q75 copy: ...)"), from their own records
        "datasets_used": sorted({r["dataset"] for r in runs if r.get("dataset")}),
        "note": spec.get("note", ""), "seeds": len(cat.seeds), "metrics": cat.claim["metrics"],
        "missing_arms": missing,
        "runs_expected": sum(cat.expected_runs(f) for f in cat.families()),
        "arms": per_arm, "selected": selected, "tuning": cat.claim.get("tuning"),
        "grid_edge": at_grid_edge(cat, selected),
        "ties": ties,
        "tune_seeds": cat.tune_seeds,
        "subclaims": verdict.apply_holm(
            [verdict.evaluate(s, tune_runs if tune and rules.get(s["rule"]["type"]).reads_tuning_seeds else test_runs, selected, ties, exact)
             for s in cat.claim["subclaims"]], family=f"{cat.id} at tier {cat.tier}"),
        "cost": _cost(runs, provs),
        "provenance": _provenance(cat, runs, provs),
    }
    mark_unsettled(cat, result["subclaims"], unsettled)
    # regime checks: every arm of a comparison in the paper's regime (no p-value, outside Holm)
    result["regime_checks"] = regime.evaluate(cat, test_runs, selected, history)
    regime.mark(result["subclaims"], result["regime_checks"])
    design_check(cat, result["subclaims"])
    io.write_json(out_dir / "verdicts.json", result)
    return result
