"""The evaluation report: Markdown with PNG plots (ROC, precision-recall, confusion matrix, mistakes)."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from chalicelib.heatmaps import render_overlay  # noqa: E402
from chalicelib.imaging import open_rgb  # noqa: E402
from PIL import Image  # noqa: E402

from training.metrics import figure_text, precision_recall_points, roc_points  # noqa: E402


def _save(figure, path: Path) -> str:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path.name


def _roc(out: Path, scores, labels, metrics) -> str:
    fpr, tpr = roc_points(scores, labels)
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    axes.plot(fpr, tpr, label=f"model (AUC {metrics['roc_auc']:.3f})")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    point = metrics["operating_point"]
    if point.get("threshold") is not None and None not in (point["recall"], point["false_alarm_rate"]):
        axes.scatter([point["false_alarm_rate"]], [point["recall"]], color="red", zorder=3,
                     label=f"recall {point['target_recall']:.0%} operating point")
    axes.set(xlabel="false-alarm rate (defect-free flagged)", ylabel="defective recall", title="ROC")
    axes.legend(loc="lower right")
    return _save(figure, out / "roc.png")


def _precision_recall(out: Path, scores, labels) -> str:
    recall, precision = precision_recall_points(scores, labels)
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    axes.plot(recall, precision)
    axes.set(xlabel="defective recall", ylabel="defective precision", title="Precision-recall",
             xlim=(0, 1.02), ylim=(0, 1.02))
    return _save(figure, out / "precision_recall.png")


def _confusion(out: Path, metrics) -> str:
    classes = list(metrics["confusion_matrix"])
    matrix = np.array([[metrics["confusion_matrix"][t][p] for p in classes] for t in classes])
    figure, axes = plt.subplots(figsize=(4.2, 3.8))
    axes.imshow(matrix, cmap="Blues")
    for (row, column), value in np.ndenumerate(matrix):
        axes.text(column, row, str(value), ha="center", va="center",
                  color="white" if value > matrix.max() / 2 else "black", fontsize=14)
    axes.set(xticks=range(len(classes)), yticks=range(len(classes)), xticklabels=classes, yticklabels=classes,
             xlabel="predicted", ylabel="true", title="Confusion matrix")
    return _save(figure, out / "confusion.png")


def _gallery(out: Path, mistakes) -> str | None:
    if not mistakes:
        return None
    columns = 4
    rows = -(-len(mistakes) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(columns * 2.2, rows * 2.5), squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, (path, truth, score, heatmap) in zip(grid.flat, mistakes):
        photo = open_rgb(Path(path).read_bytes())  # as the model saw it: 16-bit scaled, upright
        # With the model's heat map over it (red where it saw a defect), as the pipeline stores it.
        axes.imshow(Image.open(io.BytesIO(render_overlay(photo, heatmap, max_side=300))) if heatmap else photo)
        axes.set_title(f"{Path(path).name}\ntrue {truth}, p(def) {score:.2f}", fontsize=8)
    return _save(figure, out / "misclassified.png")


def write_report(out: Path, metrics: dict, scores, labels, mistakes) -> Path:
    """Write `report.md` and its plots into `out`; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    point = metrics["operating_point"]
    lines = [
        f"# Evaluation of {metrics['model_id']}",
        "",
        f"Dataset `{metrics['dataset']}` ({metrics['split']}): {metrics['images']} images, {metrics['counts']}.",
        "",
    ]
    if metrics.get("warning"):
        lines += [f"> **Warning:** {metrics['warning']}", ""]
    lines += [
        "| figure | value |",
        "|---|---|",
        f"| accuracy | {metrics['accuracy']:.3f} |",
        f"| defective precision | {metrics['defective_precision']:.3f} |",
        f"| defective recall | {metrics['defective_recall']:.3f} |",
        f"| ROC AUC | {metrics['roc_auc']:.3f} |",
        f"| defective recall within {metrics['false_alarm_budget']:.0%} false alarms (best threshold) | "
        f"{metrics['defective_recall_within_false_alarm_budget']:.3f} |",
        f"| needs review at threshold {metrics['review_threshold']} | {metrics['needs_review_fraction']:.1%} |",
        "",
    ]
    if point.get("threshold") is not None:
        chosen_on = ("chosen on the validation split" if point["chosen_on"] == "validation" else
                     "chosen on these images themselves, so the recall is the one it was fitted to")
        recall, false_alarms = figure_text(point["recall"]), figure_text(point["false_alarm_rate"], ".1%")
        lines += [
            f"**Operating point for {point['target_recall']:.0%} defective recall** ({chosen_on}, "
            f"{point['chosen_on_images']} images): flag p(defective) ≥ {point['threshold']:.4f}; on these images "
            f"recall {recall}, false alarms {false_alarms} "
            f"({point['false_alarms']} of {point['negatives']} defect-free images). In the pipeline: "
            f"`CONFIDENCE_THRESHOLD={point['recommended_confidence_threshold']}` "
            "(every image scored at or above that point ends as `defective` or `needs_review`).",
            "",
        ]
    plots = [_roc(out, scores, labels, metrics), _precision_recall(out, scores, labels), _confusion(out, metrics)]
    lines += [f"![{name}]({name})" for name in plots]
    gallery = _gallery(out, mistakes)
    if gallery:
        lines += ["", f"## Misclassified images (first {len(mistakes)})", "",
                  "Each with the model's heat map of `defective` over it where the model gives one: red where it "
                  "saw a defect, the plain photo where it saw none.", "", f"![misclassified]({gallery})"]
    else:
        lines += ["", "No misclassified images."]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report
