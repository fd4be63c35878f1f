"""Run a model directory with onnxruntime. Imports no torch, so a local model endpoint starts
in a fraction of a second and stays small."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from training.errors import TrainingInputError
from training.preprocess import preprocess_bytes

# The graph's outputs (training/export.py): probabilities [N, classes], and the defective class's
# activation map [N, h, w] in log-odds per cell (training/cam.py). Models exported before maps existed
# have the first only.
OUTPUT_NAME = "probabilities"
HEATMAP_OUTPUT_NAME = "heatmap"
NO_SPINNING = "session.intra_op.allow_spinning"


class ModelDirError(TrainingInputError, FileNotFoundError):
    """The folder is not a model directory (model.onnx + model.json)."""


class OnnxPredictor:
    """Class probabilities (class-index order) for image bytes, from `<model_dir>/model.onnx`.

    `threads`: onnxruntime's intra-op threads per session."""

    def __init__(self, model_dir, *, threads: int = 2):
        model_dir = Path(model_dir)
        missing = [name for name in ("model.onnx", "model.json") if not (model_dir / name).is_file()]
        if missing:
            raise ModelDirError(
                f"{model_dir} is not a model directory: {', '.join(missing)} missing. Train one with "
                f"`inspection-app train --dataset DIR --model-dir {model_dir}` or run `make demo`, which "
                "trains the demo model."
            )
        self.metadata = json.loads((model_dir / "model.json").read_text())
        self.model_id: str = self.metadata["model_id"]
        self.classes: list[str] = self.metadata["classes"]
        self.input_size: int = self.metadata["input_size"]
        self.threshold: float = self.metadata["threshold"]
        options = ort.SessionOptions()
        # A small model: more threads buy little and starve whatever else runs beside it.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Requests come one at a time: threads that spin-wait for the next one burnt 63 ms of CPU per photo at
        # 20 photos/s for 15 ms of work (benchmarks/pipeline.py's "CPU ms"), and were slower (28 vs 19 ms).
        options.add_session_config_entry(NO_SPINNING, "0")
        self._session = ort.InferenceSession(
            str(model_dir / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_name = self._session.get_inputs()[0].name
        outputs = [output.name for output in self._session.get_outputs()]
        self.has_heatmap = HEATMAP_OUTPUT_NAME in outputs
        self._outputs = [outputs[0], HEATMAP_OUTPUT_NAME] if self.has_heatmap else outputs[:1]

    def predict(self, image_bytes: bytes) -> list[float]:
        return self.predict_batch([image_bytes])[0]

    def predict_batch(self, images: list[bytes]) -> list[list[float]]:
        """Raises PIL's errors for bytes that are not a readable image."""
        if not images:
            return []
        return self._run(images)[0].astype(float).tolist()

    def predict_with_heatmap(self, image_bytes: bytes) -> tuple[list[float], list[list[float]] | None]:
        """The probabilities and the defective heatmap (rows of cells, top row first, as the upright image
        stands; None when the model has no map), from one run of the graph."""
        probabilities, heatmap = self._run([image_bytes])
        return probabilities[0].astype(float).tolist(), None if heatmap is None else heatmap[0].astype(float).tolist()

    def _run(self, images: list[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        inputs = np.stack([preprocess_bytes(data, self.input_size) for data in images])
        outputs = self._session.run(self._outputs, {self._input_name: inputs})
        return outputs[0], outputs[1] if self.has_heatmap else None
