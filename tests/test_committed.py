"""What is committed is what the pipeline makes from the committed runs (issue 47 §8): every tier's
tables and verdicts, re-analysed by today's code from its runs, equal the committed files, and so
does the README's results table. On a fresh clone the README's main command then changes no
tracked file but the PDF. A change to the analysis must be committed with the tables it rewrites
(re-analyse: `python -m trickbench.cli analyse --tier T --claim C` per tier, then rebuild the report)."""
import shutil

import pytest

from conftest import REPO
from trickbench import analyse, config, io, report

RESULTS = REPO / "results"
TIERS = sorted({p.parent.parent.name for p in RESULTS.glob("*/*/verdicts.json")})


@pytest.fixture(scope="module")
def reanalysed(tmp_path_factory):
    """A copy of results/ (runs and committed tables), every tier re-analysed in it."""
    out = tmp_path_factory.mktemp("committed") / "results"
    shutil.copytree(RESULTS, out, ignore=shutil.ignore_patterns("*.pt", "logs", "queue"))
    claims = config.load_claims(REPO / "config" / "claims")
    for vf in sorted(out.glob("*/*/verdicts.json")):
        tier, cid = vf.parent.parent.name, vf.parent.name
        partial = bool(io.read_json(vf).get("missing_arms"))   # a tier still in its lanes, as committed
        analyse.analyse_claim(config.resolve(claims[cid], tier), out, partial=partial)
    return out


@pytest.mark.parametrize("tier", TIERS)
def test_committed_tables_and_verdicts_are_todays_analysis_of_the_committed_runs(reanalysed, tier):
    stale = []
    for vf in sorted((RESULTS / tier).glob("*/verdicts.json")):
        for name in ("runs.csv", "curves.csv", "verdicts.json"):
            committed, now = vf.parent / name, reanalysed / tier / vf.parent.name / name
            if committed.read_bytes() != now.read_bytes():
                stale.append(str(committed.relative_to(REPO)))
    assert not stale, (f"committed but not what today's analysis writes from the committed runs: {stale}; "
                       "re-analyse those claims and rebuild the report")


def test_the_readme_table_is_the_committed_results(reanalysed, tmp_path):
    data = report.gather(reanalysed, REPO / "config" / "claims", tmp_path / "figures", tmp_path)
    text = (REPO / "README.md").read_text()
    block = text.split(report.README_START, 1)[1].split(report.README_END, 1)[0].strip()
    assert block == report.readme_table(data["answers"]), "README.md's results table is stale: rebuild the report"
