"""Each Lambda function's IAM policy (inspection_app/deploy/policies.py) against the AWS calls its handler makes.

The calls are recorded, not listed by hand: tests/unit/test_app.py and test_review.py drive every handler through app.py
(chalice.test, moto behind it) in a subprocess that loads this module as a pytest plugin. The plugin notes, for
every boto3 operation (botocore's `provide-client-params` event) and every pre-signed POST, the handler that
was running. Then: every call is allowed by that function's policy, and everything the policy allows is
called, except the actions in NOT_CALLED_BY_THE_HANDLER, each with the reason AWS needs it anyway.
"""
from __future__ import annotations

import contextvars
import dataclasses
import functools
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from inspection_app.deploy.names import FUNCTIONS, Names
from inspection_app.deploy.policies import function_policies

PROJECT_DIR = Path(__file__).resolve().parents[2]
RECORD_TO = "POLICY_CALLS_FILE"  # set in the subprocess: where the plugin writes handler -> IAM actions
DRIVERS = ["tests/unit/test_app.py", "tests/unit/test_review.py"]  # the review routes are driven in the second

LAMBDA_RUNTIME = {
    # Lambda's runtime writes the function's log lines to CloudWatch Logs with the role: no boto3 call.
    "logs:CreateLogStream", "logs:PutLogEvents",
    # Active tracing: the Lambda service's X-Ray daemon sends the segments with the role: no boto3 call.
    "xray:PutTraceSegments", "xray:PutTelemetryRecords",
}
NOT_CALLED_BY_THE_HANDLER = {
    # The SQS event source mapping polls the queue with the function's role and hands the batch to the handler.
    "start_inspections": LAMBDA_RUNTIME | {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                                           "sqs:GetQueueAttributes"},
    # Never called: with it, S3 answers a read of a deleted upload 404 NoSuchKey (a rejection) instead of 403
    # AccessDenied (an `error` verdict).
    "classify_image": LAMBDA_RUNTIME | {"s3:ListBucket"},
    "record_verdict": LAMBDA_RUNTIME,
    "api_handler": LAMBDA_RUNTIME,
}
NAMES = Names(app_name="quality-inspection", stage="dev", partition="aws", region="eu-central-1",
              account="123456789012", endpoint_name="pcb-classifier", upload_prefix="uploads/")
# A stage whose MODEL_BACKEND is rekognition (tests/unit/test_app.py drives classify_image with it too).
REKOGNITION_NAMES = dataclasses.replace(
    NAMES, endpoint_name="none",
    project_version_arn="arn:aws:rekognition:eu-central-1:123456789012:project/pcb/version/pcb.v1/1764500000000",
    project_arn="arn:aws:rekognition:eu-central-1:123456789012:project/pcb/1764400000000")


# ---- the plugin, loaded in the subprocess with `-p test_policy_matches_calls` -----------------------------

_handler = contextvars.ContextVar("handler", default=None)
_calls: dict = defaultdict(set)


def _iam_action(model, params: dict) -> str:
    """The IAM action an operation needs: the signing name and the operation, except where IAM differs."""
    name = model.name
    if model.service_model.signing_name == "s3" and name == "GetObject" and params.get("VersionId"):
        name = "GetObjectVersion"  # GetObject of a named version is authorised as s3:GetObjectVersion
    return f"{model.service_model.signing_name}:{name}"


def _record(params, model, context=None, **_):
    if context and context.get("is_presign_request") and model.name == "CreateBucket":
        return  # botocore's stand-in operation for a pre-signed POST: recorded as s3:PutObject below
    if _handler.get():
        _calls[_recorded_as(_handler.get())].add(_iam_action(model, params))


def _recorded_as(handler: str) -> str:
    """The classify function's calls with the Rekognition backend are held to that backend's policy."""
    return f"{handler}/rekognition" if handler == "classify_image" and os.environ.get("MODEL_BACKEND") == "rekognition" \
        else handler


def _while_running(handler_of, method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        token = _handler.set(handler_of(*args, **kwargs))
        try:
            return method(self, *args, **kwargs)
        finally:
            _handler.reset(token)

    return wrapper


def pytest_configure(config):
    if not os.environ.get(RECORD_TO):
        return
    import botocore.session
    import botocore.signers
    import chalice.test

    # Every function the tests invoke, and every REST request (one function, api_handler, serves them all).
    chalice.test.TestLambdaClient.invoke = _while_running(lambda name, *_, **__: name, chalice.test.TestLambdaClient.invoke)
    chalice.test.TestHTTPClient.request = _while_running(lambda *_, **__: "api_handler", chalice.test.TestHTTPClient.request)
    create_client = botocore.session.Session.create_client

    def recording_client(self, *args, **kwargs):
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("provide-client-params", _record)
        return client

    botocore.session.Session.create_client = recording_client
    presign_post = botocore.signers.S3PostPresigner.generate_presigned_post

    def recording_presigned_post(self, *args, **kwargs):
        if _handler.get():  # a browser or camera puts the object with the role's signature
            _calls[_handler.get()].add("s3:PutObject")
        return presign_post(self, *args, **kwargs)

    botocore.signers.S3PostPresigner.generate_presigned_post = recording_presigned_post


def pytest_sessionfinish(session):
    if os.environ.get(RECORD_TO):
        Path(os.environ[RECORD_TO]).write_text(json.dumps({h: sorted(a) for h, a in _calls.items()}))


# ---- the test ------------------------------------------------------------------------------------------

def _allowed(document: dict) -> set:
    return {action for statement in document["Statement"] if statement["Effect"] == "Allow"
            for action in statement["Action"]}


def test_given_every_handler_driven_when_its_calls_are_recorded_then_its_policy_allows_exactly_those(tmp_path):
    record = tmp_path / "calls.json"
    env = {**os.environ, RECORD_TO: str(record),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(PROJECT_DIR), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "pytest", *DRIVERS, "-q", "-p", "no:cacheprovider", "-p", Path(__file__).stem],
                         cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    calls = {handler: set(actions) for handler, actions in json.loads(record.read_text()).items()}
    rekognition = calls.pop("classify_image/rekognition", set())
    assert set(calls) == set(FUNCTIONS), "every function must be driven by the tests"
    # Rekognition reads the upload's version itself, with the function's rights (S3Object.Version).
    read_by_rekognition = {"s3:GetObjectVersion"}
    allowed = _allowed(function_policies(REKOGNITION_NAMES)["classify_image"])
    assert allowed - NOT_CALLED_BY_THE_HANDLER["classify_image"] - read_by_rekognition == rekognition, \
        "classify_image with Rekognition"
    assert "sagemaker:InvokeEndpoint" not in allowed
    policies = function_policies(NAMES)
    for handler in FUNCTIONS:
        allowed = _allowed(policies[handler])
        assert calls[handler] <= allowed, f"{handler} calls what its policy does not allow"
        assert NOT_CALLED_BY_THE_HANDLER[handler] <= allowed, f"{handler}: a stale exception"
        assert allowed - NOT_CALLED_BY_THE_HANDLER[handler] == calls[handler], f"{handler} may do what it never does"
