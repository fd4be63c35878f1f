"""Checking and normalising an uploaded image with Pillow before it reaches the model.

A bad upload (empty, not an image, truncated, too big, too small, blank) is a *rejection* with a reason a
person can act on, never a crash: it is stored as a result like any other verdict. The pixels themselves are
converted by `chalicelib.imaging.to_rgb`, the conversion training uses too.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

from .imaging import ACCEPTED_FORMATS, ACCEPTED_FORMATS_TEXT, to_rgb

# Blank: in the 8-bit RGB picture, every channel spans at most this many levels (max - min) over the
# whole frame. Two levels absorb JPEG and rounding noise on a flat field (lens cap, dark or white frame,
# a stuck camera's test image). A real photo never comes that close: sensor noise and texture alone
# span dozens of levels (the darkest, lowest-contrast ELPV solar-cell photo spans 50), and a single mark
# on a flat surface - a defect - widens the range, so a defect is never turned into a rejection.
BLANK_MAX_SPREAD = 2

_PASS_THROUGH_FORMATS = frozenset({"JPEG", "PNG"})
_EXIF_ORIENTATION = 0x0112


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
    # The upright 8-bit RGB photo (EXIF orientation applied), as the model's input was made from it.
    upright: Image.Image | None = field(default=None, repr=False, compare=False)


def prepare_image(
    data: bytes, *, max_bytes: int, max_pixels: int, input_size: int, min_side: int = 32
) -> PreparedImage:
    """Validate `data` and return it oriented, in 8-bit RGB and resized to the model's square input.

    `min_side`: the shortest side, in pixels, worth inspecting (Settings.min_image_side).
    """
    if not data:
        raise ImageRejected("The file is empty (0 bytes); upload the photo again.")
    if len(data) > max_bytes:
        raise ImageRejected(f"The file is {len(data)} bytes; the limit is {max_bytes} bytes.")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRejected(
            f"The file is not an image in an accepted format ({ACCEPTED_FORMATS_TEXT}): Pillow cannot identify "
            "it. Upload the photo in one of those formats."
        ) from None
    except Image.DecompressionBombError as error:  # Pillow's own guard, hit before ours for gigantic headers
        raise ImageRejected(f"The image is far too large ({error}); the limit is {max_pixels} pixels.") from None
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(
            f"The file is a {image.format} image; the accepted formats are {ACCEPTED_FORMATS_TEXT}. "
            "Save the photo in one of those formats."
        )
    width, height = image.size
    # Checked from the header, before decoding, so a decompression bomb never allocates its pixels.
    if width * height > max_pixels:
        raise ImageRejected(
            f"The image is {width}x{height} pixels ({width * height}); the limit is {max_pixels} pixels."
        )
    if min(width, height) < min_side:
        raise ImageRejected(
            f"The image is {width}x{height} pixels; both sides must be at least {min_side} pixels. "
            "Upload the full camera photo, not a thumbnail or a crop."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as error:
        raise ImageRejected(f"The image is truncated or corrupt ({error}); upload the photo again.") from None
    try:
        oriented = to_rgb(image)
    except ValueError as error:
        raise ImageRejected(
            f"The image's colour mode {image.mode} cannot be converted to RGB ({error}); save it as an "
            "ordinary RGB or greyscale photo."
        ) from None
    _reject_blank(oriented)
    return PreparedImage(
        body=data if _model_ready(image, oriented, input_size) else _png(oriented, input_size),
        content_type="application/x-image",
        original_format=image.format,
        original_width=oriented.width,
        original_height=oriented.height,
        upright=oriented,
    )


def _model_ready(image: Image.Image, oriented: Image.Image, input_size: int) -> bool:
    """True when the upload's own bytes are exactly what the model would get: an 8-bit RGB JPEG or PNG of the
    input size, one frame, nothing to rotate. Sent as they are: decoding them gives the same pixels."""
    return (
        image.format in _PASS_THROUGH_FORMATS
        and image.mode == "RGB"
        and oriented.size == (input_size, input_size)
        and not getattr(image, "is_animated", False)
        and image.getexif().get(_EXIF_ORIENTATION, 1) == 1
    )


def _png(image: Image.Image, input_size: int) -> bytes:
    """The picture resized to the model's square input, as PNG: lossless, so the model sees exactly these pixels.
    The fastest zlib level: the bytes travel once over the network to the endpoint, where size hardly matters
    (1.5 ms instead of 5.3 ms for 192x192, 22 KB instead of 17 KB)."""
    body = io.BytesIO()
    image.resize((input_size, input_size), Image.Resampling.BILINEAR).save(body, format="PNG", compress_level=1)
    return body.getvalue()


def _reject_blank(image: Image.Image) -> None:
    """ImageRejected when the RGB image is practically one colour (see BLANK_MAX_SPREAD)."""
    extrema = image.getextrema()
    if all(high - low <= BLANK_MAX_SPREAD for low, high in extrema):
        spans = ", ".join(f"{band} {low}..{high}" for band, (low, high) in zip("RGB", extrema))
        raise ImageRejected(
            f"The image is blank: every pixel has practically the same colour ({spans}). Check the camera "
            "(lens cap, exposure, lighting, cable) and upload a real photo of the part."
        )
