"""Anomaly mode (training/anomaly.py, training/patchcore.py): a tiny model learnt from synthetic good photos alone
(64 px input: an 8x8 map), then its calibration, its scores, its map, and its ONNX graph against torch."""
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from training.anomaly import calibrate, greedy_coreset, train_anomaly
from training.dataset import CLASSES, anomaly_split, load_dataset
from training.evaluate import evaluate
from training.model import build_model
from training.patchcore import PatchCoreScorer
from training.predictor import OnnxPredictor
from training.preprocess import preprocess_bytes

INPUT_SIZE = 64
GRID = INPUT_SIZE // 8
FALSE_ALARM_RATE = 0.25  # with 8 calibration photos: exactly 2 above the threshold


@pytest.fixture(scope="module")
def anomaly_model(tmp_path_factory, write_dataset):
    root = tmp_path_factory.mktemp("anomaly")
    dataset = write_dataset(root / "dataset", per_class=40, seed=3)
    for extra in sorted((dataset / "defective").iterdir())[8:]:
        extra.unlink()  # 40 good photos, 8 defective ones (evaluated only)
    metadata = train_anomaly(dataset, root / "model", input_size=INPUT_SIZE, false_alarm_rate=FALSE_ALARM_RATE,
                             progress=lambda event: None)
    return {"dataset": dataset, "dir": root / "model", "metadata": metadata}


def _with_dark_square(top: int, left: int, side: int = 24) -> Image.Image:
    """A good-looking 96x96 textured photo (as tests/conftest.py draws them) with one dark square at a known place:
    each cell of the 8x8 map covers 12x12 pixels of it."""
    pixels = np.random.default_rng(5).normal(170, 12, (96, 96, 3)).clip(0, 255)
    pixels[top:top + side, left:left + side] = 120  # darker than any good texture, not a blot
    return Image.fromarray(pixels.astype(np.uint8))


def test_calibrate_puts_the_threshold_above_the_chosen_share_of_good_scores():
    scores = np.random.default_rng(0).gamma(4, 1, 1000)
    threshold, scale = calibrate(scores, 0.01)
    assert np.sum(scores > threshold) == 10 and not np.any(scores == threshold)
    # the median good photo: p(defective) = 0.01; the threshold: 0.5
    log_odds = (np.median(scores) - threshold) / scale
    assert 1 / (1 + math.exp(-log_odds)) == pytest.approx(0.01)
    # too few photos to resolve the rate: just above the highest
    few = np.array([1.0, 2.0, 3.0])
    assert calibrate(few, 0.01)[0] > 3.0


def test_greedy_coreset_covers_every_cluster_not_only_the_largest():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0] * 8, [50.0] * 8, [-50.0] * 8])
    counts = [5000, 20, 5]  # a common pattern and two rare good ones
    points = torch.from_numpy(np.concatenate([c + rng.normal(0, 1, (n, 8)) for c, n in zip(centres, counts)])).float()
    chosen = greedy_coreset(points, 10)
    clusters = {int(np.argmin(np.linalg.norm(centres - points[i].numpy(), axis=1))) for i in chosen}
    assert clusters == {0, 1, 2}


def test_given_good_photos_only_then_anomaly_training_writes_a_model_with_the_endpoint_contract(tmp_path, write_dataset):
    dataset = write_dataset(tmp_path / "dataset", per_class=6)
    for path in (dataset / "defective").iterdir():
        path.unlink()
    (dataset / "defective").rmdir()
    metadata = train_anomaly(dataset, tmp_path / "model", input_size=INPUT_SIZE, progress=lambda event: None)
    assert metadata["mode"] == "anomaly" and metadata["classes"] == list(CLASSES) and metadata["metrics"] is None
    assert json.loads((tmp_path / "model" / "model.json").read_text()) == metadata
    probabilities, heatmap = OnnxPredictor(tmp_path / "model").predict_with_heatmap(
        (dataset / "defect_free" / "defect_free-000.png").read_bytes())
    assert len(probabilities) == 2 and sum(probabilities) == pytest.approx(1) and np.shape(heatmap) == (GRID, GRID)


def test_held_out_good_photos_are_flagged_at_the_chosen_false_alarm_rate(anomaly_model):
    metadata = anomaly_model["metadata"]
    splits = anomaly_split(load_dataset(anomaly_model["dataset"]), seed=0,
                           max_memory_images=metadata["anomaly"]["max_memory_images"])
    predictor = OnnxPredictor(anomaly_model["dir"])
    flagged = [predictor.predict(path.read_bytes())[1] >= 0.5 for path, _ in splits.validation]
    assert len(flagged) == 8 and sum(flagged) == 2 == FALSE_ALARM_RATE * len(flagged)
    assert metadata["anomaly"]["false_alarm_rate"] == FALSE_ALARM_RATE
    assert metadata["anomaly"]["calibration_false_alarm_rate"] == pytest.approx(0.25)


def test_synthetic_defects_score_higher_than_good_photos(anomaly_model):
    metrics = evaluate(anomaly_model["dataset"], anomaly_model["dir"], write_report=False)
    assert metrics["split"] == "test" and metrics["counts"] == {"defect_free": 8, "defective": 8}
    assert metrics["roc_auc"] == 1.0
    assert metrics["confusion_matrix"]["defective"]["defective"] == 8  # a dark square is far beyond the threshold


@pytest.mark.parametrize("top, left", [(0, 0), (36, 60), (72, 24)])
def test_the_map_lights_up_where_the_defect_is(anomaly_model, image_bytes, top, left):
    body = image_bytes(_with_dark_square(top, left))
    probabilities, heatmap = OnnxPredictor(anomaly_model["dir"]).predict_with_heatmap(body)
    heatmap = np.array(heatmap)
    assert probabilities[1] > 0.99
    # the image's log-odds is its highest cell
    assert probabilities[1] == pytest.approx(1 / (1 + math.exp(-heatmap.max())), abs=1e-6)
    # the square covers cells [top/12, top/12 + 2) of the 8x8 map: they speak for a defect...
    rows, columns = slice(top // 12, top // 12 + 2), slice(left // 12, left // 12 + 2)
    assert (heatmap[rows, columns] > 0).all()
    # ...and the farthest patch from every good one (the map before it is bounded to +-20) lies on the square or
    # on a cell next to it (features include their 3x3 neighbourhood; at 64 px the stride-16 stage sees far)
    with torch.inference_mode():
        distances = _scorer(anomaly_model["dir"]).patch_distances(
            torch.from_numpy(preprocess_bytes(body, INPUT_SIZE)).unsqueeze(0))[0].numpy()
    row, column = np.unravel_index(np.argmax(distances), distances.shape)
    assert rows.start - 1 <= row <= rows.stop and columns.start - 1 <= column <= columns.stop


def _scorer(model_dir) -> PatchCoreScorer:
    state = torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)
    return PatchCoreScorer.from_state_dict(build_model(INPUT_SIZE, pretrained=False), state)


def test_the_onnx_graph_gives_the_torch_scorers_numbers(anomaly_model, image_bytes, synthetic_image):
    scorer = _scorer(anomaly_model["dir"])
    predictor = OnnxPredictor(anomaly_model["dir"])
    rng = np.random.default_rng(9)
    for body in [image_bytes(synthetic_image(rng, defective=d, size=s)) for d, s in ((True, 120), (False, (90, 60)))]:
        with torch.inference_mode():
            expected = scorer(torch.from_numpy(preprocess_bytes(body, INPUT_SIZE)).unsqueeze(0))
        probabilities, heatmap = predictor.predict_with_heatmap(body)
        np.testing.assert_allclose(probabilities, expected[0][0].numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(heatmap, expected[1][0].numpy(), atol=1e-4, rtol=0)
