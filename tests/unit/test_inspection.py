"""chalicelib.inspection: the record task, the last step of every execution."""
import json
import re

import pytest

from chalicelib.inspection import build_record, failure_reason, record_verdict
from chalicelib.results import DynamoDbResultsStore

from .helpers import BUCKET, INSPECTION_ID, TABLE, UPLOAD_KEY, classified, execution_input, make_settings


def after_classification(label="defective", confidence=0.92) -> dict:
    state = execution_input()
    state["classification"] = classified(label, confidence)
    return state


def after_rejection(reason="The file is empty (0 bytes); upload the photo again.") -> dict:
    state = execution_input()
    state["classification"] = {"status": "rejected", "reason": reason}
    return state


def after_catch(error: str, cause: str) -> dict:
    """The state after ClassifyImage's Catch (ResultPath $.failure): no classification, a failure."""
    state = execution_input()
    state["failure"] = {"Error": error, "Cause": cause}
    return state


def lambda_cause(error_type: str, message: str) -> str:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": "7c0bd5a1-0e5d-4d8c-9e5b-1d2f7a3b4c5d",
            "stackTrace": ['  File "/var/task/app.py", line 40, in classify_image\n'],
        }
    )


@pytest.fixture
def store(dynamodb):
    return DynamoDbResultsStore(dynamodb, TABLE)


def stored_items(store) -> list:
    return store.history("PCB-0042")


def test_given_a_sure_defective_classification_when_recorded_then_defective_with_an_alert(store, settings):
    result = record_verdict(after_classification("defective", 0.92), settings, store)

    assert result["verdict"] == "defective"
    assert result["inspection_key"] == f"2024-05-14T09:21:07.532Z#{INSPECTION_ID}"
    alert = result["alert"]
    assert alert["subject"] == "Defect detected: PCB-0042"
    assert f"s3://{BUCKET}/{UPLOAD_KEY}" in alert["message"]
    assert float(re.search(r"Confidence: (\S+)", alert["message"]).group(1)) == pytest.approx(0.92, abs=1e-4)

    [stored] = stored_items(store)
    assert stored["verdict"] == "defective"
    assert stored["label"] == "defective"
    assert stored["confidence"] == 0.92
    assert stored["probabilities"] == {"defective": 0.92, "defect_free": 0.08}
    assert stored["model_id"] == "effnet-lite0-2024-05-10"
    assert stored["image"] == {"format": "JPEG", "width": 640, "height": 480}
    assert stored["threshold"] == 0.75
    assert stored["key"] == UPLOAD_KEY
    assert "reason" not in stored


def test_given_a_sure_defect_free_classification_when_recorded_then_no_alert(store, settings):
    result = record_verdict(after_classification("defect_free", 0.97), settings, store)
    assert result["verdict"] == "defect_free"
    assert result["alert"] is None
    assert stored_items(store)[0]["verdict"] == "defect_free"


def test_given_an_unsure_defective_classification_when_recorded_then_needs_review_and_no_alert(store, settings):
    result = record_verdict(after_classification("defective", 0.61), settings, store)
    assert result == {"verdict": "needs_review", "inspection_key": result["inspection_key"], "alert": None}
    [stored] = stored_items(store)
    assert (stored["verdict"], stored["label"], stored["confidence"]) == ("needs_review", "defective", 0.61)


def test_given_a_stricter_threshold_when_recorded_then_it_decides_and_is_stored(store):
    settings = make_settings(confidence_threshold=0.95)
    assert record_verdict(after_classification("defective", 0.92), settings, store)["verdict"] == "needs_review"
    assert stored_items(store)[0]["threshold"] == 0.95


def test_given_a_rejected_image_when_recorded_then_stored_with_its_reason_and_no_alert(store, settings):
    reason = "The file is a GIF image; only JPEG and PNG are accepted."
    result = record_verdict(after_rejection(reason), settings, store)
    assert result["verdict"] == "rejected"
    assert result["alert"] is None
    [stored] = stored_items(store)
    assert stored["verdict"] == "rejected"
    assert stored["reason"] == reason
    assert "label" not in stored and "confidence" not in stored


def test_given_a_caught_endpoint_error_when_recorded_then_error_verdict_with_readable_reason(store, settings):
    message = "endpoint quality-inspection-test-model: ValidationError: Endpoint quality-inspection-test-model not found."
    state = after_catch("ModelEndpointError", lambda_cause("ModelEndpointError", message))

    result = record_verdict(state, settings, store)

    assert result["verdict"] == "error"
    [stored] = stored_items(store)
    assert stored["verdict"] == "error"
    assert stored["reason"] == f"ModelEndpointError: {message}"
    assert "stackTrace" not in stored["reason"]
    # AND an operator is told the photo went uninspected, why, and how to re-run it
    assert result["alert"]["subject"] == "Not inspected: PCB-0042"
    assert f"Reason: ModelEndpointError: {message}" in result["alert"]["message"]
    assert "inspection-app reinspect --verdict error --since 2024-05-14T09:21:07.532Z" in result["alert"]["message"]


def test_given_retries_exhausted_on_an_unavailable_endpoint_when_recorded_then_error_naming_it(store, settings):
    state = after_catch("ModelEndpointUnavailable",
                        lambda_cause("ModelEndpointUnavailable", "endpoint m: ThrottlingException: Rate exceeded"))
    record_verdict(state, settings, store)
    assert stored_items(store)[0]["reason"] == "ModelEndpointUnavailable: endpoint m: ThrottlingException: Rate exceeded"


@pytest.mark.parametrize(
    "failure, reason",
    [
        ({"Error": "States.Timeout", "Cause": "Task timed out after 60.00 seconds"},
         "States.Timeout: Task timed out after 60.00 seconds"),
        ({"Error": "Lambda.Unknown", "Cause": "The cause could not be determined because Lambda did not return an "
                                              "error type."},
         "Lambda.Unknown: The cause could not be determined because Lambda did not return an error type."),
        ({"Error": "States.Timeout", "Cause": ""}, "States.Timeout"),
        ({"Error": "States.Timeout"}, "States.Timeout"),
        ({"Error": "States.Timeout", "Cause": None}, "States.Timeout"),
        ({"Error": "StorageError", "Cause": json.dumps({"errorType": "StorageError"})}, "StorageError"),
        ({"Error": "Sandbox.Timedout", "Cause": '["not", "an", "object"]'}, 'Sandbox.Timedout: ["not", "an", "object"]'),
        ({"Cause": lambda_cause("KeyError", "'bucket'")}, "States.TaskFailed: 'bucket'"),
    ],
)
def test_given_catch_outputs_when_reasons_read_then_error_and_message_without_json(failure, reason):
    assert failure_reason(failure) == reason


def test_given_the_same_state_recorded_twice_when_retried_then_one_stored_result_and_same_answer(store, settings):
    state = after_classification("defective", 0.92)
    first = record_verdict(state, settings, store)
    second = record_verdict(state, settings, store)
    assert second["verdict"] == first["verdict"]
    assert second["inspection_key"] == first["inspection_key"]
    assert second["alert"] == first["alert"]
    assert len(stored_items(store)) == 1


def test_given_a_retry_that_would_decide_otherwise_when_recorded_then_answer_and_alert_are_the_stored_ones(
    store, settings
):
    # The first attempt stored 0.92 (its answer was lost); a redriven retry carries 0.97 for the same inspection.
    first = record_verdict(after_classification("defective", 0.92), settings, store)
    again = record_verdict(after_classification("defective", 0.97), settings, store)
    assert "Confidence: 0.9200" in again["alert"]["message"]
    assert again == first


def test_given_a_retry_of_a_stored_verdict_when_recorded_then_its_verdict_decides_not_the_new_state(store, settings):
    record_verdict(after_classification("defective", 0.92), settings, store)
    again = record_verdict(after_classification("defect_free", 0.99), settings, store)
    assert again["verdict"] == "defective" and again["alert"]["subject"] == "Defect detected: PCB-0042"


def test_given_a_state_when_record_built_then_it_carries_identity_and_times():
    record = build_record(after_classification(), 0.75)
    assert record["product_id"] == "PCB-0042"
    assert record["inspection_id"] == INSPECTION_ID
    assert record["capture_id"] == "20240514T092107532000Z-0a1b2c3d"
    assert record["uploaded_at"] == "2024-05-14T09:21:07.532Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", record["inspected_at"])


def test_given_both_a_failure_and_a_classification_when_record_built_then_the_failure_wins():
    state = after_classification()
    state["failure"] = {"Error": "States.Timeout", "Cause": ""}
    record = build_record(state, 0.75)
    assert record["verdict"] == "error"
    assert "label" not in record


def test_given_a_versioned_upload_when_recorded_then_the_record_names_the_exact_version(store, settings):
    state = after_classification()
    state["version_id"] = "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    record_verdict(state, settings, store)
    assert stored_items(store)[0]["version_id"] == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"


def test_given_an_unversioned_upload_when_recorded_then_no_empty_version_is_stored():
    assert "version_id" not in build_record(after_classification(), 0.75)


def test_given_a_reinspection_when_recorded_then_a_new_entry_sorted_by_its_request_time(store, settings):
    # GIVEN the original inspection ended in error, and a reinspection of the same photo
    record_verdict(after_catch("States.Timeout", ""), settings, store)
    again = after_classification("defect_free", 0.97)
    again.update(inspection_id="PCB-0042-" + "f" * 32, reinspection_of=INSPECTION_ID,
                 requested_at="2024-05-14T10:00:00.000Z")
    # WHEN it is recorded
    record_verdict(again, settings, store)
    # THEN both are kept, and the reinspection is the latest (it sorts by when it was asked for)
    stored = sorted(stored_items(store), key=lambda item: item["inspection_key"], reverse=True)
    assert [item["verdict"] for item in stored] == ["defect_free", "error"]
    assert stored[0]["inspection_key"].startswith("2024-05-14T10:00:00.000Z#")
    assert stored[0]["reinspection_of"] == INSPECTION_ID
    assert stored[0]["uploaded_at"] == "2024-05-14T09:21:07.532Z"


def test_given_a_verdict_recorded_then_retried_when_counted_then_one_verdict_metric_without_product(
    store, settings, log_lines
):
    state = after_classification("defective", 0.92)
    record_verdict(state, settings, store)
    record_verdict(state, settings, store)  # a retry finds it stored: not counted again
    assert log_lines.metrics == [{"namespace": "QualityInspection", "name": "Verdicts", "unit": "Count",
                                  "values": [1.0], "dimensions": {"service": "quality-inspection", "verdict": "defective"}}]
    assert all("product_id" not in entry for entry in log_lines.entries if "_aws" in entry)


def test_given_a_reinspection_state_when_record_built_then_it_names_what_it_reruns_and_when_requested():
    state = {**after_classification(), "reinspection_of": "2024-05-14T09:21:07.532Z#first",
             "requested_at": "2024-05-15T08:00:00.000Z"}
    record = build_record(state, 0.75)
    assert record["reinspection_of"] == "2024-05-14T09:21:07.532Z#first"
    assert record["requested_at"] == "2024-05-15T08:00:00.000Z"
