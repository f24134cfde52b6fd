"""Load, validate and resolve configs and claim files. No torch: `snakemake -n` stays fast.

A claim's arms resolve per tier as   base  <-  tier.set  <-  arm.set   (later wins).
Everything that can be wrong with a config is reported here, before any job runs, naming the key.
"""
from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from trickbench import resources, rules
from trickbench.tasks import TASKS

TIERS = ("smoke", "quick", "cpu", "cpu_long", "cpu_paper_epochs", "full", "paper")


class ConfigError(ValueError):
    """A config or claim file is invalid; the message names the file and the key."""


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml: ~10x faster, paid by every job
    """YAML with duplicate keys rejected: PyYAML keeps the last of two equal keys without a word
    (a claim file with two arms of one name lost the first; a second `tier:` in config.yaml won)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)


def load_yaml(text: str):
    return yaml.load(text, Loader=_Loader)


def _load_schema(name: str) -> dict:
    try:
        path = resources.path("schemas") / name
    except FileNotFoundError as e:
        raise ConfigError(str(e)) from None
    schema = load_yaml(path.read_text())
    if name == "claim.schema.yaml":   # a trick module's own recipe key (Trick.schema) joins the recipe's
        from trickbench.tricks import base
        props = schema["$defs"]["recipe"]["properties"]
        for cls in base.classes():
            if cls.schema is not None:
                props.setdefault(cls.key, cls.schema)
        fig = schema["properties"]["figures"]["items"]["properties"]["kind"]   # the figure kinds: figures/kinds/*.py
        fig["enum"] = _figure_kinds()
        rule = schema["$defs"]["rule"]   # and each decision rule's own keys (DecisionRule.schema) the rule's
        rule["properties"]["type"]["enum"] = rules.names()
        for name in rules.names():
            for k, v in rules.get(name).schema.items():
                have = rule["properties"].setdefault(k, copy.deepcopy(v))
                if have is not v and "enum" in have and "enum" in v:   # e.g. direction: less | greater | decreasing
                    have["enum"] = have["enum"] + [x for x in v["enum"] if x not in have["enum"]]
    return schema


def _figure_kinds() -> list[str]:
    """The modules of trickbench/figures/kinds/, by name, without importing matplotlib (validate stays light)."""
    import pkgutil
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent / "figures" / "kinds")]))


def _rule_properties() -> dict:
    return _rule_properties_of(tuple(rules.names()))


@functools.cache
def _rule_properties_of(names: tuple[str, ...]) -> dict:   # loaded once per set of rules (a test may add one)
    return _load_schema("claim.schema.yaml")["$defs"]["rule"]["properties"]


def _check_rule(rule: dict, claim: dict, key: str) -> None:
    """What a sub-claim's rule must give and may not: its class's required keys, no key of another
    rule's set away from its default (the schema fills the union's defaults into every rule), and
    the class's own check (DecisionRule.check)."""
    r = rules.get(rule["type"])
    for k in r.required:
        if k not in rule:
            raise ConfigError(f"{key}.{k} is required for a {rule['type']} rule")
    props = _rule_properties()
    own = set(r.schema) | set(rules.base.COMMON_KEYS)
    for k, v in rule.items():
        if k not in own and v != props.get(k, {}).get("default", object()):
            raise ConfigError(f"{key}.{k} is not a key of a {rule['type']} rule (its keys: {', '.join(sorted(own))})")
    for k, spec in r.schema.items():
        if k in rule and "enum" in spec and rule[k] not in spec["enum"]:
            raise ConfigError(f"{key}.{k} {rule[k]!r} does not fit a {rule['type']} rule ({' | '.join(spec['enum'])})")
    if rule.get("min_effect", 0) < 0 and not r.non_inferiority:
        raise ConfigError(f"{key}.min_effect < 0 (a non-inferiority margin) applies to compare rules only")
    try:
        r.check(rule, claim, key)
    except ValueError as e:
        raise ConfigError(f"{key}: {e}") from None


def _with_defaults(validator_cls):
    """jsonschema validator that also fills in `default`s (the documented recipe)."""
    validate_props = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


MOVED = {"regime": "a regime check is declared under the claim's `regime_checks` (trickbench/regime.py), "
                   "outside the sub-claims and Holm's family"}   # keys that were valid once: where they went


def validate(instance: dict, schema_name: str, what: str) -> dict:
    """Validate against a schema of workflow/schemas (resources.py), fill defaults, raise ConfigError naming the key."""
    errors = sorted(_Validator(_load_schema(schema_name)).iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        lines = []
        for e in errors[:5]:
            key = ".".join(str(p) for p in e.absolute_path) or "<top level>"
            msg = e.message
            if e.validator == "additionalProperties" and isinstance(e.instance, dict):
                known = list(e.schema.get("properties", {}))
                extra = [k for k in e.instance if k not in known]
                hints = [f"{k!r} (did you mean {difflib.get_close_matches(k, known, 1)[0]!r}?)"
                         if difflib.get_close_matches(k, known, 1) else repr(k) for k in extra]
                msg = f"unknown key(s) {', '.join(hints)}; known: {', '.join(known)}"
                msg += "".join(f" ({MOVED[k]})" for k in extra if k in MOVED)
            elif e.validator in ("enum",):
                msg = f"{e.instance!r} is not one of {', '.join(map(str, e.validator_value))}"
            lines.append(f"  {key}: {msg}")
        raise ConfigError(f"{what} is invalid:\n" + "\n".join(lines))
    return instance


def config_hash(recipe: dict) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


@dataclass
class Arm:
    name: str
    label: str
    tags: dict
    recipe: dict
    hash: str
    family: str = ""            # the claim-file arm it comes from (itself, or its grid)
    deterministic: bool = False


def _slug(v) -> str:
    """A grid value as a wildcard-safe name part: 0.001 -> 0p001, 1e-05 -> 1em05."""
    return str(v).replace(".", "p").replace("-", "m").replace("+", "")


def short_key(key: str) -> str:
    """A grid key's name in arm names and tags: its last dotted part (agc.clipping -> clipping)."""
    return key.rsplit(".", 1)[-1]


def nest(flat: dict) -> dict:
    """{"agc.clipping": 0.01, "lr": 0.1} -> {"agc": {"clipping": 0.01}, "lr": 0.1}."""
    out: dict = {}
    for key, v in flat.items():
        *parents, last = key.split(".")
        d = out
        for p in parents:
            d = d.setdefault(p, {})
        d[last] = v
    return out


def expand_grid(name: str, arm: dict) -> list[tuple[str, dict, dict, str]]:
    """An arm with `grid: {key: [values]}` becomes one arm per combination (product over keys),
    named <arm>__<key><value>..., tagged with each key. A dotted key (agc.clipping) sets a nested
    recipe value and is named by its last part. Returns (name, set, tags, label) tuples."""
    grid = arm.get("grid") or {}
    combos = [{}]
    for key, values in grid.items():
        combos = [{**c, key: v} for c in combos for v in values]
    out = []
    for c in combos:
        suffix = "__" + "_".join(f"{short_key(k)}{_slug(v)}" for k, v in c.items()) if c else ""
        label = arm["label"] + ("" if not c else " (" + ", ".join(f"{short_key(k)}={v}" for k, v in c.items()) + ")")
        out.append((name + suffix, deep_merge(arm.get("set", {}), nest(c)),
                    {**arm.get("tags", {}), **{short_key(k): str(v) for k, v in c.items()}}, label))
    return out


@dataclass
class ClaimAtTier:
    """One claim resolved at one tier: what the pipeline runs and what the report shows."""
    claim: dict
    tier: str
    seeds: list[int]
    arms: dict[str, Arm] = field(default_factory=dict)
    tune_seeds: list[int] = field(default_factory=list)  # tiers.<tier>.tune_seeds: see tuned_apart

    def tuned_apart(self, family: str) -> bool:
        """A grid arm tuned on seeds of its own (the tier's `tune_seeds`): every member trains those
        seeds, and the test seeds (`seeds`) train only at the member the claim's tuning metric picks
        on them, so a grid of k values costs k tuning runs, not k times the test runs."""
        return bool(self.tune_seeds) and len(self.families().get(family, ())) > 1

    def seeds_of(self, arm: str) -> list[int]:
        """Deterministic arms run seed 0 only: every seed would give the same run. The members of a
        grid tuned apart are known to need only their tuning seeds until the tuning has picked one."""
        if self.tuned_apart(self.arms[arm].family):
            return list(self.tune_seeds)
        return self.seeds[:1] if self.arms[arm].deterministic else self.seeds

    def expected_runs(self, family: str) -> int:
        """How many runs the claim-file arm has when its job is done (a grid tuned apart: its
        tuning runs, then the test seeds of the member they pick)."""
        n = sum(len(self.seeds_of(m)) for m in self.families()[family])
        return n + (len(self.seeds) if self.tuned_apart(family) else 0)

    def families(self) -> dict[str, list[str]]:
        """Claim-file arm -> the arms it expands to (one, or one per grid point)."""
        out: dict[str, list[str]] = {}
        for a in self.arms.values():
            out.setdefault(a.family, []).append(a.name)
        return out

    @property
    def id(self) -> str:
        return self.claim["id"]


def load_claim(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"claim file {path} does not exist")
    try:
        claim = load_yaml(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"claim file {path} is not valid YAML: {e}") from e
    if not isinstance(claim, dict):
        raise ConfigError(f"claim file {path} must be a mapping")
    validate(claim, "claim.schema.yaml", f"claim file {path}")
    if claim["id"] != path.stem:
        raise ConfigError(f"claim file {path}: id {claim['id']!r} must equal the file name {path.stem!r}")
    _check_claim_semantics(claim, path)
    return claim


def _check_tiers(claim: dict, where: str) -> None:
    """A tier's `arms` and `grids` name the claim's arms and values of their own grids."""
    for tier, spec in claim["tiers"].items():
        for name in spec.get("arms", []):
            if name not in claim["arms"]:
                raise ConfigError(f"{where}: tiers.{tier}.arms names unknown arm {name!r}")
        for name, grid in spec.get("grids", {}).items():
            own = (claim["arms"].get(name) or {}).get("grid")
            if not own:
                raise ConfigError(f"{where}: tiers.{tier}.grids names {name!r}, which is not a grid arm")
            if set(grid) != set(own) or any(v not in own[k] for k, vs in grid.items() for v in vs):
                raise ConfigError(f"{where}: tiers.{tier}.grids.{name} must keep the keys {sorted(own)} and take "
                                  f"values from the arm's own grid {own}, got {grid}")


def _check_subclaims(claim: dict, where: str, members: set[str]) -> None:
    """Each sub-claim's metrics are declared, its rule is one its class accepts, its arms exist."""
    for i, sub in enumerate(claim["subclaims"]):
        rule, key = sub["rule"], f"{where}: subclaims[{i}].rule"
        metric = rule.get("metric") or rule.get("success", {}).get("metric")
        if metric is not None and metric not in claim["metrics"]:
            raise ConfigError(f"{key}.metric {metric!r} is not declared in metrics ({', '.join(claim['metrics'])})")
        for m in sub.get("beside", {}):
            if m not in claim["metrics"]:
                raise ConfigError(f"{where}: subclaims[{i}].beside.{m} is not declared in metrics "
                                  f"({', '.join(claim['metrics'])})")
        if sub.get("beside") and not rules.get(rule["type"]).t_interval:
            raise ConfigError(f"{where}: subclaims[{i}].beside needs a rule over seeds with an arm (not a {rule['type']} rule)")
        if "baseline_metric" in rule and rule["baseline_metric"] not in claim["metrics"]:
            raise ConfigError(f"{key}.baseline_metric {rule['baseline_metric']!r} is not declared in metrics "
                              f"({', '.join(claim['metrics'])})")
        _check_rule(rule, claim, key)
        for k in ("arm", "baseline"):
            if k in rule and rule[k] not in claim["arms"] and rule[k] not in members:
                raise ConfigError(f"{key}.{k} names unknown arm {rule[k]!r} (an arm, or a grid point such as "
                                  f"{next(iter(members - set(claim['arms'])), 'arm__lr0p1')!r})")


def _check_claim_semantics(claim: dict, path: Path) -> None:
    where = f"claim file {path}"
    try:
        TASKS.check(claim["task"], f"{where}: task")
    except KeyError as e:
        raise ConfigError(e.args[0]) from None
    bc = claim.get("budget_curve")
    if bc and bc["subclaim"] not in {x["id"] for x in claim["subclaims"]}:
        raise ConfigError(f"{where}: budget_curve.subclaim {bc['subclaim']!r} is not a sub-claim")
    from trickbench import regime
    problems = regime.check_spec(claim, where)
    if problems:
        raise ConfigError(problems[0])
    for c in claim.get("regime_checks") or []:
        bad = [m for m in c.get("metrics", []) if m not in claim["metrics"] and c.get("at") != "last_epoch"]
        if bad:
            raise ConfigError(f"{where}: regime_checks {c.get('id')!r}: metric {bad[0]!r} is not declared in metrics")
    if claim.get("paper_metric") and claim["paper_metric"] not in claim["metrics"]:
        raise ConfigError(f"{where}: paper_metric {claim['paper_metric']!r} is not one of its metrics "
                          f"({', '.join(claim['metrics'])})")
    _check_tiers(claim, where)
    members = {name for arm, spec in claim["arms"].items() for name, *_ in expand_grid(arm, spec)}
    produced = TASKS.get(claim["task"]).metrics
    for m in claim["metrics"]:
        if m not in produced:
            close = difflib.get_close_matches(m, produced, 1)
            raise ConfigError(f"{where}: metrics.{m}: no {claim['task']} run writes this metric"
                              + (f"; did you mean {close[0]!r}?" if close else f" (they write: {', '.join(sorted(produced))})"))
    _check_subclaims(claim, where, members)
    ids = {s["id"] for s in claim["subclaims"]}
    for i, sub in enumerate(claim["subclaims"]):
        if sub.get("variant_of") and (sub["variant_of"] not in ids or sub["variant_of"] == sub["id"]):
            raise ConfigError(f"{where}: subclaims[{i}].variant_of names {sub['variant_of']!r}, which is not another sub-claim")
    grids = {n for n, a in claim["arms"].items() if a.get("grid")}
    named = {s["rule"][k] for s in claim["subclaims"] for k in ("arm", "baseline")
             if k in s["rule"] and not s["rule"].get("pool")}
    if grids & named and "tuning" not in claim:
        raise ConfigError(f"{where}: rules name grid arms {sorted(grids & named)}, so the claim needs `tuning` "
                          "(which validation metric picks the member that stands for the arm)")
    if "tuning" in claim and claim["tuning"]["metric"] not in claim["metrics"]:
        raise ConfigError(f"{where}: tuning.metric {claim['tuning']['metric']!r} is not declared in metrics")
    for i, fig in enumerate(claim.get("figures", [])):
        drawn = fig.get("arms") or list(claim["arms"])
        for name in drawn:
            if name not in claim["arms"]:
                raise ConfigError(f"{where}: figures[{i}].arms names unknown arm {name!r}")
        if fig.get("kind") == "sweep":  # hue/style/x name the pattern's placeholders, not arm tags
            for name in sweep_metrics(fig):
                if name not in claim["metrics"]:
                    raise ConfigError(f"{where}: figures[{i}] draws {name!r}, which is not declared in metrics")
            continue
        for k in ("facet", "hue", "style", "by"):
            keys = lambda a: {**a.get("tags", {}), **{short_key(g): 1 for g in a.get("grid", {})}}  # noqa: E731
            if k in fig and not all(fig[k] in keys(claim["arms"][a]) for a in drawn):
                raise ConfigError(f"{where}: figures[{i}].{k} {fig[k]!r} must be a tag of every arm it draws")
    recipe_schema = {**_load_schema("claim.schema.yaml")["$defs"]["recipe"]}
    for name, arm in claim["arms"].items():
        for key, values in (arm.get("grid") or {}).items():
            if short_key(key) in arm.get("tags", {}):
                raise ConfigError(f"{where}: arms.{name}.grid key {key!r} is also one of its tags")
            for v in values:  # each grid point must be a valid recipe value
                point = deep_merge(arm.get("set", {}), nest({key: v}))  # nested objects are checked whole
                errors = list(jsonschema.Draft202012Validator(recipe_schema).iter_errors(point))
                if errors:
                    raise ConfigError(f"{where}: arms.{name}.grid.{key} value {v!r}: {errors[0].message}")


def _non_finite(recipe: dict, prefix: str = "") -> tuple[str, float] | None:
    """The first (dotted key, value) in a recipe that is a NaN or an infinity."""
    for k, v in recipe.items():
        if isinstance(v, dict):
            found = _non_finite(v, f"{prefix}{k}.")
            if found:
                return found
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, float) and not math.isfinite(x):
                return f"{prefix}{k}", x
    return None


def check_model_args(cat: "ClaimAtTier") -> None:
    """Every arm's model_args are parameters its model builder accepts (read from the model
    modules' source, not imported: `trickbench validate` and the Snakefile never import torch)."""
    from trickbench.models import MODELS
    for arm in cat.arms.values():
        if cat.claim["task"] != "classify" or "model" not in arm.recipe:
            continue
        accepted = MODELS.parameters(arm.recipe["model"]) - {"in_shape", "num_classes"}
        unknown = sorted(set(arm.recipe.get("model_args") or {}) - accepted)
        if unknown:
            close = {u: difflib.get_close_matches(u, accepted, 1) for u in unknown}
            hint = "; ".join(f"did you mean {c[0]!r} for {u!r}?" for u, c in close.items() if c)
            raise ConfigError(f"claim {cat.id!r}, arm {arm.name!r}, tier {cat.tier!r}: model_args {unknown} are not "
                              f"parameters of model {arm.recipe['model']!r} (it takes: {', '.join(sorted(accepted))})"
                              + (f"; {hint}" if hint else ""))


def resolve(claim: dict, tier: str, seeds_override: int | None = None) -> ClaimAtTier:
    """The arms of `claim` at `tier`, each with its full recipe (task defaults filled) and hash."""
    if tier not in TIERS:
        raise ConfigError(f"unknown tier {tier!r}; known: {', '.join(TIERS)}")
    if tier not in claim["tiers"]:
        raise ConfigError(
            f"claim {claim['id']!r} has no settings for tier {tier!r} (it has: {', '.join(claim['tiers'])}); "
            f"add tiers.{tier} to config/claims/{claim['id']}.yaml or leave it out of `claims`")
    spec = claim["tiers"][tier]
    task = TASKS.get(claim["task"])
    n = seeds_override or spec["seeds"]
    out = ClaimAtTier(claim=claim, tier=tier, seeds=list(range(n)), tune_seeds=list(spec.get("tune_seeds", [])))
    if set(out.tune_seeds) & set(out.seeds):
        raise ConfigError(f"claim {claim['id']!r}, tier {tier!r}: tune_seeds {out.tune_seeds} overlap the test seeds "
                          f"0..{n - 1}: tuning and testing must use different seeds")
    if out.tune_seeds and "tuning" not in claim:
        raise ConfigError(f"claim {claim['id']!r}, tier {tier!r}: tune_seeds needs the claim's `tuning` "
                          "(the validation metric that picks the grid member)")
    for family in spec.get("arms") or list(claim["arms"]):
        arm = claim["arms"][family]
        if family in spec.get("grids", {}):  # this tier runs fewer grid values (e.g. one p_L)
            arm = {**arm, "grid": spec["grids"][family]}
        for name, overrides, tags, label in expand_grid(family, arm):
            recipe = deep_merge(deep_merge(deep_merge(task.defaults, claim["base"]), spec.get("set", {})), overrides)
            where = f"claim {claim['id']!r}, arm {name!r}, tier {tier!r}"
            try:
                task.check(recipe, where)
            except (KeyError, ValueError) as e:
                raise ConfigError(e.args[0]) from None
            bad = _non_finite(recipe)
            if bad:
                raise ConfigError(f"{where}: {bad[0]} = {bad[1]!r} is not a finite number (a grid or set value of .nan or .inf?)")
            out.arms[name] = Arm(name, label, tags, recipe, config_hash(recipe), family, arm.get("deterministic", False))
    return out


def sweep_metrics(fig: dict) -> list[str]:
    """The run metrics a `sweep` figure draws: its pattern y[0] with every combination of `values`."""
    import itertools
    names = list(fig.get("values", {}))
    choices = [list(fig["values"][n]) for n in names]
    return [fig["y"][0].format(**dict(zip(names, combo))) for combo in itertools.product(*choices)]


def figure_paths(claim: dict, fig_dir: str | Path, tier: str) -> list[Path]:
    """Where the claim's figures go: <fig_dir>/<tier>/<claim>_<i>.svg, one per `figures` entry."""
    return [Path(fig_dir) / tier / f"{claim['id']}_{i}.svg" for i in range(len(claim.get("figures", [])))]


def load_claims(claims_dir: str | Path, which="all") -> dict[str, dict]:
    claims_dir = Path(claims_dir)
    paths = sorted(claims_dir.glob("*.yaml"))
    if not paths:
        raise ConfigError(f"no claim files (*.yaml) in {claims_dir}")
    claims = {p.stem: load_claim(p) for p in paths}
    if which != "all":
        missing = [c for c in which if c not in claims]
        if missing:
            raise ConfigError(f"config key `claims` names unknown claim(s) {missing}; known: {', '.join(claims)}")
        claims = {c: claims[c] for c in which}
    return claims
