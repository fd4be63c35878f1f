"""training.export's check that onnxruntime reproduces torch: how close each output must be."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from training import export


class TwoOutputs(nn.Module):
    """(probabilities [N, 2], heatmap [N, 2, 2]) like the served models, with log-odds cells up to `cell`."""

    def __init__(self, cell: float):
        super().__init__()
        self.cell = cell

    def forward(self, inputs):
        n = inputs.shape[0]
        probabilities = torch.softmax(inputs.mean(dim=(2, 3))[:, :2], dim=1)
        return probabilities, torch.full((n, 2, 2), self.cell) + 0 * inputs.mean()


@pytest.mark.parametrize("cell, probability_error, heatmap_error, refused", [
    (5.0, 0.0, 5e-4, None),            # within 1e-3 log-odds
    (5.0, 0.0, 2e-3, "heatmap"),       # beyond it
    (50.0, 0.0, 4e-3, None),           # a large map: 1e-4 of its largest cell (5e-3)
    (5.0, 2e-4, 0.0, "probabilities"), # probabilities stay at 1e-4
])
def test_given_onnxruntime_off_by_some_amount_then_export_accepts_or_names_the_output(
        tmp_path, monkeypatch, cell, probability_error, heatmap_error, refused):
    # GIVEN onnxruntime answering torch's outputs off by the given amounts
    real_session = export.ort.InferenceSession

    class OffSession:
        def __init__(self, *args, **kwargs):
            self._session = real_session(*args, **kwargs)

        def run(self, names, feeds):
            probabilities, heatmap = self._session.run(names, feeds)
            return [probabilities + probability_error, heatmap + heatmap_error]

    monkeypatch.setattr(export.ort, "InferenceSession", OffSession)
    inputs = np.random.default_rng(0).random((2, 3, 8, 8), dtype=np.float32)
    # WHEN the graph is exported and checked THEN it is accepted, or refused naming the output that differs
    if refused is None:
        export.export_graph(TwoOutputs(cell), tmp_path / "model.onnx", inputs)
    else:
        with pytest.raises(export.ExportError, match=f"onnxruntime's {refused} differs from torch"):
            export.export_graph(TwoOutputs(cell), tmp_path / "model.onnx", inputs)
