"""The one image preprocessing used everywhere: training, evaluation, the ONNX predictor and
the SageMaker inference handler. Any difference between these paths silently costs accuracy,
so they all call these functions. Only numpy and Pillow, so light runtimes can import it.
"""

import io

import numpy as np
from PIL import Image, ImageOps

# EfficientNet-Lite was trained on inputs scaled as (x - 127) / 128.
MEAN = 127.0
STD = 128.0


def load_image(data: bytes) -> Image.Image:
    """Decode image bytes into an upright RGB image.

    Raises PIL's errors (`UnidentifiedImageError`, `OSError` for truncated files) when the
    bytes are not a readable image; the whole image is decoded here so that those errors
    surface now rather than later.
    """
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        # Cameras and phones store the orientation in EXIF instead of rotating pixels.
        upright = ImageOps.exif_transpose(image)
    # Greyscale, palette, RGBA and CMYK images all become 8-bit RGB.
    return upright.convert("RGB")


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
