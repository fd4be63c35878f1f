"""The one image preprocessing used everywhere: training, evaluation, the ONNX predictor and
the SageMaker inference handler. Any difference between these paths silently costs accuracy,
so they all call these functions. Only numpy, Pillow and `chalicelib.imaging` (Pillow only: the decoding
the classify Lambda uses too), so light runtimes can import it.
"""

import numpy as np
from PIL import Image

from chalicelib.imaging import open_rgb

# EfficientNet-Lite was trained on inputs scaled as (x - 127) / 128.
MEAN = 127.0
STD = 128.0


def load_image(data: bytes) -> Image.Image:
    """Decode image bytes into the upright 8-bit RGB first frame (`chalicelib.imaging.open_rgb`: EXIF
    orientation applied, 16-bit and float pixels scaled to 8 bits, every colour mode made RGB).

    Raises PIL's errors (`UnidentifiedImageError`, `OSError` for truncated files) when the
    bytes are not a readable image; the whole image is decoded here so that those errors
    surface now rather than later.
    """
    return open_rgb(data)


def resize(image: Image.Image, input_size: int) -> np.ndarray:
    """Squash the image to input_size x input_size (no crop: a defect may sit at the edge).

    Returns uint8 [S, S, 3]; training keeps images in this compact form between epochs.
    """
    square = image.resize((input_size, input_size), Image.Resampling.BILINEAR)
    return np.asarray(square, dtype=np.uint8)


def normalise(pixels: np.ndarray) -> np.ndarray:
    """uint8 [..., S, S, 3] -> float32 [..., 3, S, S] scaled as the network expects."""
    scaled = (pixels.astype(np.float32) - MEAN) / STD
    return np.ascontiguousarray(np.moveaxis(scaled, -1, -3))


def to_input_array(image: Image.Image, input_size: int) -> np.ndarray:
    """An RGB image -> the network input float32 [3, S, S]."""
    return normalise(resize(image, input_size))


def preprocess_bytes(data: bytes, input_size: int) -> np.ndarray:
    """Image bytes -> the network input float32 [3, S, S]."""
    return to_input_array(load_image(data), input_size)
