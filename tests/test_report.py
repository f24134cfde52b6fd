"""How the report states our side of a sub-claim."""
from trickbench import report


def _sub(kind, **kw):
    return {"verdict": "not equivalent", "rule": {"type": kind}, **kw}


def test_ours_shows_both_means_for_compare_and_equivalence():
    assert report._ours(_sub("equivalence", arm_mean=0.948, baseline_mean=0.967)) == "0.948 vs 0.967"
    assert report._ours(_sub("compare", arm_mean=0.5, baseline_mean=0.25)) == "0.5 vs 0.25"
    assert report._ours(_sub("equivalence", arm_mean=0.948)) == "0.948"  # no baseline recorded
    assert report._ours({"verdict": "no data", "rule": {"type": "compare"}}) == "–"


def test_pooled_best_and_mean_over_grid_points_beside_the_paper():
    members = [{"n": 20, "n_ok": 9, "mean": {"acc": 0.6}, "max": {"acc": 0.97}},   # 11 diverged
               {"n": 20, "n_ok": 20, "mean": {"acc": 0.1}, "max": {"acc": 0.11}}]
    # mean over the 29 finished runs, weighted by runs: (9 * 0.6 + 20 * 0.1) / 29 = 25.5%
    assert report._pooled(members, "acc") == "97.0 / 25.5 of 29 runs (11 not finished: diverged or timed out)"
    assert report._pooled(members, None) == ""
    assert report._pooled([{"n": 3, "n_ok": 3, "mean": {"acc": 0.5}, "std": {}}], "acc") == ""  # old verdicts: no max
    same = [{"n": 20, "n_ok": 20, "mean": {"acc": 0.11350000000000002}, "max": {"acc": 0.1135}}]
    assert report._pooled(same, "acc") == "11.3 / 11.3 of 20 runs"  # a mean never prints above the best
