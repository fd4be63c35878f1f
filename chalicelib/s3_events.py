"""Reading S3 "object created" events out of SQS message bodies.

Three shapes reach the queue, all read alike:
- an S3 event notification, `{"Records": [...]}`, keys URL-encoded;
- the same notification inside an SNS envelope (`{"Type": "Notification", "Message": "<the JSON>"}`), as SNS
  delivers it to SQS without raw message delivery;
- an EventBridge "Object Created" event from `aws.s3` (keys NOT URL-encoded, fields under `detail`).

Every object created under the upload prefix becomes an UploadEvent: a product's photo, or an unmatched
upload (no product in its key, or no photo) carrying the reason it is rejected, so it is recorded too.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from .keys import UploadedImage, read_upload_key


class MalformedEvent(ValueError):
    """The message (or one of its records) is no event we can read, now or ever: it is dead-lettered."""


@dataclass(frozen=True)
class UploadEvent:
    """One created object that should be inspected, or recorded as rejected when `rejection` says why."""

    bucket: str
    key: str
    product_id: str
    capture_id: str
    size: int
    etag: str
    version_id: str
    sequencer: str
    event_time: str
    rejection: str = ""

    def as_execution_input(self, inspection_id: str) -> dict:
        execution_input = {
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
        if self.rejection:
            execution_input["rejection"] = self.rejection
        return execution_input


@dataclass
class Message:
    """What one SQS message body holds."""

    events: list = field(default_factory=list)  # UploadEvent: to inspect (or record as rejected)
    skipped: list = field(default_factory=list)  # {"key"?, "reason"}: not uploads (test events, deletions...)
    malformed: list = field(default_factory=list)  # reasons: records that can never be read


def read_message(body, upload_prefix: str) -> Message:
    """Read an SQS message body; MalformedEvent when the body as a whole is no event we know.

    A message with some unreadable records still yields its readable ones; the others are in `malformed`.
    """
    message = _json_object(body, "message body")
    if message.get("Type") == "Notification":
        inner = message.get("Message")
        if not isinstance(inner, str):
            raise MalformedEvent("SNS notification has no 'Message' string")
        message = _json_object(inner, "the SNS notification's Message")
    elif "TopicArn" in message and "Type" in message:
        raise MalformedEvent(f"SNS message of type {message['Type']!r} is not a notification")

    result = Message()
    if message.get("Event") == "s3:TestEvent":
        result.skipped.append({"reason": "s3:TestEvent sent when the notification was configured"})
        return result
    if "detail-type" in message:
        _add(result, _eventbridge_event(message, upload_prefix))
        return result
    records = message.get("Records")
    if not isinstance(records, list):
        raise MalformedEvent("message has no 'Records' list and is no EventBridge event; not an S3 event notification")
    for index, record in enumerate(records):
        try:
            _add(result, _notification_record(record, upload_prefix))
        except MalformedEvent as error:
            result.malformed.append(f"record {index}: {error}")
    return result


def _json_object(text, what: str) -> dict:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise MalformedEvent(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedEvent(f"{what} is not a JSON object")
    return value


def _add(message: Message, event) -> None:
    (message.events if isinstance(event, UploadEvent) else message.skipped).append(event)


def _notification_record(record, upload_prefix: str) -> UploadEvent | dict:
    try:
        event_name = record["eventName"]
        bucket = record["s3"]["bucket"]["name"]
        obj = record["s3"]["object"]
        key = unquote_plus(obj["key"])
    except (KeyError, TypeError, AttributeError):
        raise MalformedEvent("record lacks eventName, s3.bucket.name or s3.object.key") from None
    if not isinstance(event_name, str) or not isinstance(bucket, str) or not bucket:
        raise MalformedEvent("record's eventName and s3.bucket.name must be strings")
    if not event_name.startswith("ObjectCreated:"):
        return {"key": key, "reason": f"event {event_name} is not an object creation"}
    return _upload_event(
        upload_prefix, bucket=bucket, key=key, size=obj.get("size"), etag=obj.get("eTag"),
        version_id=obj.get("versionId"), sequencer=obj.get("sequencer"), event_time=record.get("eventTime"),
    )


def _eventbridge_event(event: dict, upload_prefix: str) -> UploadEvent | dict:
    if event.get("source") != "aws.s3":
        raise MalformedEvent(f"EventBridge event from source {event.get('source')!r}, not aws.s3")
    try:
        detail_type = event["detail-type"]
        bucket = event["detail"]["bucket"]["name"]
        obj = event["detail"]["object"]
        key = obj["key"]  # EventBridge carries the key as it is, not URL-encoded
    except (KeyError, TypeError, AttributeError):
        raise MalformedEvent("EventBridge event lacks detail.bucket.name or detail.object.key") from None
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str):
        raise MalformedEvent("EventBridge event's detail.bucket.name and detail.object.key must be strings")
    if detail_type != "Object Created":
        return {"key": key, "reason": f"EventBridge event {detail_type!r} is not an object creation"}
    return _upload_event(
        upload_prefix, bucket=bucket, key=key, size=obj.get("size"), etag=obj.get("etag", obj.get("eTag")),
        version_id=obj.get("version-id"), sequencer=obj.get("sequencer"), event_time=event.get("time"),
    )


def _upload_event(upload_prefix: str, *, bucket, key, size, etag, version_id, sequencer, event_time):
    upload = read_upload_key(upload_prefix, key)
    if upload is None:
        where = "a folder placeholder" if key.startswith(upload_prefix) else f"not under {upload_prefix}"
        return {"key": key, "reason": f"{where}; not an upload"}
    try:
        size = int(size or 0)
    except (TypeError, ValueError):
        raise MalformedEvent(f"object size {size!r} is not a number") from None
    return UploadEvent(
        bucket=bucket,
        key=key,
        product_id=upload.product_id,
        capture_id=upload.capture_id,
        size=size,
        etag=str(etag or ""),
        version_id=str(version_id or ""),
        sequencer=str(sequencer or ""),
        event_time=str(event_time or ""),
        rejection="" if isinstance(upload, UploadedImage) else upload.reason,
    )
