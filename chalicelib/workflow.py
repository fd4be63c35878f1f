"""Starting one Step Functions execution per uploaded image, at most once per upload.

S3 and SQS deliver at least once. The execution name is derived from the object's identity (bucket, key,
version, eTag, sequencer), so a redelivered event asks for an execution that already exists, and Step
Functions refuses to run it twice: no second inspection, no second alert.
"""
from __future__ import annotations

import hashlib
import json
import re

from botocore.exceptions import ClientError

from .s3_events import UploadEvent


def execution_name(event: UploadEvent) -> str:
    identity = "\n".join([event.bucket, event.key, event.version_id, event.etag, event.sequencer])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    # Names allow 80 characters; keep only the characters CloudWatch metrics accept too.
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", event.product_id)[:40]
    return f"{readable}-{digest}"


def start_inspection(event: UploadEvent, state_machine_arn: str, stepfunctions) -> dict:
    """Start the inspection of one upload; returns {"inspection_id", "started": bool}."""
    name = execution_name(event)
    try:
        stepfunctions.start_execution(
            stateMachineArn=state_machine_arn,
            name=name,
            input=json.dumps(event.as_execution_input(name)),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return {"inspection_id": name, "started": False}
        raise
    return {"inspection_id": name, "started": True}
