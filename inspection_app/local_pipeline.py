"""The pipeline on this machine: the model it serves and the embedded stack serving it.

For `inspection-app up`, `inspect` and `demo`, and for the benchmarks.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from . import paths


def load_predictor(model_dir: Path | None):
    """The ONNX model in `model_dir` (default: the demo's); ModelDirError saying how to get one."""
    from training.predictor import OnnxPredictor  # noqa: PLC0415 - onnxruntime loads only when a model is served

    return OnnxPredictor(model_dir or paths.default_model_dir())


@contextmanager
def running_stack(predictor, port: int, on_alert=None, quiet: bool = False, retry_window_seconds: int | None = None):
    """The embedded stack serving `predictor` (see `load_predictor`), its API on `port` (0: a free one)."""
    from .stack.embedded import embedded_stack  # noqa: PLC0415 - moto is heavy; only the stack needs it

    with embedded_stack(predictor, api_port=port, log_file=paths.log_file(), on_alert=on_alert, quiet=quiet,
                        retry_window_seconds=retry_window_seconds) as running:
        yield running
