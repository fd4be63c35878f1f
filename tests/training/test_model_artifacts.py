"""One tiny training run (1 epoch, 64 px, 16 synthetic images), then checks on what it wrote."""

import hashlib
import json
import re
import subprocess
import sys
from datetime import datetime

import numpy as np
import onnxruntime as ort
import pytest
import torch

from training.model import load_model
from training.predictor import ModelDirError, OnnxPredictor
from training.preprocess import preprocess_bytes
from training.train import train

INPUT_SIZE = 64


@pytest.fixture(scope="module")
def trained(tmp_path_factory, write_dataset):
    root = tmp_path_factory.mktemp("tiny")
    dataset_dir = write_dataset(root / "dataset", per_class=8)
    lines = []
    metadata = train(dataset_dir, root / "model", epochs=1, input_size=INPUT_SIZE, seed=0, progress=lines.append)
    return {"dir": root / "model", "metadata": metadata, "progress": lines}


@pytest.fixture(scope="module")
def sample_images(synthetic_image, image_bytes):
    rng = np.random.default_rng(7)
    return [
        image_bytes(synthetic_image(rng, defective=True, size=120)),
        image_bytes(synthetic_image(rng, defective=False, size=80).convert("L"), "JPEG"),
        image_bytes(synthetic_image(rng, defective=True, size=50).resize((90, 50)), "JPEG", quality=80),
    ]


def _weights(model_dir) -> dict:
    return torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)


def test_given_tiny_training_then_model_dir_holds_onnx_state_dict_and_metadata(trained):
    names = {path.name for path in trained["dir"].iterdir()}
    assert {"model.onnx", "model.pt", "model.json"} <= names
    assert json.loads((trained["dir"] / "model.json").read_text()) == trained["metadata"]


def test_given_tiny_training_then_metadata_follows_the_contract(trained):
    metadata = trained["metadata"]
    digest = hashlib.sha256((trained["dir"] / "model.onnx").read_bytes()).hexdigest()
    assert re.fullmatch(rf"efficientnet-lite0-\d{{8}}-{digest[:12]}", metadata["model_id"])
    assert metadata["architecture"] == "efficientnet-lite0"
    assert metadata["classes"] == ["defect_free", "defective"]
    assert metadata["input_size"] == INPUT_SIZE
    assert metadata["normalisation"] == {"mean": 127.0, "std": 128.0}
    assert 0.5 < metadata["threshold"] < 1
    assert datetime.fromisoformat(metadata["trained_at"]).tzinfo is not None
    assert metadata["dataset"]["counts"] == {"defect_free": 8, "defective": 8}
    assert metadata["training"]["epochs"] == 1 and metadata["training"]["seed"] == 0
    assert metadata["training"]["test_time_flips"] is True  # the served model averages mirrored views
    metrics = metadata["metrics"]
    assert metrics["images"] == sum(metrics["counts"].values()) == metadata["dataset"]["split"]["test"]
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["roc_auc"] <= 1
    assert 0 <= metrics["defective_recall_within_false_alarm_budget"] <= 1
    # 2 test images per class cannot support any conclusion, and the metadata must say so
    assert metrics["reliable"] is False
    assert "unreliable" in metrics["warning"]


def test_given_tiny_training_then_progress_reports_each_epoch(trained):
    messages = [event.message for event in trained["progress"] if event.message]
    assert any(line.startswith("epoch 1/1: train loss") and "validation accuracy" in line for line in messages)


def test_given_tiny_training_then_progress_counts_the_batches_up_to_the_epochs(trained):
    # 16 images: 10 train in batches of 32 -> one batch per epoch
    steps = [event for event in trained["progress"] if not event.message]
    assert steps and all(event.epochs == 1 for event in steps)
    done = [event.epochs_done for event in trained["progress"]]
    assert done == sorted(done) and done[-1] == 1


def test_given_onnx_file_then_it_takes_image_batches_and_returns_probabilities(trained):
    session = ort.InferenceSession(str(trained["dir"] / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["probabilities", "heatmap"]
    batch = np.random.default_rng(0).uniform(-1, 1, (3, 3, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    probabilities, heatmap = session.run(None, {"image": batch})
    assert probabilities.shape == (3, 2) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    # the defective class's activation map: one cell per 32 px, its mean the image's log-odds (training/cam.py)
    assert heatmap.shape == (3, INPUT_SIZE // 32, INPUT_SIZE // 32) and heatmap.dtype == np.float32
    np.testing.assert_allclose(heatmap.mean(axis=(1, 2)), np.log(probabilities[:, 1] / probabilities[:, 0]),
                               atol=1e-4)


PARITY_TOLERANCE = 1e-4


def test_given_same_image_bytes_then_onnx_predictor_matches_torch_model(trained, sample_images):
    predictor = OnnxPredictor(trained["dir"])
    model = load_model(trained["dir"])
    with torch.no_grad():
        expected = [model(torch.from_numpy(preprocess_bytes(data, INPUT_SIZE))[None])[0][0].numpy()
                    for data in sample_images]
    # GIVEN photos the model tells apart: p(defective) spreads over 1,000 times the tolerance (0.36 to 0.81
    # here), so a constant or input-blind export could not pass the comparison below
    defective = [p[1] for p in expected]
    assert max(defective) - min(defective) > 1000 * PARITY_TOLERANCE, defective
    # THEN the ONNX file answers each as the PyTorch model does
    for data, torch_probabilities in zip(sample_images, expected):
        probabilities = predictor.predict(data)
        assert len(probabilities) == 2
        assert sum(probabilities) == pytest.approx(1, abs=1e-6)
        np.testing.assert_allclose(probabilities, torch_probabilities, atol=PARITY_TOLERANCE)


def test_given_several_images_then_batch_prediction_equals_single_predictions(trained, sample_images):
    predictor = OnnxPredictor(trained["dir"])
    batch = predictor.predict_batch(sample_images)
    singles = [predictor.predict(data) for data in sample_images]
    np.testing.assert_allclose(batch, singles, atol=1e-6)
    assert predictor.predict_batch([]) == []


def test_given_model_dir_then_predictor_exposes_its_metadata(trained):
    predictor = OnnxPredictor(trained["dir"])
    metadata = trained["metadata"]
    assert predictor.model_id == metadata["model_id"]
    assert predictor.classes == ["defect_free", "defective"]
    assert predictor.input_size == INPUT_SIZE
    assert predictor.threshold == metadata["threshold"]
    assert predictor.metadata == metadata



def test_given_a_served_model_then_its_threads_sleep_between_requests_instead_of_spinning(trained):
    # A stack answering one photo at a time: spinning threads cost 4x the inference's own CPU (training/predictor.py)
    from training.predictor import NO_SPINNING

    options = OnnxPredictor(trained["dir"])._session.get_session_options()
    assert options.get_session_config_entry(NO_SPINNING) == "0"
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)

def test_given_state_dict_file_then_plain_torch_load_reads_tensors(trained):
    state = _weights(trained["dir"])
    assert state["_fc.weight"].shape == (2, 1280)
    assert all(isinstance(value, torch.Tensor) for value in state.values())


def test_given_folder_without_model_then_predictor_raises_model_dir_error(tmp_path):
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(ModelDirError, match="model.onnx missing") as raised:
        OnnxPredictor(tmp_path)
    assert isinstance(raised.value, FileNotFoundError)


def test_given_fresh_interpreter_when_predictor_imported_then_torch_is_not_loaded():
    code = "import sys, training.predictor; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_given_same_seed_when_trained_again_then_the_same_model_and_another_seed_gives_another(
        trained, tmp_path, write_dataset, sample_images):
    # GIVEN the same data as the module's run (same generator seed, same file names)
    dataset_dir = write_dataset(tmp_path / "dataset", per_class=8)
    # WHEN trained again with the same seed, and with another
    again = train(dataset_dir, tmp_path / "again", epochs=1, input_size=INPUT_SIZE, seed=0, progress=lambda event: None)
    other = train(dataset_dir, tmp_path / "other", epochs=1, input_size=INPUT_SIZE, seed=1, progress=lambda event: None)
    # THEN the same seed gives the same weights, ONNX file (model id) and answers
    first = _weights(trained["dir"])
    assert all(torch.equal(first[name], tensor) for name, tensor in _weights(tmp_path / "again").items())
    assert again["model_id"] == trained["metadata"]["model_id"]
    answers = OnnxPredictor(trained["dir"]).predict_batch(sample_images)
    np.testing.assert_allclose(OnnxPredictor(tmp_path / "again").predict_batch(sample_images), answers, atol=1e-5)
    # AND the seed is used: seed 1 trains other weights, so another ONNX file and model id, and other answers
    assert other["model_id"] != trained["metadata"]["model_id"]
    assert not all(torch.equal(first[name], tensor) for name, tensor in _weights(tmp_path / "other").items())
    assert np.abs(np.array(OnnxPredictor(tmp_path / "other").predict_batch(sample_images)) - answers).max() > 1e-3
