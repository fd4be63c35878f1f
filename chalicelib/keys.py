"""Product ids and the S3 key scheme: uploads/<product_id>/<capture_id>.<ext>.

The capture id starts with a UTC timestamp, so keys (and results) sort chronologically per product.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePosixPath

PRODUCT_ID_RULE = (
    "1 to 128 characters: letters, digits, '.', '_' and '-', starting with a letter or digit, "
    "without '..'"
)
_PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# What POST /uploads accepts, and the extension its key gets. TIFF and BMP: as machine-vision cameras write them.
CONTENT_TYPE_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/tiff": "tif", "image/bmp": "bmp"}
# Extensions of keys the starter inspects (a phone's MPO photo is a .jpg).
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "tif", "tiff", "bmp"})
IMAGE_EXTENSIONS_TEXT = ".jpg, .jpeg, .png, .tif, .tiff and .bmp"


class InvalidProductId(ValueError):
    pass


def validate_product_id(product_id) -> str:
    """Return the product id, or raise InvalidProductId saying what is allowed."""
    if not isinstance(product_id, str) or not product_id:
        raise InvalidProductId(f"product_id is required: {PRODUCT_ID_RULE}.")
    if not _PRODUCT_ID.fullmatch(product_id) or ".." in product_id:
        shown = product_id if len(product_id) <= 40 else product_id[:40] + "..."
        raise InvalidProductId(f"product_id {shown!r} is not allowed; use {PRODUCT_ID_RULE}.")
    return product_id


def new_capture_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{secrets.token_hex(4)}"


def upload_key(prefix: str, product_id: str, capture_id: str, extension: str) -> str:
    return f"{prefix}{validate_product_id(product_id)}/{capture_id}.{extension}"


@dataclass(frozen=True)
class UploadedImage:
    """Where an uploaded image lives and which product it shows."""

    product_id: str
    capture_id: str


# Where objects under the upload prefix that are no inspectable photo of a product are recorded, as
# `rejected` with the reason. No real product can have this id: product ids start with a letter or digit.
UNMATCHED_PRODUCT_ID = "_unmatched"


@dataclass(frozen=True)
class UnmatchedUpload:
    """An object under the upload prefix that names no product or is no photo, and why."""

    capture_id: str
    reason: str
    product_id: str = UNMATCHED_PRODUCT_ID


def read_upload_key(prefix: str, key: str) -> UploadedImage | UnmatchedUpload | None:
    """What an object under the upload prefix is: a product's photo, or an unmatched upload with the reason.

    None for keys that are no upload at all: outside the prefix, or a folder placeholder (ending in '/').
    Keys made by our API are `<prefix><product_id>/<capture_id>.<ext>`; a camera that writes straight to
    `<prefix><name>.<ext>` is accepted too, with the file name's stem as product id.
    """
    if not key.startswith(prefix):
        return None
    relative = key[len(prefix):]
    if not relative or relative.endswith("/"):
        return None
    parts = relative.split("/")  # not PurePosixPath: it would fold "a//b" and "./b" into other keys
    file_name = parts[-1]
    name = PurePosixPath(file_name)
    problems = []
    if name.suffix.lower().lstrip(".") not in IMAGE_EXTENSIONS:
        problems.append(f"the file {file_name!r} is not a photo: only {IMAGE_EXTENSIONS_TEXT} files are inspected")
    if len(parts) > 2:
        problems.append(
            f"the key is {len(parts) - 1} folders deep under {prefix}; photos go to "
            f"{prefix}<product_id>/<file> or {prefix}<product_id>.<ext>"
        )
    else:
        product_id, where = (parts[0], "the key's folder") if len(parts) == 2 else (name.stem, "the file name")
        try:
            validate_product_id(product_id)
        except InvalidProductId:
            problems.append(f"{where} {product_id!r} is not a valid product id ({PRODUCT_ID_RULE})")
    if problems:
        return UnmatchedUpload(capture_id=name.stem or file_name, reason="; ".join(problems))
    return UploadedImage(product_id=product_id, capture_id=name.stem)
