"""CIFAR ResNets of He et al. 2016 (§4.2): 6n+2 layers, widths 16/32/64, option-A shortcuts.

Post-activation basic blocks: conv3x3-BN-ReLU-conv3x3-BN, add, ReLU. The residual branch, the
shortcut and their join are separate methods, so per-block tricks (stochastic depth: skip the branch) wrap a
block without touching the network. Option A: the shortcut of a down-sampling block takes every
other pixel and pads the new channels with zeros (no parameters).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trickbench.models.blocks import ResidualBlock


class BasicBlock(ResidualBlock):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.pad = stride, c_out - c_in

    def residual(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def shortcut(self, x):
        if self.stride == 1 and self.pad == 0:
            return x
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))

    def join(self, skip, branch):
        """Post-activation: ReLU after the addition (after the skip alone when the branch is dropped)."""
        return F.relu(super().join(skip, branch))


class ResNetCifar(nn.Module):
    """depth = 6n + 2 (20, 32, 44, 56, 110, 1202)."""

    def __init__(self, in_shape, num_classes, depth: int = 20, widths=(16, 32, 64)):
        widths = tuple(widths)
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"model_args.depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_shape[0], widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks, c = [], widths[0]
        for stage, w in enumerate(widths):
            for i in range(n):
                blocks.append(BasicBlock(c, w, 2 if stage > 0 and i == 0 else 1))
                c = w
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
