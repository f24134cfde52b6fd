"""Training tricks, one small module each; a new trick is a module here plus its test.

Each module declares a `Trick` (tricks/base.py): its recipe key, the metrics it writes, its own
validation, and the hooks of the training loop it acts through. train.run and the stacked engine
call the hooks and name no trick.

stochastic_depth  per-mini-batch block dropping with test-time scaling (Huang et al. 2016), and
                  the per-sample "drop path" of timm/torchvision as a contrast
curriculum        easy examples first, by a declared score and pacing (Bengio et al. 2009)
clipping          gradient-norm clipping and the gradient-norm log (Pascanu et al. 2013)
agc               adaptive gradient clipping, unit-wise (Brock et al. 2021)
noise             annealed Gaussian gradient noise (Neelakantan et al. 2015)
penalty           L1 / L2 penalties on the weight matrices, per layer if asked
early_stopping    a patience rule applied to a run's validation history (Prechelt 1998)
pruning           magnitude, Optimal Brain Damage and neuron pruning after training (LeCun et al. 1989)
snapshots         snapshot ensembles: models saved at the end of each cycle, averaged (Huang et al. 2017)
"""
from trickbench.tricks.base import TRICKS, Trick, for_recipe, register

__all__ = ["TRICKS", "Trick", "for_recipe", "register"]
