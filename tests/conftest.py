"""Synthetic images and class-folder datasets shared by the training and SageMaker tests.

Helpers are handed out as fixtures rather than imported, so no test folder's conftest module
clashes with another's."""

import io

import numpy as np
import pytest
from PIL import Image

from training.dataset import CLASSES


def _synthetic_image(rng: np.random.Generator, *, defective: bool, size=96) -> Image.Image:
    """A grey textured 'part' of `size` (pixels, or (width, height)); a defective one carries a dark square."""
    width, height = (size, size) if isinstance(size, int) else size
    pixels = rng.normal(170, 12, (height, width, 3)).clip(0, 255)
    if defective:
        side = min(width, height) // 4
        top, left = rng.integers(0, [height - side, width - side])
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
