"""Pruning: the OBD Hessian diagonal against autograd, the masks, and a trained network pruned."""
import pytest
import torch
import torch.nn.functional as F

from trickbench import train
from trickbench.models import MODELS
from trickbench.tasks import TASKS
from trickbench.tricks import pruning


def _exact_diagonal(model, x):
    """d2E/dw_k^2 by autograd for every weight of every Linear (E = summed cross-entropy)."""
    y = model(x).argmax(1)                       # any labels: the Hessian of softmax CE does not depend on them
    out = []
    for lin in pruning.linears(model):
        w = lin.weight
        g = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), w, create_graph=True)[0]
        diag = torch.zeros_like(w)
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                diag[i, j] = torch.autograd.grad(g[i, j], w, retain_graph=True)[0][i, j]
        out.append(diag.detach())
    return out


def test_obd_diagonal_is_exact_for_one_layer_and_close_with_a_hidden_layer():
    torch.manual_seed(0)
    x = torch.randn(30, 5)
    one = MODELS.build("mlp", (5,), 3, depth=0)
    for got, want in zip(pruning.obd_hessian_diagonal(one, x), _exact_diagonal(one, x)):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)      # p_i (1 - p_i) x_j^2, summed: exact
    two = MODELS.build("mlp", (5,), 3, depth=1, width=4)
    got, want = pruning.obd_hessian_diagonal(two, x), _exact_diagonal(two, x)
    assert torch.allclose(got[-1], want[-1], rtol=1e-4, atol=1e-6)  # the output layer: still exact
    # the hidden layer: LeCun's approximation drops the output Hessian's off-diagonal terms
    r = torch.corrcoef(torch.stack([got[0].flatten(), want[0].flatten()]))[0, 1]
    assert r > 0.8 and (got[0] >= 0).all()


def test_masks_remove_the_asked_share():
    torch.manual_seed(1)
    net = MODELS.build("mlp", (1, 4, 4), 3, depth=2, width=10)
    x = torch.randn(20, 16)
    for method in pruning.METHODS:
        masks = pruning.masks_for(net, method, 0.5, x)
        kept = sum(m.sum().item() for m in masks) / sum(m.numel() for m in masks)
        assert 0.3 < kept < 0.7, (method, kept)
    masks = pruning.masks_for(net, "neuron_weight", 0.5, x)
    gone = ~masks[0].any(dim=1)                                    # 5 of 10 first-layer neurons
    assert gone.sum() == 5 and not masks[1][:, gone].any()         # and their outgoing weights
    pruned = pruning.apply(net, masks)
    assert (pruned.net[1].bias[gone] == 0).all() and (net.net[1].weight != 0).all()  # a copy; the model untouched
    assert set(pruning.metric_names()) <= TASKS.get("classify").metrics   # declared by the trick


def test_a_trained_mlp_is_pruned_every_way_and_prune_is_refused_on_other_models(tmp_path):
    ctx = {"data_root": str(tmp_path / "d"), "cache_dir": str(tmp_path / "c"), "device": "cpu", "threads": 1}
    recipe = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp", model_args={"depth": 2, "width": 64},
                  optimizer="sgd", momentum=0.9, lr=0.05, epochs=8, batch_size=64, val_fraction=0.2,
                  prune={"finetune_epochs": 1})
    m = train.run(recipe, 0, tmp_path / "r", ctx, {})["metrics"]
    one_shot = {n for n in pruning.metric_names() if not n.startswith("prune_iter_")}
    assert one_shot <= set(m) and not any(n.startswith("prune_iter_") for n in m)   # iterative only when asked
    assert m["prune_magnitude_50"] > m["final_test_acc"] - 0.05           # half the weights: little lost
    assert m["prune_magnitude_95_ft"] >= m["prune_magnitude_95"] - 0.02    # fine-tuning recovers, never much worse
    with pytest.raises(ValueError, match="plain ReLU MLP"):
        TASKS.get("classify").check(dict(recipe, model_args={"depth": 2, "batchnorm": True}), "here")


def test_weights_and_neurons_are_scored_on_every_class_of_a_class_sorted_split(monkeypatch):
    """The MNIST copy is sorted by class and a split's indices come back sorted: the first 10,000
    training images were 5,425 zeros and 4,575 ones, and neurons were scored on two digits."""
    y = torch.arange(10).repeat_interleave(5_400)                   # 54,000 labels, sorted by class
    counts = torch.bincount(y[pruning.score_images(len(y))], minlength=10)
    assert counts.sum() == pruning.SCORE_IMAGES and counts.min() >= 990 and counts.max() <= 1010
    # and evaluate_all scores on exactly those images: x encodes each image's class in its pixels
    x = y.to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()
    seen = []

    class Scored(Exception):
        pass

    def capture(model, method, s, xs):
        seen.append(xs)
        raise Scored
    monkeypatch.setattr(pruning, "masks_for", capture)
    model = MODELS.build("mlp", (1, 2, 2), 10, depth=1, width=4)
    with pytest.raises(Scored):
        pruning.evaluate_all(model, {}, x, y, x, y, torch.zeros(1), torch.full((1,), 1 / 255), {}, None, 0)
    classes = seen[0].flatten(1)[:, 0].round().long()                # normalize(x) with std 1/255 gives x back
    assert torch.bincount(classes, minlength=10).min() >= 990


def test_iterative_pruning_rescoring_retraining_keeps_what_it_pruned_and_beats_one_shot(tmp_path):
    """OBD's procedure: prune along a schedule, rescore the pruned and retrained network each step.
    Both methods retrain on the same data order; the sparsity reached is the asked one, pruned
    weights never come back, and at 95 % the schedule keeps more accuracy than one cut."""
    ctx = {"data_root": str(tmp_path / "d"), "cache_dir": str(tmp_path / "c"), "device": "cpu", "threads": 1}
    it = {"schedule": [0.5, 0.8, 0.9, 0.95], "retrain_epochs": 1}
    recipe = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp", model_args={"depth": 2, "width": 64},
                  optimizer="sgd", momentum=0.9, lr=0.05, epochs=8, batch_size=64, val_fraction=0.2,
                  prune={"finetune_epochs": 1, "iterative": it})
    m = train.run(recipe, 0, tmp_path / "r", ctx, {})["metrics"]
    names = [f"prune_iter_{k}_{p}" for k in pruning.ITERATIVE for p in (50, 80, 90, 95)]
    assert set(names) <= set(m) and set(names) <= TASKS.get("classify").metrics
    assert m["prune_iter_magnitude_95"] > m["prune_magnitude_95"]   # stepwise with retraining, against one cut

    seen = []   # the masks at each step: nested (what is pruned stays pruned) and of the asked share
    real = pruning.masks_for

    def spy(model, method, s, xs):
        out = real(model, method, s, xs)
        seen.append((s, out))
        return out
    torch.manual_seed(0)
    net = MODELS.build("mlp", (1, 8, 8), 10, depth=2, width=32)
    x, y = torch.rand(300, 1, 8, 8), torch.randint(0, 10, (300,))
    import unittest.mock
    with unittest.mock.patch.object(pruning, "masks_for", spy):
        out = pruning.iterative(net, "obd", {"schedule": [0.3, 0.6, 0.9]}, x.flatten(1), x, y, x, y,
                                torch.zeros(1), torch.ones(1), dict(lr=0.05, batch_size=50),
                                lambda model, xt, yt: 0.5, 0)
    assert out == {"prune_iter_obd_90": 0.5}
    total = sum(m.numel() for m in seen[0][1])
    for (s, new), (_, prev) in zip(seen[1:], seen):
        assert all(((~p) & n).sum() == 0 for p, n in zip(prev, new))   # a pruned weight scores 0: stays out
    assert abs(sum((~m).sum().item() for m in seen[-1][1]) / total - 0.9) < 0.01
    with pytest.raises(ValueError, match="rising list"):
        TASKS.get("classify").check(dict(recipe, prune={"iterative": {"schedule": [0.9, 0.5]}}), "here")
