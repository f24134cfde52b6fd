"""Curriculum ordering: the pool, the pacing, and the control that equals the random order."""
import pytest
import torch

from trickbench import train
from trickbench.tasks import TASKS
from trickbench.tricks import curriculum as cur


def test_constant_score_gives_exactly_the_random_order():
    spec = {"score": "constant", "start": 0.2, "ramp": 0.5}
    score = cur.scores(torch.zeros(50, 1, 2, 2, dtype=torch.uint8), torch.zeros(50, dtype=torch.long), "constant")
    for epoch in range(4):
        g1, g2 = torch.Generator().manual_seed(epoch), torch.Generator().manual_seed(epoch)
        assert torch.equal(cur.epoch_order(score, epoch, 10, spec, g1), torch.randperm(50, generator=g2))


def test_prototype_score_ranks_images_by_distance_to_their_class_mean():
    x = torch.tensor([[0], [1], [9], [10], [11], [20]], dtype=torch.uint8).view(6, 1, 1, 1)
    y = torch.tensor([0, 0, 0, 1, 1, 1])          # class means 3.33 and 13.67
    s = cur.scores(x, y, "prototype")
    assert s.argsort().tolist()[:2] == [1, 4]      # |1 - 3.33| and |11 - 13.67| are the smallest
    assert set(cur.pool(s, 0.33).tolist()) == {1, 4}
    assert set(cur.pool(s, 0.33, "hard_first").tolist()) == {2, 5}
    assert len(cur.pool(torch.zeros(6), 0.1)) == 6  # ties at the cut all in
    with pytest.raises(ValueError, match="not one of prototype, constant"):
        cur.scores(x, y, "loss")


def test_pacing_grows_the_pool_and_keeps_every_epoch_the_same_length():
    spec = {"start": 0.2, "ramp": 0.5}
    assert [round(cur.share(e, 10, spec), 2) for e in (0, 2, 5, 9)] == [0.2, 0.52, 1.0, 1.0]
    score = torch.arange(100.0)
    order = cur.epoch_order(score, 0, 10, spec, torch.Generator().manual_seed(0))
    assert len(order) == 100 and set(order.tolist()) == set(range(20))  # the easiest 20, repeated


def test_training_with_the_constant_curriculum_equals_training_without(tmp_path):
    ctx = {"data_root": str(tmp_path / "data"), "cache_dir": str(tmp_path / "cache"), "device": "cpu", "threads": 1}
    base = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp", model_args={"depth": 1, "width": 16},
                optimizer="sgd", lr=0.1, epochs=2, batch_size=64, val_fraction=0.2)
    a = train.run(base, 0, tmp_path / "a", ctx, {})["metrics"]
    b = train.run(dict(base, curriculum={"score": "constant"}), 0, tmp_path / "b", ctx, {})["metrics"]
    c = train.run(dict(base, curriculum={"score": "prototype"}), 0, tmp_path / "c", ctx, {})["metrics"]
    assert train.learned(a) == train.learned(b) and train.learned(a) != train.learned(c)
