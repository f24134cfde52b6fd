"""Training tricks, one small module each; a new trick is a module here plus its test.

noise             annealed Gaussian gradient noise (Neelakantan et al. 2015)
stochastic_depth  per-mini-batch block dropping with test-time scaling (Huang et al. 2016), and
                  the per-sample "drop path" of timm/torchvision as a contrast
agc               adaptive gradient clipping, unit-wise (Brock et al. 2021)
penalty           L1 / L2 penalties on the weight matrices, per layer if asked
curriculum        easy examples first, by a declared score and pacing (Bengio et al. 2009)
pruning           magnitude, Optimal Brain Damage and neuron pruning after training (LeCun et al. 1989)
snapshots         snapshot ensembles: models saved at the end of each cycle, averaged (Huang et al. 2017)
early_stopping    a patience rule applied to a run's validation history (Prechelt 1998)
"""
from trickbench.tricks.noise import add_grad_noise, add_grad_noise_stacked, noise_generator, noise_std

__all__ = ["add_grad_noise", "add_grad_noise_stacked", "noise_generator", "noise_std"]
