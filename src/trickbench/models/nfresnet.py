"""Pre-activation CIFAR ResNets, normalizer-free (Brock et al., ICLR 2021, arXiv 2101.08692) or
with BatchNorm, of identical topology: 6n+2 layers, widths 16/32/64, basic blocks of two 3x3
convolutions, a 1x1 convolution on the shortcut where the shape changes.

NF block (timm's NormFreeBlock design, basic instead of bottleneck):
    h_{l+1} = shortcut + alpha * g * conv2(relu(conv1(relu(h_l) / beta_l)))
  - convolutions are timm's ScaledStdConv2d (Scaled Weight Standardization: W_hat =
    gamma * (W - mean) / (std * sqrt(fan_in)) with a learnable per-channel gain), with the ReLU gain
    gamma = 1.7139588594436646 folded into those that follow a ReLU; raw weights N(0, 1/fan_in) and
    zero biases (timm's nfnet._init_weights, DeepMind's WSConv2D): AGC measures ||G_i|| / ||W_i||
    on these raw weights, so their scale sets what lambda means;
  - beta_l = sqrt(expected Var(h_l)); Var grows by alpha^2 per block and is reset to 1 after each
    stage's first block, whose shortcut (a 1x1 ScaledStdConv) takes relu(h)/beta;
  - g is the SkipInit gain, a learnable scalar initialised to 0, so every block is the identity at
    initialisation; alpha = 0.2;
  - the head: gamma * relu, global average pool, a linear classifier N(0, 0.01^2) init, zero bias.
BN block (He et al. 2016b pre-activation): shortcut + conv2(relu(bn2(conv1(relu(bn1(h)))))), head
relu(bn(h)). Both classifiers are named `head` (AGC excludes it by that name).
Blocks expose residual / shortcut / join, so stochastic depth can wrap them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trickbench.models.blocks import ResidualBlock

RELU_GAIN = 1.7139588594436646  # sqrt(2 / (1 - 1/pi)): gamma * relu(N(0,1)) has unit second moment


def _std_conv(*args, **kwargs):
    from timm.layers import ScaledStdConv2d
    return ScaledStdConv2d(*args, **kwargs)


class NFBlock(ResidualBlock):
    def __init__(self, c_in, c_out, stride, alpha, beta):
        super().__init__()
        self.alpha, self.beta = alpha, beta
        self.conv1 = _std_conv(c_in, c_out, 3, stride=stride, padding=1, gamma=RELU_GAIN)
        self.conv2 = _std_conv(c_out, c_out, 3, padding=1, gamma=RELU_GAIN)
        self.skip_gain = nn.Parameter(torch.zeros(()))
        self.down = (_std_conv(c_in, c_out, 1, stride=stride, gamma=RELU_GAIN)
                     if stride != 1 or c_in != c_out else None)

    def residual(self, x):
        out = self.conv2(F.relu(self.conv1(F.relu(x) / self.beta)))
        return out * (self.alpha * self.skip_gain)

    def shortcut(self, x):
        return x if self.down is None else self.down(F.relu(x) / self.beta)


class BNBlock(ResidualBlock):
    def __init__(self, c_in, c_out, stride, **_):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.down = nn.Conv2d(c_in, c_out, 1, stride, bias=False) if stride != 1 or c_in != c_out else None

    def residual(self, x):
        return self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))

    def shortcut(self, x):
        return x if self.down is None else self.down(F.relu(self.bn1(x)))


class PreActResNet(nn.Module):
    """depth = 6n + 2; norm = "nf" (normalizer-free) or "bn" (BatchNorm)."""

    def __init__(self, in_shape, num_classes, depth: int = 20, widths=(16, 32, 64), norm: str = "bn",
                 alpha: float = 0.2):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"model_args.depth must be 6n+2 (8, 14, 20, 26, ...), got {depth}")
        if norm not in ("nf", "bn"):
            raise ValueError(f"model_args.norm must be nf or bn, got {norm!r}")
        n, widths, self.norm = (depth - 2) // 6, tuple(widths), norm
        self.stem = (_std_conv(in_shape[0], widths[0], 3, padding=1) if norm == "nf"
                     else nn.Conv2d(in_shape[0], widths[0], 3, 1, 1, bias=False))
        blocks, c, var = [], widths[0], 1.0
        for stage, w in enumerate(widths):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                block = NFBlock if norm == "nf" else BNBlock
                blocks.append(block(c, w, stride, alpha=alpha, beta=var ** 0.5))
                if i == 0:
                    var = 1.0  # the transition's shortcut sees relu(h)/beta: the variance restarts
                var += alpha ** 2
                c = w
        self.blocks = nn.ModuleList(blocks)
        self.stage_of = [stage for stage in range(len(widths)) for _ in range(n)]  # block -> its stage
        self.final_bn = nn.BatchNorm2d(c) if norm == "bn" else None
        self.head = nn.Linear(c, num_classes)
        for m in self.modules():
            if not isinstance(m, nn.Conv2d):
                continue
            if norm == "nf":  # timm nfnet._init_weights, DeepMind's WSConv2D: fan-in variance, zero bias
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="linear")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            else:  # He et al. 2015 for the BN twin
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if norm == "nf":
            nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    @torch.no_grad()
    def skip_gains(self) -> dict[str, float]:
        """Mean |SkipInit gain| per stage (NF only; {} for BN): how far each stage's residual
        branches have opened (AGC clips a zero gain's gradient to lambda * eps per step)."""
        if self.norm != "nf":
            return {}
        out = {}
        for stage in sorted(set(self.stage_of)):
            gains = [b.skip_gain.abs() for b, s in zip(self.blocks, self.stage_of) if s == stage]
            out[f"skip_gain_stage{stage + 1}"] = torch.stack(gains).mean().item()
        return out

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        x = F.relu(self.final_bn(x)) if self.norm == "bn" else RELU_GAIN * F.relu(x)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def NFResNet(in_shape, num_classes, **kw):
    return PreActResNet(in_shape, num_classes, **{"norm": "nf", **kw})


def BNPreActResNet(in_shape, num_classes, **kw):
    return PreActResNet(in_shape, num_classes, **{"norm": "bn", **kw})


NFResNet.forwards_to = PreActResNet  # its model_args are PreActResNet's (config.check_model_args)
BNPreActResNet.forwards_to = PreActResNet  # its model_args are PreActResNet's (config.check_model_args)
