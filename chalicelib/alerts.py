"""The text of a defect alert: what an operator needs to find the part and the photo."""
from __future__ import annotations

from pathlib import PurePosixPath


def defect_alert(record: dict) -> dict:
    """Subject and message for a `defective` verdict: file name, S3 URL path, confidence (0..1)."""
    file_name = PurePosixPath(record["key"]).name
    s3_url = f"s3://{record['bucket']}/{record['key']}"
    confidence = float(record["confidence"])
    message = "\n".join(
        [
            f"Defect detected on product {record['product_id']}.",
            f"File name: {file_name}",
            f"S3 URL path: {s3_url}",
            f"Confidence: {confidence:.4f}",
            f"Model: {record['model_id']}",
            f"Inspection: {record['inspection_id']}",
            f"Uploaded at: {record['uploaded_at']}",
        ]
    )
    # SNS subjects: at most 100 ASCII characters.
    subject = f"Defect detected: {record['product_id']}"[:100]
    return {"subject": subject, "message": message}
