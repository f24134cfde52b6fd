"""A deep fully connected network with a chosen initialisation (the gradient-noise claim's 20x50 MLP)."""
from __future__ import annotations

import math

import torch
from torch import nn

from trickbench.registry import Registry

INITS = Registry("init scheme")


@INITS.register("he")
def he_init(w: torch.Tensor, std=None):
    nn.init.kaiming_normal_(w, nonlinearity="relu")  # N(0, 2/fan_in)


@INITS.register("xavier")
def xavier_init(w: torch.Tensor, std=None):
    nn.init.xavier_normal_(w)


@INITS.register("normal")
def normal_init(w: torch.Tensor, std=0.1):
    nn.init.normal_(w, 0.0, std)  # the gradient-noise paper's "simple init" N(0, 0.1^2)


@INITS.register("sussillo")
def sussillo_init(w: torch.Tensor, std=None):
    """Sussillo & Abbott 2014 (arXiv 1412.6558) random-walk init for ReLU: W = g * N(0, 1/N) with
    N the fan-in and g = sqrt(2) * exp(1.2 / (max(N, 6) - 2.4)) (their fit for ReLU; g = 1.450 at
    N = 50). The gradient-noise paper's Table 1 row 4 "Good Init (Sussillo & Abbott 2014)"."""
    n = w.shape[1]
    g = math.sqrt(2.0) * math.exp(1.2 / (max(n, 6) - 2.4))
    nn.init.normal_(w, 0.0, g / math.sqrt(n))


@INITS.register("zero")
def zero_init(w: torch.Tensor, std=None):
    nn.init.zeros_(w)


@INITS.register("torch_default")
def torch_default(w: torch.Tensor, std=None):
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))  # what nn.Linear does


ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}  # sigmoid: Ioffe & Szegedy's MNIST network


class DeepMLP(nn.Module):
    """depth hidden layers of `width` units with ReLU (or `activation: sigmoid`), BatchNorm before
    the activation if asked; biases start at 0; input flattened.
    dropout: each hidden unit's output is dropped with this probability while training;
    input_dropout: each input pixel (Srivastava et al. 2014 drop inputs with 0.2, hidden units
    with 0.5). Torch's inverted form: kept outputs are divided by the retain probability in
    training and the test-time network is used as is, the lecture's second, equivalent form of
    "multiply each output by p at test time"."""

    def __init__(self, in_shape, num_classes, depth: int = 20, width: int = 50, init: str = "he",
                 init_std: float = 0.1, batchnorm: bool = False, dropout: float = 0.0,
                 input_dropout: float = 0.0, activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"model_args.activation {activation!r} is not one of {', '.join(ACTIVATIONS)}")
        d_in = math.prod(in_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        if input_dropout:
            layers.append(nn.Dropout(input_dropout))
        for i in range(depth):
            layers.append(nn.Linear(d_in if i == 0 else width, width))
            if batchnorm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(width if depth else d_in, num_classes))
        self.net = nn.Sequential(*layers)
        fn = INITS.get(init)
        for m in self.net:
            if isinstance(m, nn.Linear):
                fn(m.weight, std=init_std)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.net(x)
