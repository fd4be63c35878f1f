"""Class-folder datasets: `<root>/defect_free/*` and `<root>/defective/*`.

Class indices follow the sorted folder names (defect_free=0, defective=1), the same order
SageMaker's built-in image-classification algorithm uses, so either kind of model fits the
endpoint contract. Every problem is reported as a `DatasetError` that names the folder or
files and says what to do, because the people who hit these errors are collecting photos,
not reading stack traces.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from training.errors import TrainingInputError
from training.preprocess import load_image

CLASSES = ("defect_free", "defective")
# What the classify step accepts too (chalicelib/images.py): train only on what can be served.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}
MAX_LISTED = 10  # files named in one error message; the rest are counted

Sample = tuple[Path, int]  # (image path, class index)


class DatasetError(TrainingInputError, ValueError):
    """The dataset folder does not follow the class-folder layout or holds unreadable files."""


@dataclass(frozen=True)
class Dataset:
    root: Path
    classes: tuple[str, ...]
    samples: list[Sample]  # sorted by path
    counts: dict[str, int]


@dataclass(frozen=True)
class Splits:
    train: list[Sample]
    validation: list[Sample]
    test: list[Sample]


def load_dataset(path, *, good_only: bool = False) -> Dataset:
    """List and check a class-folder dataset; every image is decoded once to prove it reads.

    `good_only`: `defective/` may be missing (anomaly mode learns from `defect_free/` alone)."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"Dataset folder {root} does not exist or is not a folder.")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if good_only and tuple(folders) == CLASSES[:1]:
        return _load_classes(root, CLASSES[:1])
    if tuple(folders) != CLASSES:
        raise DatasetError(
            f"Dataset folder {root} must contain exactly the class folders "
            f"{', '.join(CLASSES)}; found: {', '.join(folders) or 'none'}. "
            "Create the missing folders and move anything else out."
        )
    return _load_classes(root, CLASSES)


def _load_classes(root: Path, classes: tuple[str, ...]) -> Dataset:
    samples: list[Sample] = []
    for index, name in enumerate(classes):
        folder = root / name
        files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        if not files:
            raise DatasetError(f"Class folder {folder} is empty; add at least a few images of that class.")
        samples.extend((file, index) for file in files)
    _check_images(root, [file for file, _ in samples])
    counts = {name: sum(1 for _, index in samples if index == i) for i, name in enumerate(classes)}
    return Dataset(root=root, classes=CLASSES, samples=samples, counts=counts)


def _check_images(root: Path, files: list[Path]) -> None:
    problems = []
    for file in files:
        if file.is_dir():
            problems.append(f"{file.relative_to(root)} (a folder: put the images directly in the class folder)")
            continue
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(f"{file.relative_to(root)} (not an image file: expected {', '.join(sorted(IMAGE_SUFFIXES))})")
            continue
        # Decoding in full is the only sure check; Pillow raises these on broken files (a garbled
        # header can even pass for a huge image).
        try:
            load_image(file.read_bytes())
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            problems.append(f"{file.relative_to(root)} ({error})")
    if problems:
        listed = "; ".join(problems[:MAX_LISTED])
        more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise DatasetError(
            f"Dataset folder {root}: {len(problems)} file(s) cannot be used as images: {listed}{more}. "
            "Remove or replace them."
        )


def split_dataset(dataset: Dataset, *, seed=0, test_fraction=0.2, validation_fraction=0.1) -> Splits:
    """Split each class separately (stratified) into train, validation and test.

    Deterministic for a given seed and set of files: samples are sorted by path first, so the
    order in which the file system lists them does not matter. Each split gets at least one
    image of each class, which needs at least three images per class.
    """
    if not (0 < test_fraction and 0 < validation_fraction and test_fraction + validation_fraction < 1):
        raise ValueError("test_fraction and validation_fraction must be positive and sum to less than 1")
    splits = Splits(train=[], validation=[], test=[])
    for index, name in enumerate(dataset.classes):
        members = sorted(path for path, label in dataset.samples if label == index)
        n = len(members)
        n_test = max(1, round(n * test_fraction))
        n_validation = max(1, round(n * validation_fraction))
        if n - n_test - n_validation < 1:
            raise DatasetError(
                f"Class {name} in {dataset.root} has {n} image(s); at least 3 are needed so that "
                "training, validation and test each get one. Add more images."
            )
        # One generator per class, so adding images to one class does not reshuffle the other.
        order = np.random.default_rng([seed, index]).permutation(n)
        shuffled = [(members[i], index) for i in order]
        splits.test.extend(shuffled[:n_test])
        splits.validation.extend(shuffled[n_test : n_test + n_validation])
        splits.train.extend(shuffled[n_test + n_validation :])
    return splits


def anomaly_split(dataset: Dataset, *, seed=0, max_memory_images: int, test_fraction=0.2) -> Splits:
    """Anomaly mode's split: train = the good photos whose patches fill the memory (at most
    `max_memory_images`), validation = the other good photos, which calibrate the threshold, test = a
    `test_fraction` share of the good photos and every defective one (defective photos never train; without
    any, no good photo is held out for testing).
    Deterministic for a given seed and set of files."""
    good = sorted(path for path, label in dataset.samples if label == 0)
    defective = sorted((path, label) for path, label in dataset.samples if label == 1)
    n = len(good)
    n_test = round(n * test_fraction) if n >= 10 and defective else 0  # nothing to test against: all learn
    n_calibration = max(2, round((n - n_test) * 0.25), n - n_test - max_memory_images)
    if n - n_test - n_calibration < 1:
        raise DatasetError(
            f"Class defect_free in {dataset.root} has {n} image(s); anomaly mode needs at least 3 (memory and two "
            "to calibrate) and works best with a hundred or more. Add more photos of good parts.")
    order = np.random.default_rng([seed, 0]).permutation(n)
    shuffled = [(good[i], 0) for i in order]
    return Splits(test=shuffled[:n_test] + defective,
                  validation=shuffled[n_test:n_test + n_calibration],
                  train=shuffled[n_test + n_calibration:])
