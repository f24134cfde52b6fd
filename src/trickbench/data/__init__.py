"""Datasets: a registry of names (declared here without importing torch) -> decoded uint8 tensors.

    load(name, data_root, **dataset_args) -> Tensors   (trickbench.data.tensors)

Every source decodes once into a cached tensor file under <data_root>/cache/, whose SHA-256 is
recorded in each run. A missing dataset is an error that says how to get it; nothing is ever
substituted or silently downloaded over user files.
"""
from trickbench.registry import Registry

DATASETS = Registry("dataset")
DATASETS.lazy("digits", "trickbench.data.sources:digits")
DATASETS.lazy("mnist", "trickbench.data.sources:mnist")
DATASETS.lazy("fashion_mnist", "trickbench.data.sources:fashion_mnist")
DATASETS.lazy("cifar10", "trickbench.data.sources:cifar10")
DATASETS.lazy("cifar100", "trickbench.data.sources:cifar100")
DATASETS.lazy("imagefolder", "trickbench.data.sources:imagefolder")
DATASETS.lazy("tiny_imagenet", "trickbench.data.sources:tiny_imagenet")
DATASETS.lazy("temporal_order", "trickbench.data.sources:temporal_order")  # synthetic sequences
DATASETS.lazy("random", "trickbench.data.sources:random_images")  # benchmarks and tests only
