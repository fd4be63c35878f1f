"""The one conversion of image bytes into the 8-bit RGB picture the model sees, shared by serving
(the classify Lambda, `chalicelib.images`) and training (`training.preprocess`, hence the ONNX
predictor and the SageMaker handler). Pillow only: the Lambda bundle has no numpy.

What it does, in this order:
1. the first frame only: a phone's MPO (a JPEG plus a second view) and a multi-page TIFF are
   judged by their first image;
2. EXIF orientation applied, so the pixels stand as the photo is displayed;
3. pixel depth brought to 8 bits, scaled instead of clipped:
   - 16-bit modes (I;16, I;16B, I;16L, I;16N, as machine-vision cameras write PNG and TIFF):
     value / 257, rounded, so 0..65535 spans 0..255 exactly as an 8-bit photo would;
   - I (32-bit integers) and F (32-bit floats) declare no range, so the data choose it: the
     smallest of 0..1 (floats only: normalised images), 0..255, 0..65535 and 0..4294967295 that
     holds the largest value is mapped onto 0..255; negative values become 0;
4. every colour mode (bilevel, greyscale, palette, alpha, CMYK, YCbCr) becomes RGB; alpha is
   dropped, keeping the colours underneath.

A colour mode Pillow cannot turn into RGB (LAB, HSV) raises ValueError.
"""
from __future__ import annotations

import io

from PIL import Image, ImageOps

# Pillow's format names of the files accepted, and how messages name them.
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "MPO", "TIFF", "BMP"})
ACCEPTED_FORMATS_TEXT = "JPEG, PNG, MPO, TIFF and BMP"

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
# Upper ends of the ranges that I and F data are read in (see the module docstring).
_FLOAT_UNIT_RANGE = 1.0
_DATA_RANGES = (255.0, 65535.0, 4294967295.0)


def open_rgb(data: bytes) -> Image.Image:
    """Image bytes -> the upright 8-bit RGB first frame.

    Raises Pillow's errors (`UnidentifiedImageError`, `OSError` for truncated files) when the bytes
    are not a readable image; the whole frame is decoded here, so those errors surface now.
    """
    with Image.open(io.BytesIO(data)) as image:
        return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """An opened Pillow image -> its upright 8-bit RGB first frame (a new image)."""
    if image.tell() != 0:
        image.seek(0)
    image.load()
    # Cameras and phones store the orientation in EXIF instead of rotating pixels.
    upright = ImageOps.exif_transpose(image)
    return _eight_bit(upright).convert("RGB")


def _eight_bit(image: Image.Image) -> Image.Image:
    """Deeper-than-8-bit greyscale (I;16*, I, F) scaled onto 8-bit L; other modes unchanged."""
    if image.mode in _SIXTEEN_BIT_MODES:
        scale = 1 / 257
    elif image.mode in ("I", "F"):
        scale = 255 / _data_range(image)
    else:
        return image
    # F keeps every 16-bit value exactly; F -> L truncates, so + 0.5 rounds (and clips to 0..255).
    return image.convert("F").point(lambda value: value * scale + 0.5).convert("L")


def _data_range(image: Image.Image) -> float:
    _, highest = image.getextrema()
    if image.mode == "F" and highest <= _FLOAT_UNIT_RANGE:
        return _FLOAT_UNIT_RANGE
    return next((top for top in _DATA_RANGES if highest <= top), _DATA_RANGES[-1])
