"""statemachine/inspection.asl.json executed: each Retry and Catch met by real failures that end.

Every count below follows from the definition: a Retry with MaxAttempts M runs a task at most 1 + M times,
waiting IntervalSeconds x BackoffRate^n (at most MaxDelaySeconds) between attempts. So removing a Retry,
changing MaxAttempts, the backoff or a TimeoutSeconds makes one of these tests fail.
"""
from __future__ import annotations

import json

import pytest

from chalicelib.aws import ATTEMPTS  # requests botocore makes per call in a task (its own quick retry)

MAX_ATTEMPTS = 16  # every Retry in the definition; asserted against the definition below
WAITS = [2.0, 4.0, 8.0, 16.0, 32.0] + [60.0] * (MAX_ATTEMPTS - 5)  # 2 s doubling, at most 60 s


def failing_attempts(attempts: int) -> int:
    """Requests that fail `attempts` task attempts of a Lambda task (each call is tried ATTEMPTS times)."""
    return attempts * ATTEMPTS


def test_given_the_definition_then_every_retry_allows_16_attempts_after_the_first(pipeline):
    states = json.loads(pipeline.definition())["States"]
    for name in ("ClassifyImage", "RecordVerdict", "PublishAlert", "ParkVerdict"):
        assert [retry["MaxAttempts"] for retry in states[name]["Retry"]] == [MAX_ATTEMPTS], name


def test_given_sns_failing_three_times_when_a_defect_is_alerted_then_publish_is_retried_and_alerts_once(run, pipeline):
    pipeline.faults.fail("sns", 3)
    execution = run()
    assert execution.status == "SUCCEEDED"
    assert execution.attempts["PublishAlert"] == 4
    assert execution.errors == {"PublishAlert": ["SNS.ServiceUnavailableException"] * 3}
    assert pipeline.waits == WAITS[:3]
    assert "ParkVerdict" not in execution.states and execution.parked == []
    [alert] = execution.alerts
    assert alert["Subject"] == "Defect detected: PCB-7"


def test_given_the_endpoint_failing_three_attempts_when_classifying_then_retried_until_it_answers(run, pipeline):
    pipeline.faults.fail("model", failing_attempts(3))
    execution = run()
    assert execution.attempts["ClassifyImage"] == 4
    assert execution.errors == {"ClassifyImage": ["ModelEndpointUnavailable"] * 3}
    assert pipeline.waits == WAITS[:3]
    assert [record["verdict"] for record in execution.stored] == ["defective"]
    assert len(execution.alerts) == 1


def test_given_s3_reads_failing_two_attempts_when_classifying_then_retried_and_the_model_asked_once(run, pipeline):
    pipeline.faults.fail("s3", failing_attempts(2))
    execution = run()
    assert execution.attempts["ClassifyImage"] == 3
    assert execution.errors == {"ClassifyImage": ["StorageUnavailable"] * 2}
    assert pipeline.model.calls == 1
    assert [record["verdict"] for record in execution.stored] == ["defective"]


def test_given_the_endpoint_failing_exactly_max_attempts_times_then_the_last_retry_still_classifies(run, pipeline):
    pipeline.faults.fail("model", failing_attempts(MAX_ATTEMPTS))
    execution = run()
    assert execution.attempts["ClassifyImage"] == 1 + MAX_ATTEMPTS
    assert pipeline.waits == WAITS
    assert [record["verdict"] for record in execution.stored] == ["defective"]


def test_given_the_endpoint_down_past_the_retries_then_caught_as_an_error_verdict_with_a_not_inspected_alert(run, pipeline):
    pipeline.faults.fail("model", failing_attempts(MAX_ATTEMPTS + 1))
    execution = run()
    assert execution.status == "SUCCEEDED"
    assert execution.attempts["ClassifyImage"] == 1 + MAX_ATTEMPTS
    assert execution.errors["ClassifyImage"] == ["ModelEndpointUnavailable"] * (1 + MAX_ATTEMPTS)
    assert pipeline.waits == WAITS
    assert pipeline.model.calls == 0
    [record] = execution.stored
    assert record["verdict"] == "error"
    assert record["reason"].startswith("ModelEndpointUnavailable: ")
    [alert] = execution.alerts
    assert alert["Subject"] == "Not inspected: PCB-7"


def test_given_a_permanent_endpoint_error_then_caught_at_once_without_retries(run, pipeline):
    pipeline.model.answer = [0.5]  # one number for two classes: the contract is broken, retrying cannot help
    execution = run()
    assert execution.attempts["ClassifyImage"] == 1
    assert execution.errors == {"ClassifyImage": ["ModelEndpointError"]}
    assert pipeline.waits == []
    [record] = execution.stored
    assert record["verdict"] == "error" and record["reason"].startswith("ModelEndpointError: ")


def test_given_a_hung_endpoint_when_the_attempt_outlasts_its_timeout_then_it_times_out_and_is_retried(run, pipeline):
    def one_second_timeouts(states):
        # TimeoutSeconds scaled down for the test (100 s -> 1 s); a task declaring none keeps none.
        for state in states.values():
            if "TimeoutSeconds" in state:
                state["TimeoutSeconds"] = 1

    pipeline.model.hang_next = 3
    execution = run(one_second_timeouts)
    assert execution.errors == {"ClassifyImage": ["States.Timeout"]}
    assert execution.attempts["ClassifyImage"] == 2
    assert pipeline.waits == WAITS[:1]
    assert [record["verdict"] for record in execution.stored] == ["defective"]


def test_given_dynamodb_failing_two_attempts_when_recording_then_retried_and_stored_once(run, pipeline):
    pipeline.faults.fail("dynamodb", failing_attempts(2))
    execution = run()
    assert execution.attempts["RecordVerdict"] == 3
    assert execution.errors == {"RecordVerdict": ["ResultsStoreUnavailable"] * 2}
    assert [record["verdict"] for record in execution.stored] == ["defective"]
    assert len(execution.alerts) == 1


@pytest.mark.parametrize("service, task", [("dynamodb", "RecordVerdict"), ("sns", "PublishAlert")])
def test_given_the_store_or_topic_down_past_the_retries_then_the_inspection_is_parked(run, pipeline, service, task):
    pipeline.faults.fail(service, (1 + MAX_ATTEMPTS) * (ATTEMPTS if service == "dynamodb" else 1))
    execution = run()
    assert execution.attempts[task] == 1 + MAX_ATTEMPTS
    assert execution.states[-2:] == ["ParkVerdict", "Parked"]
    assert execution.status == "FAILED" and execution.failure["error"] == "VerdictParked"
    [parked] = execution.parked
    assert parked["product_id"] == "PCB-7" and parked["key"] == "uploads/PCB-7/capture-1.jpg"
    assert parked["classification"]["label"] == "defective"
    assert execution.alerts == []
