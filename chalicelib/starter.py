"""The SQS-triggered starter: one small function per SQS record, failures reported per record.

Only the records that failed are reported back (`batchItemFailures`), so one bad message is redelivered
(and, after the queue's maxReceiveCount, moved to the dead-letter queue) without replaying its batch.
"""
from __future__ import annotations

import logging

from .logs import log
from .s3_events import upload_events
from .settings import Settings
from .workflow import start_inspection


def start_record(record: dict, settings: Settings, stepfunctions) -> list[dict]:
    """Start an inspection for every image in one SQS record; returns what was started."""
    events, skipped = upload_events(record["body"], settings.upload_prefix)
    for skip in skipped:
        log("upload skipped", message_id=record.get("messageId"), **skip)
    started = []
    for event in events:
        outcome = start_inspection(event, settings.state_machine_arn, stepfunctions)
        log(
            "inspection started" if outcome["started"] else "duplicate event ignored",
            message_id=record.get("messageId"),
            bucket=event.bucket,
            key=event.key,
            product_id=event.product_id,
            inspection_id=outcome["inspection_id"],
        )
        started.append(outcome)
    return started


def start_batch(records: list[dict], settings: Settings, stepfunctions) -> dict:
    """Process every record of an SQS batch; report the failed ones for redelivery."""
    failures = []
    for record in records:
        try:
            start_record(record, settings, stepfunctions)
        except Exception as error:  # noqa: BLE001 - any failure of one record must not sink the others
            log(
                "record failed; left for redelivery",
                logging.ERROR,
                message_id=record.get("messageId"),
                error_type=type(error).__name__,
                error=str(error),
            )
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
