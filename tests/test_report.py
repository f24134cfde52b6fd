"""How the report states our side of a sub-claim."""
from trickbench import report


def _sub(kind, **kw):
    return {"verdict": "not equivalent", "rule": {"type": kind}, **kw}


def test_ours_shows_both_means_for_compare_and_equivalence():
    assert report._ours(_sub("equivalence", arm_mean=0.948, baseline_mean=0.967)) == "0.948 vs 0.967"
    assert report._ours(_sub("compare", arm_mean=0.5, baseline_mean=0.25)) == "0.5 vs 0.25"
    assert report._ours(_sub("equivalence", arm_mean=0.948)) == "0.948"  # no baseline recorded
    assert report._ours({"verdict": "no data", "rule": {"type": "compare"}}) == "–"
