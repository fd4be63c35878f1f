"""chalicelib.workflow: one Step Functions execution per upload, named after the upload's identity."""
import dataclasses
import json
import re

import pytest
from botocore.exceptions import ClientError

from chalicelib.s3_events import UploadEvent
from chalicelib.workflow import execution_name, start_inspection

from .helpers import BUCKET, STATE_MACHINE_ARN, s3_message, s3_record, upload_events

# Step Functions execution names: 1-80 characters; these also keep CloudWatch metric names valid.
NAME_RULE = re.compile(r"[A-Za-z0-9_-]{1,80}")


def event_for(key="uploads/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg", **record_args) -> UploadEvent:
    events, _ = upload_events(s3_message(s3_record(key, **record_args)), "uploads/")
    return events[0]


def test_given_the_same_upload_twice_when_named_then_the_name_is_the_same():
    assert execution_name(event_for()) == execution_name(event_for())


def test_given_an_upload_when_named_then_the_name_starts_with_the_product_and_is_valid():
    name = execution_name(event_for())
    assert name.startswith("PCB-0042-")
    assert NAME_RULE.fullmatch(name)


@pytest.mark.parametrize(
    "product_id",
    ["A" * 128, "a.b.c", "Cell_17.v2", "x" * 41 + ".jpg-ish", "0" * 80],
)
def test_given_any_valid_product_id_when_named_then_at_most_80_allowed_characters(product_id):
    name = execution_name(event_for(f"uploads/{product_id}/20240514T092107532000Z-0a1b2c3d.jpg"))
    assert NAME_RULE.fullmatch(name), name
    assert len(name) <= 80


@pytest.mark.parametrize(
    "change",
    [
        {"etag": "d41d8cd98f00b204e9800998ecf8427e", "version_id": None},
        {"sequencer": "0066433B1F7D9A5C99", "version_id": None},
        {"version_id": "Wz1r0XvH3bqGkS1Ho2yZ0pJcX5eEXAMPL"},
        {"version_id": None},
        {"bucket": "quality-inspection-other-uploads"},
    ],
)
def test_given_the_same_key_with_another_identity_when_named_then_the_name_differs(change):
    assert execution_name(event_for(**change)) != execution_name(event_for())


def test_given_one_object_version_announced_twice_by_different_routes_when_named_then_one_inspection():
    # An S3 notification and an EventBridge event of the same upload carry different sequencers.
    first = event_for(version_id="3HL4kqtJlcpXroDTDmJ", sequencer="0066433B1F7D9A5C21")
    second = event_for(version_id="3HL4kqtJlcpXroDTDmJ", sequencer="00617F08299329D189")
    assert execution_name(first) == execution_name(second)


def test_given_an_overwritten_key_when_named_then_a_new_execution_is_asked_for():
    first = event_for(etag="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", sequencer="0066433B1F7D9A5C21", version_id=None)
    second = event_for(etag="bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", sequencer="0066433B1F7D9A5C40", version_id=None)
    assert execution_name(first) != execution_name(second)


def test_given_two_products_with_names_that_sanitise_alike_when_named_then_names_still_differ():
    # "PCB.1" and "PCB_1" both read "PCB_1" in the name; the digest of the key keeps them apart.
    dotted = event_for("uploads/PCB.1/20240514T092107532000Z-0a1b2c3d.jpg")
    underscored = event_for("uploads/PCB_1/20240514T092107532000Z-0a1b2c3d.jpg")
    assert execution_name(dotted) != execution_name(underscored)


def test_given_an_upload_when_started_then_an_execution_with_that_name_and_input_runs(stepfunctions):
    event = event_for()
    outcome = start_inspection(event, STATE_MACHINE_ARN, stepfunctions)

    assert outcome == {"inspection_id": execution_name(event), "started": True}
    executions = stepfunctions.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]
    assert [execution["name"] for execution in executions] == [outcome["inspection_id"]]
    described = stepfunctions.describe_execution(executionArn=executions[0]["executionArn"])
    execution_input = json.loads(described["input"])
    assert execution_input["inspection_id"] == outcome["inspection_id"]
    assert execution_input["bucket"] == BUCKET
    assert execution_input["key"] == "uploads/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg"
    assert execution_input["product_id"] == "PCB-0042"
    assert execution_input["capture_id"] == "20240514T092107532000Z-0a1b2c3d"
    assert execution_input["uploaded_at"] == "2024-05-14T09:21:07.532Z"


def test_given_a_redelivered_event_after_the_inspection_finished_when_started_then_not_started_again(stepfunctions):
    event = event_for()
    first = start_inspection(event, STATE_MACHINE_ARN, stepfunctions)
    arn = stepfunctions.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"][0]["executionArn"]
    stepfunctions.stop_execution(executionArn=arn)  # the first inspection is over

    again = start_inspection(dataclasses.replace(event), STATE_MACHINE_ARN, stepfunctions)

    assert first["started"] is True
    assert again == {"inspection_id": first["inspection_id"], "started": False}
    assert len(stepfunctions.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]) == 1


def test_given_a_redelivered_event_while_the_inspection_runs_when_started_then_still_one_execution(stepfunctions):
    # Step Functions answers a same-name, same-input start of a RUNNING execution with success
    # (the original execution), so `started` may read True here; what matters is no second execution.
    event = event_for()
    first = start_inspection(event, STATE_MACHINE_ARN, stepfunctions)
    again = start_inspection(event, STATE_MACHINE_ARN, stepfunctions)
    assert again["inspection_id"] == first["inspection_id"]
    assert len(stepfunctions.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]) == 1


def test_given_two_uploads_when_started_then_two_executions(stepfunctions):
    start_inspection(event_for("uploads/PCB-1/a.jpg"), STATE_MACHINE_ARN, stepfunctions)
    start_inspection(event_for("uploads/PCB-2/b.jpg"), STATE_MACHINE_ARN, stepfunctions)
    names = {e["name"] for e in stepfunctions.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]}
    assert len(names) == 2


def test_given_a_missing_state_machine_when_started_then_the_error_is_raised(stepfunctions):
    missing = STATE_MACHINE_ARN + "-gone"
    with pytest.raises(ClientError) as raised:
        start_inspection(event_for(), missing, stepfunctions)
    assert raised.value.response["Error"]["Code"] == "StateMachineDoesNotExist"


def test_given_step_functions_throttling_when_started_then_the_error_is_raised():
    class Throttled:
        def start_execution(self, **kwargs):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartExecution")

    with pytest.raises(ClientError) as raised:
        start_inspection(event_for(), STATE_MACHINE_ARN, Throttled())
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
