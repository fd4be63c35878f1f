"""inspection_app.redrive: parked verdicts are run again through the state machine, each once."""
import json

import pytest

from inspection_app.redrive import redrive_parked

from .helpers import STATE_MACHINE_ARN


@pytest.fixture
def parked_queue(aws_clients) -> str:
    return aws_clients.sqs.create_queue(QueueName="quality-inspection-test-parked-verdicts")["QueueUrl"]


def parked_inspection(product_id="PCB-0042", n=0) -> dict:
    """What ParkVerdict sends: the whole state, its classification and why it was parked."""
    return {
        "inspection_id": f"{product_id}-{n:032x}",
        "product_id": product_id,
        "bucket": "quality-inspection-test-uploads",
        "key": f"uploads/{product_id}/2024051{n}.jpg",
        "capture_id": f"2024051{n}",
        "uploaded_at": "2024-05-14T09:21:07.532Z",
        "classification": {"status": "classified", "label": "defective", "confidence": 0.9,
                           "probabilities": {"defect_free": 0.1, "defective": 0.9}, "model_id": "m"},
        "parked_because": {"Error": "ResultsStoreUnavailable", "Cause": "{}"},
    }


def executions(stepfunctions) -> list[dict]:
    found = stepfunctions.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]
    return [json.loads(stepfunctions.describe_execution(executionArn=e["executionArn"])["input"]) for e in found]


def test_given_parked_verdicts_when_redriven_then_each_state_runs_again_and_the_queue_empties(
        aws_clients, stepfunctions, parked_queue):
    # GIVEN three verdicts parked while the results store was down
    sqs = aws_clients.sqs
    parked = [parked_inspection(n=n) for n in range(3)]
    for state in parked:
        sqs.send_message(QueueUrl=parked_queue, MessageBody=json.dumps(state))
    # WHEN redriven
    counts = redrive_parked(sqs, stepfunctions, parked_queue, STATE_MACHINE_ARN)
    # THEN each starts once with its whole state (so the state machine goes straight to RecordVerdict)
    assert counts == {"redriven": 3, "already_redriven": 0, "unreadable": 0}
    assert sorted(executions(stepfunctions), key=lambda s: s["key"]) == parked
    assert "Messages" not in sqs.receive_message(QueueUrl=parked_queue, WaitTimeSeconds=0)
    # AND a second run finds nothing more to do
    assert redrive_parked(sqs, stepfunctions, parked_queue, STATE_MACHINE_ARN)["redriven"] == 0


def test_given_an_unreadable_parked_message_when_redriven_then_it_stays_for_a_person(aws_clients, stepfunctions, parked_queue):
    sqs = aws_clients.sqs
    sqs.send_message(QueueUrl=parked_queue, MessageBody="not json")
    sqs.send_message(QueueUrl=parked_queue, MessageBody=json.dumps({"product_id": 7}))
    counts = redrive_parked(sqs, stepfunctions, parked_queue, STATE_MACHINE_ARN)
    assert counts == {"redriven": 0, "already_redriven": 0, "unreadable": 2}
    attributes = sqs.get_queue_attributes(QueueUrl=parked_queue, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "2"
    assert executions(stepfunctions) == []
