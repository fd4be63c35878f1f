"""The SQS-triggered starter: one small function per SQS record, failures reported per record.

Only the records that failed are reported back (`batchItemFailures`), so one message that failed for a
passing reason (Step Functions throttled, say) is redelivered without replaying its batch. A message that can
never be read (not JSON, no S3 event) gains nothing from redelivery: it goes to the dead-letter queue at once,
with the reason as a message attribute. Only when that is impossible (no queue configured, the send failed)
is it reported as failed, so the queue's redrive policy dead-letters it later: nothing is lost either way.
"""
from __future__ import annotations

import logging
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from .aws import worst_call_seconds
from .logs import log
from .s3_events import MalformedEvent, read_message
from .settings import Settings
from .workflow import start_inspection

# SQS message attribute values are limited only by the message size; keep the reason readable.
_MAX_ATTRIBUTE_CHARS = 1024
# The longest one record can take: starting its execution, or sending it to the dead-letter queue.
RECORD_WORST_SECONDS = worst_call_seconds("stepfunctions") + worst_call_seconds("sqs")


def start_record(record: dict, settings: Settings, stepfunctions) -> list[dict]:
    """Start an inspection for every upload in one SQS record; returns what was started.

    MalformedEvent when the record (or part of it) can never be read: after its readable uploads are started.
    """
    message = read_message(record["body"], settings.upload_prefix)
    for skip in message.skipped:
        log("upload skipped", message_id=record.get("messageId"), **skip)
    started = []
    for event in message.events:
        outcome = start_inspection(event, settings.state_machine_arn, stepfunctions)
        fields = dict(
            message_id=record.get("messageId"),
            bucket=event.bucket,
            key=event.key,
            product_id=event.product_id,
            inspection_id=outcome["inspection_id"],
        )
        if event.rejection:
            fields["rejection"] = event.rejection
        log("inspection started" if outcome["started"] else "duplicate event ignored", **fields)
        started.append(outcome)
    if message.malformed:
        raise MalformedEvent("; ".join(message.malformed))
    return started


def dead_letter(record: dict, reason: str, settings: Settings, sqs) -> bool:
    """Put an unreadable record on the dead-letter queue now; False when it has to be left for redelivery."""
    body = record.get("body")
    if not settings.dead_letter_queue_url or sqs is None:
        why = "no DEAD_LETTER_QUEUE_URL configured"
    elif not isinstance(body, str) or not body:
        why = "an empty body cannot be sent to a queue"
    else:
        attributes = {
            "error": reason[:_MAX_ATTRIBUTE_CHARS],
            "error_type": MalformedEvent.__name__,
            "source_message_id": record.get("messageId"),
            "source_queue_arn": record.get("eventSourceARN"),
            "approximate_receive_count": (record.get("attributes") or {}).get("ApproximateReceiveCount"),
        }
        try:
            sqs.send_message(
                QueueUrl=settings.dead_letter_queue_url,
                MessageBody=body,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": str(value)}
                    for name, value in attributes.items()
                    if value
                },
            )
        except (ClientError, BotoCoreError) as error:
            why = f"sending to the dead-letter queue failed: {error}"
        else:
            log(
                "unreadable record dead-lettered",
                logging.ERROR,
                message_id=record.get("messageId"),
                error=reason,
                dead_letter_queue_url=settings.dead_letter_queue_url,
            )
            return True
    log(
        "record failed; left for redelivery",
        logging.ERROR,
        message_id=record.get("messageId"),
        error_type=MalformedEvent.__name__,
        error=reason,
        not_dead_lettered=why,
    )
    return False


def start_batch(records: list[dict], settings: Settings, stepfunctions, sqs=None,
                seconds_left: Callable[[], float] | None = None) -> dict:
    """Process every record of an SQS batch; report the failed ones for redelivery.

    `sqs` sends unreadable records to `settings.dead_letter_queue_url`. `seconds_left` (the Lambda
    context's remaining time): records that could not finish before the function times out are left for
    redelivery instead, so a slow service never turns into a timed-out batch.
    """
    failures = []
    for index, record in enumerate(records):
        if seconds_left is not None and seconds_left() < RECORD_WORST_SECONDS:
            log("time running out; records left for redelivery", logging.WARNING, left=len(records) - index)
            failures += [{"itemIdentifier": r["messageId"]} for r in records[index:]]
            break
        try:
            start_record(record, settings, stepfunctions)
        except MalformedEvent as error:
            if not dead_letter(record, str(error), settings, sqs):
                failures.append({"itemIdentifier": record["messageId"]})
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
