"""chalicelib.starter: the SQS batch handler logic, with failures reported per record."""
import json

from botocore.exceptions import ClientError

from chalicelib.starter import start_batch, start_record

from .helpers import STATE_MACHINE_ARN, make_settings, s3_message, s3_record, s3_test_event, sqs_record


class FailingFor:
    """A Step Functions client that throttles the starts of some keys and passes the rest to moto."""

    def __init__(self, client, failing_keys):
        self._client = client
        self._failing_keys = failing_keys

    def start_execution(self, **kwargs):
        if any(f'"key": "{key}"' in kwargs["input"] for key in self._failing_keys):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartExecution")
        return self._client.start_execution(**kwargs)


def started_keys(stepfunctions) -> set:
    keys = set()
    for execution in stepfunctions.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]:
        described = stepfunctions.describe_execution(executionArn=execution["executionArn"])
        keys.add(json.loads(described["input"])["key"])
    return keys


def test_given_a_batch_of_good_records_when_started_then_no_failures_and_every_image_inspected(stepfunctions, settings):
    records = [
        sqs_record(s3_message(s3_record("uploads/PCB-1/a.jpg"), s3_record("uploads/PCB-2/b.png"))),
        sqs_record(s3_message(s3_record("uploads/PCB-3/c.jpeg"))),
        sqs_record(s3_test_event()),
    ]
    assert start_batch(records, settings, stepfunctions) == {"batchItemFailures": []}
    assert started_keys(stepfunctions) == {"uploads/PCB-1/a.jpg", "uploads/PCB-2/b.png", "uploads/PCB-3/c.jpeg"}


def test_given_one_malformed_body_when_started_then_only_its_message_id_fails(stepfunctions, settings, log_lines):
    records = [
        sqs_record(s3_message(s3_record("uploads/PCB-1/a.jpg")), "0c2a4c6e-0001-4c7a-9a53-1b2f3e4d5a61"),
        sqs_record("this is not an S3 event", "0c2a4c6e-0002-4c7a-9a53-1b2f3e4d5a62"),
        sqs_record(s3_message(s3_record("uploads/PCB-3/c.jpg")), "0c2a4c6e-0003-4c7a-9a53-1b2f3e4d5a63"),
    ]
    result = start_batch(records, settings, stepfunctions)

    assert result == {"batchItemFailures": [{"itemIdentifier": "0c2a4c6e-0002-4c7a-9a53-1b2f3e4d5a62"}]}
    assert started_keys(stepfunctions) == {"uploads/PCB-1/a.jpg", "uploads/PCB-3/c.jpg"}
    [failure] = log_lines.named("record failed; left for redelivery")
    assert failure["message_id"] == "0c2a4c6e-0002-4c7a-9a53-1b2f3e4d5a62"
    assert failure["error_type"] == "MalformedEvent"
    assert failure["level"] == "ERROR"


def test_given_step_functions_failing_for_one_record_when_started_then_only_that_message_fails(stepfunctions, settings):
    records = [
        sqs_record(s3_message(s3_record("uploads/PCB-1/a.jpg")), "msg-1"),
        sqs_record(s3_message(s3_record("uploads/PCB-2/b.jpg")), "msg-2"),
        sqs_record(s3_message(s3_record("uploads/PCB-3/c.jpg")), "msg-3"),
        sqs_record(s3_message(s3_record("uploads/PCB-4/d.jpg")), "msg-4"),
    ]
    result = start_batch(records, settings, FailingFor(stepfunctions, {"uploads/PCB-3/c.jpg"}))
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-3"}]}
    assert started_keys(stepfunctions) == {"uploads/PCB-1/a.jpg", "uploads/PCB-2/b.jpg", "uploads/PCB-4/d.jpg"}


def test_given_a_failed_record_redelivered_when_started_again_then_it_is_inspected_once(stepfunctions, settings):
    body = s3_message(s3_record("uploads/PCB-1/a.jpg"), s3_record("uploads/PCB-2/b.jpg"))
    # The first delivery starts a.jpg, then Step Functions throttles b.jpg: the whole message is redelivered.
    first = start_batch([sqs_record(body, "msg-1")], settings, FailingFor(stepfunctions, {"uploads/PCB-2/b.jpg"}))
    second = start_batch([sqs_record(body, "msg-1")], settings, stepfunctions)

    assert first == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    assert second == {"batchItemFailures": []}
    executions = stepfunctions.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]
    assert len(executions) == 2
    assert started_keys(stepfunctions) == {"uploads/PCB-1/a.jpg", "uploads/PCB-2/b.jpg"}


def test_given_a_missing_state_machine_when_started_then_image_records_fail_and_the_others_do_not(
    stepfunctions, settings
):
    broken = make_settings(state_machine_arn=STATE_MACHINE_ARN + "-deleted")
    records = [
        sqs_record(s3_message(s3_record("uploads/PCB-1/a.jpg")), "msg-1"),
        sqs_record(s3_test_event(), "msg-2"),
        sqs_record(s3_message(s3_record("uploads/PCB-1/notes.txt")), "msg-3"),
    ]
    assert start_batch(records, broken, stepfunctions) == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}


def test_given_skipped_records_when_started_then_each_is_logged_with_its_reason(stepfunctions, settings, log_lines):
    record = sqs_record(
        s3_message(s3_record("uploads/PCB-1/notes.txt"), s3_record("uploads/PCB-1/a.jpg", event_name="ObjectRemoved:Delete")),
        "msg-skip",
    )
    assert start_record(record, settings, stepfunctions) == []
    skipped = log_lines.named("upload skipped")
    assert [(entry["message_id"], entry["key"]) for entry in skipped] == [
        ("msg-skip", "uploads/PCB-1/notes.txt"),
        ("msg-skip", "uploads/PCB-1/a.jpg"),
    ]
    assert "not an image" in skipped[0]["reason"]
    assert "ObjectRemoved:Delete" in skipped[1]["reason"]


def test_given_a_record_when_started_then_outcomes_and_log_name_the_inspection(stepfunctions, settings, log_lines):
    record = sqs_record(s3_message(s3_record("uploads/PCB-1/a.jpg")), "msg-1")
    [outcome] = start_record(record, settings, stepfunctions)
    assert outcome["started"] is True
    [entry] = log_lines.named("inspection started")
    assert entry["inspection_id"] == outcome["inspection_id"]
    assert entry["message_id"] == "msg-1"
    assert entry["product_id"] == "PCB-1"
