"""Load, validate and resolve configs and claim files. No torch: `snakemake -n` stays fast.

A claim's arms resolve per tier as   base  <-  tier.set  <-  arm.set   (later wins).
Everything that can be wrong with a config is reported here, before any job runs, naming the key.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from trickbench.tasks import TASKS

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "workflow" / "schemas"
TIERS = ("smoke", "quick", "full", "paper")


class ConfigError(ValueError):
    """A config or claim file is invalid; the message names the file and the key."""


def _load_schema(name: str) -> dict:
    path = SCHEMA_DIR / name
    if not path.exists():
        raise ConfigError(f"schema {path} not found: run trickbench from a clone of the repository")
    return yaml.safe_load(path.read_text())


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


def validate(instance: dict, schema_name: str, what: str) -> dict:
    """Validate against a schema in workflow/schemas, fill defaults, raise ConfigError naming the key."""
    errors = sorted(_Validator(_load_schema(schema_name)).iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        lines = []
        for e in errors[:5]:
            key = ".".join(str(p) for p in e.absolute_path) or "<top level>"
            lines.append(f"  {key}: {e.message}")
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


@dataclass
class ClaimAtTier:
    """One claim resolved at one tier: what the pipeline runs and what the report shows."""
    claim: dict
    tier: str
    seeds: list[int]
    arms: dict[str, Arm] = field(default_factory=dict)

    def seeds_of(self, arm: str) -> list[int]:
        """Deterministic arms run seed 0 only: every seed would give the same run."""
        return self.seeds[:1] if self.claim["arms"][arm].get("deterministic") else self.seeds

    @property
    def id(self) -> str:
        return self.claim["id"]


def load_claim(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"claim file {path} does not exist")
    try:
        claim = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"claim file {path} is not valid YAML: {e}") from e
    if not isinstance(claim, dict):
        raise ConfigError(f"claim file {path} must be a mapping")
    validate(claim, "claim.schema.yaml", f"claim file {path}")
    if claim["id"] != path.stem:
        raise ConfigError(f"claim file {path}: id {claim['id']!r} must equal the file name {path.stem!r}")
    _check_claim_semantics(claim, path)
    return claim


def _check_claim_semantics(claim: dict, path: Path) -> None:
    where = f"claim file {path}"
    try:
        TASKS.check(claim["task"], f"{where}: task")
    except KeyError as e:
        raise ConfigError(e.args[0]) from None
    for tier, spec in claim["tiers"].items():
        for name in spec.get("arms", []):
            if name not in claim["arms"]:
                raise ConfigError(f"{where}: tiers.{tier}.arms names unknown arm {name!r}")
    for i, sub in enumerate(claim["subclaims"]):
        rule, key = sub["rule"], f"{where}: subclaims[{i}].rule"
        if rule["metric"] not in claim["metrics"]:
            raise ConfigError(f"{key}.metric {rule['metric']!r} is not declared in metrics ({', '.join(claim['metrics'])})")
        needed = {"compare": ("arm", "baseline", "direction"), "threshold": ("arm", "direction", "value")}[rule["type"]]
        for k in needed:
            if k not in rule:
                raise ConfigError(f"{key}.{k} is required for a {rule['type']} rule")
        for k in ("arm", "baseline"):
            if k in rule and rule[k] not in claim["arms"]:
                raise ConfigError(f"{key}.{k} names unknown arm {rule[k]!r}")
    for i, fig in enumerate(claim.get("figures", [])):
        for k in ("facet", "hue", "style"):
            if k in fig and not all(fig[k] in a.get("tags", {}) for a in claim["arms"].values()):
                raise ConfigError(f"{where}: figures[{i}].{k} {fig[k]!r} must be a tag of every arm")


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
    out = ClaimAtTier(claim=claim, tier=tier, seeds=list(range(n)))
    for name in spec.get("arms") or list(claim["arms"]):
        arm = claim["arms"][name]
        recipe = deep_merge(deep_merge(deep_merge(task.defaults, claim["base"]), spec.get("set", {})), arm.get("set", {}))
        where = f"claim {claim['id']!r}, arm {name!r}, tier {tier!r}"
        try:
            task.check(recipe, where)
        except (KeyError, ValueError) as e:
            raise ConfigError(e.args[0]) from None
        out.arms[name] = Arm(name, arm["label"], arm.get("tags", {}), recipe, config_hash(recipe))
    return out


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
