"""trickbench: does this training trick work? See README.md.

Layers (one direction of data flow): config -> tasks (online, train) -> io/provenance records ->
analyse (tables, statistics, verdicts) -> figures -> report. The training path never imports
pandas or the report; analysis and report never import torch.
"""
__version__ = "0.2.0"
