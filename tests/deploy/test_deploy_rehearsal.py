"""The deploy rehearsal: AWS's rules that moto does not enforce, over what a deployment would send."""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
from deploy_helpers import PROJECT_DIR

from inspection_app.chalice_stage import STATE_MACHINE_DEFINITION
from inspection_app.deploy.rehearsal import (
    TRANSIENT_LAMBDA_ERRORS,
    lambda_retry_problems,
    lint_problems,
    notification_filter_problems,
    presign_with_app_client,
    rule_problems,
    sns_subject_problems,
    upload_url_problems,
)
from inspection_app.resource_template import load_template, resource_template


def _definition() -> dict:
    return json.loads(STATE_MACHINE_DEFINITION.read_text())


def _bucket(*configurations: dict) -> dict:
    return {"Resources": {"UploadBucket": {"Type": "AWS::S3::Bucket", "Properties": {
        "NotificationConfiguration": {"QueueConfigurations": list(configurations)}}}}}


def _queue_notification(event: str = "s3:ObjectCreated:*", **rules: str) -> dict:
    return {"Event": event, "Queue": "arn:aws:sqs:us-east-1:123456789012:uploads",
            "Filter": {"S3Key": {"Rules": [{"Name": name, "Value": value} for name, value in rules.items()]}}}


def test_given_what_a_deployment_sends_when_rehearsed_then_no_rule_is_broken(packaged):
    # GIVEN the two `chalice package` templates, the resource stack and the state machine definition
    templates = {"plain": packaged["plain"], "merged": packaged["merged"], "resources": resource_template()}
    # WHEN every rule AWS enforces (and moto does not) is checked
    # THEN none is broken
    assert rule_problems(templates, _definition()) == []


def test_given_one_notification_per_suffix_and_case_when_rehearsed_then_the_missed_spellings_are_reported():
    # GIVEN the filters the template once had: one prefix, six suffixes in two cases
    template = _bucket(*[_queue_notification(prefix="uploads/", suffix=suffix)
                         for suffix in (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")])
    # WHEN rehearsed
    problems = notification_filter_problems(template)
    # THEN the case variants are reported: S3 matches suffixes case-sensitively, so `.Jpg` is never notified
    # (no two of these suffixes end one another, so S3 would not call them overlapping)
    assert len(problems) == 1
    assert "differ only in case" in problems[0] and ".JPEG" in problems[0]


@pytest.mark.parametrize(("first", "second", "overlapping"), [
    ({"prefix": "uploads/"}, {"prefix": "uploads/cam1/"}, True),  # one prefix contains the other
    ({"prefix": "uploads/", "suffix": ".jpg"}, {"prefix": "uploads/", "suffix": ".jpg"}, True),
    ({"prefix": "uploads/", "suffix": "a.jpg"}, {"prefix": "uploads/", "suffix": ".jpg"}, True),
    ({"prefix": "uploads/"}, {"prefix": "uploads/", "suffix": ".png"}, True),  # no suffix matches every suffix
    ({"prefix": "line-a/"}, {"prefix": "line-b/"}, False),
    ({"prefix": "uploads/", "suffix": ".jpg"}, {"prefix": "uploads/", "suffix": ".png"}, False),
])
def test_given_two_filters_for_the_same_event_when_rehearsed_then_overlap_is_reported_as_s3_would(
        first, second, overlapping):
    template = _bucket(_queue_notification(**first), _queue_notification(**second))
    assert bool(notification_filter_problems(template)) is overlapping


def test_given_filters_for_different_events_when_rehearsed_then_they_do_not_overlap():
    template = _bucket(_queue_notification("s3:ObjectCreated:Put", prefix="uploads/"),
                       _queue_notification("s3:ObjectRemoved:*", prefix="uploads/"))
    assert notification_filter_problems(template) == []


def test_given_a_wildcard_event_and_one_it_covers_when_rehearsed_then_they_overlap():
    template = _bucket(_queue_notification("s3:ObjectCreated:*", prefix="uploads/"),
                       _queue_notification("s3:ObjectCreated:Put", prefix="uploads/"))
    assert len(notification_filter_problems(template)) == 1


def test_given_the_resource_template_when_rehearsed_then_one_prefix_filter_notifies_every_spelling():
    assert notification_filter_problems(load_template(PROJECT_DIR / "statemachine" / "resources.yaml")) == []


@pytest.mark.parametrize(("parameters", "reported"), [
    ({"Subject": "D" * 99, "Message.$": "$.result.alert.message"}, False),
    ({"Subject": "D" * 100, "Message.$": "$.result.alert.message"}, True),  # SNS wants fewer than 100
    ({"Subject": "Défaut", "Message.$": "$.result.alert.message"}, True),  # not ASCII
    ({"Subject": "two\nlines", "Message.$": "$.result.alert.message"}, True),
    ({"Subject.$": "$.input.key", "Message.$": "$.result.alert.message"}, True),  # uncapped: any length
    ({"Subject.$": "$.result.alert.subject", "Message.$": "$.result.alert.message"}, False),
])
def test_given_an_sns_publish_task_when_rehearsed_then_a_subject_sns_would_refuse_is_reported(parameters, reported):
    definition = _definition()
    publish = next(state for state in definition["States"].values()
                   if str(state.get("Resource", "")).endswith(":sns:publish"))
    publish["Parameters"] = {"TopicArn": "${AlertTopicArn}", **parameters}
    assert bool(sns_subject_problems(definition)) is reported


@pytest.mark.parametrize("error", TRANSIENT_LAMBDA_ERRORS)
def test_given_a_task_that_does_not_retry_a_lambda_error_when_rehearsed_then_the_state_and_error_are_named(error):
    # GIVEN the definition with one documented Lambda error dropped from ClassifyImage's retries
    definition = copy.deepcopy(_definition())
    for retrier in definition["States"]["ClassifyImage"]["Retry"]:
        retrier["ErrorEquals"] = [name for name in retrier["ErrorEquals"] if name != error]
    # WHEN rehearsed
    # THEN the failure Step Functions would not retry is reported
    assert lambda_retry_problems(definition) == [f"ClassifyImage: does not retry {error}"]


def test_given_the_definition_as_committed_when_rehearsed_then_every_lambda_task_retries_lambdas_errors():
    assert lambda_retry_problems(_definition()) == []


def test_given_upload_urls_for_the_global_host_when_rehearsed_then_each_region_but_us_east_1_is_reported():
    problems = upload_url_problems(lambda region: "https://plant-uploads.s3.amazonaws.com/")
    assert [problem.split(":")[0] for problem in problems] == ["eu-west-1", "ap-east-1"]


def test_given_the_apps_s3_client_when_rehearsed_with_a_local_endpoint_set_then_it_still_checks_aws_hosts(monkeypatch):
    # The embedded stack's variables must not hide what the cloud would do.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:5999")
    assert presign_with_app_client("eu-west-1") == "https://rehearsal-bucket.s3.eu-west-1.amazonaws.com/"
    assert upload_url_problems(presign_with_app_client) == []


def test_given_a_template_cfn_lint_refuses_when_rehearsed_then_its_error_is_reported(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue",
                                                          "Properties": {"VisibilityTimeout": "soon"}}}}))
    problems = lint_problems({"broken": broken})
    assert problems and all(problem.startswith("broken: E") for problem in problems)


def test_given_the_project_when_the_rehearsal_command_runs_then_it_packages_lints_checks_and_passes():
    # The command a person runs before `inspection-app deploy` (offline: chalice package needs no account).
    result = subprocess.run([sys.executable, "-m", "inspection_app.deploy.rehearsal", "--stage", "dev"],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "rehearsal of stage dev: 0 problem(s) in plain, merged, resources" in result.stdout
    assert not list(PROJECT_DIR.glob(".rehearsal-*"))  # nothing left in the project
