"""CIFARNET as in Reddi et al. 2018 §5: two 64-channel 6x6 conv layers ('same' padding), max-pool
and local response normalisation between them (as in the TensorFlow tutorial net it derives from),
FC 384 and FC 192, dropout (keep 0.5) between the FC layers."""
from __future__ import annotations

import torch
from torch import nn


class CifarNet(nn.Module):
    def __init__(self, in_shape, num_classes, channels: int = 64, kernel: int = 6, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_shape[0], channels, kernel, padding="same"), nn.ReLU(),
            nn.MaxPool2d(3, 2, 1), nn.LocalResponseNorm(4, alpha=0.001 / 9.0, beta=0.75, k=1.0),
            nn.Conv2d(channels, channels, kernel, padding="same"), nn.ReLU(),
            nn.LocalResponseNorm(4, alpha=0.001 / 9.0, beta=0.75, k=1.0), nn.MaxPool2d(3, 2, 1),
            nn.Flatten())
        with torch.no_grad():
            n = self.features(torch.zeros(1, *in_shape)).shape[1]
        self.classifier = nn.Sequential(nn.Linear(n, 384), nn.ReLU(), nn.Dropout(dropout),
                                        nn.Linear(384, 192), nn.ReLU(), nn.Linear(192, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
