"""Evaluating a model directory on a class-folder dataset, with a report a quality engineer can read.

Figures: accuracy, precision and recall for `defective`, ROC AUC, the confusion matrix, and the operating
point that reaches a target recall for `defective` with the false-alarm rate it costs. That operating point
becomes the pipeline's review band: `recommended_confidence_threshold` is the CONFIDENCE_THRESHOLD under
which every image the model scores at or above the defect threshold is flagged (defective or needs_review).
On the model's own dataset the point is chosen on the validation split and measured on the test split, so the
recall it reports is one the threshold was not fitted to. The report (Markdown + PNG plots) goes to `<model_dir>/evaluation/`.
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
    if len(positives) == 0 or len(positives) == len(labels):
        return {"target_recall": target_recall, "threshold": None, "reason": "needs images of both classes"}
    threshold = float(positives[math.ceil(target_recall * len(positives)) - 1])
    return {
        "target_recall": target_recall,
        "threshold": threshold,
        **_measured_at(threshold, scores, labels),
        # Top-probability threshold of the verdict rule that sends every p(defective) >= threshold
        # either to `defective` or to `needs_review` (two classes: confidence of defect_free = 1 - p).
        "recommended_confidence_threshold": round(min(0.99, max(0.5, 1 - threshold)), 4),
    }


def held_out_operating_point(chosen_on: tuple[np.ndarray, np.ndarray] | None, scores: np.ndarray,
                             labels: np.ndarray, target_recall: float) -> dict:
    """The operating point chosen on other photos than those it is measured on: on `chosen_on` (the validation
    split's scores and labels), with its recall and false alarms measured on `scores`/`labels`. A threshold
    chosen on the test photos themselves would promise a recall they were fitted to. Without such photos (another
    dataset) or with one class only (an anomaly model's validation split holds good photos alone), it is chosen
    on the evaluated photos, and `chosen_on` says so."""
    if chosen_on is not None:
        point = operating_point(*chosen_on, target_recall)
        if point["threshold"] is not None:
            return {**point, **_measured_at(point["threshold"], scores, labels),
                    "chosen_on": "validation", "chosen_on_images": len(chosen_on[1])}
    return {**operating_point(scores, labels, target_recall), "chosen_on": "evaluated", "chosen_on_images": len(labels)}


def _measured_at(threshold: float, scores: np.ndarray, labels: np.ndarray) -> dict:
    positives, negatives = scores[labels == DEFECTIVE_INDEX], scores[labels != DEFECTIVE_INDEX]
    return {
        "recall": float(np.mean(positives >= threshold)) if len(positives) else None,
        "false_alarm_rate": float(np.mean(negatives >= threshold)) if len(negatives) else None,
        "false_alarms": int(np.sum(negatives >= threshold)),
        "negatives": int(len(negatives)),
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
    validation = None  # the photos the operating point is chosen on, when the model was trained on this dataset
    if split == "test":
        seed = predictor.metadata.get("training", {}).get("seed", 0)
        anomaly = predictor.metadata.get("anomaly")
        # An anomaly model's test split: its held-out good photos and every defective one (training/anomaly.py).
        splits = (anomaly_split(dataset, seed=seed, max_memory_images=anomaly["max_memory_images"])
                  if anomaly else split_dataset(dataset, seed=seed))
        samples, validation = splits.test, splits.validation
    elif split == "all":
        samples = dataset.samples
    else:
        raise ValueError(f"split must be auto, all or test, not {split!r}")

    paths = [path for path, _ in samples]
    probabilities, labels = _predictions(predictor, samples)
    scores = probabilities[:, DEFECTIVE_INDEX]
    metrics = classification_metrics(probabilities, labels, dataset.classes, predictor.threshold)
    chosen_on = None
    if validation and len({label for _, label in validation}) == 2:  # (an anomaly model's: good photos alone)
        validation_probabilities, validation_labels = _predictions(predictor, validation)
        chosen_on = (validation_probabilities[:, DEFECTIVE_INDEX], validation_labels)
    metrics.update(
        model_id=predictor.model_id,
        dataset=str(dataset.root),
        split=split,
        operating_point=held_out_operating_point(chosen_on, scores, labels, target_recall),
    )
    if write_report:
        from training.report import write_report as write  # noqa: PLC0415 - matplotlib only when reporting

        mistakes = [(paths[i], dataset.classes[labels[i]], float(scores[i]))
                    for i in np.flatnonzero(probabilities.argmax(axis=1) != labels)][:GALLERY_SIZE]
        # Each shown with the model's heat map over it, where the model has one (docs/heatmaps.md).
        mistakes = [(*mistake, predictor.predict_with_heatmap(mistake[0].read_bytes())[1]) for mistake in mistakes]
        metrics["report"] = str(write(model_dir / "evaluation", metrics, scores, labels, mistakes))
    return metrics


def _predictions(predictor: OnnxPredictor, samples) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities [N, 2] and true labels [N] of (path, label) samples."""
    paths = [path for path, _ in samples]
    probabilities = np.array(
        [p for start in range(0, len(paths), _BATCH)
         for p in predictor.predict_batch([path.read_bytes() for path in paths[start:start + _BATCH]])]
    )
    return probabilities, np.array([label for _, label in samples])
