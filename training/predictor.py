"""Run a model directory with onnxruntime. Imports no torch, so a local model endpoint starts
in a fraction of a second and stays small."""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from training.errors import TrainingInputError
from training.preprocess import preprocess_bytes


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
        self._session = ort.InferenceSession(
            str(model_dir / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_name = self._session.get_inputs()[0].name

    def predict(self, image_bytes: bytes) -> list[float]:
        return self.predict_batch([image_bytes])[0]

    def predict_batch(self, images: list[bytes]) -> list[list[float]]:
        """Raises PIL's errors for bytes that are not a readable image."""
        if not images:
            return []
        inputs = np.stack([preprocess_bytes(data, self.input_size) for data in images])
        probabilities = self._session.run(None, {self._input_name: inputs})[0]
        return probabilities.astype(float).tolist()
