"""The text of the alerts: what an operator needs to find the part and the photo.

Two kinds: a defect was found, or a photo could not be inspected at all (an `error` verdict after the
retries ran out) and needs `inspection-app reinspect`. Every other verdict is stored without an alert.
"""
from __future__ import annotations

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


def defect_alert(record: dict) -> dict:
    """Subject and message for a `defective` verdict: file name, S3 URL path, confidence (0..1)."""
    confidence = float(record["confidence"])
    message = "\n".join(
        [
            f"Defect detected on product {record['product_id']}.",
            *_photo_lines(record),
            f"Confidence: {confidence:.4f}",
            f"Model: {record['model_id']}",
            f"Inspection: {record['inspection_id']}",
            f"Uploaded at: {record['uploaded_at']}",
        ]
    )
    return {"subject": _subject(f"Defect detected: {record['product_id']}"), "message": message}


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
    return {"subject": _subject(f"Not inspected: {record['product_id']}"), "message": message}


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
    return {"subject": _subject(f"Defect confirmed by review: {record['product_id']}"), "message": message}
