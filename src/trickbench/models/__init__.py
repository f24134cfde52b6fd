"""Models: a registry of names declared without importing torch.

Every builder takes (in_shape=(C, H, W), num_classes, **model_args) and returns an nn.Module.
"""
from trickbench.registry import Registry

MODELS = Registry("model")
MODELS.lazy("mlp", "trickbench.models.mlp:DeepMLP")
MODELS.lazy("resnet_cifar", "trickbench.models.resnet:ResNetCifar")
MODELS.lazy("resnet_imagenet", "trickbench.models.resnet:ResNetImageNet")
MODELS.lazy("cifarnet", "trickbench.models.cnn:CifarNet")
MODELS.lazy("nf_resnet", "trickbench.models.nfresnet:NFResNet")
MODELS.lazy("preact_resnet", "trickbench.models.nfresnet:BNPreActResNet")
MODELS.lazy("resmlp", "trickbench.models.resmlp:ResMLP")
MODELS.lazy("nf_mlp", "trickbench.models.nfmlp:NFMLP")
MODELS.lazy("preact_mlp", "trickbench.models.nfmlp:BNPreActMLP")
MODELS.lazy("rnn", "trickbench.models.rnn:VanillaRNN")
