"""statemachine/inspection.asl.json: the inspection workflow's definition, checked statically."""
import json
import re
from pathlib import Path

import pytest

from chalicelib import classify, endpoint, results
from inspection_app.chalice_stage import render_definition, retry_wait_seconds

DEFINITION_FILE = Path(__file__).resolve().parents[2] / "statemachine" / "inspection.asl.json"
PLACEHOLDERS = {"ClassifyImageFunctionArn", "RecordVerdictFunctionArn", "AlertTopicArn", "ParkedVerdictQueueUrl"}
SUBSTITUTIONS = {
    "ClassifyImageFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:quality-inspection-dev-classify_image",
    "RecordVerdictFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:quality-inspection-dev-record_verdict",
    "AlertTopicArn": "arn:aws:sns:us-east-1:123456789012:quality-inspection-dev-alerts",
    "ParkedVerdictQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/quality-inspection-dev-parked-verdicts",
}
# The outage every task must ride out without an `error` verdict or a lost result.
OUTAGE_SECONDS = 600
TASKS = ("ClassifyImage", "RecordVerdict", "PublishAlert", "ParkVerdict")


@pytest.fixture(scope="module")
def text() -> str:
    return DEFINITION_FILE.read_text()


@pytest.fixture(scope="module")
def definition(text) -> dict:
    return json.loads(text)


def targets(state: dict) -> list:
    found = [state.get("Next"), state.get("Default")]
    found += [choice.get("Next") for choice in state.get("Choices", [])]
    found += [catch.get("Next") for catch in state.get("Catch", [])]
    return [target for target in found if target]


def test_given_the_definition_when_read_then_it_is_json_with_a_start_state(definition):
    assert definition["StartAt"] in definition["States"]


def test_given_every_transition_when_followed_then_it_leads_to_an_existing_state(definition):
    states = definition["States"]
    for name, state in states.items():
        for target in targets(state):
            assert target in states, f"{name} -> {target}"


def test_given_the_start_when_all_transitions_followed_then_every_state_is_reached_and_the_end_too(definition):
    states = definition["States"]
    reached, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(targets(states[name]))
    assert reached == set(states)
    terminal = [n for n, s in states.items() if s["Type"] in ("Succeed", "Fail") or s.get("End")]
    assert terminal and set(terminal) <= reached


def test_given_non_terminal_states_when_checked_then_each_has_a_way_on(definition):
    for name, state in definition["States"].items():
        if state["Type"] in ("Succeed", "Fail") or state.get("End"):
            continue
        assert targets(state), name


def test_given_the_text_when_placeholders_listed_then_exactly_the_ones_the_deploy_fills(text):
    assert set(re.findall(r"\$\{([^}]*)\}", text)) == PLACEHOLDERS


def test_given_classify_image_when_it_fails_for_any_reason_then_caught_into_record_verdict(definition):
    classify_state = definition["States"]["ClassifyImage"]
    catch_all = [c for c in classify_state["Catch"] if c["ErrorEquals"] == ["States.ALL"]]
    assert len(catch_all) == 1
    assert catch_all[0]["Next"] == "RecordVerdict"
    # record_verdict reads the caught error from `failure` and a classification from `classification`.
    assert catch_all[0]["ResultPath"] == "$.failure"
    assert classify_state["ResultPath"] == "$.classification"
    assert classify_state["Next"] == "RecordVerdict"


def retried_errors(state: dict) -> set:
    return {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}


def test_given_transient_failures_when_classifying_then_they_are_retried_with_backoff(definition):
    classify_state = definition["States"]["ClassifyImage"]
    assert {"ModelEndpointUnavailable", "StorageUnavailable"} <= retried_errors(classify_state)
    [retrier] = [r for r in classify_state["Retry"] if "ModelEndpointUnavailable" in r["ErrorEquals"]]
    assert retrier["MaxAttempts"] >= 2
    assert retrier["BackoffRate"] > 1


@pytest.mark.parametrize("task", TASKS)
def test_given_each_task_when_its_service_is_down_for_ten_minutes_then_its_retries_outlast_it(definition, task):
    state = definition["States"][task]
    assert state["Retry"], task
    for retrier in state["Retry"]:
        assert retry_wait_seconds(retrier) > OUTAGE_SECONDS, (task, retrier)


@pytest.mark.parametrize("task", ("ClassifyImage", "RecordVerdict"))
def test_given_a_lambda_task_when_the_function_times_out_then_that_is_retried(definition, task):
    assert {"Sandbox.Timedout", "States.Timeout", "Lambda.Unknown"} <= retried_errors(definition["States"][task])


def test_given_a_retry_when_its_wait_is_computed_then_backoff_is_capped_by_the_maximum_delay():
    assert retry_wait_seconds({"IntervalSeconds": 2, "BackoffRate": 2.0, "MaxDelaySeconds": 10, "MaxAttempts": 5}) == 2 + 4 + 8 + 10 + 10
    assert retry_wait_seconds({"IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 3}) == 3


def test_given_a_retry_window_when_rendered_then_every_retry_waits_one_second_that_many_times():
    states = json.loads(render_definition(SUBSTITUTIONS, retry_window_seconds=4))["States"]
    retriers = [r for state in states.values() for r in state.get("Retry", [])]
    assert len(retriers) == len(TASKS)
    assert all(retry_wait_seconds(r) == 4 and r["IntervalSeconds"] == 1 for r in retriers)


def test_given_the_store_or_the_alert_topic_down_past_the_retries_then_the_verdict_is_parked_not_dropped(definition):
    states = definition["States"]
    for task in ("RecordVerdict", "PublishAlert"):
        [catch] = states[task]["Catch"]
        assert (catch["ErrorEquals"], catch["Next"]) == (["States.ALL"], "ParkVerdict")
        assert catch["ResultPath"] != "$", "the whole inspection must still be parked"
    park = states["ParkVerdict"]
    assert park["Resource"] == "arn:aws:states:::sqs:sendMessage"
    assert park["Parameters"] == {"QueueUrl": "${ParkedVerdictQueueUrl}", "MessageBody.$": "$"}
    assert states[park["Next"]]["Type"] == "Fail"


def test_given_a_parked_inspection_when_redriven_then_it_goes_straight_to_record_verdict(definition):
    start = definition["States"][definition["StartAt"]]
    assert start["Type"] == "Choice" and start["Default"] == "ClassifyImage"
    [choice] = start["Choices"]
    assert choice["Next"] == "RecordVerdict"
    assert {c["Variable"] for c in choice["Or"]} == {"$.classification", "$.failure"}


def test_given_permanent_failures_when_classifying_then_they_are_not_retried(definition):
    retried = retried_errors(definition["States"]["ClassifyImage"])
    assert not {"ModelEndpointError", "StorageError", "States.ALL", "States.TaskFailed"} & retried


def test_given_error_names_in_the_definition_when_compared_then_they_are_the_python_exception_names(definition):
    # Lambda reports errorType = the exception class name; Retry must use exactly those names.
    assert endpoint.ModelEndpointUnavailable.__name__ in retried_errors(definition["States"]["ClassifyImage"])
    assert classify.StorageUnavailable.__name__ in retried_errors(definition["States"]["ClassifyImage"])
    assert results.ResultsStoreUnavailable.__name__ in retried_errors(definition["States"]["RecordVerdict"])


def test_given_a_recorded_verdict_when_it_calls_for_an_alert_then_the_alert_record_verdict_returns_is_published(definition):
    states = definition["States"]
    assert states["RecordVerdict"]["ResultPath"] == "$.result"
    assert states["RecordVerdict"]["Next"] == "HasAlert"
    [choice] = states["HasAlert"]["Choices"]
    assert (choice["Variable"], choice["IsNull"], choice["Next"]) == ("$.result.alert", False, "PublishAlert")
    parameters = states["PublishAlert"]["Parameters"]
    assert parameters["Subject.$"] == "$.result.alert.subject"
    # the structured message (text for e-mail, JSON for the rest) and its filterable attributes
    assert parameters["Message.$"] == "$.result.alert.sns_message"
    assert (parameters["MessageStructure"], parameters["MessageAttributes.$"]) == ("json", "$.result.alert.attributes")
    assert parameters["TopicArn"] == "${AlertTopicArn}"
    assert states["PublishAlert"]["Resource"] == "arn:aws:states:::sns:publish"


def test_given_arns_when_rendered_then_no_placeholder_is_left_and_resources_are_the_arns():
    rendered = render_definition(SUBSTITUTIONS)
    assert "${" not in rendered
    states = json.loads(rendered)["States"]
    assert states["ClassifyImage"]["Resource"] == SUBSTITUTIONS["ClassifyImageFunctionArn"]
    assert states["RecordVerdict"]["Resource"] == SUBSTITUTIONS["RecordVerdictFunctionArn"]
    assert states["PublishAlert"]["Parameters"]["TopicArn"] == SUBSTITUTIONS["AlertTopicArn"]
    assert states["ParkVerdict"]["Parameters"]["QueueUrl"] == SUBSTITUTIONS["ParkedVerdictQueueUrl"]


def test_given_a_missing_substitution_when_rendered_then_error_names_the_placeholder():
    partial = {k: v for k, v in SUBSTITUTIONS.items() if k != "AlertTopicArn"}
    with pytest.raises(ValueError) as raised:
        render_definition(partial)
    assert "${AlertTopicArn}" in str(raised.value)


def asl_problem(definition: str) -> str | None:
    """What Step Functions' ASL grammar (moto's copy of the AWS interpreter's parser) finds wrong, or None.
    (moto's CreateStateMachine itself accepts any text, even 'not json'.)"""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    try:
        AmazonStateLanguageParser.parse(definition)
    except Exception as error:  # noqa: BLE001 - the parser's errors have no common base
        return f"{type(error).__name__}: {error}"
    return None


@pytest.mark.parametrize("broken", ["not json", '{"StartAt": "A", "States": {"A": {"Type": "Tusk", "End": true}}}'])
def test_given_a_broken_definition_when_parsed_then_the_grammar_check_refuses_it(broken):
    assert asl_problem(broken)


def test_given_the_rendered_definition_when_parsed_by_the_step_functions_grammar_then_accepted():
    assert asl_problem(render_definition(SUBSTITUTIONS)) is None
