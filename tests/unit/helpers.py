"""Builders shared by the unit tests: realistic S3/SQS events, images made in memory, stubbed clients."""
from __future__ import annotations

import hashlib
import io
import json
import struct
import uuid
import zlib
from dataclasses import dataclass
from urllib.parse import quote_plus

import boto3
from botocore.response import StreamingBody
from PIL import Image, ImageDraw

from chalicelib.results import inspection_key
from chalicelib.s3_events import MalformedEvent, UploadEvent, read_message
from chalicelib.settings import Settings
from inspection_app.resource_template import resource_template

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "quality-inspection-test-uploads"
TABLE = "quality-inspection-test-results"
STATE_MACHINE_NAME = "quality-inspection-test"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:quality-inspection-test-alerts"
ENDPOINT_NAME = "quality-inspection-test-model"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:quality-inspection-uploads"

# The `local` stage (what app.py sees through chalice.test.Client): its endpoint from .chalice/config.json, its
# resources named as the embedded stack's resource stack (statemachine/resources.yaml, Stage=local) names them.
LOCAL_BUCKET = f"quality-inspection-local-{ACCOUNT}-{REGION}"
LOCAL_TABLE = "quality-inspection-local-results"
LOCAL_STATE_MACHINE_NAME = "quality-inspection-local"
LOCAL_ENDPOINT_NAME = "quality-inspection-local-model"
LOCAL_STAGE_RESOURCES = {
    "UPLOAD_BUCKET": LOCAL_BUCKET,
    "RESULTS_TABLE": LOCAL_TABLE,
    "ALERT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:quality-inspection-local-alerts",
    "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{LOCAL_STATE_MACHINE_NAME}",
}

PASS_DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/quality-inspection-states"


INSPECTION_ID = "PCB-0042-4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
UPLOAD_KEY = "uploads/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg"


def execution_input() -> dict:
    """An execution's input as the starter writes it: what the state machine passes its tasks."""
    return {
        "inspection_id": INSPECTION_ID,
        "bucket": BUCKET,
        "key": UPLOAD_KEY,
        "product_id": "PCB-0042",
        "capture_id": "20240514T092107532000Z-0a1b2c3d",
        "size": 48213,
        "etag": "9b2cf535f27731c974343645a3985328",
        "version_id": "",
        "sequencer": "0066433B1F7D9A5C21",
        "uploaded_at": "2024-05-14T09:21:07.532Z",
    }


def make_settings(**overrides) -> Settings:
    values = dict(
        upload_bucket=BUCKET,
        state_machine_arn=STATE_MACHINE_ARN,
        results_table=TABLE,
        alert_topic_arn=TOPIC_ARN,
        endpoint_name=ENDPOINT_NAME,
        model_input_size=224,
    )
    values.update(overrides)
    return Settings(**values)


# --- S3 event notifications, as S3 puts them on an SQS queue ---------------------------------------------


def s3_record(
    key: str,
    *,
    bucket: str = BUCKET,
    event_name: str = "ObjectCreated:Post",
    size: int = 48213,
    etag: str = "9b2cf535f27731c974343645a3985328",
    sequencer: str = "0066433B1F7D9A5C21",
    version_id: str | None = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
    event_time: str = "2024-05-14T09:21:07.532Z",
    encode=quote_plus,
) -> dict:
    """One record of an S3 event notification; the key URL-encoded the way the notification carries it."""
    obj = {"key": encode(key), "size": size, "eTag": etag, "sequencer": sequencer}
    if version_id is not None:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AROA3XFRBF23EXAMPLE:camera-station-3"},
        "requestParameters": {"sourceIPAddress": "203.0.113.17"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "inspection-uploads",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_message(*records: dict) -> str:
    """The SQS message body S3 sends: {"Records": [...]}."""
    return json.dumps({"Records": list(records)})


def s3_test_event(bucket: str = BUCKET) -> str:
    """The message S3 sends once when the notification is configured."""
    return json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2024-05-14T09:20:00.112Z",
            "Bucket": bucket,
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        }
    )


def eventbridge_object_created(
    key: str,
    *,
    bucket: str = BUCKET,
    detail_type: str = "Object Created",
    size: int = 48213,
    etag: str = "9b2cf535f27731c974343645a3985328",
    sequencer: str = "0066433B1F7D9A5C21",
    version_id: str | None = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
    time: str = "2024-05-14T09:21:07Z",
) -> str:
    """An EventBridge event from S3, as an EventBridge rule puts it on an SQS queue (the key NOT URL-encoded)."""
    obj = {"key": key, "size": size, "etag": etag, "sequencer": sequencer}
    if version_id is not None:
        obj["version-id"] = version_id
    return json.dumps(
        {
            "version": "0",
            "id": "17793124-05d4-b198-2fde-7ededc63b103",
            "detail-type": detail_type,
            "source": "aws.s3",
            "account": ACCOUNT,
            "time": time,
            "region": REGION,
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": bucket},
                "object": obj,
                "request-id": "N4N7GDK58NMKJ12R",
                "requester": ACCOUNT,
                "source-ip-address": "203.0.113.17",
                "reason": "PutObject",
            },
        }
    )


def sns_envelope(message: str, subject: str = "Amazon S3 Notification") -> str:
    """An SNS notification as SNS delivers it to an SQS queue without raw message delivery."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "a1b2c3d4-5e6f-5a7b-8c9d-0e1f2a3b4c5d",
            "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:quality-inspection-uploads",
            "Subject": subject,
            "Message": message,
            "Timestamp": "2024-05-14T09:21:07.611Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
            "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:{REGION}:{ACCOUNT}:quality-inspection-uploads:0b0b6c8e-2f1a-4f5e-9d7b-3f1c2b4a5d6e",
        }
    )


def sqs_record(body: str, message_id: str | None = None) -> dict:
    """One record of the event Lambda's SQS event source mapping passes to the handler."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a+" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1715678467611",
            "SenderId": "AIDAJHIPRHEMV73VRJEBU",
            "ApproximateFirstReceiveTimestamp": "1715678467620",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION,
    }


def sqs_event(*records: dict) -> dict:
    return {"Records": list(records)}


# --- images ----------------------------------------------------------------------------------------------


def encode_image(image: Image.Image, fmt: str, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def part_photo(width: int = 64, height: int = 48, color=(120, 130, 140), mode: str = "RGB") -> Image.Image:
    """A flat part in `color` with a darker (on a dark part: lighter) mark: a photo, not the blank frame
    images.py rejects, in colour and in grey."""
    image = Image.new(mode, (width, height), color)
    mark = tuple(c // 3 if c >= 64 else c + 128 for c in color) if isinstance(color, tuple) else (color + 128) % 256
    ImageDraw.Draw(image).rectangle([width // 4, height // 4, width // 2, height // 2], fill=mark)
    return image


def jpeg_bytes(width: int = 64, height: int = 48, color=(120, 130, 140), **save_args) -> bytes:
    return encode_image(part_photo(width, height, color), "JPEG", quality=95, **save_args)


def png_bytes(width: int = 64, height: int = 48, color=(120, 130, 140), mode: str = "RGB") -> bytes:
    return encode_image(part_photo(width, height, color, mode), "PNG")


def noisy_jpeg(width: int = 96, height: int = 96) -> bytes:
    """A JPEG with enough entropy that cutting it in half really loses image data."""
    return encode_image(Image.effect_noise((width, height), 80).convert("RGB"), "JPEG", quality=90)


def quadrant_image(width: int, height: int) -> Image.Image:
    """Blue everywhere except a red top-left quadrant: where red ends up shows how the image was turned."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height // 2))
    return image


def with_orientation(image: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    extra = {"quality": 95} if fmt == "JPEG" else {}
    return encode_image(image, fmt, exif=exif.tobytes(), **extra)


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims `width` x `height` RGB pixels; the pixels are never there."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


# --- SageMaker runtime responses -------------------------------------------------------------------------


def sagemaker_runtime_client():
    return boto3.client("sagemaker-runtime", region_name=REGION)


def invoke_endpoint_response(payload, custom_attributes: str | None = None, variant: str | None = "AllTraffic") -> dict:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    response = {"Body": StreamingBody(io.BytesIO(raw), len(raw)), "ContentType": "application/json"}
    if custom_attributes is not None:
        response["CustomAttributes"] = custom_attributes
    if variant is not None:
        response["InvokedProductionVariant"] = variant
    return response


_TABLE_PROPERTIES = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")


def create_results_table(client, name: str) -> None:
    """The results table as the resource template defines it (keys, the verdict index, billing), named `name`."""
    properties = resource_template()["Resources"]["ResultsTable"]["Properties"]
    client.create_table(TableName=name, **{key: properties[key] for key in _TABLE_PROPERTIES})


def stored_record(product_id="PCB-0042", uploaded_at="2024-05-14T09:21:07.532Z", inspection_id=None, **changes) -> dict:
    """A result record as the record task stores it."""
    inspection_id = inspection_id or f"{product_id}-{hashlib.sha256(uploaded_at.encode()).hexdigest()[:32]}"
    result = {
        "product_id": product_id,
        "inspection_key": inspection_key(uploaded_at, inspection_id),
        "inspection_id": inspection_id,
        "capture_id": "20240514T092107532000Z-0a1b2c3d",
        "bucket": "quality-inspection-test-uploads",
        "key": f"uploads/{product_id}/20240514T092107532000Z-0a1b2c3d.jpg",
        "uploaded_at": uploaded_at,
        "inspected_at": "2024-05-14T09:21:08.101+00:00",
        "threshold": 0.75,
        "verdict": "defective",
        "label": "defective",
        "confidence": 0.91834,
        "probabilities": {"defect_free": 0.08166, "defective": 0.91834},
        "model_id": "effnet-lite0-2024-05-10",
        "image": {"format": "JPEG", "width": 640, "height": 480},
    }
    result.update(changes)
    return result


def classified(label: str, confidence: float) -> dict:
    """What the classify task returns for a classified image."""
    other = "defect_free" if label == "defective" else "defective"
    return {
        "status": "classified",
        "label": label,
        "confidence": confidence,
        "probabilities": {label: confidence, other: round(1 - confidence, 6)},
        "model_id": "effnet-lite0-2024-05-10",
        "image": {"format": "JPEG", "width": 640, "height": 480},
    }


def upload_events(body, upload_prefix: str) -> tuple[list[UploadEvent], list[dict]]:
    """A message's uploads and skipped records; MalformedEvent if any record is unreadable (as the starter
    treats it)."""
    message = read_message(body, upload_prefix)
    if message.malformed:
        raise MalformedEvent("; ".join(message.malformed))
    return message.events, message.skipped


@dataclass
class FakeLambdaContext:
    """Lambda's context object, faked as Powertools' testing guide does (the attributes Lambda sets)."""

    function_name: str = "quality-inspection-dev-record_verdict"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 45_000
