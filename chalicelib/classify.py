"""The classify task: read the uploaded object, check it, and ask the model what it shows."""
from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError

from .endpoint import ModelEndpoint
from .heatmaps import heatmap_key, render_overlay
from .images import ImageRejected, PreparedImage, prepare_image
from .logs import log
from .settings import Settings


# S3 error codes after which the same request may succeed later.
_TRANSIENT_CODES = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500"})


class StorageUnavailable(RuntimeError):
    """S3 failed transiently; the state machine retries with backoff."""


class StorageError(RuntimeError):
    """S3 refused the read for good (no such bucket, access denied): recorded as an `error` verdict."""


def read_upload(s3, bucket: str, key: str, max_bytes: int, version_id: str = "") -> bytes:
    """The object's bytes (exactly `version_id` when given); ImageRejected when it is gone or too large."""
    where = f"s3://{bucket}/{key}" + (f" (version {version_id})" if version_id else "")
    try:
        response = s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version_id} if version_id else {}))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchVersion", "404"):
            raise ImageRejected(f"{where} no longer exists; upload the photo again.") from None
        failure = StorageUnavailable if code in _TRANSIENT_CODES else StorageError
        raise failure(f"reading {where}: {code}") from None
    except BotoCoreError as error:
        raise StorageUnavailable(f"reading {where}: {error}") from None
    # Checked again here because a pre-signed POST's size condition is the only other guard.
    if response["ContentLength"] > max_bytes:
        response["Body"].close()
        raise ImageRejected(f"The file is {response['ContentLength']} bytes; the limit is {max_bytes} bytes.")
    return response["Body"].read()


def classify_upload(task_input: dict, settings: Settings, s3, endpoint: ModelEndpoint) -> dict:
    """Classification of one upload, or a rejection with its reason (bad images are not errors).

    An upload the starter already found unmatched (no product in its key, or no photo) carries `rejection`:
    it is rejected at once, without reading it or asking the model.
    """
    if task_input.get("rejection"):
        return {"status": "rejected", "reason": task_input["rejection"]}
    try:
        data = read_upload(
            s3, task_input["bucket"], task_input["key"], settings.max_upload_bytes, task_input.get("version_id") or ""
        )
        image = prepare_image(
            data,
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_image_pixels,
            input_size=settings.model_input_size,
            min_side=settings.min_image_side,
        )
    except ImageRejected as rejection:
        return {"status": "rejected", "reason": str(rejection)}
    prediction = endpoint.predict(image.body, image.content_type)
    probabilities = dict(zip(settings.model_classes, prediction.probabilities))
    label = max(probabilities, key=probabilities.get)
    stored_map = store_heatmap(s3, task_input, settings, image, prediction.heatmap) if prediction.heatmap else None
    return {
        "status": "classified",
        "label": label,
        "confidence": probabilities[label],
        "probabilities": probabilities,
        "model_id": prediction.model_id,
        "image": {
            "format": image.original_format,
            "width": image.original_width,
            "height": image.original_height,
        },
        **({"heatmap_key": stored_map} if stored_map else {}),
    }


def store_heatmap(s3, task_input: dict, settings: Settings, image: PreparedImage, heatmap: list[list[float]]) -> str | None:
    """Put the photo + map overlay next to the upload (chalicelib/heatmaps.py); its key, or None when S3 refused it.

    The map is an aid to the verdict, not part of it: a failed write is logged and the classification stands."""
    key = heatmap_key(task_input["key"], settings.upload_prefix, task_input["inspection_id"])
    try:
        s3.put_object(Bucket=task_input["bucket"], Key=key, Body=render_overlay(image.upright, heatmap),
                      ContentType="image/png")
    except (ClientError, BotoCoreError) as error:
        log("heat map not stored", level=logging.WARNING, key=key, reason=str(error))
        return None
    return key
