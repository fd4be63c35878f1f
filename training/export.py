"""ONNX export with the softmax inside the graph, checked against torch before it is trusted.

The graph's first output is what the endpoint returns (probabilities in class-index order), so no
caller has to remember to apply a softmax. The second, `heatmap` [N, h, w], is the defective class's
activation map from the same forward pass (training/cam.py): log-odds per cell of the last feature map.
"""

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from training.cam import ProbabilitiesAndHeatmap
from training.predictor import HEATMAP_OUTPUT_NAME, OUTPUT_NAME

OPSET = 17
INPUT_NAME = "image"
TOLERANCE = 1e-4
HEATMAP_TOLERANCE = 1e-3  # log-odds


class ExportError(RuntimeError):
    """The exported graph does not reproduce the torch model."""


def export_onnx(model: nn.Module, path, check_inputs: np.ndarray, *, flips: bool = False) -> None:
    """Write `model` + softmax (+ its heatmap) to `path` for inputs shaped like check_inputs (float32
    [N, 3, S, S], any N) and check onnxruntime agrees with torch on both outputs (real preprocessed
    images are a better check than noise). `flips`: the graph averages the photo and its left-right mirror
    (training/cam.py), so every caller of the served model gets the test-time augmentation."""
    export_graph(ProbabilitiesAndHeatmap(model, flips=flips), path, check_inputs)


def export_graph(network: nn.Module, path, check_inputs: np.ndarray) -> None:
    """Write a module answering (probabilities [N, 2], heatmap [N, h, w]) to `path` (the anomaly scorer of
    training/patchcore.py is one), checked against torch like export_onnx."""
    path = Path(path)
    network = network.cpu().eval()
    dummy = torch.zeros(1, *check_inputs.shape[1:])
    with warnings.catch_warnings():
        # dynamo=False is deliberate (see below), and the exporter's notes that it cannot
        # pre-compute a strided slice are harmless: keep both out of the training output.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(
            network,
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME, HEATMAP_OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}, HEATMAP_OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter needs no onnxscript and writes one self-contained file
        )
    with torch.no_grad():
        expected = [output.numpy() for output in network(torch.from_numpy(check_inputs))]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run([OUTPUT_NAME, HEATMAP_OUTPUT_NAME], {INPUT_NAME: check_inputs})
    for name, got, wanted in zip((OUTPUT_NAME, HEATMAP_OUTPUT_NAME), actual, expected):
        difference = float(np.max(np.abs(got - wanted)))
        # Probabilities agree to 1e-4. The map's cells are log-odds summed over the head's 1,280 features, so the
        # float32 rounding in which onnxruntime's and torch's convolutions differ grows with them (the demo
        # model's map differed by 2.8e-4): cells agree to 1e-3 log-odds (0.025 % of probability), or 1e-4 of the
        # largest cell where that is more.
        allowed = (max(HEATMAP_TOLERANCE, TOLERANCE * float(np.max(np.abs(wanted))))
                   if name == HEATMAP_OUTPUT_NAME else TOLERANCE)
        if difference > allowed:
            raise ExportError(f"{path}: onnxruntime's {name} differs from torch by {difference:.2e} (> {allowed:.2e})")
