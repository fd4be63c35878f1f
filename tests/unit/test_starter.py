"""chalicelib.starter: the SQS batch handler logic, with failures reported per record."""
import json

from botocore.exceptions import ClientError

import pytest

from chalicelib.starter import start_batch, start_record

from .helpers import (
    STATE_MACHINE_ARN,
    eventbridge_object_created,
    make_settings,
    s3_message,
    s3_record,
    s3_test_event,
    sns_envelope,
    sqs_record,
)


class FailingFor:
    """A Step Functions client that throttles the starts of some keys and passes the rest to moto."""

    def __init__(self, client, failing_keys):
        self._client = client
        self._failing_keys = failing_keys

    def start_execution(self, **kwargs):
        if any(f'"key": "{key}"' in kwargs["input"] for key in self._failing_keys):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartExecution")
        return self._client.start_execution(**kwargs)


def started_inputs(stepfunctions) -> list[dict]:
    inputs = []
    for execution in stepfunctions.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]:
        described = stepfunctions.describe_execution(executionArn=execution["executionArn"])
        inputs.append(json.loads(described["input"]))
    return inputs


def started_keys(stepfunctions) -> set:
    return {execution_input["key"] for execution_input in started_inputs(stepfunctions)}


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
        sqs_record(s3_message(s3_record("exports/PCB-1/a.jpg")), "msg-3"),
        sqs_record(s3_message(s3_record("uploads/PCB-1/notes.txt")), "msg-4"),  # recorded as unmatched: needs a start
    ]
    assert start_batch(records, broken, stepfunctions) == {
        "batchItemFailures": [{"itemIdentifier": "msg-1"}, {"itemIdentifier": "msg-4"}]
    }


def test_given_skipped_records_when_started_then_each_is_logged_with_its_reason(stepfunctions, settings, log_lines):
    record = sqs_record(
        s3_message(s3_record("exports/PCB-1/a.jpg"), s3_record("uploads/PCB-1/a.jpg", event_name="ObjectRemoved:Delete")),
        "msg-skip",
    )
    assert start_record(record, settings, stepfunctions) == []
    skipped = log_lines.named("upload skipped")
    assert [(entry["message_id"], entry["key"]) for entry in skipped] == [
        ("msg-skip", "exports/PCB-1/a.jpg"),
        ("msg-skip", "uploads/PCB-1/a.jpg"),
    ]
    assert "not under uploads/" in skipped[0]["reason"]
    assert "ObjectRemoved:Delete" in skipped[1]["reason"]


def test_given_a_record_when_started_then_outcomes_and_log_name_the_inspection(stepfunctions, settings, log_lines):
    record = sqs_record(s3_message(s3_record("uploads/PCB-1/a.jpg")), "msg-1")
    [outcome] = start_record(record, settings, stepfunctions)
    assert outcome["started"] is True
    [entry] = log_lines.named("inspection started")
    assert entry["inspection_id"] == outcome["inspection_id"]
    assert entry["message_id"] == "msg-1"
    assert entry["product_id"] == "PCB-1"


def already_exists(**_):
    error = {"Error": {"Code": "ExecutionAlreadyExists", "Message": "Execution Already Exists"}}
    raise ClientError(error, "StartExecution")


def test_given_a_record_delivered_twice_when_started_then_the_second_is_logged_as_a_duplicate(
    stepfunctions, settings, log_lines
):
    record = sqs_record(s3_message(s3_record("uploads/PCB-1/a.jpg")), "msg-1")
    [first] = start_record(record, settings, stepfunctions)
    # Step Functions refuses a second execution of that name once the first has ended.
    stepfunctions.meta.events.register("before-call.sfn.StartExecution", already_exists)
    [second] = start_record(record, settings, stepfunctions)
    assert (first["started"], second["started"]) == (True, False)
    assert len(log_lines.named("inspection started")) == 1
    [duplicate] = log_lines.named("duplicate event ignored")
    assert duplicate["inspection_id"] == first["inspection_id"] == second["inspection_id"]
    assert (duplicate["message_id"], duplicate["key"]) == ("msg-1", "uploads/PCB-1/a.jpg")


# --- every object under the prefix is inspected or recorded; every event shape; unreadable records ------


@pytest.mark.parametrize(
    "key, reason",
    [
        ("uploads/board one.jpg", "the file name 'board one' is not a valid product id ("),
        ("uploads/board one/20240514T092107532000Z-0a1b2c3d.jpg", "the key's folder 'board one' is not a valid product id ("),
        ("uploads/a/b/c.jpg", "the key is 2 folders deep under uploads/"),
        ("uploads/PCB-1/notes.txt", "the file 'notes.txt' is not a photo"),
    ],
)
def test_given_an_odd_key_under_the_prefix_when_started_then_an_execution_carries_the_true_reason(
    stepfunctions, settings, log_lines, key, reason
):
    # GIVEN an object created under the upload prefix whose key names no product, or that is no photo
    record = sqs_record(s3_message(s3_record(key)), "msg-odd")
    # WHEN the starter handles it
    result = start_batch([record], settings, stepfunctions)
    # THEN an inspection starts for it, under the reserved product id, with its real key and the reason
    assert result == {"batchItemFailures": []}
    [execution_input] = started_inputs(stepfunctions)
    assert execution_input["product_id"] == "_unmatched"
    assert execution_input["key"] == key
    assert execution_input["rejection"].startswith(reason)
    assert execution_input["inspection_id"].startswith("_unmatched-")
    [entry] = log_lines.named("inspection started")
    assert entry["rejection"] == execution_input["rejection"]
    assert log_lines.named("upload skipped") == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(s3_message(s3_record("uploads/PCB-0042/capture 1.jpg")), id="s3-notification"),
        pytest.param(sns_envelope(s3_message(s3_record("uploads/PCB-0042/capture 1.jpg"))), id="sns-wrapped"),
        pytest.param(eventbridge_object_created("uploads/PCB-0042/capture 1.jpg"), id="eventbridge"),
    ],
)
def test_given_each_event_shape_when_started_then_the_same_inspection_input(stepfunctions, settings, body):
    # GIVEN one upload announced as a direct S3 notification, an SNS-wrapped one, or an EventBridge event
    # WHEN the starter handles the SQS record
    assert start_batch([sqs_record(body)], settings, stepfunctions) == {"batchItemFailures": []}
    # THEN the execution carries the key, product, version and sequencer the event named
    [execution_input] = started_inputs(stepfunctions)
    assert execution_input["key"] == "uploads/PCB-0042/capture 1.jpg"
    assert execution_input["product_id"] == "PCB-0042"
    assert execution_input["version_id"] == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    assert execution_input["sequencer"] == "0066433B1F7D9A5C21"
    assert "rejection" not in execution_input


def test_given_the_same_key_posted_again_when_started_then_a_new_inspection(stepfunctions, settings):
    # GIVEN two uploads to one key of a versioned bucket: new version, later sequencer
    first = s3_message(s3_record("uploads/PCB-1/a.jpg", version_id="v1", sequencer="0066433B1F7D9A5C21"))
    second = s3_message(s3_record("uploads/PCB-1/a.jpg", version_id="v2", sequencer="0066433B1F7D9A5C30"))
    # WHEN both (and a redelivery of the first) are started
    start_batch([sqs_record(first), sqs_record(second), sqs_record(first)], settings, stepfunctions)
    # THEN there are two inspections, one per version
    assert sorted(i["version_id"] for i in started_inputs(stepfunctions)) == ["v1", "v2"]


@pytest.fixture
def dead_letter_queue(aws_clients):
    return aws_clients.sqs.create_queue(QueueName="quality-inspection-uploads-dlq")["QueueUrl"]


def dead_lettered(sqs, queue_url: str) -> list[dict]:
    response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return response.get("Messages", [])


UNREADABLE = [
    pytest.param("this is not an S3 event", "message body is not JSON", id="not-json"),
    pytest.param('["uploads/PCB-1/a.jpg"]', "message body is not a JSON object", id="not-an-object"),
    pytest.param('{"Records": 5}', "no 'Records' list", id="no-records-list"),
    pytest.param('{"greeting": "hello"}', "no 'Records' list", id="some-other-json"),
    pytest.param('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "record 0: record lacks eventName", id="missing-fields"),
    pytest.param(sns_envelope("{not json"), "the SNS notification's Message is not JSON", id="sns-message-not-json"),
    pytest.param(sns_envelope('{"Records": "none"}'), "no 'Records' list", id="sns-without-s3-event"),
    pytest.param(json.dumps({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}}),
                 "source 'aws.ec2', not aws.s3", id="eventbridge-not-s3"),
    pytest.param(json.dumps({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {}}}),
                 "lacks detail.bucket.name or detail.object.key", id="eventbridge-missing-fields"),
]


@pytest.mark.parametrize("body, reason", UNREADABLE)
def test_given_an_unreadable_record_when_started_then_it_goes_to_the_dead_letter_queue_at_once(
    stepfunctions, aws_clients, dead_letter_queue, log_lines, body, reason
):
    # GIVEN a batch with one record that can never be read, and a dead-letter queue configured
    settings = make_settings(dead_letter_queue_url=dead_letter_queue)
    records = [
        sqs_record(s3_message(s3_record("uploads/PCB-1/a.jpg")), "msg-good"),
        sqs_record(body, "0c2a4c6e-0002-4c7a-9a53-1b2f3e4d5a62"),
    ]
    # WHEN the batch is started (its first delivery)
    result = start_batch(records, settings, stepfunctions, aws_clients.sqs)
    # THEN nothing is left for redelivery: the unreadable body is on the dead-letter queue with the reason
    assert result == {"batchItemFailures": []}
    [message] = dead_lettered(aws_clients.sqs, dead_letter_queue)
    assert message["Body"] == body
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert reason in attributes["error"]
    assert attributes["error_type"] == "MalformedEvent"
    assert attributes["source_message_id"] == "0c2a4c6e-0002-4c7a-9a53-1b2f3e4d5a62"
    assert attributes["source_queue_arn"].endswith(":quality-inspection-uploads")
    assert attributes["approximate_receive_count"] == "1"
    # AND the good record was inspected, and the dead-lettering logged
    assert started_keys(stepfunctions) == {"uploads/PCB-1/a.jpg"}
    [entry] = log_lines.named("unreadable record dead-lettered")
    assert entry["message_id"] == "0c2a4c6e-0002-4c7a-9a53-1b2f3e4d5a62"
    assert reason in entry["error"]


def test_given_a_message_with_good_and_unreadable_records_when_started_then_the_good_are_inspected_and_it_dead_lettered(
    stepfunctions, aws_clients, dead_letter_queue
):
    body = json.dumps({"Records": [s3_record("uploads/PCB-1/a.jpg"), {"eventName": "ObjectCreated:Put"}]})
    settings = make_settings(dead_letter_queue_url=dead_letter_queue)
    assert start_batch([sqs_record(body)], settings, stepfunctions, aws_clients.sqs) == {"batchItemFailures": []}
    assert started_keys(stepfunctions) == {"uploads/PCB-1/a.jpg"}
    [message] = dead_lettered(aws_clients.sqs, dead_letter_queue)
    assert message["Body"] == body
    assert message["MessageAttributes"]["error"]["StringValue"].startswith("record 1: ")


@pytest.mark.parametrize("body, reason", UNREADABLE[:1] + UNREADABLE[4:5])
def test_given_no_dead_letter_queue_configured_when_an_unreadable_record_is_started_then_left_for_the_redrive_policy(
    stepfunctions, aws_clients, settings, log_lines, body, reason
):
    # GIVEN no DEAD_LETTER_QUEUE_URL (or no SQS client)
    for sqs in (aws_clients.sqs, None):
        # WHEN an unreadable record is started
        result = start_batch([sqs_record(body, "msg-bad")], settings, stepfunctions, sqs)
        # THEN it is a batch item failure: the queue's redrive policy dead-letters it later
        assert result == {"batchItemFailures": [{"itemIdentifier": "msg-bad"}]}
    entry = log_lines.named("record failed; left for redelivery")[0]
    assert entry["error_type"] == "MalformedEvent"
    assert reason in entry["error"]
    assert entry["not_dead_lettered"] == "no DEAD_LETTER_QUEUE_URL configured"


def test_given_sending_to_the_dead_letter_queue_failing_when_an_unreadable_record_is_started_then_left_for_redelivery(
    stepfunctions, aws_clients, log_lines
):
    # GIVEN a dead-letter queue URL that names no queue (deleted, or a wrong setting)
    missing = aws_clients.sqs.create_queue(QueueName="gone")["QueueUrl"]
    aws_clients.sqs.delete_queue(QueueUrl=missing)
    settings = make_settings(dead_letter_queue_url=missing)
    # WHEN an unreadable record is started
    result = start_batch([sqs_record("not json", "msg-bad")], settings, stepfunctions, aws_clients.sqs)
    # THEN it is a batch item failure, nothing lost, and the log says why it was not dead-lettered
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-bad"}]}
    [entry] = log_lines.named("record failed; left for redelivery")
    assert entry["not_dead_lettered"].startswith("sending to the dead-letter queue failed")


def test_given_a_throttled_start_with_a_dead_letter_queue_when_started_then_still_left_for_redelivery(
    stepfunctions, aws_clients, dead_letter_queue
):
    # GIVEN a transient failure (Step Functions throttling), not an unreadable record
    settings = make_settings(dead_letter_queue_url=dead_letter_queue)
    records = [sqs_record(s3_message(s3_record("uploads/PCB-3/c.jpg")), "msg-3")]
    # WHEN started
    result = start_batch(records, settings, FailingFor(stepfunctions, {"uploads/PCB-3/c.jpg"}), aws_clients.sqs)
    # THEN it stays on the queue for redelivery; nothing is dead-lettered
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-3"}]}
    assert dead_lettered(aws_clients.sqs, dead_letter_queue) == []


def test_given_too_little_time_left_for_the_rest_of_a_batch_when_started_then_the_rest_is_left_for_redelivery(
        stepfunctions, settings, log_lines):
    # GIVEN a batch of three, and a Lambda whose remaining time is enough for one record only
    from chalicelib.starter import RECORD_WORST_SECONDS

    records = [sqs_record(s3_message(s3_record(f"uploads/PCB-{n}/a.jpg"))) for n in range(3)]
    remaining = iter([RECORD_WORST_SECONDS + 1, RECORD_WORST_SECONDS - 1])
    # WHEN started
    outcome = start_batch(records, settings, stepfunctions, seconds_left=lambda: next(remaining))
    # THEN the first is started and the two it had no time for are redelivered, not lost to a timeout
    assert started_keys(stepfunctions) == {"uploads/PCB-0/a.jpg"}
    assert outcome["batchItemFailures"] == [{"itemIdentifier": r["messageId"]} for r in records[1:]]
    assert log_lines.named("time running out; records left for redelivery")[0]["left"] == 2
