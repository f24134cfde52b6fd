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


def test_classifier_is_excluded_by_name():
    m = MODELS.build("nf_resnet", (1, 8, 8), 10, depth=8)
    names = {id(p): n for n, p in m.named_parameters()}
    kept = agc.clipped_parameters(m)
    assert {names[id(p)] for p in kept} == {n for n in names.values() if not n.startswith("head.")}
    assert len(agc.clipped_parameters(m, [])) == len(list(m.parameters()))
    with pytest.raises(ValueError, match="matches no parameter"):
        agc.clipped_parameters(m, ["classifier"])


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
