"""Models, optimizers and schedules."""
import math

import pytest
import torch

from trickbench.models import MODELS
from trickbench.optim import SCHEDULES, build_optimizer, build_schedule

RECIPE = dict(lr=0.1, momentum=0.9, weight_decay=1e-4, beta1=0.9, beta2=0.999, eps=1e-8, lr_schedule="constant",
              schedule_args={})


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (56, 0.85), (110, 1.7)])
def test_resnet_cifar_sizes_match_he_et_al(depth, millions):
    m = MODELS.build("resnet_cifar", (3, 32, 32), 10, depth=depth)
    assert len(m.blocks) == 3 * (depth - 2) // 6
    assert n_params(m) / 1e6 == pytest.approx(millions, rel=0.05)  # He et al. 2016, Table 6
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_resnet_option_a_shortcut_subsamples_and_zero_pads():
    m = MODELS.build("resnet_cifar", (3, 32, 32), 10, depth=8)
    down = m.blocks[1]  # first block of stage 2: 16 -> 32 channels, stride 2
    x = torch.randn(1, 16, 8, 8)
    s = down.shortcut(x)
    assert s.shape == (1, 32, 4, 4)
    assert torch.equal(s[:, 8:24], x[:, :, ::2, ::2]) and s[:, :8].abs().sum() == 0 and s[:, 24:].abs().sum() == 0
    with pytest.raises(ValueError, match="6n\\+2"):
        MODELS.build("resnet_cifar", (3, 32, 32), 10, depth=21)


@pytest.mark.parametrize("depth, blocks", [(50, 16), (152, 50)])
def test_resnet_imagenet_matches_torchvision_layer_for_layer(depth, blocks):
    """The bottleneck ResNets (He et al. 2016, Table 1) have torchvision's parameter shapes, in
    order (torchvision's resnet50/152 are the same networks with the stride on the 3x3 conv, as
    fb.resnet.torch), and stochastic depth sees one block per bottleneck."""
    import torchvision
    m = MODELS.build("resnet_imagenet", (3, 64, 64), 1000, depth=depth)
    tv = getattr(torchvision.models, f"resnet{depth}")(num_classes=1000)
    assert len(m.blocks) == blocks
    assert [p.shape for p in m.parameters()] == [p.shape for p in tv.parameters()]
    down = m.blocks[3]   # first block of stage 2: the 3x3 conv strides, a 1x1 projection shortcut
    assert down.conv2.stride == (2, 2) and down.conv1.stride == (1, 1) and down.proj is not None
    assert m.blocks[1].proj is None   # same shape: identity shortcut
    assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 1000)
    with pytest.raises(ValueError, match="50, 101, 152"):
        MODELS.build("resnet_imagenet", (3, 64, 64), 10, depth=34)


def test_mlp_init_schemes():
    torch.manual_seed(0)
    m = MODELS.build("mlp", (1, 28, 28), 10, depth=20, width=50, init="normal", init_std=0.1)
    linears = [l for l in m.net if isinstance(l, torch.nn.Linear)]
    assert len(linears) == 21
    assert linears[5].weight.std().item() == pytest.approx(0.1, rel=0.05)
    assert all(l.bias.abs().sum() == 0 for l in linears)
    z = MODELS.build("mlp", (1, 8, 8), 10, depth=3, width=16, init="zero")
    assert all(p.abs().sum() == 0 for p in z.parameters())
    he = MODELS.build("mlp", (1, 8, 8), 10, depth=3, width=400, init="he")
    assert he.net[3].weight.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.05)
    # Sussillo & Abbott: g / sqrt(fan_in), g = sqrt(2) exp(1.2 / (max(N, 6) - 2.4)); g(50) = 1.4503
    sa = MODELS.build("mlp", (1, 8, 8), 10, depth=3, width=400, init="sussillo")
    g = math.sqrt(2) * math.exp(1.2 / 397.6)
    assert sa.net[3].weight.std().item() == pytest.approx(g / math.sqrt(400), rel=0.05)
    deep = MODELS.build("mlp", (1, 8, 8), 10, depth=20, width=50, init="sussillo")  # g(50) = 1.4503
    hidden = torch.cat([l.weight.flatten() for l in deep.net[3:-1] if isinstance(l, torch.nn.Linear)])
    assert hidden.std().item() == pytest.approx(1.4503 / math.sqrt(50), rel=0.02)


def test_cifarnet_shapes():
    m = MODELS.build("cifarnet", (3, 32, 32), 10)
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert [l.out_features for l in m.classifier if isinstance(l, torch.nn.Linear)] == [384, 192, 10]


@pytest.mark.parametrize("name, cls, flags", [("sgd", torch.optim.SGD, {"nesterov": False}),
                                               ("nesterov", torch.optim.SGD, {"nesterov": True}),
                                               ("adam", torch.optim.Adam, {"amsgrad": False}),
                                               ("amsgrad", torch.optim.Adam, {"amsgrad": True}),
                                               ("nadam", torch.optim.NAdam, {}), ("adagrad", torch.optim.Adagrad, {}),
                                               ("rmsprop", torch.optim.RMSprop, {})])
def test_optimizer_table(name, cls, flags):
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], {**RECIPE, "optimizer": name})
    assert type(opt) is cls and opt.defaults["lr"] == 0.1
    for k, v in flags.items():
        assert opt.defaults[k] == v
    if name in ("adam", "amsgrad", "nadam"):
        assert opt.defaults["betas"] == (0.9, 0.999)


def test_schedules():
    assert SCHEDULES.get("inv_sqrt")(3, 100) == pytest.approx(0.5)
    step = SCHEDULES.get("step")
    assert [step(s, 100) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    cos = SCHEDULES.get("cosine")
    assert cos(0, 100) == 1.0 and cos(50, 100) == pytest.approx(0.5) and cos(9, 100, warmup=0.1) == pytest.approx(1.0)
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], {**RECIPE, "optimizer": "sgd"})
    sched = build_schedule(opt, {**RECIPE, "lr_schedule": "step", "schedule_args": {"milestones": [0.5]}}, 10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.1] * 5 + [0.01] * 5)
