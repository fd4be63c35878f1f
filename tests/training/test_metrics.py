import numpy as np
import pytest

from training.dataset import CLASSES
from training.metrics import classification_metrics, roc_auc


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
