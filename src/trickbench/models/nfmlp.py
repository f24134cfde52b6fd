"""Pre-activation residual MLPs, normalizer-free or with BatchNorm: the CPU stand-in for the
NF-ResNet of the AGC claim (its quick tier), built from the same parts as models/nfresnet.py.

NF: h_{l+1} = h_l + alpha * g * W2(relu(W1(relu(h_l) / beta_l))), with Scaled Weight
Standardization on every hidden linear layer (W_hat = gain * gamma * (W - mean_row) /
(std_row * sqrt(fan_in)), the ReLU gain gamma = 1.7139588594436646 where a ReLU precedes), beta_l
= sqrt(1 + l alpha^2) (no transitions: the width never changes), SkipInit gain g = 0, head on
gamma * relu(h), N(0, 0.01^2) init. BN: h + W2(relu(bn2(W1(relu(bn1(h)))))), head on relu(bn(h)).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from trickbench.models.blocks import ResidualBlock
from trickbench.models.nfresnet import RELU_GAIN


class ScaledStdLinear(nn.Linear):
    """nn.Linear with Scaled Weight Standardization (timm's ScaledStdConv2d, for a linear layer)."""

    def __init__(self, d_in, d_out, gamma: float = 1.0, eps: float = 1e-6):
        super().__init__(d_in, d_out, bias=True)
        self.gain = nn.Parameter(torch.ones(d_out, 1))
        self.scale, self.eps = gamma * d_in ** -0.5, eps
        nn.init.kaiming_normal_(self.weight, nonlinearity="linear")
        nn.init.zeros_(self.bias)

    def forward(self, x):
        w = F.batch_norm(self.weight.reshape(1, self.out_features, -1), None, None,
                         weight=(self.gain * self.scale).view(-1), training=True, momentum=0.0, eps=self.eps)
        return F.linear(x, w.reshape_as(self.weight), self.bias)


class NFMLPBlock(ResidualBlock):
    def __init__(self, width, alpha, beta):
        super().__init__()
        self.alpha, self.beta = alpha, beta
        self.fc1 = ScaledStdLinear(width, width, gamma=RELU_GAIN)
        self.fc2 = ScaledStdLinear(width, width, gamma=RELU_GAIN)
        self.skip_gain = nn.Parameter(torch.zeros(()))

    def residual(self, x):
        return self.fc2(F.relu(self.fc1(F.relu(x) / self.beta))) * (self.alpha * self.skip_gain)


class BNMLPBlock(ResidualBlock):
    def __init__(self, width, **_):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm1d(width), nn.BatchNorm1d(width)
        self.fc1, self.fc2 = nn.Linear(width, width, bias=False), nn.Linear(width, width, bias=False)
        for fc in (self.fc1, self.fc2):
            nn.init.kaiming_normal_(fc.weight, nonlinearity="relu")

    def residual(self, x):
        return self.fc2(F.relu(self.bn2(self.fc1(F.relu(self.bn1(x))))))


class PreActMLP(nn.Module):
    def __init__(self, in_shape, num_classes, blocks: int = 8, width: int = 128, norm: str = "bn", alpha: float = 0.2):
        super().__init__()
        if norm not in ("nf", "bn"):
            raise ValueError(f"model_args.norm must be nf or bn, got {norm!r}")
        self.norm, d_in = norm, math.prod(in_shape)
        self.stem = ScaledStdLinear(d_in, width) if norm == "nf" else nn.Linear(d_in, width)
        block = NFMLPBlock if norm == "nf" else BNMLPBlock
        self.blocks = nn.ModuleList(block(width, alpha=alpha, beta=math.sqrt(1 + l * alpha ** 2)) for l in range(blocks))
        self.final_bn = nn.BatchNorm1d(width) if norm == "bn" else None
        self.head = nn.Linear(width, num_classes)
        if norm == "nf":
            nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        x = self.stem(torch.flatten(x, 1))
        for block in self.blocks:
            x = block(x)
        x = F.relu(self.final_bn(x)) if self.norm == "bn" else RELU_GAIN * F.relu(x)
        return self.head(x)


def NFMLP(in_shape, num_classes, **kw):
    return PreActMLP(in_shape, num_classes, **{"norm": "nf", **kw})


def BNPreActMLP(in_shape, num_classes, **kw):
    return PreActMLP(in_shape, num_classes, **{"norm": "bn", **kw})


NFMLP.forwards_to = PreActMLP  # its model_args are PreActMLP's (config.check_model_args)
BNPreActMLP.forwards_to = PreActMLP  # its model_args are PreActMLP's (config.check_model_args)
