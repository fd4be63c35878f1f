"""Synthetic images and datasets, generated in temporary folders (nothing is read from outside).

Helpers are handed out as fixtures rather than imported, so this conftest never clashes with
another test folder's conftest module."""

import io

import numpy as np
import pytest
from PIL import Image

from training.dataset import CLASSES


def _synthetic_image(rng: np.random.Generator, *, defective: bool, size: int = 96) -> Image.Image:
    """A grey textured 'part'; a defective one carries a dark square somewhere on it."""
    pixels = rng.normal(170, 12, (size, size, 3)).clip(0, 255)
    if defective:
        side = size // 4
        top, left = rng.integers(0, size - side, 2)
        pixels[top : top + side, left : left + side] = 30
    return Image.fromarray(pixels.astype(np.uint8))


def _image_bytes(image: Image.Image, format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def _write_dataset(root, per_class: int, seed: int = 0):
    """A valid class-folder dataset of PNG images; returns its root."""
    rng = np.random.default_rng(seed)
    for index, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            _synthetic_image(rng, defective=index == 1).save(root / name / f"{name}-{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def synthetic_image():
    return _synthetic_image


@pytest.fixture(scope="session")
def image_bytes():
    return _image_bytes


@pytest.fixture(scope="session")
def write_dataset():
    return _write_dataset
