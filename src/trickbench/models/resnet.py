"""ResNets of He et al. 2016: the CIFAR ResNets (§4.2: 6n+2 layers, widths 16/32/64, option-A
shortcuts) and the ImageNet bottleneck ResNets (50/101/152 layers, option-B shortcuts, below).

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


class Bottleneck(ResidualBlock):
    """He et al. 2016's ImageNet block as fb.resnet.torch builds it (the code stochastic depth's
    ImageNet runs used): conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1(x4)-BN, add, ReLU;
    option B shortcut (a strided 1x1 projection + BN where the shape changes, else identity)."""
    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        c_out = width * self.expansion
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.proj = None
        if stride != 1 or c_in != c_out:
            self.proj = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def residual(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))

    def shortcut(self, x):
        return x if self.proj is None else self.proj(x)

    def join(self, skip, branch):
        return F.relu(super().join(skip, branch))


class ResNetImageNet(nn.Module):
    """He et al. 2016's ImageNet ResNets with bottleneck blocks (50, 101, 152 layers), widths
    64/128/256/512 (x4 out), the 7x7 stride-2 stem and 3x3 max-pool, global average pool, linear
    head. Init as fb.resnet.torch: convolutions N(0, 2 / (k*k*c_out)), BN weight 1 and bias 0, the
    head's bias 0 (its weight torch's default). On 64x64 Tiny ImageNet images the four stages run
    at 16, 8, 4 and 2 pixels a side: the paper's network, unchanged, on smaller images."""
    STAGES = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

    def __init__(self, in_shape, num_classes, depth: int = 152, widths=(64, 128, 256, 512)):
        super().__init__()
        if depth not in self.STAGES:
            raise ValueError(f"model_args.depth must be one of {sorted(self.STAGES)} (bottleneck ResNets), got {depth}")
        self.stem = nn.Sequential(nn.Conv2d(in_shape[0], 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        blocks, c = [], 64
        for stage, (n, w) in enumerate(zip(self.STAGES[depth], widths)):
            for i in range(n):
                blocks.append(Bottleneck(c, w, 2 if stage > 0 and i == 0 else 1))
                c = w * Bottleneck.expansion
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
