"""`inspection-app redrive`: store the verdicts that were parked while the results store (or the alert
topic) stayed down past the state machine's retries.

A parked message is the whole inspection as it stood (its classification or failure included). It is run
again through the same state machine, which goes straight to RecordVerdict: the verdict is stored once (the
store's conditional put makes a second try a no-op) and alerted with the usual rules. The execution name
derives from the parked message, so running redrive twice starts each parked inspection once.
"""
from __future__ import annotations

import json
import logging

from chalicelib.logs import log
from chalicelib.workflow import name_for, start_named

# Long enough to start one execution; a message that could not be started comes back after it.
_RECEIVE_VISIBILITY_SECONDS = 60


def _parked_state(message: dict) -> dict | None:
    try:
        state = json.loads(message["Body"])
    except ValueError:
        return None
    if not isinstance(state, dict) or not all(isinstance(state.get(k), str) for k in ("product_id", "inspection_id")):
        return None
    return state


def redrive_parked(sqs, stepfunctions, queue_url: str, state_machine_arn: str) -> dict:
    """Start one execution per parked message and delete the message; returns the counts."""
    counts = {"redriven": 0, "already_redriven": 0, "unreadable": 0}
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
            VisibilityTimeout=_RECEIVE_VISIBILITY_SECONDS,
        ).get("Messages", [])
        if not messages:
            return counts
        for message in messages:
            state = _parked_state(message)
            if state is None:
                # Left on the queue (it returns after the visibility timeout) for a person to look at.
                log("parked message unreadable; left on the queue", logging.ERROR, message_id=message["MessageId"])
                counts["unreadable"] += 1
                continue
            name = name_for(state["product_id"], state["inspection_id"], message["MessageId"])
            started = start_named(stepfunctions, state_machine_arn, name, state)
            counts["redriven" if started else "already_redriven"] += 1
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
