# Validation and input wrangling. Everything that can be wrong with the config or a claim file
# fails here, before any job runs, with a message that names the key.
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from trickbench import config as tbconfig  # noqa: E402

validate(config, "../schemas/config.schema.yaml")

TIER = config["tier"]
RESULTS = config["results_dir"]
REPORT_DIR = config["report_dir"]
REPORT_PDF = f"{REPORT_DIR}/report.pdf"
SRC = str(Path(workflow.basedir) / "src")

try:
    _loaded = tbconfig.load_claims(config["claims_dir"], config["claims"])
    # with claims=all, a claim that has no settings for this tier is left out (and said so);
    # a claim named explicitly must have them
    _skip = [c for c, claim in _loaded.items() if TIER not in claim["tiers"] and config["claims"] == "all"]
    if _skip:
        logger.info(f"tier {TIER}: no settings in claim(s) {', '.join(_skip)}; left out")
    CLAIMS = {
        cid: tbconfig.resolve(claim, TIER, config["seeds"])
        for cid, claim in _loaded.items()
        if cid not in _skip
    }
except tbconfig.ConfigError as e:
    raise WorkflowError(f"config error: {e}")


wildcard_constraints:
    tier="smoke|quick|cpu|full|paper",
    claim="[a-z0-9_]+",
    arm="[A-Za-z0-9_]+",
    i="[0-9]+",


def arm_outputs(claim_id):
    # one training job per claim-file arm: all its seeds, and every point of its grid
    return [f"{RESULTS}/{TIER}/{claim_id}/runs/{arm}.jsonl" for arm in CLAIMS[claim_id].families()]


def claim_file(claim_id):
    return f"{config['claims_dir']}/{claim_id}.yaml"


def figure_outputs(claim_id):
    return [str(p) for p in tbconfig.figure_paths(CLAIMS[claim_id].claim, Path(REPORT_DIR) / "figures", TIER)]


SEEDS_ARG = f"--seeds {config['seeds']}" if config["seeds"] else ""


def results_root(path, depth):
    """results_dir, recovered from an output path `depth` levels below it."""
    return str(Path(path).parents[depth - 1])


def arm_hash(wildcards):
    # a rerun trigger: editing one arm's recipe reruns that arm only (and, of a grid, only
    # the points whose recipe changed actually train: the others find their finished runs)
    cat = CLAIMS[wildcards.claim]
    return ",".join(cat.arms[a].hash for a in cat.families()[wildcards.arm])
