"""Anomaly mode: a model learnt from photos of good parts alone (`inspection-app train --mode anomaly`).

PatchCore-style (Roth et al. 2022), on the frozen ImageNet Lite0 shipped in a wheel (training/patchcore.py
holds the scorer):

- `DIR/defect_free/` is split (fixed by the seed) into a test share, the memory photos (at most
  MAX_MEMORY_IMAGES) and calibration photos (the rest);
- the memory photos' patch features (stride 8 and 16, 152 numbers per 8x8 pixels of input) are reduced to a
  greedy coreset (k-centre on a fixed random projection) of CORESET_FRACTION of them, between MIN_MEMORY and
  MAX_MEMORY vectors;
- the calibration photos, never in the memory, choose the threshold: the score that `false_alarm_rate` of
  them exceed (1 % by default; `calibrate`), and the scale: (threshold - median good score) / ln(99), so the median
  good photo gets p(defective) = 0.01 and the threshold exactly 0.5 (at least 5 % of the threshold);
- `DIR/defective/`, when present, is only evaluated: the test split is the test share of good photos and every
  defective one.

The model directory holds model.onnx (probabilities + heat map, the same contract as the supervised model),
model.pt (the scorer's state, for the SageMaker handler) and model.json (`"mode": "anomaly"`).
"""

import math
import time
from pathlib import Path

import numpy as np
import torch

from training.dataset import CLASSES, anomaly_split, load_dataset
from training.export import export_graph
from training.metrics import classification_metrics
from training.model import build_model
from training.options import DEFAULT_FALSE_ALARM_RATE, DEFAULT_INPUT_SIZE, DEFAULT_SEED
from training.patchcore import FEATURE_BLOCKS, PATCH_STRIDE, PatchCoreScorer, PatchFeatures
from training.preprocess import load_image, normalise, resize
from training.runtime import usable_cpus
from training.train import REVIEW_THRESHOLD, TrainingProgress, model_metadata, print_messages, write_model_dir

MODE = "anomaly"
MAX_MEMORY_IMAGES = 300  # good photos whose patches fill the memory; the rest calibrate the threshold
CORESET_FRACTION = 0.01  # of the memory photos' patches kept
MIN_MEMORY = 1000  # vectors at least (or every patch): a handful of photos still gets a useful memory
MAX_MEMORY = 4000  # vectors at most: the nearest-neighbour search is one [patches x memory] product per photo
PROJECTION_DIMENSIONS = 64  # the coreset is chosen on a random projection (distances kept within a few %)
MIN_RELATIVE_SCALE = 0.05  # calibration: the scale is at least this share of the threshold
BATCH_SIZE = 8  # photos per forward pass: the [patches x memory] distances of a batch stay in cache


def train_anomaly(dataset_dir, model_dir, *, input_size=DEFAULT_INPUT_SIZE,
                  false_alarm_rate=DEFAULT_FALSE_ALARM_RATE, seed=DEFAULT_SEED,
                  max_memory_images=MAX_MEMORY_IMAGES, progress=print_messages) -> dict:
    """Learn a memory from `dataset_dir/defect_free/`, calibrate, evaluate on the test split (when there are
    defective photos), write model.onnx, model.pt and model.json into `model_dir`; returns the metadata."""
    if not 0 < false_alarm_rate < 0.5:
        raise ValueError(f"false_alarm_rate must be between 0 and 0.5, not {false_alarm_rate}")
    started = time.monotonic()
    torch.manual_seed(seed)
    torch.set_num_threads(usable_cpus())
    dataset = load_dataset(dataset_dir, good_only=True)
    splits = anomaly_split(dataset, seed=seed, max_memory_images=max_memory_images)
    progress(TrainingProgress(
        f"dataset {dataset.root}: {dataset.counts}; good photos: {len(splits.train)} memory / "
        f"{len(splits.validation)} calibration / {sum(label == 0 for _, label in splits.test)} test"))

    network = build_model(input_size).eval()
    features = PatchFeatures(network).eval()
    memory_pixels = _decode([path for path, _ in splits.train], input_size)
    patches = _patch_features(features, memory_pixels)
    center = patches.mean(dim=0)
    patches -= center
    size = min(len(patches), MAX_MEMORY, max(MIN_MEMORY, round(CORESET_FRACTION * len(patches))))
    chosen = greedy_coreset(patches, size, seed=seed)
    progress(TrainingProgress(f"memory: {len(chosen)} of {len(patches)} patch features "
                              f"({len(memory_pixels)} photos) after {time.monotonic() - started:.0f} s"))
    scorer = PatchCoreScorer(network, patches[chosen], center).eval()
    del patches

    calibration_scores = image_scores(scorer, _decode([path for path, _ in splits.validation], input_size))
    threshold, scale = calibrate(calibration_scores, false_alarm_rate)
    scorer.threshold.fill_(threshold)
    scorer.scale.fill_(scale)
    progress(TrainingProgress(
        f"threshold {threshold:.4f} (flags {false_alarm_rate:.1%} of good photos; median good "
        f"{np.median(calibration_scores):.4f}), scale {scale:.4f}"))

    test_pixels = _decode([path for path, _ in splits.test], input_size)
    test_labels = np.array([label for _, label in splits.test])
    metrics = None
    if (test_labels == 1).any():
        probabilities = _probabilities(scorer, test_pixels)
        metrics = classification_metrics(probabilities, test_labels, CLASSES, REVIEW_THRESHOLD)
        progress(TrainingProgress(
            f"test: image ROC AUC {metrics['roc_auc']:.3f}, defective recall {metrics['defective_recall']:.3f}, "
            f"precision {metrics['defective_precision']:.3f} at the threshold"))
    metadata = {
        **model_metadata(dataset, input_size, {"memory": len(splits.train), "calibration": len(splits.validation),
                                               "test": len(splits.test)}),
        "mode": MODE,
        "anomaly": {
            "score_threshold": threshold,
            "scale": scale,
            "false_alarm_rate": false_alarm_rate,
            "calibration_false_alarm_rate": float(np.mean(calibration_scores >= threshold)),
            "calibration_median_score": float(np.median(calibration_scores)),
            "memory_size": len(chosen),
            "feature_blocks": list(FEATURE_BLOCKS),
            "patch_stride": PATCH_STRIDE,
            "coreset_fraction": CORESET_FRACTION,
            "max_memory_images": max_memory_images,  # with the seed, fixes the split `evaluate` reproduces
        },
        "training": {"seconds": round(time.monotonic() - started, 1), "seed": seed, "device": "cpu"},
        "metrics": metrics,
    }
    check = normalise(test_pixels[:4] if len(test_pixels) else memory_pixels[:4])
    metadata = write_model_dir(Path(model_dir), scorer, metadata, check_inputs=check, export=export_graph)
    progress(TrainingProgress(f"model {metadata['model_id']} written to {model_dir} after "
                              f"{time.monotonic() - started:.0f} s"))
    return metadata


def calibrate(good_scores: np.ndarray, false_alarm_rate: float) -> tuple[float, float]:
    """(threshold, scale) from held-out good photos' image scores.

    The threshold lies halfway between the k-th and (k+1)-th highest scores, k = floor(false_alarm_rate * n):
    exactly k of the n photos (at most the rate) score above it, none on it. With fewer than 1 / rate photos
    (k = 0) it lies just above the highest (by a tenth of its distance from the median). The scale puts the
    median good photo at log-odds -ln(99): p(defective) = 0.01 (at least MIN_RELATIVE_SCALE of the threshold)."""
    scores = np.sort(np.asarray(good_scores, dtype=np.float64))
    if len(scores) < 2:
        raise ValueError("calibration needs at least two held-out good photos")
    median = float(np.median(scores))
    flagged = math.floor(false_alarm_rate * len(scores))
    if flagged:
        threshold = float(scores[-flagged - 1] + scores[-flagged]) / 2
    else:
        threshold = float(scores[-1] + 0.1 * (scores[-1] - median))
    scale = (threshold - median) / math.log(99)
    # At least MIN_RELATIVE_SCALE of the threshold: a few near-identical calibration photos would otherwise turn
    # the last digits of a score into a verdict.
    return threshold, max(scale, MIN_RELATIVE_SCALE * max(abs(threshold), 1e-6))


def greedy_coreset(vectors: torch.Tensor, size: int, *, seed: int = 0) -> torch.Tensor:
    """Indices of `size` rows chosen by greedy k-centre (each next one the farthest from those chosen), on a
    fixed random projection to PROJECTION_DIMENSIONS: the memory covers the rare good patches, not only the
    common ones."""
    generator = torch.Generator().manual_seed(seed)
    if size >= len(vectors):
        return torch.arange(len(vectors))
    projection = torch.randn(vectors.shape[1], PROJECTION_DIMENSIONS, generator=generator) / math.sqrt(
        PROJECTION_DIMENSIONS)
    projected = vectors @ projection
    norms = (projected ** 2).sum(dim=1)
    chosen = [int(torch.randint(len(vectors), (1,), generator=generator))]
    nearest = torch.full((len(vectors),), math.inf)
    for _ in range(size - 1):
        last = projected[chosen[-1]]
        nearest = torch.minimum(nearest, norms - 2 * (projected @ last) + norms[chosen[-1]])
        chosen.append(int(nearest.argmax()))
    return torch.tensor(chosen)


@torch.inference_mode()
def image_scores(scorer: PatchCoreScorer, pixels: np.ndarray) -> np.ndarray:
    """The image score (highest squared patch distance) of each uint8 photo [N, S, S, 3]."""
    return np.concatenate([scorer.patch_distances(torch.from_numpy(normalise(pixels[i:i + BATCH_SIZE])))
                           .flatten(1).max(dim=1).values.numpy() for i in range(0, len(pixels), BATCH_SIZE)])


@torch.inference_mode()
def _probabilities(scorer: PatchCoreScorer, pixels: np.ndarray) -> np.ndarray:
    return np.concatenate([scorer(torch.from_numpy(normalise(pixels[i:i + BATCH_SIZE])))[0].numpy()
                           for i in range(0, len(pixels), BATCH_SIZE)])


@torch.no_grad()  # not inference mode: the result is centred in place
def _patch_features(features: PatchFeatures, pixels: np.ndarray) -> torch.Tensor:
    """Every patch feature of every photo: [N * h * w, C]."""
    out = []
    for start in range(0, len(pixels), BATCH_SIZE):
        batch = features(torch.from_numpy(normalise(pixels[start:start + BATCH_SIZE])))
        out.append(batch.flatten(2).transpose(1, 2).reshape(-1, batch.shape[1]))
    return torch.cat(out)


def _decode(paths: list[Path], input_size: int) -> np.ndarray:
    if not paths:
        return np.zeros((0, input_size, input_size, 3), dtype=np.uint8)
    return np.stack([resize(load_image(path.read_bytes()), input_size) for path in paths])

