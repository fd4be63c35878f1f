"""Evaluation: the operating point for a recall target and the report on disk (the curves: test_metrics.py)."""

import numpy as np
import pytest

from training.evaluate import evaluate, held_out_operating_point, operating_point
from training.train import train


def test_given_scores_then_operating_point_is_the_highest_threshold_reaching_the_recall():
    # GIVEN four defective and three defect-free images with these p(defective)
    scores = np.array([0.9, 0.8, 0.3, 0.1, 0.5, 0.2, 0.05])
    labels = np.array([1, 1, 1, 1, 0, 0, 0])
    # WHEN 75 % recall is wanted
    point = operating_point(scores, labels, 0.75)
    # THEN flagging p >= 0.3 catches 3 of 4 and costs one false alarm out of three
    assert point["threshold"] == 0.3
    assert point["recall"] == 0.75
    assert point["false_alarms"] == 1 and point["false_alarm_rate"] == pytest.approx(1 / 3)
    # AND the pipeline's review band sends every p(defective) >= 0.3 to defective or needs_review
    assert point["recommended_confidence_threshold"] == pytest.approx(0.7)


def test_given_full_recall_target_then_threshold_is_the_lowest_defective_score():
    scores = np.array([0.9, 0.02, 0.5, 0.01])
    labels = np.array([1, 1, 0, 0])
    point = operating_point(scores, labels, 0.99)
    assert point["threshold"] == 0.02 and point["recall"] == 1.0
    assert point["recommended_confidence_threshold"] == 0.98


def test_given_one_class_only_then_no_operating_point_and_a_reason():
    point = operating_point(np.array([0.2, 0.4]), np.array([0, 0]), 0.99)
    assert point["threshold"] is None and "both classes" in point["reason"]


def test_given_validation_scores_then_the_threshold_is_chosen_there_and_measured_on_the_evaluated_images():
    # GIVEN validation photos whose lowest defective score is 0.4, and test photos the threshold was not fitted to
    validation = (np.array([0.9, 0.4, 0.3, 0.1]), np.array([1, 1, 0, 0]))
    scores, labels = np.array([0.8, 0.35, 0.5, 0.2, 0.1]), np.array([1, 1, 0, 0, 0])
    # WHEN 99 % recall is wanted
    point = held_out_operating_point(validation, scores, labels, 0.99)
    # THEN the threshold comes from validation (0.4), and the test photos say what it gives: 1 of 2 defects caught
    # (not the 99 % it was chosen for), 1 of 3 good photos flagged
    assert point["threshold"] == 0.4 and point["chosen_on"] == "validation" and point["chosen_on_images"] == 4
    assert point["recall"] == 0.5
    assert point["false_alarms"] == 1 and point["false_alarm_rate"] == pytest.approx(1 / 3)
    assert point["recommended_confidence_threshold"] == pytest.approx(0.6)


def test_given_a_validation_split_of_good_photos_only_then_the_point_is_chosen_on_the_evaluated_images_and_says_so():
    # GIVEN an anomaly model's validation split: good photos alone cannot place a recall threshold
    validation = (np.array([0.1, 0.2]), np.array([0, 0]))
    scores, labels = np.array([0.8, 0.35, 0.5, 0.2]), np.array([1, 1, 0, 0])
    point = held_out_operating_point(validation, scores, labels, 0.99)
    assert point["chosen_on"] == "evaluated" and point["chosen_on_images"] == 4
    assert point["threshold"] == 0.35 and point["recall"] == 1.0
    # AND without any validation photos (another dataset) the same
    assert held_out_operating_point(None, scores, labels, 0.99) == point


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, write_dataset):
    root = tmp_path_factory.mktemp("evaluate")
    dataset = write_dataset(root / "dataset", per_class=8)
    train(dataset, root / "model", epochs=1, input_size=64, seed=0, progress=lambda *_: None)
    return root, dataset


def test_given_the_training_dataset_then_only_its_test_split_is_evaluated_and_reported(tiny_model):
    root, dataset = tiny_model
    metrics = evaluate(dataset, root / "model")
    assert metrics["split"] == "test" and metrics["images"] == 4  # 20 % of 8 per class
    # the operating point is chosen on the validation split (10 % of 8 per class: 1 each), not on these 4
    assert metrics["operating_point"]["chosen_on"] == "validation"
    assert metrics["operating_point"]["chosen_on_images"] == 2
    assert metrics["reliable"] is False and "unreliable" in metrics["warning"]
    report = root / "model" / "evaluation" / "report.md"
    assert metrics["report"] == str(report)
    text = report.read_text()
    assert "unreliable" in text and "ROC AUC" in text
    for plot in ("roc.png", "precision_recall.png", "confusion.png"):
        assert (report.parent / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({plot})" in text


def test_given_another_dataset_then_all_its_images_are_evaluated(tiny_model, write_dataset):
    root, _ = tiny_model
    other = write_dataset(root / "other", per_class=5, seed=9)
    metrics = evaluate(other, root / "model", write_report=False)
    assert metrics["split"] == "all" and metrics["images"] == 10
    assert metrics["operating_point"]["chosen_on"] == "evaluated"  # no validation split of another dataset
    assert sum(sum(row.values()) for row in metrics["confusion_matrix"].values()) == 10
