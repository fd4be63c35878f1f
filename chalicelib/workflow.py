"""Starting one Step Functions execution per uploaded image, at most once per upload.

S3 and SQS deliver at least once. The execution name is derived from the object's identity (bucket, key and
version; eTag and sequencer where the bucket keeps no versions), so a redelivered event asks for an execution that already exists, and Step
Functions refuses to run it twice: no second inspection, no second alert.
"""
from __future__ import annotations

import hashlib
import json
import re

from botocore.exceptions import ClientError

from .s3_events import UploadEvent


def name_for(product_id: str, *identity: str) -> str:
    """A deterministic execution name: the product (readable) and a digest of what makes it unique."""
    digest = hashlib.sha256("\n".join(identity).encode()).hexdigest()[:32]
    # Names allow 80 characters; keep only the characters CloudWatch metrics accept too.
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", product_id)[:40]
    return f"{readable}-{digest}"


def execution_name(event: UploadEvent) -> str:
    # In a versioned bucket the version is the object's identity, however the event arrived (an S3
    # notification and an EventBridge event of one upload carry different sequencers); without versions,
    # the eTag and the sequencer tell an overwrite from a redelivery.
    if event.version_id:
        return name_for(event.product_id, event.bucket, event.key, event.version_id)
    return name_for(event.product_id, event.bucket, event.key, event.version_id, event.etag, event.sequencer)


def start_named(stepfunctions, state_machine_arn: str, name: str, execution_input: dict) -> bool:
    """Start execution `name`; False when it exists already (a duplicate request, nothing to do)."""
    try:
        stepfunctions.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(execution_input))
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionAlreadyExists":
            return False
        raise
    return True


def start_inspection(event: UploadEvent, state_machine_arn: str, stepfunctions) -> dict:
    """Start the inspection of one upload; returns {"inspection_id", "started": bool}."""
    name = execution_name(event)
    started = start_named(stepfunctions, state_machine_arn, name, event.as_execution_input(name))
    return {"inspection_id": name, "started": started}
