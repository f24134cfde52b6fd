"""The residual-block interface every model's `blocks` share (and stochastic depth relies on):
residual(x) is the branch, shortcut(x) the skip path, join(skip, branch) their merge, with
branch None when the branch is dropped; forward(x) = join(shortcut(x), residual(x))."""
from __future__ import annotations

from torch import nn


class ResidualBlock(nn.Module):
    def residual(self, x):
        raise NotImplementedError

    def shortcut(self, x):
        return x

    def join(self, skip, branch):
        """Pre-activation: a plain sum (post-activation blocks add their ReLU here)."""
        return skip if branch is None else skip + branch

    def forward(self, x):
        return self.join(self.shortcut(x), self.residual(x))
