"""Fault injection: the named service fails as in an AWS outage, only for its window, and the app sees it
as transient; the control endpoint and `inspection-app fault` drive it."""
from __future__ import annotations

import io
import json
import os
import time

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from chalicelib import logs
from chalicelib.classify import StorageUnavailable, read_upload
from chalicelib.endpoint import ModelEndpointUnavailable, SageMakerEndpoint
from chalicelib.results import DynamoDbResultsStore, ResultsStoreUnavailable
from inspection_app.cli import main
from inspection_app.stack.faults import FaultTable, aws_service, fault_middleware
from inspection_app.stack.access import LOCAL_CREDENTIALS
from inspection_app.stack.lambda_dispatch import LambdaDispatcher
from inspection_app.stack.local_aws import LocalAws
from inspection_app.stack.model_server import LocalModelEndpoint

BUCKET, KEY, TABLE = "fault-uploads", "uploads/P-1/c.png", "fault-results"
# One attempt per call: botocore's own retries of 5xx answers are real, but only slow the tests down.
ONE_TRY = Config(retries={"total_max_attempts": 1})


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FixedPredictor:
    model_id = "fixed"

    def predict(self, data: bytes) -> list[float]:
        return [0.3, 0.7]


def client(service: str, url: str):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", config=ONE_TRY,
                        **LOCAL_CREDENTIALS)


@pytest.fixture(scope="module")
def aws():
    saved_port = os.environ.get("MOTO_PORT")
    dispatcher = LambdaDispatcher({"echo": lambda event, context: {"echo": event}}, "app-local-")
    local = LocalAws(dispatcher).start()
    s3, dynamodb = client("s3", local.url), client("dynamodb", local.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"\x89PNG fake")
    dynamodb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "product_id", "KeyType": "HASH"},
                   {"AttributeName": "inspection_key", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "product_id", "AttributeType": "S"},
                              {"AttributeName": "inspection_key", "AttributeType": "S"}],
    )
    yield local
    local.stop()
    if saved_port is None:
        os.environ.pop("MOTO_PORT", None)
    else:
        os.environ["MOTO_PORT"] = saved_port


@pytest.fixture(autouse=True)
def no_faults_left(request):
    yield
    if "aws" in request.fixturenames:
        request.getfixturevalue("aws").faults.clear()


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    logs.configure(stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logs.configure()


def error_of(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# ---- the table and the middleware, on an injected clock ---------------------------------------------

def test_a_fault_covers_only_its_service_and_only_its_window(log_lines):
    clock = FakeClock()
    table = FaultTable(clock=clock)
    table.start("dynamodb", 5)
    assert table.active("dynamodb").service == "dynamodb"
    assert table.active("sns") is None and table.active("s3") is None and table.active(None) is None
    clock.now += 4.9
    assert table.active("dynamodb")
    clock.now += 0.1
    assert table.active("dynamodb") is None
    assert [(entry["message"], entry["service"]) for entry in log_lines()] == [
        ("fault started", "dynamodb"), ("fault ended", "dynamodb")]
    assert log_lines()[1]["reason"] == "elapsed"


def test_clearing_ends_a_fault_at_once_and_a_new_fault_replaces_the_old(log_lines):
    clock = FakeClock()
    table = FaultTable(clock=clock)
    table.start("s3", 5)
    table.start("s3", 1, "close")
    assert table.active("s3").mode == "close"
    table.start("sns", 60)
    assert [fault.service for fault in table.clear("sns")] == ["sns"]
    assert [fault.service for fault in table.faults()] == ["s3"]
    clock.now += 1
    assert table.faults() == []
    assert [entry["message"] for entry in log_lines()] == ["fault started"] * 3 + ["fault ended"] * 2


@pytest.mark.parametrize("service, seconds, mode", [
    ("lambda", 5, "error"), ("sqs", 5, "error"), ("dynamodb", 0, "error"), ("dynamodb", -1, "error"),
    ("dynamodb", 3601, "error"), ("dynamodb", float("nan"), "error"), ("dynamodb", "soon", "error"),
    ("dynamodb", 5, "refuse"),
])
def test_bad_fault_requests_are_refused(service, seconds, mode):
    with pytest.raises(ValueError):
        FaultTable().start(service, seconds, mode)


def environ(method: str, path: str, authorization: str = "", query: str = "", host: str = "127.0.0.1:5000"):
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "HTTP_HOST": host,
            "HTTP_AUTHORIZATION": authorization, "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO()}


def sigv4(service: str) -> str:
    return (f"AWS4-HMAC-SHA256 Credential=local/20261130/us-east-1/{service}/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc")


@pytest.mark.parametrize("request_environ, service", [
    (environ("POST", "/", sigv4("dynamodb")), "dynamodb"),
    (environ("POST", "/", sigv4("sns")), "sns"),
    (environ("GET", "/bucket/uploads/a.jpg", sigv4("s3")), "s3"),
    (environ("HEAD", "/bucket/uploads/a.jpg", sigv4("s3")), "s3"),
    (environ("GET", "/bucket/uploads/a.jpg",
             query="X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=local%2F20261130%2Fus-east-1%2Fs3%2Faws4_request"),
     "s3"),
    (environ("GET", "/uploads/a.jpg", sigv4("s3"), host="bucket.s3.us-east-1.amazonaws.com"), "s3"),
    (environ("GET", "/bucket/a.jpg", query="AWSAccessKeyId=k&Signature=s&Expires=1"), "s3"),
    # uploads, listings and bucket operations keep working during an S3-read outage
    (environ("PUT", "/bucket/uploads/a.jpg", sigv4("s3")), None),
    (environ("POST", "/bucket", sigv4("s3")), None),
    (environ("POST", "/bucket"), None),
    (environ("GET", "/bucket", sigv4("s3"), query="list-type=2"), None),
    # never faulted: Lambda invocations, SQS, Step Functions, unsigned requests
    (environ("POST", "/2015-03-31/functions/app-local-echo/invocations", sigv4("lambda")), None),
    (environ("POST", "/", sigv4("sqs")), None),
    (environ("POST", "/123456789012/queue", query="Action=ReceiveMessage&AWSAccessKeyId=k&Signature=s&"
                                                  "SignatureVersion=2"), None),
    (environ("POST", "/", sigv4("states")), None),
    (environ("GET", "/moto-api/"), None),
])
def test_the_service_of_a_request_comes_from_its_signature(request_environ, service):
    assert aws_service(request_environ) == service


def test_the_middleware_answers_for_the_failing_service_and_passes_the_rest():
    table = FaultTable(clock=FakeClock())
    app = fault_middleware(table, lambda environ, start: [b"moto"], aws_service)
    statuses = []

    def call(request_environ) -> bytes:
        return b"".join(app(request_environ, lambda status, headers: statuses.append(status)))

    table.start("sns", 5)
    assert call(environ("POST", "/", sigv4("dynamodb"))) == b"moto"
    assert b"<Code>ServiceUnavailable</Code>" in call(environ("POST", "/", sigv4("sns")))
    assert statuses == ["503 Service Unavailable"]


# ---- real boto3 calls against a local AWS ------------------------------------------------------------

def test_dynamodb_fails_with_internal_server_error_which_the_results_store_calls_transient(aws):
    dynamodb = client("dynamodb", aws.url)
    record = {"product_id": "P-1", "inspection_key": "2026-11-30T10:00:00Z#i-1", "verdict": "defect_free"}
    aws.faults.start("dynamodb", 30)
    assert error_of(lambda: dynamodb.describe_table(TableName=TABLE)) == ("InternalServerError", 500)
    with pytest.raises(ResultsStoreUnavailable):
        DynamoDbResultsStore(dynamodb, TABLE).put(record)
    aws.faults.clear("dynamodb")
    assert DynamoDbResultsStore(dynamodb, TABLE).put(record) == record


def test_s3_object_reads_fail_with_service_unavailable_for_the_window_only_and_uploads_keep_working(aws):
    s3 = client("s3", aws.url)
    aws.faults.start("s3", 0.5)
    assert error_of(lambda: s3.get_object(Bucket=BUCKET, Key=KEY)) == ("ServiceUnavailable", 503)
    assert error_of(lambda: s3.head_object(Bucket=BUCKET, Key=KEY)) == ("503", 503)  # HEAD: no body, no code
    with pytest.raises(StorageUnavailable):
        read_upload(s3, BUCKET, KEY, 1_000_000)
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": KEY})
    assert requests.get(presigned, timeout=10).status_code == 503
    s3.put_object(Bucket=BUCKET, Key="uploads/P-2/new.png", Body=b"new photo")
    post = s3.generate_presigned_post(BUCKET, "uploads/P-3/new.png")
    assert requests.post(post["url"], data=post["fields"], files={"file": b"posted"}, timeout=10).status_code == 204
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 3
    time.sleep(0.6)
    assert read_upload(s3, BUCKET, KEY, 1_000_000) == b"\x89PNG fake"


def test_sns_fails_with_service_unavailable(aws):
    sns = client("sns", aws.url)
    topic = sns.create_topic(Name="fault-alerts")["TopicArn"]
    aws.faults.start("sns", 30)
    assert error_of(lambda: sns.publish(TopicArn=topic, Message="defect")) == ("ServiceUnavailable", 503)


def test_the_state_machine_interpreters_own_sns_publish_fails_too(aws):
    sns, sfn = client("sns", aws.url), client("stepfunctions", aws.url)
    topic = sns.create_topic(Name="fault-interpreter")["TopicArn"]
    definition = {"StartAt": "Publish", "States": {"Publish": {
        "Type": "Task", "Resource": "arn:aws:states:::sns:publish",
        "Parameters": {"TopicArn": topic, "Message": "defect"}, "End": True}}}
    machine = sfn.create_state_machine(name="fault-publish", definition=json.dumps(definition),
                                       roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]

    def run(name: str) -> dict:
        execution = sfn.start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"]
        for _ in range(200):
            described = sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.02)
        raise AssertionError("the execution did not finish")

    aws.faults.start("sns", 30)
    failed = run("during-fault")
    assert failed["status"] == "FAILED" and failed["error"] == "SNS.ServiceUnavailableException"
    aws.faults.clear()
    assert run("after-fault")["status"] == "SUCCEEDED"


def test_lambda_invocations_sqs_and_step_functions_are_never_faulted(aws):
    for service in ("dynamodb", "s3", "sns", "model"):
        aws.faults.start(service, 30)
    answer = client("lambda", aws.url).invoke(FunctionName="app-local-echo", Payload=b'{"a": 1}')
    assert json.loads(answer["Payload"].read()) == {"echo": {"a": 1}}
    sqs = client("sqs", aws.url)
    queue = sqs.create_queue(QueueName="fault-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="photo")
    assert sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "photo"
    client("stepfunctions", aws.url).list_state_machines()
    assert client("s3", aws.url).list_buckets()["Buckets"]


def test_the_model_endpoint_answers_503_or_closes_the_connection_while_it_fails():
    table = FaultTable()
    server = LocalModelEndpoint(FixedPredictor(), "model", faults=table).start()
    try:
        runtime = client("sagemaker-runtime", server.url)
        endpoint = SageMakerEndpoint(runtime, "model", 2)
        table.start("model", 0.5)
        call = lambda: runtime.invoke_endpoint(EndpointName="model", ContentType="application/x-image", Body=b"x")  # noqa: E731
        assert error_of(call) == ("ServiceUnavailable", 503)
        with pytest.raises(ModelEndpointUnavailable):
            endpoint.predict(b"x", "application/x-image")
        table.start("model", 0.5, "close")
        with pytest.raises(ConnectionClosedError):
            call()
        with pytest.raises(ModelEndpointUnavailable):
            endpoint.predict(b"x", "application/x-image")
        time.sleep(0.6)
        assert endpoint.predict(b"x", "application/x-image").probabilities == [0.3, 0.7]
    finally:
        server.stop()


# ---- the control endpoint and the command --------------------------------------------------------------

def test_the_control_endpoint_starts_lists_and_clears_faults(aws):
    faults = f"{aws.url}/_inspection/faults"
    started = requests.post(faults, json={"service": "dynamodb", "seconds": 45}, timeout=10)
    assert started.status_code == 200
    assert started.json()["service"] == "dynamodb" and started.json()["until"].endswith("Z")
    requests.post(faults, json={"service": "model", "seconds": 45, "mode": "close"}, timeout=10)
    listed = requests.get(faults, timeout=10).json()["faults"]
    assert [(fault["service"], fault["mode"]) for fault in listed] == [("dynamodb", "error"), ("model", "close")]
    assert aws.faults.active("model")
    cleared = requests.delete(faults, params={"service": "model"}, timeout=10).json()["cleared"]
    assert [fault["service"] for fault in cleared] == ["model"]
    assert [fault["service"] for fault in requests.delete(faults, timeout=10).json()["cleared"]] == ["dynamodb"]
    assert requests.get(faults, timeout=10).json() == {"faults": []}


@pytest.mark.parametrize("body, message", [
    ({"service": "lambda", "seconds": 5}, "unknown service"),
    ({"service": "s3", "seconds": -3}, "more than 0"),
    ({"service": "s3", "seconds": 10**9}, "at most 3600"),
    ({"service": "s3"}, "must be a number"),
    ([1, 2], "JSON object"),
])
def test_the_control_endpoint_refuses_bad_requests(aws, body, message):
    answer = requests.post(f"{aws.url}/_inspection/faults", json=body, timeout=10)
    assert answer.status_code == 400 and message in answer.json()["message"]
    assert aws.faults.faults() == []


@pytest.fixture
def ready_file(aws, tmp_path):
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"api_url": "http://127.0.0.1:1", "aws_url": aws.url}))
    return path


def test_the_fault_command_starts_a_fault_and_returns_at_once(aws, ready_file, capsys):
    started = time.monotonic()
    assert main(["fault", "sns", "--seconds", "45", "--ready-file", str(ready_file)]) == 0
    assert time.monotonic() - started < 2
    out = capsys.readouterr().out
    assert out.startswith("sns fails for 45 s (HTTP 503 ServiceUnavailable) until ") and out.count("\n") == 1
    assert aws.faults.active("sns") and not aws.faults.active("dynamodb")
    assert main(["fault", "model", "--seconds", "0.5", "--mode", "close", "--ready-file", str(ready_file)]) == 0
    assert aws.faults.active("model").mode == "close"


@pytest.mark.parametrize("arguments, message, status", [
    (["lambda", "--seconds", "5"], "unknown service 'lambda'; choose one of model, dynamodb, s3, sns", 2),
    (["s3", "--seconds", "-5"], "seconds must be more than 0", 2),
    (["s3", "--seconds", "99999"], "seconds must be more than 0 and at most 3600, not 99999", 2),
    (["s3", "--seconds", "a while"], "seconds must be a number", 2),
    (["s3", "--seconds", "5", "--mode", "refuse"], "unknown mode 'refuse'", 2),
])
def test_the_fault_command_refuses_bad_input_in_one_line(aws, ready_file, capsys, arguments, message, status):
    assert main(["fault", *arguments, "--ready-file", str(ready_file)]) == status
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
    assert aws.faults.faults() == []


def test_the_fault_command_says_when_the_ready_file_or_the_stack_is_missing(tmp_path, capsys):
    missing = tmp_path / "missing.json"
    assert main(["fault", "s3", "--seconds", "5", "--ready-file", str(missing)]) == 2
    assert "does not exist; start the stack with `inspection-app up --ready-file" in capsys.readouterr().err
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    assert main(["fault", "s3", "--seconds", "5", "--ready-file", str(garbled)]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot read {garbled} as the stack's ready file")
    stopped = tmp_path / "stopped.json"
    stopped.write_text(json.dumps({"aws_url": "http://127.0.0.1:9"}))  # nothing listens on the discard port
    assert main(["fault", "s3", "--seconds", "5", "--ready-file", str(stopped)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no embedded stack answers at http://127.0.0.1:9 (connection refused)")
    assert err.count("\n") == 1
