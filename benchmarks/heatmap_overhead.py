"""What the heat map costs at inference: the ONNX graph with and without its second output, and the overlay.

    .venv/bin/python benchmarks/heatmap_overhead.py [--input-size 160] [--runs 200]

Exports one EfficientNet-Lite0 (ImageNet weights, 2-class head) twice: as before heat maps (softmax only) and as
training/export.py writes it now (softmax + the defective class's activation map), and times onnxruntime on
both, batch 1, with the predictor's thread settings (2 intra-op threads). Then times the classify step's overlay
(chalicelib/heatmaps.render_overlay) on a 1024x768 photo. Prints medians; no pass/fail (the machine is shared).
"""
import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image
from torch import nn

from chalicelib.heatmaps import render_overlay
from training.export import OPSET, export_onnx
from training.model import build_model


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _median_ms(call, runs: int) -> float:
    for _ in range(10):
        call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-size", type=int, default=160)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    model = build_model(args.input_size).eval()
    inputs = np.random.default_rng(0).uniform(-1, 1, (1, 3, args.input_size, args.input_size)).astype(np.float32)
    folder = Path(tempfile.mkdtemp())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(nn.Sequential(model, nn.Softmax(dim=1)), (torch.from_numpy(inputs),),
                          str(folder / "before.onnx"), input_names=["image"], output_names=["probabilities"],
                          opset_version=OPSET, dynamo=False)
    export_onnx(model, folder / "with_heatmap.onnx", inputs)
    before, after = _session(folder / "before.onnx"), _session(folder / "with_heatmap.onnx")
    # Interleaved rounds, so a neighbour's load on the shared cores hits both alike.
    rounds = [(_median_ms(lambda: before.run(None, {"image": inputs}), args.runs // 4),
               _median_ms(lambda: after.run(None, {"image": inputs}), args.runs // 4)) for _ in range(4)]
    plain, mapped = statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds)
    print(f"Lite0 at {args.input_size} px, onnxruntime, batch 1, 2 threads, median of {args.runs} runs:")
    print(f"  probabilities only          {plain:7.2f} ms")
    print(f"  probabilities + heat map    {mapped:7.2f} ms  ({(mapped / plain - 1) * 100:+.1f} %)")
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (768, 1024, 3), dtype=np.uint8))
    heatmap = np.random.default_rng(2).normal(0, 3, (args.input_size // 32,) * 2).tolist()
    overlay = _median_ms(lambda: render_overlay(photo, heatmap), max(10, args.runs // 10))
    print(f"  overlay PNG of a 1024x768 photo (classify step, Pillow): {overlay:.1f} ms")


if __name__ == "__main__":
    main()
