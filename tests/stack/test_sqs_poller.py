"""The local event source mapping: delete what succeeded, redeliver what failed, dead-letter poison."""
from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from inspection_app.stack.lambda_dispatch import LambdaDispatcher
from inspection_app.stack.sqs_poller import QueuePoller, lambda_batch_processor


@pytest.fixture
def queues(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        sqs = boto3.client("sqs")
        dlq = sqs.create_queue(QueueName="uploads-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue = sqs.create_queue(QueueName="uploads", Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        })["QueueUrl"]
        yield sqs, queue, dlq


def starter_failing_on(bad_body: str, seen: list):
    def start_inspections(event, context):
        seen.append([record["body"] for record in event["Records"]])
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == bad_body]}

    return start_inspections


def count(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_only_reported_failures_stay_and_poison_ends_in_the_dead_letter_queue(queues):
    # GIVEN three messages, one of which the starter always reports as failed
    sqs, queue, dlq = queues
    for body in ("good-1", "poison", "good-2"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    seen = []
    dispatcher = LambdaDispatcher({"start_inspections": starter_failing_on("poison", seen)}, "app-local-")
    poller = QueuePoller(sqs, queue, lambda_batch_processor(dispatcher, "start_inspections", "arn:queue", "us-east-1"),
                         wait_seconds=0)
    # WHEN the batch is processed
    assert poller.poll_once() == 3
    # THEN the handler saw a Lambda-shaped batch with all three, and only the poison message is left
    assert sorted(seen[0]) == ["good-1", "good-2", "poison"]
    assert count(sqs, queue) == 1
    # AND after the visibility timeout it is redelivered, and after maxReceiveCount it is dead-lettered
    for _ in range(3):
        time.sleep(1.1)
        poller.poll_once()
    assert seen[1] == ["poison"]
    assert count(sqs, queue) == 0
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=dlq).get("Messages", [])] == ["poison"]


def test_a_crashing_handler_leaves_the_whole_batch(queues):
    sqs, queue, _ = queues
    sqs.send_message(QueueUrl=queue, MessageBody="any")

    def crash(event, context):
        raise RuntimeError("state machine unreachable")

    dispatcher = LambdaDispatcher({"start_inspections": crash}, "app-local-")
    poller = QueuePoller(sqs, queue, lambda_batch_processor(dispatcher, "start_inspections", "arn:queue", "us-east-1"),
                         wait_seconds=0)
    assert poller.poll_once() == 1
    assert count(sqs, queue) == 1
