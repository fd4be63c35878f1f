"""Pre-signed POST uploads: what a camera station, phone or web page may put into the bucket."""
from __future__ import annotations

from typing import Callable

from .keys import CONTENT_TYPE_EXTENSIONS, new_capture_id, upload_key, validate_product_id
from .settings import Settings


class InvalidUploadRequest(ValueError):
    pass


def create_upload(request: dict | None, settings: Settings, s3,
                  authorize: Callable[[str], None] = lambda product_id: None) -> dict:
    """Validate an upload request and return a pre-signed POST limited to one key, type and size.

    `authorize(product_id)` raises when the caller may not upload for that (valid) product: before anything is
    signed."""
    if not isinstance(request, dict):
        raise InvalidUploadRequest(
            'Send a JSON object like {"product_id": "PCB-0042", "content_type": "image/jpeg"}.'
        )
    product_id = validate_product_id(request.get("product_id"))
    authorize(product_id)
    content_type = request.get("content_type", "image/jpeg")
    if not isinstance(content_type, str) or content_type not in CONTENT_TYPE_EXTENSIONS:
        allowed = ", ".join(sorted(CONTENT_TYPE_EXTENSIONS))
        raise InvalidUploadRequest(f"content_type {content_type!r} is not accepted; use one of: {allowed}.")
    capture_id = new_capture_id()
    key = upload_key(settings.upload_prefix, product_id, capture_id, CONTENT_TYPE_EXTENSIONS[content_type])
    post = s3.generate_presigned_post(
        Bucket=settings.upload_bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[
            {"Content-Type": content_type},
            ["content-length-range", 1, settings.max_upload_bytes],
        ],
        ExpiresIn=settings.upload_url_expiry_seconds,
    )
    return {
        "product_id": product_id,
        "capture_id": capture_id,
        "bucket": settings.upload_bucket,
        "key": key,
        "url": post["url"],
        "fields": post["fields"],
        "content_type": content_type,
        "max_bytes": settings.max_upload_bytes,
        "expires_in": settings.upload_url_expiry_seconds,
        "results_path": f"/results/{product_id}",
    }
