"""Evaluating a model directory on a class-folder dataset, with a report a quality engineer can read.

Figures: accuracy, precision and recall for `defective`, ROC AUC, the confusion matrix, and the operating
point that reaches a target recall for `defective` with the false-alarm rate it costs. That operating point
becomes the pipeline's review band: `recommended_confidence_threshold` is the CONFIDENCE_THRESHOLD under
which every image the model scores at or above the defect threshold is flagged (defective or needs_review).
The report (Markdown + PNG plots) goes to `<model_dir>/evaluation/`.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from training.dataset import anomaly_split, load_dataset, split_dataset
from training.metrics import DEFECTIVE as DEFECTIVE_INDEX, classification_metrics
from training.options import DEFAULT_TARGET_RECALL
from training.predictor import OnnxPredictor

GALLERY_SIZE = 16
_BATCH = 32


def operating_point(scores: np.ndarray, labels: np.ndarray, target_recall: float) -> dict:
    """The highest threshold on p(defective) whose recall reaches `target_recall`, and what it costs."""
    positives = np.sort(scores[labels == DEFECTIVE_INDEX])[::-1]
    negatives = scores[labels != DEFECTIVE_INDEX]
    if len(positives) == 0 or len(negatives) == 0:
        return {"target_recall": target_recall, "threshold": None, "reason": "needs images of both classes"}
    threshold = float(positives[math.ceil(target_recall * len(positives)) - 1])
    return {
        "target_recall": target_recall,
        "threshold": threshold,
        "recall": float(np.mean(positives >= threshold)),
        "false_alarm_rate": float(np.mean(negatives >= threshold)),
        "false_alarms": int(np.sum(negatives >= threshold)),
        "negatives": int(len(negatives)),
        # Top-probability threshold of the verdict rule that sends every p(defective) >= threshold
        # either to `defective` or to `needs_review` (two classes: confidence of defect_free = 1 - p).
        "recommended_confidence_threshold": round(min(0.99, max(0.5, 1 - threshold)), 4),
    }


def evaluate(dataset_dir, model_dir, *, target_recall: float = DEFAULT_TARGET_RECALL, split: str = "auto",
             write_report: bool = True) -> dict:
    """Evaluate `model_dir` on `dataset_dir` (all images, or the test split the model was trained with)."""
    model_dir = Path(model_dir)
    predictor = OnnxPredictor(model_dir)
    dataset = load_dataset(dataset_dir)
    trained_on = predictor.metadata.get("dataset", {}).get("path")
    if split == "auto":
        same = trained_on and Path(trained_on).resolve() == dataset.root.resolve()
        split = "test" if same else "all"
    if split == "test":
        seed = predictor.metadata.get("training", {}).get("seed", 0)
        anomaly = predictor.metadata.get("anomaly")
        # An anomaly model's test split: its held-out good photos and every defective one (training/anomaly.py).
        samples = (anomaly_split(dataset, seed=seed, max_memory_images=anomaly["max_memory_images"]).test
                   if anomaly else split_dataset(dataset, seed=seed).test)
    elif split == "all":
        samples = dataset.samples
    else:
        raise ValueError(f"split must be auto, all or test, not {split!r}")

    paths = [path for path, _ in samples]
    labels = np.array([label for _, label in samples])
    probabilities = np.array(
        [p for start in range(0, len(paths), _BATCH)
         for p in predictor.predict_batch([path.read_bytes() for path in paths[start:start + _BATCH]])]
    )
    scores = probabilities[:, DEFECTIVE_INDEX]
    metrics = classification_metrics(probabilities, labels, dataset.classes, predictor.threshold)
    metrics.update(
        model_id=predictor.model_id,
        dataset=str(dataset.root),
        split=split,
        operating_point=operating_point(scores, labels, target_recall),
    )
    if write_report:
        from training.report import write_report as write  # noqa: PLC0415 - matplotlib only when reporting

        mistakes = [(paths[i], dataset.classes[labels[i]], float(scores[i]))
                    for i in np.flatnonzero(probabilities.argmax(axis=1) != labels)][:GALLERY_SIZE]
        # Each shown with the model's heat map over it, where the model has one (docs/heatmaps.md).
        mistakes = [(*mistake, predictor.predict_with_heatmap(mistake[0].read_bytes())[1]) for mistake in mistakes]
        metrics["report"] = str(write(model_dir / "evaluation", metrics, scores, labels, mistakes))
    return metrics
