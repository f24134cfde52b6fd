"""A vanilla (Elman) recurrent network: the model of the gradient-clipping claim.

h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), h_0 = 0; the class is read from h_T by a linear
layer. An input (C, H, W) is read as H time steps of C·W features: a temporal-order sequence
(1, T, 6) is T one-hot symbols, an MNIST image (1, 28, 28) is 28 rows of 28 pixels.

Initialisation (our choice, declared in the claim file): W_hh ~ N(0, 1/hidden) rescaled to
spectral radius `radius` exactly (the knob Pascanu et al. 2013 analyse: a radius above 1 is
necessary for gradients to explode); W_ih ~ N(0, input_std²); biases 0; the readout is nn.Linear's default.
A radius above 1 lets the forward dynamics and the backpropagated gradients grow: the regime in
which gradients explode and clipping matters.
"""
from __future__ import annotations

import torch
from torch import nn


class VanillaRNN(nn.Module):
    def __init__(self, in_shape, num_classes, hidden: int = 50, radius: float = 1.0, input_std: float = 0.1):
        super().__init__()
        c, steps, w = in_shape
        self.features = c * w
        self.rnn = nn.RNN(self.features, hidden, nonlinearity="tanh", batch_first=True)
        self.head = nn.Linear(hidden, num_classes)
        with torch.no_grad():
            w_hh = torch.randn(hidden, hidden) / hidden ** 0.5
            w_hh *= radius / torch.linalg.eigvals(w_hh).abs().max()
            self.rnn.weight_hh_l0.copy_(w_hh)
            nn.init.normal_(self.rnn.weight_ih_l0, 0.0, input_std)
            nn.init.zeros_(self.rnn.bias_ih_l0)
            nn.init.zeros_(self.rnn.bias_hh_l0)

    def forward(self, x):
        b, c, steps, w = x.shape
        seq = x.permute(0, 2, 1, 3).reshape(b, steps, c * w)
        _, h = self.rnn(seq)
        return self.head(h[-1])
