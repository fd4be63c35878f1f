"""Lambda Invoke requests answered in-process, the way Lambda answers them."""
from __future__ import annotations

import io
import json

from inspection_app.stack.lambda_dispatch import LambdaDispatcher, lambda_middleware


class EndpointDown(RuntimeError):
    pass


def handlers():
    def classify(event, context):
        return {"echo": event, "function": context.function_name, "remaining_ms": context.get_remaining_time_in_millis()}

    def failing(event, context):
        raise EndpointDown("endpoint is throttling")

    return {"classify_image": classify, "record_verdict": failing}


def call(app, path: str, body: bytes = b"{}", method: str = "POST"):
    captured = {}

    def start_response(status, headers):
        captured["status"], captured["headers"] = status, dict(headers)

    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    payload = b"".join(app(environ, start_response))
    return captured.get("status"), captured.get("headers", {}), payload


def test_invoke_by_deployed_arn_runs_the_handler_with_a_context():
    # GIVEN the state machine invokes the deployed function by ARN
    dispatcher = LambdaDispatcher(handlers(), "quality-inspection-local-")
    app = lambda_middleware(dispatcher, lambda environ, start: [b"moto"])
    arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aquality-inspection-local-classify_image"
    # WHEN the invoke request arrives
    status, headers, payload = call(app, f"/2015-03-31/functions/{arn}/invocations", json.dumps({"key": "k"}).encode())
    # THEN the handler ran and its result is the payload
    body = json.loads(payload)
    assert status == "200 OK" and "X-Amz-Function-Error" not in headers
    assert body["echo"] == {"key": "k"}
    assert body["function"] == "quality-inspection-local-classify_image"
    assert 0 < body["remaining_ms"] <= 60_000


def test_handler_exception_comes_back_as_a_function_error_named_after_the_exception():
    dispatcher = LambdaDispatcher(handlers(), "quality-inspection-local-")
    app = lambda_middleware(dispatcher, lambda environ, start: [b"moto"])
    status, headers, payload = call(app, "/2015-03-31/functions/quality-inspection-local-record_verdict/invocations")
    assert status == "200 OK"
    assert headers["X-Amz-Function-Error"] == "Unhandled"
    body = json.loads(payload)
    assert body["errorType"] == "EndpointDown" and body["errorMessage"] == "endpoint is throttling"


def test_other_requests_and_unknown_functions_go_to_moto():
    dispatcher = LambdaDispatcher(handlers(), "quality-inspection-local-")
    app = lambda_middleware(dispatcher, lambda environ, start: [b"moto"])
    assert call(app, "/2015-03-31/functions/some-other-function/invocations")[2] == b"moto"
    assert call(app, "/my-bucket/uploads/x.jpg", method="PUT")[2] == b"moto"
    assert call(app, "/2015-03-31/functions/quality-inspection-local-classify_image/invocations", method="GET")[2] == b"moto"
