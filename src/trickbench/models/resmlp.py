"""A deep narrow residual MLP: the CPU stand-in for a CIFAR ResNet (stochastic depth's quick tier).

The ResNet block with linear layers: post-activation, Linear-BN-ReLU-Linear-BN, add, ReLU
(He et al. 2016, the block the stochastic-depth paper uses); a Linear-BN-ReLU stem, a linear head.
Blocks expose residual / shortcut / join, so stochastic depth can wrap them; He init.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from trickbench.models.blocks import ResidualBlock


class MLPBlock(ResidualBlock):
    def __init__(self, width: int):
        super().__init__()
        self.fc1, self.bn1 = nn.Linear(width, width, bias=False), nn.BatchNorm1d(width)
        self.fc2, self.bn2 = nn.Linear(width, width, bias=False), nn.BatchNorm1d(width)

    def residual(self, x):
        return self.bn2(self.fc2(F.relu(self.bn1(self.fc1(x)))))

    def join(self, skip, branch):
        return F.relu(super().join(skip, branch))  # post-activation


class ResMLP(nn.Module):
    def __init__(self, in_shape, num_classes, blocks: int = 50, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), width, bias=False),
                                  nn.BatchNorm1d(width), nn.ReLU())
        self.blocks = nn.ModuleList(MLPBlock(width) for _ in range(blocks))
        self.head = nn.Linear(width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)
