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
    CLAIMS = {
        cid: tbconfig.resolve(claim, TIER, config["seeds"])
        for cid, claim in tbconfig.load_claims(config["claims_dir"], config["claims"]).items()
    }
except tbconfig.ConfigError as e:
    raise WorkflowError(f"config error: {e}")


wildcard_constraints:
    tier="smoke|quick|full|paper",
    claim="[a-z0-9_]+",
    arm="[A-Za-z0-9_]+",
    i="[0-9]+",


def arm_outputs(claim_id):
    return [f"{RESULTS}/{TIER}/{claim_id}/runs/{arm}.jsonl" for arm in CLAIMS[claim_id].arms]


def claim_file(claim_id):
    return f"{config['claims_dir']}/{claim_id}.yaml"


def figure_outputs(claim_id):
    return [str(p) for p in tbconfig.figure_paths(CLAIMS[claim_id].claim, Path(REPORT_DIR) / "figures", TIER)]


SEEDS_ARG = f"--seeds {config['seeds']}" if config["seeds"] else ""


def results_root(path, depth):
    """results_dir, recovered from an output path `depth` levels below it."""
    return str(Path(path).parents[depth - 1])


def arm_hash(wildcards):
    # a rerun trigger: editing one arm's recipe reruns that arm only
    return CLAIMS[wildcards.claim].arms[wildcards.arm].hash
