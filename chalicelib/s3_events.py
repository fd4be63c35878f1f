"""Reading S3 event notifications out of SQS message bodies."""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote_plus

from .keys import parse_upload_key


class MalformedEvent(ValueError):
    """The message is not an S3 event notification; it is left to the queue's dead-letter policy."""


@dataclass(frozen=True)
class UploadEvent:
    """One created object that should be inspected."""

    bucket: str
    key: str
    product_id: str
    capture_id: str
    size: int
    etag: str
    version_id: str
    sequencer: str
    event_time: str

    def as_execution_input(self, inspection_id: str) -> dict:
        return {
            "inspection_id": inspection_id,
            "bucket": self.bucket,
            "key": self.key,
            "product_id": self.product_id,
            "capture_id": self.capture_id,
            "size": self.size,
            "etag": self.etag,
            "version_id": self.version_id,
            "sequencer": self.sequencer,
            "uploaded_at": self.event_time,
        }


def upload_events(body: str, upload_prefix: str) -> tuple[list[UploadEvent], list[dict]]:
    """Split an SQS message body into the uploads to inspect and the records skipped (with reasons)."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError):
        raise MalformedEvent("message body is not JSON") from None
    if not isinstance(message, dict):
        raise MalformedEvent("message body is not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return [], [{"reason": "s3:TestEvent sent when the notification was configured"}]
    records = message.get("Records")
    if not isinstance(records, list):
        raise MalformedEvent("message has no 'Records' list; not an S3 event notification")

    events, skipped = [], []
    for record in records:
        event = _upload_event(record, upload_prefix)
        if isinstance(event, UploadEvent):
            events.append(event)
        else:
            skipped.append(event)
    return events, skipped


def _upload_event(record: dict, upload_prefix: str) -> UploadEvent | dict:
    try:
        event_name = record["eventName"]
        bucket = record["s3"]["bucket"]["name"]
        obj = record["s3"]["object"]
        key = unquote_plus(obj["key"])
    except (KeyError, TypeError, AttributeError):
        raise MalformedEvent("record lacks eventName, s3.bucket.name or s3.object.key") from None
    if not isinstance(event_name, str) or not isinstance(bucket, str):
        raise MalformedEvent("record's eventName and s3.bucket.name must be strings")
    if not event_name.startswith("ObjectCreated:"):
        return {"key": key, "reason": f"event {event_name} is not an object creation"}
    upload = parse_upload_key(upload_prefix, key)
    if upload is None:
        return {"key": key, "reason": f"not an image (.jpg/.jpeg/.png) under {upload_prefix}<product_id>/"}
    return UploadEvent(
        bucket=bucket,
        key=key,
        product_id=upload.product_id,
        capture_id=upload.capture_id,
        size=int(obj.get("size") or 0),
        etag=obj.get("eTag", ""),
        version_id=obj.get("versionId") or "",
        sequencer=obj.get("sequencer", ""),
        event_time=record.get("eventTime", ""),
    )
