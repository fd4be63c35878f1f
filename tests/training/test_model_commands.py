"""`inspection-app train` and `evaluate`: the training options reach train(), the figures come as plain tables
when captured, and `evaluate --json` prints evaluate()'s figures exactly."""

import contextlib
import io
import json

import pytest

from inspection_app.cli import main
from training.evaluate import evaluate


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(list(argv))
    return status, out.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, write_dataset):
    root = tmp_path_factory.mktemp("commands")
    dataset = write_dataset(root / "dataset", per_class=8)
    status, out = run("train", "--dataset", str(dataset), "--model-dir", str(root / "model"),
                      "--epochs", "1", "--input-size", "64", "--batch-size", "8")
    return {"dataset": dataset, "model": root / "model", "status": status, "out": out}


def test_train_passes_the_options_and_prints_its_progress_and_the_test_figures(trained):
    assert trained["status"] == 0
    metadata = json.loads((trained["model"] / "model.json").read_text())
    assert metadata["input_size"] == 64 and metadata["training"]["batch_size"] == 8
    assert metadata["training"]["max_epochs"] == 1 and metadata["training"]["seed"] == 0  # seed: train()'s default
    out = trained["out"]
    assert "\x1b" not in out
    assert "epoch 1/1: train loss" in out and f"model {metadata['model_id']} written to" in out
    assert "4 images (test of" in out and "defective recall" in out and "true \\ predicted" in out
    assert "within 5% false alarms" in out


def test_evaluate_prints_a_table_of_figures_the_confusion_matrix_the_warning_and_the_report(trained):
    status, out = run("evaluate", "--dataset", str(trained["dataset"]), "--model-dir", str(trained["model"]))
    assert status == 0 and "\x1b" not in out
    rows = [line.rsplit(maxsplit=1) for line in out.splitlines()
            if line.startswith(("accuracy ", "ROC AUC ", "defective recall within 5% false alarms "))]
    assert [name.strip() for name, _ in rows] == ["accuracy", "ROC AUC", "defective recall within 5% false alarms"]
    assert all(0 <= float(value) <= 1 for _, value in rows)
    assert "pipeline CONFIDENCE_THRESHOLD for it" in out
    assert "WARNING: Only 2 test image(s)" in out
    assert out.rstrip().endswith(f"report: {trained['model'] / 'evaluation' / 'report.md'}")


def test_evaluate_json_is_exactly_the_figures_of_evaluate(trained):
    status, out = run("evaluate", "--dataset", str(trained["dataset"]), "--model-dir", str(trained["model"]), "--json")
    assert status == 0
    assert out == json.dumps(evaluate(trained["dataset"], trained["model"]), indent=2) + "\n"


def test_evaluate_without_a_model_says_how_to_train_one(trained, tmp_path, capsys):
    assert main(["evaluate", "--dataset", str(trained["dataset"]), "--model-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "inspection-app train --dataset DIR" in err
