"""The heat map's alignment: a synthetic defect at a known place lights up there, in the ONNX graph's map and in
the overlay the classify step stores, whatever the photo's shape and EXIF orientation.

The network is built so its response is known: its "features" are the mean of each channel over each 32x32 block
(what a stride-32 backbone's last feature map is to its cells) and its head reads brightness as evidence for
`defective`. So the map must peak exactly on the block holding the one bright patch; any transposed, flipped,
rotated or shifted step between the upload and the overlay moves the peak.
"""
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional

from chalicelib.heatmaps import render_overlay
from chalicelib.imaging import open_rgb
from training.cam import ProbabilitiesAndHeatmap, UnsupportedHead
from training.export import export_onnx
from training.predictor import OnnxPredictor
from training.preprocess import preprocess_bytes

INPUT_SIZE = 128  # a 4x4 map
GRID = INPUT_SIZE // 32


class BlockBrightness(nn.Module):
    """A stand-in for Lite0 with the same head: average pooling -> Linear(3, 2); features = block means."""

    def __init__(self):
        super().__init__()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._fc = nn.Linear(3, 2)
        with torch.no_grad():
            self._fc.weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
            self._fc.bias.copy_(torch.tensor([0.0, -1.0]))

    def extract_features(self, inputs):
        return functional.avg_pool2d(inputs, 32)

    def forward(self, inputs):
        return self._fc(self._avg_pooling(self.extract_features(inputs)).flatten(1))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("block-brightness")
    check = np.random.default_rng(0).uniform(-1, 1, (2, 3, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    export_onnx(BlockBrightness().eval(), folder / "model.onnx", check)
    (folder / "model.json").write_text(json.dumps({"model_id": "block-brightness", "classes": ["defect_free", "defective"],
                                                   "input_size": INPUT_SIZE, "threshold": 0.5}))
    return folder


def _photo(width: int, height: int, patch: tuple[int, int]) -> Image.Image:
    """A dark, slightly noisy photo with one bright square patch in map cell `patch` (row, column) of the upright
    photo stretched to the model's square."""
    rng = np.random.default_rng(3)
    pixels = (60 + rng.integers(-8, 8, (height, width, 3))).astype(np.uint8)
    row, column = patch
    cell_w, cell_h = width / GRID, height / GRID
    top, left = int(row * cell_h + cell_h * 0.2), int(column * cell_w + cell_w * 0.2)
    pixels[top:int(top + cell_h * 0.6), left:int(left + cell_w * 0.6)] = 250
    return Image.fromarray(pixels)


def _stored_rotated(upright: Image.Image) -> bytes:
    """JPEG bytes whose pixels lie on their side with EXIF orientation 6 ("rotate 90 degrees clockwise to show"),
    as a phone writes a portrait photo."""
    exif = Image.Exif()
    exif[0x0112] = 6
    body = io.BytesIO()
    upright.rotate(90, expand=True).save(body, format="JPEG", quality=95, exif=exif)
    return body.getvalue()


@pytest.mark.parametrize("patch", [(0, 0), (0, 3), (1, 2), (3, 0), (2, 3), (3, 3)])
@pytest.mark.parametrize("shape, rotated", [((200, 200), False), ((300, 120), False), ((160, 320), True)])
def test_given_a_bright_patch_then_the_map_and_the_overlay_light_up_exactly_there(model_dir, patch, shape, rotated):
    # GIVEN a photo (square, wide, or a portrait stored on its side) with the patch in one cell of the upright view
    upright = _photo(*shape, patch)
    body = _stored_rotated(upright) if rotated else _png(upright)
    # WHEN the ONNX graph maps it
    probabilities, heatmap = OnnxPredictor(model_dir).predict_with_heatmap(body)
    # THEN the map peaks on that cell, as (row, column) of the upright photo
    assert np.shape(heatmap) == (GRID, GRID)
    assert np.unravel_index(np.argmax(heatmap), (GRID, GRID)) == patch
    # and the overlay is the upright photo, coloured (red) on the patch's cell and not elsewhere
    overlay = np.asarray(Image.open(io.BytesIO(render_overlay(open_rgb(body), heatmap))).convert("RGB"), dtype=float)
    assert overlay.shape[:2] == (shape[1], shape[0])
    redness = overlay[..., 0] - overlay[..., 2]
    cells = redness.reshape(GRID, shape[1] // GRID, GRID, shape[0] // GRID).mean(axis=(1, 3))
    assert np.unravel_index(np.argmax(cells), (GRID, GRID)) == patch


def _png(image: Image.Image) -> bytes:
    body = io.BytesIO()
    image.save(body, format="PNG")
    return body.getvalue()


def test_given_the_exact_map_then_its_mean_is_the_log_odds_and_its_cells_the_heads_reading_of_each_block(model_dir):
    upright = _photo(128, 128, (1, 2))
    inputs = torch.from_numpy(preprocess_bytes(_png(upright), INPUT_SIZE))[None]
    probabilities, heatmap = ProbabilitiesAndHeatmap(BlockBrightness().eval())(inputs)
    blocks = functional.avg_pool2d(inputs, 32)[0].sum(dim=0) - 1.0  # w_def - w_free = (1, 1, 1); bias -1 - 0
    torch.testing.assert_close(heatmap[0], blocks)
    torch.testing.assert_close(heatmap.mean(), torch.log(probabilities[0, 1] / probabilities[0, 0]))


def test_given_a_head_that_is_not_pooling_then_linear_then_no_exact_map():
    class Other(BlockBrightness):
        def __init__(self):
            super().__init__()
            self._fc = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))

    with pytest.raises(UnsupportedHead):
        ProbabilitiesAndHeatmap(Other())


def test_given_a_map_that_speaks_against_a_defect_then_the_overlay_is_the_photo(model_dir):
    upright = _photo(200, 100, (0, 0))
    overlay = Image.open(io.BytesIO(render_overlay(upright, [[-30.0] * GRID] * GRID))).convert("RGB")
    assert np.abs(np.asarray(overlay, dtype=int) - np.asarray(upright, dtype=int)).max() <= 1


def test_given_mistakes_then_the_evaluation_gallery_shows_them_with_their_maps(model_dir, tmp_path, write_dataset):
    from training.evaluate import evaluate  # noqa: PLC0415 - matplotlib only here

    metrics = evaluate(write_dataset(tmp_path / "dataset", per_class=4), model_dir, split="all")
    report = (model_dir / "evaluation" / "report.md").read_text()
    assert metrics["report"].endswith("report.md") and "misclassified.png" in report
    assert "heat map of `defective` over it" in report
    assert (model_dir / "evaluation" / "misclassified.png").stat().st_size > 0


def test_given_flips_then_the_map_is_the_mean_of_the_views_turned_back_and_its_mean_the_averaged_log_odds():
    # GIVEN a photo with a bright patch in the upper right, and a head whose map is not mirror-symmetric
    inputs = torch.from_numpy(preprocess_bytes(_png(_photo(128, 128, (0, 3))), INPUT_SIZE))[None]
    network = BlockBrightness().eval()
    # WHEN it is read with test-time flips
    probabilities, heatmap = ProbabilitiesAndHeatmap(network, flips=True)(inputs)
    # THEN each view's map, turned back, is the plain map (block means commute with mirroring): the mean is too
    _, plain = ProbabilitiesAndHeatmap(network)(inputs)
    torch.testing.assert_close(heatmap, plain)
    assert np.unravel_index(int(torch.argmax(heatmap[0])), (GRID, GRID)) == (0, 3)
    # AND the probabilities are the softmax of the mean logits of the photo and its left-right mirror
    views = torch.cat([inputs, inputs.flip(3)])
    torch.testing.assert_close(probabilities[0], torch.softmax(network(views).mean(dim=0), dim=0))
    torch.testing.assert_close(heatmap.mean(), torch.log(probabilities[0, 1] / probabilities[0, 0]))


def test_given_a_network_that_sees_the_left_edge_then_the_flipped_views_add_what_the_mirror_shows():
    # GIVEN a network that only counts the left column of blocks (so mirrored views see the right edge there)
    class LeftEdge(BlockBrightness):
        def extract_features(self, inputs):
            blocks = super().extract_features(inputs)
            return blocks * (torch.arange(blocks.shape[-1]) == 0).to(blocks.dtype)

    inputs = torch.full((1, 3, INPUT_SIZE, INPUT_SIZE), -1.0)  # black, with the block of cell (1, 3) white
    inputs[..., 32:64, 96:128] = 1.0
    _, plain = ProbabilitiesAndHeatmap(LeftEdge().eval())(inputs)
    _, flipped = ProbabilitiesAndHeatmap(LeftEdge().eval(), flips=True)(inputs)
    # WHEN the patch sits at the right edge THEN only the flipped views see it, and put it back on the right
    assert np.unravel_index(int(torch.argmax(plain[0])), (GRID, GRID)) != (1, 3)
    assert np.unravel_index(int(torch.argmax(flipped[0])), (GRID, GRID)) == (1, 3)


def test_given_flips_then_the_onnx_graph_agrees_with_torch(tmp_path):
    # GIVEN the flip-averaging wrapper exported to ONNX (the served model's form)
    from training.export import export_graph  # noqa: PLC0415

    check = np.random.default_rng(1).uniform(-1, 1, (3, 3, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    # WHEN exported THEN the export's own check (onnxruntime vs torch on both outputs) passes, batch 3
    export_graph(ProbabilitiesAndHeatmap(BlockBrightness().eval(), flips=True), tmp_path / "m.onnx", check)
