"""Test-split figures and curves (training/metrics.py): exact values on small hand-checked cases, asymmetric so
that swapping the classes or a comparison changes the answer."""

import math

import numpy as np
import pytest

from training.dataset import CLASSES
from training.metrics import (
    classification_metrics,
    precision_recall_points,
    recall_at_false_alarm_rate,
    roc_auc,
    roc_points,
)


@pytest.mark.parametrize(
    "scores, labels, expected",
    [
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 1.0),  # perfect ranking
        ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0.0),  # reversed
        ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5),  # all tied: a coin toss
        # pairs (pos, neg): (0.6>0.1) (0.6>0.4) (0.6<0.7) (0.4=0.4 half) (0.4>0.1) (0.4<0.7) -> 3.5 / 6
        ([0.1, 0.4, 0.7, 0.6, 0.4], [0, 0, 0, 1, 1], 3.5 / 6),
    ],
)
def test_given_scores_when_auc_computed_then_matches_pairwise_count(scores, labels, expected):
    assert roc_auc(np.array(scores), np.array(labels)) == pytest.approx(expected)


def test_given_predictions_when_metrics_computed_then_counts_rates_and_review_share_are_right():
    # true:       ok   ok   ok   bad  bad  bad
    # predicted:  ok   ok   bad  bad  bad  ok    (argmax of the probabilities)
    defective = np.array([0.1, 0.3, 0.9, 0.95, 0.6, 0.2])
    probabilities = np.stack([1 - defective, defective], axis=1)
    labels = np.array([0, 0, 0, 1, 1, 1])

    metrics = classification_metrics(probabilities, labels, CLASSES, threshold=0.75)

    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["confusion_matrix"] == {
        "defect_free": {"defect_free": 2, "defective": 1},
        "defective": {"defect_free": 1, "defective": 2},
    }
    assert metrics["defective_precision"] == pytest.approx(2 / 3)
    assert metrics["defective_recall"] == pytest.approx(2 / 3)
    # confidences 0.9 0.7 0.9 0.95 0.6 0.8: two below 0.75; two of the four confident ones are wrong
    assert metrics["needs_review_fraction"] == pytest.approx(2 / 6)
    assert metrics["accuracy_when_confident"] == pytest.approx(2 / 4)
    assert metrics["counts"] == {"defect_free": 3, "defective": 3}
    assert metrics["reliable"] is False
    assert "unreliable" in metrics["warning"]


def test_given_thirty_per_class_when_metrics_computed_then_reliable_without_warning():
    labels = np.repeat([0, 1], 30)
    probabilities = np.eye(2)[labels] * 0.8 + 0.1
    metrics = classification_metrics(probabilities, labels, CLASSES, threshold=0.75)
    assert metrics["reliable"] is True
    assert "warning" not in metrics
    assert metrics["accuracy"] == 1.0 and metrics["roc_auc"] == 1.0


def test_given_uneven_classes_when_metrics_computed_then_each_figure_counts_the_defective_class():
    # GIVEN four defect-free and two defective photos, p(defective) per photo; the second is exactly at the
    # review threshold (0.75 and 0.25 are exact in binary, so ">=" and ">" differ here)
    defective = np.array([0.125, 0.75, 0.375, 0.25, 0.875, 0.3125])
    labels = np.array([0, 0, 0, 0, 1, 1])
    probabilities = np.stack([1 - defective, defective], axis=1)
    # predicted:  ok  bad  ok  ok  bad  ok ; confidence 0.875 0.75 0.625 0.75 0.875 0.6875

    metrics = classification_metrics(probabilities, labels, CLASSES, threshold=0.75)

    assert metrics["images"] == 6 and metrics["review_threshold"] == 0.75
    assert metrics["counts"] == {"defect_free": 4, "defective": 2}
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["defective_precision"] == pytest.approx(1 / 2)  # 2 called defective, 1 is
    assert metrics["defective_recall"] == pytest.approx(1 / 2)  # 2 defective, 1 found
    # 0.75 is at the threshold, so confident: 4 confident photos (3 right), 2 below go to review
    assert metrics["needs_review_fraction"] == pytest.approx(2 / 6)
    assert metrics["accuracy_when_confident"] == pytest.approx(3 / 4)
    # pairs (defective, defect-free): 0.875 beats all four, 0.3125 beats 0.125 and 0.25 -> 6 / 8
    assert metrics["roc_auc"] == pytest.approx(6 / 8)


def test_given_nothing_called_defective_or_confident_then_precision_recall_are_zero_and_no_confident_accuracy():
    # GIVEN one defective and one defect-free photo, both called defect-free below the threshold
    probabilities = np.array([[0.625, 0.375], [0.5625, 0.4375]])
    labels = np.array([1, 0])
    metrics = classification_metrics(probabilities, labels, CLASSES, threshold=0.75)
    assert metrics["defective_precision"] == 0.0 and metrics["defective_recall"] == 0.0
    assert metrics["needs_review_fraction"] == 1.0 and metrics["accuracy_when_confident"] is None


def test_given_no_defective_photo_then_recall_is_zero_not_a_division_by_zero():
    probabilities = np.array([[0.25, 0.75], [0.875, 0.125]])
    with np.errstate(invalid="ignore", divide="ignore"):  # the AUC of one class is undefined (nan)
        metrics = classification_metrics(probabilities, np.array([0, 0]), CLASSES, threshold=0.5)
    assert metrics["defective_recall"] == 0.0 and metrics["defective_precision"] == 0.0


def test_given_distinct_scores_then_each_threshold_gives_its_own_roc_and_precision_recall_point():
    # GIVEN p(defective) 0.9 (defective), 0.7 (defect-free), 0.6 (defective), 0.2 (defective), 0.1 (defect-free)
    scores = np.array([0.2, 0.9, 0.1, 0.6, 0.7])
    labels = np.array([1, 1, 0, 1, 0])
    fpr, tpr = roc_points(scores, labels)
    recall, precision = precision_recall_points(scores, labels)
    # THEN lowering the threshold past each score, highest first, adds that photo to the defective side
    assert fpr.tolist() == pytest.approx([0, 0, 0.5, 0.5, 0.5, 1])
    assert tpr.tolist() == pytest.approx([0, 1 / 3, 1 / 3, 2 / 3, 1, 1])
    assert recall.tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1, 1])
    assert precision.tolist() == pytest.approx([1, 1 / 2, 2 / 3, 3 / 4, 3 / 5])


def test_given_one_class_only_then_the_curves_stay_finite():
    # GIVEN only defect-free photos: no true-positive rate to divide by, the curve runs along the x axis
    fpr, tpr = roc_points(np.array([0.8, 0.3]), np.array([0, 0]))
    assert fpr.tolist() == [0, 0.5, 1] and tpr.tolist() == [0, 0, 0]
    # AND only defective photos: every threshold is precise, recall grows
    recall, precision = precision_recall_points(np.array([0.8, 0.3]), np.array([1, 1]))
    assert recall.tolist() == [0.5, 1] and precision.tolist() == [1, 1]
    fpr, tpr = roc_points(np.array([0.8, 0.3]), np.array([1, 1]))
    assert fpr.tolist() == [0, 0, 0] and tpr.tolist() == [0, 0.5, 1]


def test_given_one_photo_per_class_then_the_rates_divide_by_one():
    scores, labels = np.array([0.3, 0.8]), np.array([0, 1])
    fpr, tpr = roc_points(scores, labels)
    recall, precision = precision_recall_points(scores, labels)
    assert fpr.tolist() == [0, 0, 1] and tpr.tolist() == [0, 1, 1]
    assert recall.tolist() == [1, 1] and precision.tolist() == [1, 0.5]


def test_given_roc_points_then_their_area_equals_the_rank_auc():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    fpr, tpr = roc_points(scores, labels)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert math.isclose(_area(fpr, tpr), roc_auc(scores, labels), abs_tol=1e-9)


def _area(fpr: np.ndarray, tpr: np.ndarray) -> float:
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2))


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [1, 0, 2, 3], [3, 2, 1, 0], [2, 1, 0, 3]])
def test_given_tied_scores_in_any_order_then_the_roc_area_is_the_auc_not_the_orders(order):
    # GIVEN a defective and a defect-free photo with the same score, in whichever order the test split has them
    scores, labels = np.array([0.5, 0.5, 0.9, 0.1])[order], np.array([1, 0, 1, 0])[order]
    # WHEN the ROC curve is drawn
    fpr, tpr = roc_points(scores, labels)
    # THEN it takes the tie in one step (a diagonal), and its area is the AUC: 3.5 of 4 pairs ranked right
    assert _area(fpr, tpr) == pytest.approx(roc_auc(scores, labels)) == pytest.approx(0.875)
    assert len(fpr) == 4  # (0,0) and one point per distinct score


def test_given_a_saturated_model_then_the_curves_have_one_point_per_distinct_score():
    # GIVEN outputs of 0.0 and 1.0 only, with mistakes on both sides
    scores = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    labels = np.array([1, 1, 0, 1, 0, 1, 0, 0])
    fpr, tpr = roc_points(scores, labels)
    recall, precision = precision_recall_points(scores, labels)
    # THEN calling 1.0 defective finds 3 of 4 defects with 1 false alarm in 4, whatever the photos' order
    assert fpr.tolist() == [0, 0.25, 1] and tpr.tolist() == [0, 0.75, 1]
    assert recall.tolist() == [0.75, 1.0] and precision.tolist() == [0.75, 0.5]
    assert _area(fpr, tpr) == pytest.approx(roc_auc(scores, labels))


def test_given_twenty_good_photos_then_recall_within_five_percent_false_alarms_allows_one_good_photo_flagged():
    # GIVEN 20 good photos (one may be flagged at 5 %) and 4 defective ones; the best good photo scores 0.9
    good = np.r_[0.9, np.linspace(0.05, 0.4, 19)]
    defective = np.array([0.95, 0.85, 0.8, 0.3])
    scores, labels = np.r_[good, defective], np.r_[np.zeros(20, int), np.ones(4, int)]
    # WHEN recall is read at <= 5 % false alarms THEN the threshold may go down to 0.8 (1 false alarm): 3 of 4
    assert recall_at_false_alarm_rate(scores, labels, 0.05) == pytest.approx(3 / 4)
    # AND at 0 % it stops above the good photo's 0.9: 1 of 4
    assert recall_at_false_alarm_rate(scores, labels, 0.0) == pytest.approx(1 / 4)
    # AND classification_metrics reports it at the false-alarm budget
    metrics = classification_metrics(np.stack([1 - scores, scores], axis=1), labels, CLASSES, threshold=0.75)
    assert metrics["false_alarm_budget"] == 0.05
    assert metrics["defective_recall_within_false_alarm_budget"] == pytest.approx(3 / 4)


def test_given_a_good_photo_tied_with_a_defective_one_then_the_tie_is_taken_whole():
    # GIVEN one good photo of 10 tied with a defective one at 0.7: taking the tie costs 10 % false alarms
    scores = np.r_[0.7, np.full(9, 0.1), 0.9, 0.7]
    labels = np.r_[np.zeros(10, int), 1, 1]
    # WHEN recall is read at 5 % THEN the tied defective photo does not count
    assert recall_at_false_alarm_rate(scores, labels, 0.05) == pytest.approx(1 / 2)
    assert recall_at_false_alarm_rate(scores, labels, 0.10) == pytest.approx(1.0)
