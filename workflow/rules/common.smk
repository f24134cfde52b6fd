# Validation and input wrangling. Everything that can be wrong with the config or a claim file
# fails here, before any job runs, with a message that names the key.
import json
import shlex
from pathlib import Path

# SRC's package, or the installed one (workflow/Snakefile)
from trickbench import config as tbconfig
from trickbench import plan as tbplan
from trickbench import resources

# our own messages (one line per key, "did you mean"), not the schema dump snakemake.utils.validate prints
if isinstance(config.get("claims"), str) and config["claims"] != "all":
    raise WorkflowError(
        f"config error: claims={config['claims']} must be `all` or a list: "
        f"--config 'claims=[{config['claims']}]'"
    )
try:
    tbconfig.validate(
        config, "config.schema.yaml", "the config (config/config.yaml and --config)"
    )
except tbconfig.ConfigError as e:
    raise WorkflowError(f"config error: {e}")

TIER = config["tier"]
RESULTS = config["results_dir"]
REPORT_DIR = config["report_dir"]
REPORT_PDF = f"{REPORT_DIR}/report.pdf"
REPRODUCTION = (
    [f"{RESULTS}/{TIER}/reproduction.csv"] if config.get("compare_with") else []
)
# how every job starts trickbench: with the clone's src/ first on the path, if there is a clone
PYTHON = (
    f"PYTHONPATH={shlex.quote(SRC)}${{PYTHONPATH:+:$PYTHONPATH}} python"
    if SRC
    else "python"
)

try:
    _loaded = tbconfig.load_claims(config["claims_dir"], config["claims"])
    # with claims=all, a claim that has no settings for this tier is left out (and said so);
    # a claim named explicitly must have them
    _skip = [
        c
        for c, claim in _loaded.items()
        if TIER not in claim["tiers"] and config["claims"] == "all"
    ]
    if _skip:
        logger.info(
            f"tier {TIER}: no settings in claim(s) {', '.join(_skip)}; left out"
        )
    CLAIMS = {
        cid: tbconfig.resolve(claim, TIER, config["seeds"])
        for cid, claim in _loaded.items()
        if cid not in _skip
    }
    for _cat in CLAIMS.values():  # a misspelt model argument fails here, not in a job
        tbconfig.check_model_args(_cat)
        tbplan.check_metrics_written(
            _cat
        )  # a rule on a metric its arms never write, too
    # a plan far larger than meant (seeds=100000): refused here, in a dry run too, with its estimate
    tbplan.check_size(
        tbplan.estimate(CLAIMS, RESULTS),
        config["plan_limit_runs"],
        config["plan_limit_hours"],
        config["confirm_large"],
    )
except tbconfig.ConfigError as e:
    raise WorkflowError(f"config error: {e}")


wildcard_constraints:
    tier="|".join(tbconfig.TIERS),
    claim="[a-z0-9_]+",
    arm="[A-Za-z0-9_]+",
    i="[0-9]+",


def arm_outputs(claim_id):
    # one training job per claim-file arm: all its seeds, and every point of its grid
    return [
        f"{RESULTS}/{TIER}/{claim_id}/runs/{arm}.jsonl"
        for arm in CLAIMS[claim_id].families()
    ]


def claim_file(claim_id):
    return f"{config['claims_dir']}/{claim_id}.yaml"


def figure_outputs(claim_id):
    return [
        str(p)
        for p in tbconfig.figure_paths(
            CLAIMS[claim_id].claim, Path(REPORT_DIR) / "figures", TIER
        )
    ]


def figure_caption(wildcards):
    """The claim file's caption of figure i, for Snakemake's --report (report/figure.rst)."""
    figures = CLAIMS[wildcards.claim].claim.get("figures", [])
    i = int(wildcards.i)
    return figures[i].get("caption", "") if i < len(figures) else ""


SEEDS_ARG = f"--seeds {config['seeds']}" if config["seeds"] else ""


def results_root(path, depth):
    """results_dir, recovered from an output path `depth` levels below it."""
    return str(Path(path).parents[depth - 1])


def arm_hash(wildcards):
    # a rerun trigger: editing one arm's recipe reruns that arm only (and, of a grid, only
    # the points whose recipe changed actually train: the others find their finished runs)
    cat = CLAIMS[wildcards.claim]
    return ",".join(cat.arms[a].hash for a in cat.families()[wildcards.arm])


def missing_runs(claim_id, arm, tier=TIER):
    """How many of the (recipe hash, seed) runs the config asks of a claim-file arm are not in
    its runs/<arm>.jsonl (all of them when it does not exist)."""
    cat = CLAIMS[claim_id]
    want = {(cat.arms[a].hash, s) for a in cat.families()[arm] for s in cat.seeds_of(a)}
    path = Path(f"{RESULTS}/{tier}/{claim_id}/runs/{arm}.jsonl")
    # up to an unreadable record: what is missing after it retrains
    have = {(r["config_hash"], r["seed"]) for r in tbplan.finished_runs(path)}
    return len(want - have), len(want)


def stale_marker(wildcards):
    """[] when runs/<arm>.jsonl holds a run for every (recipe hash, seed) the config asks for of
    this arm; otherwise a marker file, touched now, so that it is newer than the jsonl and the
    train job reruns (its finished runs are found and kept; only what is missing trains).
    Snakemake's own params trigger (arm_hash) needs its .snakemake metadata, which a fresh clone
    does not have, and a missing input does not rerun a job whose output exists: without this, a
    changed recipe or a raised seed count would silently keep the committed runs."""
    path = Path(
        f"{RESULTS}/{wildcards.tier}/{wildcards.claim}/runs/{wildcards.arm}.jsonl"
    )
    if not path.exists():
        return []
    lacking, wanted = missing_runs(wildcards.claim, wildcards.arm, wildcards.tier)
    if not lacking:
        return []
    marker = Path(
        f"{RESULTS}/{wildcards.tier}/{wildcards.claim}/logs/stale-{wildcards.arm}.flag"
    )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        f"{path} lacks {lacking} of the {wanted} runs the config asks for\n"
    )
    return [str(marker)]


def missing_arms_marker(wildcards):
    """[] when every arm of the claim has its runs/<arm>.jsonl; otherwise a marker file, touched
    now, so that analyse reruns and asks for the missing arms. Snakemake does not rebuild a
    missing input whose consumer is up to date: a verdicts.json committed from a partial grid
    (`trickbench analyse --partial`) would otherwise leave its unstarted arms untrained.
    """
    lacking = [
        arm
        for arm in CLAIMS[wildcards.claim].families()
        if not Path(
            f"{RESULTS}/{wildcards.tier}/{wildcards.claim}/runs/{arm}.jsonl"
        ).exists()
    ]
    if not lacking:
        return []
    marker = Path(
        f"{RESULTS}/{wildcards.tier}/{wildcards.claim}/logs/stale-analyse.flag"
    )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"no runs yet of arms {', '.join(lacking)}\n")
    return [str(marker)]


def run_files(wildcards):
    """The per-seed metrics files behind a claim's arm files (runs/<arm>.jsonl): analyse reruns when
    one changes, and one deleted stops the pipeline naming it and how to retrain that seed, instead
    of a report printing verdicts of runs no longer on disk."""
    from trickbench.tasks import run_dir

    cat = CLAIMS[wildcards.claim]
    root = Path(f"{RESULTS}/{wildcards.tier}/{wildcards.claim}/runs")
    out = []
    for family in cat.families():
        path = root / f"{family}.jsonl"
        for r in tbplan.finished_runs(
            path
        ):  # up to a damaged record (analyse names it)
            arm = cat.arms.get(r.get("arm"))
            if arm is None:
                continue  # a run of an arm no longer configured
            if r["config_hash"] != arm.hash:
                continue  # a run of an older recipe: the train job replaces it (stale_marker)
            m = run_dir(root, arm, r["seed"]) / "metrics.jsonl"
            if not m.exists():
                raise WorkflowError(
                    f"{m} is missing, though {path} lists its run: retrain that seed: remove "
                    f"{m.parent} and {path}, then rerun"
                )
            out.append(str(m))
    return out


def _check_runs_behind_verdicts():
    """With --allowed-rules that exclude training, a claim whose arm files are gone cannot be
    re-analysed, and Snakemake said 'Nothing to be done' over a report of the deleted runs: stop.
    """
    # Snakemake makes its DAG settings after reading the Snakefile: the command line says it here
    argv = sys.argv[1:]
    if "--allowed-rules" not in argv:
        return
    allowed = set()
    for a in argv[argv.index("--allowed-rules") + 1 :]:
        if a.startswith("-"):
            break
        allowed.add(a)
    if "train" in allowed:
        return
    for cid, cat in CLAIMS.items():
        verdicts = Path(f"{RESULTS}/{TIER}/{cid}/verdicts.json")
        gone = [
            a
            for a in cat.families()
            if not Path(f"{RESULTS}/{TIER}/{cid}/runs/{a}.jsonl").exists()
        ]
        if verdicts.exists() and gone:
            raise WorkflowError(
                f"{verdicts} holds verdicts of runs that are gone (no runs/<arm>.jsonl for arm(s) "
                f"{', '.join(gone)}), and --allowed-rules forbids training them: allow `train`, "
                "or remove that claim's results folder"
            )


def _check_data():
    """Every dataset that an arm still to train reads is there, before any job starts."""
    from trickbench.data.sources import missing_message

    cache = config["cache_dir"] or str(Path(config["data_root"]) / "cache")
    seen = set()
    for cid, cat in CLAIMS.items():
        for family in cat.families():
            if not missing_runs(cid, family)[0]:
                continue
            for a in cat.families()[family]:
                r = cat.arms[a].recipe
                if "dataset" not in r:
                    continue
                key = (
                    r["dataset"],
                    json.dumps(r.get("dataset_args") or {}, sort_keys=True),
                )
                if key in seen:
                    continue
                seen.add(key)
                msg = missing_message(
                    r["dataset"],
                    config["data_root"],
                    cache,
                    **(r.get("dataset_args") or {}),
                )
                if msg:
                    raise WorkflowError(
                        f"claim {cid!r}, arm {a!r} (tier {TIER}) cannot train: {msg}"
                    )


def _check_results_writable():
    """The results folder can be written (a read-only one ended in a raw traceback from an input
    function): one line naming it, before any job."""
    import os

    folder = Path(RESULTS).absolute() / TIER
    near = next(
        p for p in (folder, *folder.parents) if p.exists()
    )  # created only when a job writes
    try:
        if not near.is_dir():
            raise NotADirectoryError(20, f"{near} is not a folder")
        if not os.access(
            near, os.W_OK | os.X_OK
        ):  # asked, not tried: a dry run writes nothing
            raise PermissionError(13, "permission denied")
    except OSError as e:
        raise WorkflowError(
            f"results folder {folder} cannot be written ({e.strerror or e}): "
            "make it writable, or point results_dir elsewhere (--config results_dir=...)"
        )


def _remove_stale_temporaries():
    """Half-written files of a killed job (atomic writes' `.<name>.*.tmp`), from an earlier run:
    removed when the workflow starts its jobs (onstart), never by a dry run."""
    from trickbench.io import remove_stale_temporaries

    for root in (RESULTS, REPORT_DIR):
        if Path(root).is_dir():
            for f in remove_stale_temporaries(root):
                print(
                    f"removed {f}: a temporary file a killed job left behind",
                    file=sys.stderr,
                )


_check_data()
_check_runs_behind_verdicts()
_check_results_writable()


onstart:
    _remove_stale_temporaries()  # when jobs will run: never under -n
