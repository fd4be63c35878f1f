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

CONTENT_TYPE_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}
IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png"})


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


def parse_upload_key(prefix: str, key: str) -> UploadedImage | None:
    """The product an uploaded key belongs to, or None when the key is not an image under the prefix.

    Keys made by our API are `<prefix><product_id>/<capture_id>.<ext>`; a camera that writes straight to
    `<prefix><name>.<ext>` is accepted too, with the file name's stem as product id.
    """
    if not key.startswith(prefix):
        return None
    path = PurePosixPath(key[len(prefix):])
    if path.suffix.lower().lstrip(".") not in IMAGE_EXTENSIONS:
        return None
    parts = path.parts
    if len(parts) == 1:
        product_id = path.stem
    elif len(parts) == 2:
        product_id = parts[0]
    else:
        return None
    try:
        validate_product_id(product_id)
    except InvalidProductId:
        return None
    return UploadedImage(product_id=product_id, capture_id=path.stem)
