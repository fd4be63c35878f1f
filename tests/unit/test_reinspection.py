"""chalicelib.reinspection: photos whose inspection ended badly are inspected again, once per request."""
import json
from datetime import datetime, timezone

import pytest

from chalicelib.reinspection import InvalidReinspectionRequest, reinspect
from chalicelib.results import DynamoDbResultsStore

from .helpers import STATE_MACHINE_ARN, TABLE, stored_record

NOW = datetime(2024, 5, 14, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(dynamodb):
    return DynamoDbResultsStore(dynamodb, TABLE)


def error_record(product_id="PCB-0042", uploaded_at="2024-05-14T09:21:07.532Z", **changes) -> dict:
    record = stored_record(product_id=product_id, uploaded_at=uploaded_at, version_id="3HL4kqtJlcpXroDTDmJ", **changes)
    for name in ("label", "confidence", "probabilities", "model_id", "image"):
        record.pop(name, None)
    record.update(verdict="error", reason="ModelEndpointUnavailable: endpoint m: ServiceUnavailable")
    return record


def started_inputs(stepfunctions) -> list[dict]:
    executions = stepfunctions.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]
    return [json.loads(stepfunctions.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions]


def test_given_an_error_result_when_reinspected_then_the_same_photo_version_is_inspected_again(store, stepfunctions):
    # GIVEN a photo whose inspection ended in error
    original = store.put(error_record())
    # WHEN its reinspection is asked for
    answer = reinspect({"verdict": "error", "since": "2024-05-14T09:00:00Z"}, store, stepfunctions, STATE_MACHINE_ARN, NOW)
    # THEN one execution inspects the same object version again, as a new inspection that names the original
    assert answer["count"] == 1
    [execution_input] = started_inputs(stepfunctions)
    assert execution_input["reinspection_of"] == original["inspection_id"]
    assert execution_input["inspection_id"] == answer["started"][0]["inspection_id"] != original["inspection_id"]
    assert (execution_input["bucket"], execution_input["key"], execution_input["version_id"]) == (
        original["bucket"], original["key"], "3HL4kqtJlcpXroDTDmJ")
    assert execution_input["uploaded_at"] == original["uploaded_at"]
    assert execution_input["requested_at"] == "2024-05-14T12:00:00.000Z"
    assert "classification" not in execution_input and "failure" not in execution_input


def test_given_a_reinspection_already_started_when_asked_again_then_nothing_more_starts(store, stepfunctions):
    store.put(error_record())
    reinspect({}, store, stepfunctions, STATE_MACHINE_ARN, NOW)
    again = reinspect({}, store, stepfunctions, STATE_MACHINE_ARN, NOW)
    assert again["count"] == 0
    assert len(started_inputs(stepfunctions)) == 1
    assert store.history("PCB-0042")[0]["reinspected_by"]



def test_given_an_error_result_a_person_reviewed_when_errors_are_reinspected_then_it_is_left_alone(store, stepfunctions):
    # GIVEN two photos that went uninspected, one of which an operator has since judged
    reviewed = store.put(error_record(product_id="PCB-0001"))
    store.record_review(reviewed, {"reviewed_verdict": "defect_free", "reviewed_by": "Ana QA",
                                   "reviewed_at": "2024-05-14T10:00:00.000Z", "review_note": ""}, None)
    unreviewed = store.put(error_record(product_id="PCB-0002"))
    # WHEN the errors are reinspected
    answer = reinspect({"verdict": "error", "since": "2024-05-14T09:00:00Z"}, store, stepfunctions, STATE_MACHINE_ARN, NOW)
    # THEN only the unreviewed one runs again: the person's verdict is the product's, the model does not re-judge it
    assert [started["reinspection_of"] for started in answer["started"]] == [unreviewed["inspection_id"]]
    assert [execution["product_id"] for execution in started_inputs(stepfunctions)] == ["PCB-0002"]

def test_given_results_of_several_kinds_and_times_when_filtered_then_only_the_asked_ones_start(store, stepfunctions):
    store.put(error_record(uploaded_at="2024-05-14T09:00:00.000Z"))
    store.put(error_record(uploaded_at="2024-05-13T08:00:00.000Z"))  # before `since`
    store.put(error_record(product_id="CELL-7", uploaded_at="2024-05-14T10:00:00.000Z"))  # another product
    store.put(stored_record(uploaded_at="2024-05-14T11:00:00.000Z"))  # not an error
    answer = reinspect({"since": "2024-05-14T00:00:00+00:00", "product_id": "PCB-0042"}, store, stepfunctions,
                       STATE_MACHINE_ARN, NOW)
    assert [item["product_id"] for item in answer["started"]] == ["PCB-0042"]
    assert answer["since"] == "2024-05-14T00:00:00"
    assert [i["uploaded_at"] for i in started_inputs(stepfunctions)] == ["2024-05-14T09:00:00.000Z"]


def test_given_no_since_when_reinspected_then_the_last_day_is_searched(store, stepfunctions):
    store.put(error_record(uploaded_at="2024-05-13T11:59:00.000Z"))  # just over a day before NOW
    store.put(error_record(uploaded_at="2024-05-13T12:01:00.000Z"))
    answer = reinspect({}, store, stepfunctions, STATE_MACHINE_ARN, NOW)
    assert answer["count"] == 1
    assert answer["since"] == "2024-05-13T12:00:00"


@pytest.mark.parametrize(
    "request_body, fragment",
    [
        (None, "JSON object"),
        ([], "JSON object"),
        ({"verdict": "broken"}, "verdict 'broken'"),
        ({"since": "yesterday"}, "ISO 8601"),
        ({"product_id": "../etc"}, "not allowed"),
        ({"limit": 0}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": 10_000}, "limit"),
    ],
)
def test_given_a_bad_request_when_reinspected_then_it_says_what_to_send(store, stepfunctions, request_body, fragment):
    with pytest.raises(InvalidReinspectionRequest) as raised:
        reinspect(request_body, store, stepfunctions, STATE_MACHINE_ARN, NOW)
    assert fragment in str(raised.value)
    assert started_inputs(stepfunctions) == []
