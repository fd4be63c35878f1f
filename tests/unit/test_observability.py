"""The observability middleware, through app.py's handlers called as Lambda calls them: (event, context).

Each invocation's log lines name it (request id, cold start, function) and, for a workflow task, its inspection;
its metrics are written once at its end, failures included.
"""
import json

import pytest
from botocore.stub import Stubber

import app as app_module
from chalicelib.endpoint import ModelEndpointUnavailable

from .helpers import (
    BUCKET,
    ENDPOINT_NAME,
    INSPECTION_ID,
    STATE_MACHINE_ARN,
    TABLE,
    TOPIC_ARN,
    UPLOAD_KEY,
    FakeLambdaContext,
    execution_input,
    jpeg_bytes,
    s3_message,
    s3_record,
    sagemaker_runtime_client,
    sqs_event,
    sqs_record,
)

REQUEST_ID = "8f5a2c1e-3b4d-4e6f-9a0b-1c2d3e4f5a6b"
INVOCATION_KEYS = {"function_request_id", "cold_start", "function_name", "function_arn", "function_memory_size"}


@pytest.fixture
def app_clients(aws_clients, monkeypatch):
    """The app on moto, configured as a deployed stage is: through its environment."""
    for name, value in {"UPLOAD_BUCKET": BUCKET, "RESULTS_TABLE": TABLE, "STATE_MACHINE_ARN": STATE_MACHINE_ARN,
                        "ALERT_TOPIC_ARN": TOPIC_ARN, "SAGEMAKER_ENDPOINT_NAME": ENDPOINT_NAME,
                        "MODEL_INPUT_SIZE": "224"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(app_module, "clients", aws_clients)
    return aws_clients


def context_of(function: str) -> FakeLambdaContext:
    return FakeLambdaContext(function_name=f"quality-inspection-dev-{function}", aws_request_id=REQUEST_ID)


def test_given_a_record_task_when_invoked_then_its_lines_name_invocation_and_inspection_and_the_verdict_is_counted(
    app_clients, dynamodb, log_lines
):
    # GIVEN RecordVerdict's input after the Catch of a classify failure
    state = execution_input()
    state["failure"] = {"Error": "States.Timeout", "Cause": ""}
    # WHEN Lambda invokes the handler
    app_module.record_verdict(state, context_of("record_verdict"))
    # THEN the handler's line names the invocation and the inspection, though the handler passed neither
    [entry] = log_lines.named("verdict recorded")
    assert INVOCATION_KEYS <= set(entry)
    assert (entry["function_request_id"], entry["function_name"], entry["inspection_id"]) == (
        REQUEST_ID, "quality-inspection-dev-record_verdict", INSPECTION_ID)
    # AND one Verdicts metric by verdict, never by product
    assert log_lines.metrics == [{"namespace": "QualityInspection", "name": "Verdicts", "unit": "Count",
                                  "values": [1.0], "dimensions": {"service": "quality-inspection", "verdict": "error"}}]
    [emf] = [line for line in log_lines.entries if "_aws" in line]
    assert "product_id" not in emf and "PCB-0042" not in json.dumps(emf)


def test_given_a_throttled_endpoint_when_classify_invoked_then_the_failure_is_logged_and_its_metric_written(
    app_clients, s3, log_lines
):
    # GIVEN an uploaded photo and a model endpoint that throttles
    s3.put_object(Bucket=BUCKET, Key=UPLOAD_KEY, Body=jpeg_bytes(640, 480), ContentType="image/jpeg")
    runtime = sagemaker_runtime_client()
    app_clients._clients["sagemaker-runtime"] = runtime
    with Stubber(runtime) as stubber:
        stubber.add_client_error("invoke_endpoint", "ThrottlingException", "Rate exceeded", http_status_code=400)
        # WHEN Lambda invokes ClassifyImage, which raises for the state machine to retry
        with pytest.raises(ModelEndpointUnavailable):
            app_module.classify_image(execution_input(), context_of("classify_image"))
    # THEN one line says the invocation failed, why, for which inspection
    [failed] = log_lines.named("invocation failed")
    assert failed["level"] == "ERROR" and failed["exception_name"] == "ModelEndpointUnavailable"
    assert (failed["function_request_id"], failed["inspection_id"]) == (REQUEST_ID, INSPECTION_ID)
    # AND the failed call is counted though the handler raised
    assert [(m["name"], m["values"], m["dimensions"]) for m in log_lines.metrics] == [
        ("EndpointErrors", [1.0], {"service": "quality-inspection"})]


def test_given_an_sqs_batch_when_the_starter_invoked_then_lines_name_the_invocation_and_each_their_inspection(
    app_clients, stepfunctions, log_lines
):
    event = sqs_event(sqs_record(s3_message(s3_record(UPLOAD_KEY)), "7d1a0b1e-0001-4000-8000-000000000001"))
    assert app_module.start_inspections(event, context_of("start_inspections")) == {"batchItemFailures": []}
    [started] = log_lines.named("inspection started")
    assert (started["function_request_id"], started["function_name"]) == (
        REQUEST_ID, "quality-inspection-dev-start_inspections")
    assert started["inspection_id"].startswith("PCB-0042-")  # named per record by the starter itself
    assert log_lines.metrics == []


def test_given_a_rest_request_when_the_api_handler_invoked_then_its_lines_name_the_invocation(
    app_clients, dynamodb, log_lines
):
    # GIVEN API Gateway's proxy event for POST /reinspections
    event = {
        "resource": "/reinspections", "path": "/reinspections", "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "x-api-key": "k3y"},
        "multiValueHeaders": {"Content-Type": ["application/json"], "x-api-key": ["k3y"]},
        "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
        "stageVariables": None, "body": json.dumps({"verdict": "error"}), "isBase64Encoded": False,
        "requestContext": {"resourcePath": "/reinspections", "httpMethod": "POST", "stage": "api",
                           "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "identity": {"sourceIp": "203.0.113.17"}},
    }
    # WHEN Lambda invokes the API handler (the Chalice app itself)
    response = app_module.app(event, context_of("api_handler"))
    # THEN it answers, and its line names the Lambda invocation, not API Gateway's request context
    assert response["statusCode"] == 202
    [entry] = log_lines.named("reinspections started")
    assert (entry["function_request_id"], entry["function_name"]) == (REQUEST_ID, "quality-inspection-dev-api_handler")
    assert "inspection_id" not in entry
