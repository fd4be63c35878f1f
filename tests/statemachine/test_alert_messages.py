"""The alerts the state machine publishes, as subscribers receive them: SNS's structured message (JSON for
queues, Lambda and webhooks) and the attributes a subscription's filter policy matches (docs/alerts.md)."""
from __future__ import annotations

import json

from chalicelib.aws import ATTEMPTS

from .conftest import MODEL_ID
from .test_retry_catch import MAX_ATTEMPTS


def subscribe_filtered_queue(pipeline, name: str, policy: dict) -> str:
    url = pipeline.sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = pipeline.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pipeline.session.client("sns").subscribe(TopicArn=pipeline.topic_arn, Protocol="sqs", Endpoint=arn,
                                             Attributes={"FilterPolicy": json.dumps(policy)})
    return url


def attributes(envelope: dict) -> dict:
    return {name: value["Value"] for name, value in envelope["MessageAttributes"].items()}


def test_given_a_defective_photo_when_alerted_then_a_queue_gets_the_json_body_with_filterable_attributes(run):
    # WHEN the pipeline finds a defect
    execution = run()
    # THEN the subscribed queue gets one JSON alert naming the photo, with confidence as a fraction
    [envelope] = execution.alerts
    body = json.loads(envelope["Message"])
    assert (body["alert"], body["verdict"], body["product_id"]) == ("defect_detected", "defective", "PCB-7")
    assert (body["file_name"], body["s3_url"]) == ("capture-1.jpg", "s3://sfn-test-uploads/uploads/PCB-7/capture-1.jpg")
    assert 0.75 <= body["confidence"] <= 1 and body["model_id"] == MODEL_ID
    assert "Defect detected on product PCB-7." in body["text"] and envelope["Subject"] == "Defect detected: PCB-7"
    assert attributes(envelope) == {"verdict": "defective", "product_id": "PCB-7", "model_id": MODEL_ID}


def test_given_a_filter_policy_on_verdict_when_a_defect_and_a_failure_are_alerted_then_it_gets_the_failure_only(
        run, pipeline):
    # GIVEN a line system subscribed to failed inspections only
    failures = subscribe_filtered_queue(pipeline, "sfn-test-failures-only", {"verdict": ["error"]})
    # WHEN one photo is found defective and another cannot be inspected (the endpoint down past the retries)
    defect = run()
    pipeline.faults.fail("model", (MAX_ATTEMPTS + 1) * ATTEMPTS)  # every try fails
    failed = run()
    # THEN the unfiltered reader got both alerts, the filtered one only the not-inspected alert
    assert [len(defect.alerts), len(failed.alerts)] == [1, 1]
    received = pipeline.sqs.receive_message(QueueUrl=failures, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=1).get("Messages", [])
    [body] = [json.loads(json.loads(message["Body"])["Message"]) for message in received]
    assert (body["alert"], body["verdict"], body["inspection_id"]) == ("not_inspected", "error", failed.stored[0]["inspection_id"])
    assert body["reason"].startswith("ModelEndpointUnavailable") and body["confidence"] is None
