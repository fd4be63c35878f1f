"""Test-split figures and curves (ROC, precision-recall) for a two-class defect classifier, with numpy only."""

import numpy as np

DEFECTIVE = 1  # class index of "defective" (classes are sorted names)
RELIABLE_PER_CLASS = 30  # below this many test images per class the figures swing by several points
FALSE_ALARM_BUDGET = 0.05  # the false-alarm rate a line tolerates: recall is also reported at this rate


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Chance that a random positive scores above a random negative (ties count half):
    the Mann-Whitney statistic, with tied scores given their average rank."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2)[inverse]
    positive = labels == DEFECTIVE
    n_positive, n_negative = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def _counts_at_thresholds(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(true positives, false positives) when every image scoring at least each distinct score, highest first,
    is called defective; and the numbers of positives and negatives. A threshold takes all of a run of tied
    scores or none of it, so the curves do not depend on the order the tied images come in."""
    order = np.argsort(-scores, kind="stable")
    positive = labels[order] == DEFECTIVE
    last_of_each_score = np.r_[np.flatnonzero(np.diff(scores[order])), len(order) - 1]
    return (np.cumsum(positive)[last_of_each_score], np.cumsum(~positive)[last_of_each_score],
            int(positive.sum()), int((~positive).sum()))


def roc_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) at every distinct threshold, from (0,0) to (1,1)."""
    true_positives, false_positives, positives, negatives = _counts_at_thresholds(scores, labels)
    tpr = np.concatenate([[0], true_positives / max(1, positives)])
    fpr = np.concatenate([[0], false_positives / max(1, negatives)])
    return fpr, tpr


def precision_recall_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every distinct threshold, highest threshold first."""
    true_positives, false_positives, positives, _ = _counts_at_thresholds(scores, labels)
    return true_positives / max(1, positives), true_positives / (true_positives + false_positives)


def recall_at_false_alarm_rate(scores: np.ndarray, labels: np.ndarray, false_alarm_rate: float) -> float:
    """The highest defective recall of any threshold that flags at most `false_alarm_rate` of the good photos
    (a threshold takes a run of tied scores whole, as the ROC curve does)."""
    fpr, tpr = roc_points(scores, labels)
    return float(tpr[fpr <= false_alarm_rate].max())


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray, classes, threshold: float) -> dict:
    """Accuracy, defective precision/recall, ROC AUC, confusion matrix and what the review
    threshold does, for probabilities [N, 2] and true class indices [N]."""
    predicted = probabilities.argmax(axis=1)
    # confusion[true][predicted], by class name so that the JSON explains itself.
    confusion = {
        true: {guess: int(np.sum((labels == t) & (predicted == p))) for p, guess in enumerate(classes)}
        for t, true in enumerate(classes)
    }
    true_positive = confusion[classes[DEFECTIVE]][classes[DEFECTIVE]]
    predicted_positive = int(np.sum(predicted == DEFECTIVE))
    actual_positive = int(np.sum(labels == DEFECTIVE))
    confident = probabilities.max(axis=1) >= threshold
    counts = {name: int(np.sum(labels == i)) for i, name in enumerate(classes)}
    metrics = {
        "images": int(len(labels)),
        "counts": counts,
        "accuracy": float(np.mean(predicted == labels)),
        "defective_precision": true_positive / predicted_positive if predicted_positive else 0.0,
        "defective_recall": true_positive / actual_positive if actual_positive else 0.0,
        "roc_auc": roc_auc(probabilities[:, DEFECTIVE], labels),
        "false_alarm_budget": FALSE_ALARM_BUDGET,
        "defective_recall_within_false_alarm_budget": recall_at_false_alarm_rate(
            probabilities[:, DEFECTIVE], labels, FALSE_ALARM_BUDGET),
        "confusion_matrix": confusion,
        # What the verdict rule does with this model: images below the threshold go to review.
        "review_threshold": threshold,
        "needs_review_fraction": float(np.mean(~confident)),
        "accuracy_when_confident": float(np.mean(predicted[confident] == labels[confident])) if confident.any() else None,
        "reliable": min(counts.values()) >= RELIABLE_PER_CLASS,
    }
    if not metrics["reliable"]:
        metrics["warning"] = (
            f"Only {min(counts.values())} test image(s) in the smallest class: these figures are unreliable "
            f"at that size; at least {RELIABLE_PER_CLASS} per class are needed to compare models."
        )
    return metrics


def figure_text(value: float | None, spec: str = ".3f") -> str:
    """A figure as people read it; "–" where there is none (no image of the class it counts was evaluated)."""
    return "–" if value is None else format(value, spec)
