"""Adaptive gradient clipping against its formula, the classifier excluded by name, and the
normalizer-free ResNet's signal propagation at initialisation."""
import pytest
import torch
from torch import nn

from trickbench.models import MODELS
from trickbench.tricks import agc


def _formula(w, g, lam, eps=1e-3):
    """Brock et al. 2021 eq. 3, one output unit (row of the flattened weight) at a time."""
    w2, g2 = w.reshape(len(w), -1), g.reshape(len(g), -1)
    out = g2.clone()
    for i in range(len(w2)):
        wn, gn = max(w2[i].norm().item(), eps), g2[i].norm().item()
        if gn / wn > lam:
            out[i] = lam * wn * g2[i] / gn
    return out.reshape(g.shape)


@pytest.mark.parametrize("shape", [(3, 4), (5, 2, 3, 3)])
def test_unitwise_clipping_matches_the_formula(shape):
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(shape))
    with torch.no_grad():
        w[0].zero_()                       # a zero unit: eps stands in for its norm
        w[1].mul_(100)                     # a large unit: its gradient is left alone
    g = torch.randn(shape)
    w.grad = g.clone()
    agc.clip_([w], 0.05)
    expected = _formula(w.detach(), g, 0.05)
    assert torch.allclose(w.grad, expected, atol=1e-6)
    assert torch.equal(w.grad[1], g[1]) and not torch.allclose(w.grad[2], g[2])


def test_classifier_weight_is_excluded_by_name_and_its_bias_is_clipped():
    # DeepMind's experiment_nfnets.py: only the final linear layer's weight is exempt
    m = MODELS.build("nf_resnet", (1, 8, 8), 10, depth=8)
    names = {id(p): n for n, p in m.named_parameters()}
    kept = {names[id(p)] for p in agc.clipped_parameters(m)}
    assert kept == set(names.values()) - {"head.weight"} and "head.bias" in kept
    assert {names[id(p)] for p in agc.clipped_parameters(m, ["head"])} == kept - {"head.bias"}
    assert len(agc.clipped_parameters(m, [])) == len(list(m.parameters()))
    with pytest.raises(ValueError, match="matches no parameter"):
        agc.clipped_parameters(m, ["classifier"])
    # a glob names every block's SkipInit gain (the gain-free arm of agc_nfresnet_cifar)
    gains = {n for n in names.values() if n.endswith(".skip_gain")}
    assert gains and {names[id(p)] for p in agc.clipped_parameters(m, ["head.weight", "*.skip_gain"])} == kept - gains


def test_squeezed_vectors_are_one_unit_as_in_the_reference():
    # a ScaledStdConv2d gain has shape (C, 1, 1, 1); nfnets/optim.py squeezes it to a vector and
    # clips it as a whole: G <- lam * ||W|| * G / ||G|| when ||G|| > lam * ||W||
    gain = nn.Parameter(torch.tensor([1.0, 2.0, 2.0]).view(3, 1, 1, 1))
    g = torch.tensor([0.0, 0.0, 0.6]).view(3, 1, 1, 1)  # ||G|| = 0.6 > 0.1 * ||W|| = 0.3
    gain.grad = g.clone()
    agc.clip_([gain], 0.1)
    assert torch.allclose(gain.grad, g * 0.5)  # rescaled to norm 0.3, not per element (that would zero nothing
    #                                             and cap the third at 0.2)
    bias = nn.Parameter(torch.ones(4))
    bias.grad = torch.full((4,), 0.01)           # ||G|| = 0.02 <= 0.1 * 2: untouched
    agc.clip_([bias], 0.1)
    assert torch.equal(bias.grad, torch.full((4,), 0.01))


def test_nf_resnet_keeps_the_expected_variance():
    torch.manual_seed(0)
    m = MODELS.build("nf_resnet", (3, 16, 16), 10, depth=20)
    for b in m.blocks:
        nn.init.ones_(b.skip_gain)  # switch every residual branch on
    x = m.stem(torch.randn(512, 3, 16, 16))
    for b in m.blocks:
        # the block's input has the variance its beta assumes (within a factor of 1.5)
        assert 1 / 1.5 < x.var().item() / b.beta ** 2 < 1.5, (b.beta, x.var().item())
        x = b(x)


def test_nf_resnet_is_the_identity_per_block_at_init_and_bn_twin_has_the_same_shape():
    nf = MODELS.build("nf_resnet", (1, 8, 8), 10, depth=14)
    bn = MODELS.build("preact_resnet", (1, 8, 8), 10, depth=14)
    x = torch.randn(4, 16, 8, 8)
    assert torch.equal(nf.blocks[1](x), x)  # SkipInit gain 0
    convs = lambda m: [tuple(c.weight.shape) for c in m.modules() if isinstance(c, nn.Conv2d)]  # noqa: E731
    assert convs(nf) == convs(bn) and len(nf.blocks) == len(bn.blocks) == 6
    assert not any(isinstance(c, nn.BatchNorm2d) for c in nf.modules())


def test_nf_resnet_init_matches_the_reference_scale():
    """timm nfnet._init_weights / DeepMind WSConv2D: raw conv weights ~ N(0, 1/fan_in), zero biases.
    Each output unit's raw weight norm is then ~1 (E||W_i||^2 = fan_in * 1/fan_in), the scale AGC's
    ||G_i|| / ||W_i|| is measured against; PyTorch's default init gives ~0.577 (a 3x larger ratio)."""
    torch.manual_seed(0)
    m = MODELS.build("nf_resnet", (3, 32, 32), 10, depth=20)
    convs = [(n, c) for n, c in m.named_modules() if isinstance(c, nn.Conv2d)]
    assert len(convs) == 1 + 2 * 9 + 2
    for name, c in convs:
        fan_in = c.weight[0].numel()
        rows = c.weight.detach().reshape(len(c.weight), -1)
        assert abs(rows.var().item() * fan_in - 1) < 0.15, name
        assert 0.85 < rows.norm(dim=1).mean().item() < 1.1, name
        assert c.bias is None or torch.count_nonzero(c.bias) == 0, name
    assert abs(m.head.weight.std().item() - 0.01) < 0.002 and torch.count_nonzero(m.head.bias) == 0


def test_weight_decay_spares_gains_and_biases_when_asked():
    from trickbench.optim import build_optimizer, param_groups
    m = MODELS.build("nf_resnet", (1, 8, 8), 10, depth=8)
    recipe = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 8,
              "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay_on": "matrices"}
    opt = build_optimizer(param_groups(m, recipe), recipe)
    decayed, spared = opt.param_groups
    names = {id(p): n for n, p in m.named_parameters()}
    assert decayed["weight_decay"] == 5e-4 and spared["weight_decay"] == 0.0
    assert {names[id(p)] for p in decayed["params"]} == {n for n in names.values() if n.endswith(".weight")}
    assert all(n.endswith(("gain", "bias")) for n in (names[id(p)] for p in spared["params"]))
    assert len(build_optimizer(param_groups(m, {**recipe, "weight_decay_on": "all"}), recipe).param_groups) == 1
