"""Polling SQS queues locally: the SQS → starter path, run as Lambda's event source mapping runs it.

Receive a batch, hand it to a processor, delete what it processed; the rest stays on the queue, comes back
after the visibility timeout, and goes to the dead-letter queue after the redrive policy's maxReceiveCount.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Callable

from chalicelib.logs import log

from .background import BackgroundThread
from .lambda_dispatch import LambdaDispatcher

# Takes the received messages, returns those that were processed (and so are deleted).
BatchProcessor = Callable[[list], list]


def lambda_sqs_event(messages: list[dict], queue_arn: str, region: str) -> dict:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def lambda_batch_processor(dispatcher: LambdaDispatcher, handler: str, queue_arn: str, region: str) -> BatchProcessor:
    """Invoke `handler` with the batch; with ReportBatchItemFailures, only reported records are kept."""

    def process(messages: list[dict]) -> list[dict]:
        headers, payload = dispatcher.invoke(handler, lambda_sqs_event(messages, queue_arn, region))
        if headers.get("X-Amz-Function-Error"):
            log("handler failed; batch left for redelivery", logging.ERROR, handler=handler, payload=payload.decode())
            return []
        failed = {item["itemIdentifier"] for item in (json.loads(payload) or {}).get("batchItemFailures", [])}
        return [m for m in messages if m["MessageId"] not in failed]

    return process


class QueuePoller(BackgroundThread):
    """A background loop: receive from one queue, process, delete the processed messages."""

    def __init__(self, sqs, queue_url: str, process: BatchProcessor, *, batch_size: int = 10, wait_seconds: int = 1):
        self._sqs = sqs
        self._queue_url = queue_url
        self._process = process
        self._batch_size = batch_size
        self._wait_seconds = wait_seconds
        self._stopping = threading.Event()
        # A receive in progress returns within its wait: join for that long, and a little more.
        super().__init__(f"poll-{queue_url.rsplit('/', 1)[-1]}", join_seconds=wait_seconds + 5)

    def poll_once(self) -> int:
        """Receive and process one batch; returns how many messages were received."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        done = self._process(messages)
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(messages)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception as error:  # noqa: BLE001 - a poller must survive a hiccup of the local services
                if not self._stopping.is_set():
                    log("queue poll failed", logging.WARNING, queue=self._queue_url, error=str(error))
                    self._stopping.wait(1)

    def _halt(self) -> None:
        self._stopping.set()
