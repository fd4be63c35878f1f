"""Checking and normalising an uploaded image with Pillow before it reaches the model.

A bad upload (empty, not an image, truncated, too big) is a *rejection* with a reason a person can act on,
never a crash: it is stored as a result like any other verdict.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG"})


class ImageRejected(ValueError):
    """The upload cannot be inspected; the message says why and what to do."""


@dataclass(frozen=True)
class PreparedImage:
    """What the model endpoint receives, and facts about the original for the record."""

    body: bytes
    content_type: str
    original_format: str
    original_width: int
    original_height: int


def prepare_image(data: bytes, *, max_bytes: int, max_pixels: int, input_size: int) -> PreparedImage:
    """Validate `data` and return it oriented, in RGB and resized to the model's square input."""
    if not data:
        raise ImageRejected("The file is empty (0 bytes); upload the photo again.")
    if len(data) > max_bytes:
        raise ImageRejected(f"The file is {len(data)} bytes; the limit is {max_bytes} bytes.")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRejected("The file is not a JPEG or PNG image (Pillow cannot identify it).") from None
    except Image.DecompressionBombError as error:  # Pillow's own guard, hit before ours for gigantic headers
        raise ImageRejected(f"The image is far too large ({error}); the limit is {max_pixels} pixels.") from None
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(f"The file is a {image.format} image; only JPEG and PNG are accepted.")
    width, height = image.size
    # Checked from the header, before decoding, so a decompression bomb never allocates its pixels.
    if width * height > max_pixels:
        raise ImageRejected(
            f"The image is {width}x{height} pixels ({width * height}); the limit is {max_pixels} pixels."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as error:
        raise ImageRejected(f"The image is truncated or corrupt ({error}); upload the photo again.") from None
    oriented = ImageOps.exif_transpose(image).convert("RGB")
    resized = oriented.resize((input_size, input_size), Image.Resampling.BILINEAR)
    body = io.BytesIO()
    # PNG: lossless, so the model sees exactly these pixels.
    resized.save(body, format="PNG")
    return PreparedImage(
        body=body.getvalue(),
        content_type="application/x-image",
        original_format=image.format,
        original_width=oriented.width,
        original_height=oriented.height,
    )
