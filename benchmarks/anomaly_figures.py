"""Anomaly mode's figures (docs/anomaly.md): training time on good photos alone, onnxruntime time per photo,
image AUROC, and heat-map overlays of defective photos to look at.

    .venv/bin/python benchmarks/anomaly_figures.py --dataset DIR [--good 300] [--out DIR]
    .venv/bin/python benchmarks/anomaly_figures.py --leave-one-out ../shared/datasets/seed-pcb

The first trains on --good photos drawn at random (seed 0) from DIR/defect_free/ alone, times it and one photo
through the model (OnnxPredictor, 2 threads, median), and evaluates on DIR (defective/ + the good photos
left out: at most as many of each as it trained on). The second, for datasets of a few photos, trains once per good photo without it and scores it against
every defective photo (AUROC over all those pairs). Both write overlays of defective photos into --out.
"""
import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from chalicelib.heatmaps import render_overlay
from chalicelib.imaging import open_rgb

from training.anomaly import train_anomaly
from training.evaluate import evaluate
from training.predictor import OnnxPredictor


def _link_dataset(root: Path, good: list[Path], defective: list[Path]) -> Path:
    for name, files in (("defect_free", good), ("defective", defective)):
        (root / name).mkdir(parents=True)
        for file in files:
            (root / name / file.name).symlink_to(file.resolve())
    return root


def _overlays(predictor: OnnxPredictor, photos: list[Path], out: Path, prefix: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        data = photo.read_bytes()
        probabilities, heatmap = predictor.predict_with_heatmap(data)
        (out / f"{prefix}-{photo.stem}-p{probabilities[1]:.2f}.png").write_bytes(
            render_overlay(open_rgb(data), heatmap, max_side=300))


def timed_run(dataset: Path, good: int, out: Path) -> None:
    # A seeded random sample: ELPV's file names group cell types, and a memory of one type flags the other.
    goods = sorted((dataset / "defect_free").iterdir())
    goods = [goods[i] for i in np.random.default_rng(0).permutation(len(goods))]
    with tempfile.TemporaryDirectory() as work:
        train_dir = _link_dataset(Path(work) / "train", goods[:good], [])
        shutil.rmtree(train_dir / "defective")
        started = time.monotonic()
        metadata = train_anomaly(train_dir, Path(work) / "model", progress=lambda event: None)
        seconds = time.monotonic() - started
        print(f"trained on {good} good photos in {seconds:.0f} s: memory {metadata['anomaly']['memory_size']}, "
              f"threshold {metadata['anomaly']['score_threshold']:.1f}")
        predictor = OnnxPredictor(Path(work) / "model")
        bodies = [path.read_bytes() for path in goods[good:good + 60]]
        predictor.predict(bodies[0])
        times = []
        for body in bodies:
            start = time.perf_counter()
            predictor.predict_with_heatmap(body)
            times.append(time.perf_counter() - start)
        print(f"per photo (decode, resize, graph with map; 2 threads): median {1000 * np.median(times):.1f} ms")
        evaluation = _link_dataset(Path(work) / "evaluation", goods[good:2 * good],
                                   sorted((dataset / "defective").iterdir())[:good])
        metrics = evaluate(evaluation, Path(work) / "model", split="all", write_report=False)
        print(f"image AUROC {metrics['roc_auc']:.3f} on {metrics['counts']}; confusion {metrics['confusion_matrix']}")
        _overlays(predictor, sorted((dataset / "defective").iterdir())[:8], out, dataset.name)


def leave_one_out(dataset: Path, out: Path) -> None:
    goods, defectives = (sorted((dataset / name).iterdir()) for name in ("defect_free", "defective"))
    pairs = []
    with tempfile.TemporaryDirectory() as work:
        for index, held_out in enumerate(goods):
            root = Path(work) / str(index)
            train_dir = _link_dataset(root / "train", [g for g in goods if g != held_out], [])
            shutil.rmtree(train_dir / "defective")
            train_anomaly(train_dir, root / "model", progress=lambda event: None)
            predictor = OnnxPredictor(root / "model")
            good_score = predictor.predict(held_out.read_bytes())[1]
            defect_scores = [predictor.predict(path.read_bytes())[1] for path in defectives]
            print(f"without {held_out.name}: p(defective) of it {good_score:.3f}; of the defective photos "
                  + ", ".join(f"{p:.3f}" for p in defect_scores))
            pairs += [(d > good_score) + 0.5 * (d == good_score) for d in defect_scores]
            if index == 0:
                _overlays(predictor, defectives + [held_out], out, dataset.name)
    print(f"leave-one-out image AUROC {np.mean(pairs):.3f} ({len(pairs)} good/defective pairs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path)
    parser.add_argument("--leave-one-out", type=Path)
    parser.add_argument("--good", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("var/anomaly-figures"))
    args = parser.parse_args()
    if args.dataset:
        timed_run(args.dataset, args.good, args.out)
    if args.leave_one_out:
        leave_one_out(args.leave_one_out, args.out)


if __name__ == "__main__":
    main()
