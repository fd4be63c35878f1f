"""The alerts: what an operator needs to find the part and the photo, and what a line system filters on.

Three kinds: a defect was found, a photo could not be inspected at all (an `error` verdict after the retries
ran out) and needs `inspection-app reinspect`, or a person confirmed a defect the model had not called. Every
other verdict is stored without an alert.

Each alert is published as an SNS structured message (`MessageStructure: json`, docs/alerts.md): e-mail
subscribers get the readable text, every other protocol (SQS, Lambda, HTTPS webhooks) a JSON object with the
same facts as fields; the message attributes `verdict`, `product_id` and `model_id` let a subscription's filter
policy choose which alerts it gets.
"""
from __future__ import annotations

import json
from pathlib import PurePosixPath

from .verdicts import DEFECTIVE, ERROR

# SNS requires a subject of fewer than 100 ASCII characters.
_SUBJECT_LIMIT = 99


def _subject(text: str) -> str:
    return text[:_SUBJECT_LIMIT]


def _photo_lines(record: dict) -> list[str]:
    lines = [
        f"File name: {PurePosixPath(record['key']).name}",
        f"S3 URL path: s3://{record['bucket']}/{record['key']}",
    ]
    if record.get("version_id"):
        lines.append(f"S3 version: {record['version_id']}")
    return lines


# Protocols that get the JSON body (`default`: any other, e.g. email-json, firehose); e-mail gets the text.
MACHINE_PROTOCOLS = ("default", "sqs", "lambda", "http", "https")
ATTRIBUTES = ("verdict", "product_id", "model_id")


def _structured(kind: str, verdict: str, record: dict, subject: str, text: str, **facts) -> dict:
    """The alert: `subject` and `message` (the readable text), `body` (the same as JSON fields), and what SNS
    publishes: `sns_message` (one text per protocol) and `attributes` (for filter policies)."""
    body = {
        "alert": kind,
        "verdict": verdict,
        "product_id": record["product_id"],
        "inspection_id": record["inspection_id"],
        "file_name": PurePosixPath(record["key"]).name,
        "s3_url": f"s3://{record['bucket']}/{record['key']}",
        "bucket": record["bucket"],
        "key": record["key"],
        "version_id": record.get("version_id"),
        "confidence": None if record.get("confidence") is None else float(record["confidence"]),
        "model_id": record.get("model_id"),
        "uploaded_at": record["uploaded_at"],
        **facts,
        "subject": subject,
        "text": text,
    }
    machine = json.dumps(body, separators=(",", ":"))
    attributes = {name: {"DataType": "String", "StringValue": str(body[name])} for name in ATTRIBUTES if body[name]}
    return {"subject": subject, "message": text, "body": body, "attributes": attributes,
            "sns_message": json.dumps({**dict.fromkeys(MACHINE_PROTOCOLS, machine), "email": text})}


def publish_parameters(topic_arn: str, alert: dict) -> dict:
    """sns:Publish's parameters for an alert (the state machine's PublishAlert task passes the same)."""
    return {"TopicArn": topic_arn, "Subject": alert["subject"], "Message": alert["sns_message"],
            "MessageStructure": "json", "MessageAttributes": alert["attributes"]}


def defect_alert(record: dict) -> dict:
    """Subject and message for a `defective` verdict: file name, S3 URL path, confidence (0..1)."""
    confidence = float(record["confidence"])
    message = "\n".join(
        [
            f"Defect detected on product {record['product_id']}.",
            *_photo_lines(record),
            f"Confidence: {confidence:.4f}",
            f"Model: {record['model_id']}",
            *_heatmap_lines(record),
            f"Inspection: {record['inspection_id']}",
            f"Uploaded at: {record['uploaded_at']}",
        ]
    )
    return _structured("defect_detected", DEFECTIVE, record, _subject(f"Defect detected: {record['product_id']}"),
                       message, **_heatmap_facts(record))


def _heatmap_lines(record: dict) -> list[str]:
    """Where the photo + heat-map overlay lies (docs/heatmaps.md), when the model gave a map."""
    if not record.get("heatmap_key"):
        return []
    return [f"Heat map: s3://{record['bucket']}/{record['heatmap_key']}",
            f"  (a 5-minute link: GET /inspections/{record['inspection_id']}/image?kind=heatmap)"]


def _heatmap_facts(record: dict) -> dict:
    key = record.get("heatmap_key")
    return {"heatmap_key": key, "heatmap_s3_url": f"s3://{record['bucket']}/{key}" if key else None}


def not_inspected_alert(record: dict) -> dict:
    """Subject and message for an `error` verdict: the photo went uninspected, why, and how to re-run it."""
    message = "\n".join(
        [
            f"Product {record['product_id']} was NOT inspected.",
            *_photo_lines(record),
            f"Reason: {record.get('reason', 'unknown')}",
            f"Inspection: {record['inspection_id']}",
            f"Uploaded at: {record['uploaded_at']}",
            "Once the cause is fixed, inspect it again with:",
            f"  inspection-app reinspect --verdict error --since {record['uploaded_at']} --api API_URL",
        ]
    )
    return _structured("not_inspected", ERROR, record, _subject(f"Not inspected: {record['product_id']}"), message,
                       reason=record.get("reason", "unknown"))


def alert_for(record: dict) -> dict | None:
    """The alert a stored verdict calls for, or None."""
    if record["verdict"] == DEFECTIVE:
        return defect_alert(record)
    if record["verdict"] == ERROR:
        return not_inspected_alert(record)
    return None


def reviewed_defect_alert(record: dict) -> dict:
    """Subject and message when a person reviews a photo the model did not call defective as `defective`
    (the record carries the review: reviewed_by, reviewed_at, review_note)."""
    model = record["verdict"] + (f", confidence {float(record['confidence']):.4f}" if "confidence" in record else "")
    message = "\n".join(
        [
            f"Defect confirmed by review on product {record['product_id']}.",
            *_photo_lines(record),
            f"Reviewed by: {record['reviewed_by']} at {record['reviewed_at']}",
            *([f"Note: {record['review_note']}"] if record.get("review_note") else []),
            f"Model verdict: {model}",
            f"Inspection: {record['inspection_id']}",
            f"Uploaded at: {record['uploaded_at']}",
        ]
    )
    return _structured("defect_confirmed_by_review", DEFECTIVE, record,
                       _subject(f"Defect confirmed by review: {record['product_id']}"), message,
                       model_verdict=record["verdict"], reviewed_by=record["reviewed_by"],
                       reviewed_at=record["reviewed_at"], review_note=record.get("review_note") or None)
