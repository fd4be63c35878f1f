"""What `make demo` prints about its model: the test split's figures and the training time, from model.json."""
from __future__ import annotations

from inspection_app.demo import print_model_figures

METRICS = {"images": 437, "accuracy": 0.9016, "defective_recall": 0.8417, "defective_precision": 0.85,
           "roc_auc": 0.963, "false_alarm_budget": 0.05, "defective_recall_within_false_alarm_budget": 0.8417}
TRAINING = {"seconds": 392.9, "device": "cpu", "epochs": 5, "best_epoch": 5}


def test_given_a_trained_model_then_the_demo_prints_its_test_figures_and_training_time(capsys):
    print_model_figures({"metrics": METRICS, "training": TRAINING})
    assert capsys.readouterr().out.splitlines() == [
        "test split (437 photos): accuracy 0.902, defective recall 0.842 at precision 0.850, ROC AUC 0.963; "
        "defective recall 0.842 within 5% false alarms",
        "trained in 393 s on cpu (5 epochs, best 5)",
    ]


def test_given_a_model_trained_before_the_false_alarm_figure_then_the_rest_is_printed(capsys):
    older = {key: value for key, value in METRICS.items() if "false_alarm" not in key}
    print_model_figures({"metrics": older, "training": TRAINING})
    assert capsys.readouterr().out.splitlines()[0].endswith("ROC AUC 0.963")


def test_given_a_model_without_figures_then_nothing_is_printed(capsys):
    print_model_figures({"training": TRAINING})
    assert capsys.readouterr().out == ""


def test_given_a_model_trained_otherwise_then_only_its_figures_are_printed(capsys):
    # an anomaly model's training record has no epochs
    print_model_figures({"metrics": METRICS, "training": {"seconds": 18.0, "device": "cpu"}})
    assert len(capsys.readouterr().out.splitlines()) == 1
