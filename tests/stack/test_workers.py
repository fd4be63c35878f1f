"""The embedded stack's worker processes (inspection_app/stack/workers.py) and the parent's RemoteLambda."""
from __future__ import annotations

import errno
import json
import socket

import pytest
import urllib3

from inspection_app.stack.lambda_dispatch import RemoteLambda
from inspection_app.stack.workers import WorkerError, WorkerProcess, start_workers

PREFIX = "quality-inspection-local-"


@pytest.fixture(scope="module")
def lambda_worker(tmp_path_factory):
    """The `lambda` worker of the local stage, with no AWS configuration (what a handler needs is not set)."""
    log_file = tmp_path_factory.mktemp("worker") / "lambda.log"
    workers = start_workers(("lambda",), **{"lambda": {"log_file": log_file, "stage": "local"}})
    try:
        yield workers["lambda"], log_file
    finally:
        workers["lambda"].stop()


def test_the_lambda_worker_lists_the_apps_handlers_and_answers_invoke_as_lambda_does(lambda_worker):
    worker, log_file = lambda_worker
    # GIVEN the parent's RemoteLambda connected to the worker
    functions = RemoteLambda(PREFIX).connect(worker.url, worker.handlers)
    assert {"start_inspections", "classify_image", "record_verdict"} <= set(worker.handlers)
    assert functions.handler_name(f"arn:aws:lambda:us-east-1:123456789012:function:{PREFIX}record_verdict") == "record_verdict"
    assert functions.handler_name(f"{PREFIX}no_such_handler") is None
    # WHEN the state machine invokes record_verdict, whose settings are missing in this environment
    headers, payload = functions.invoke("record_verdict", {"inspection_id": "i-1"})
    # THEN the answer is Lambda's: an unhandled function error naming the cause, logged as one JSON line
    assert headers == {"X-Amz-Function-Error": "Unhandled"}
    assert json.loads(payload)["errorType"] == "ConfigurationError"
    logged = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert any(line["message"] == "invocation failed" and line["function_name"] == f"{PREFIX}record_verdict"
               for line in logged)


def test_a_request_that_is_not_an_invoke_gets_404(lambda_worker):
    worker, _ = lambda_worker
    response = urllib3.PoolManager().request("POST", f"{worker.url}/elsewhere", body=b"{}")
    assert response.status == 404 and b"not a Lambda Invoke request" in response.data


def test_remote_lambda_without_a_runtime_raises_connection_error():
    # GIVEN a RemoteLambda not yet connected, and one whose runtime has gone away
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    gone = RemoteLambda(PREFIX).connect(f"http://127.0.0.1:{closed_port}", ["classify_image"])
    # WHEN either is invoked THEN the caller sees a connection failure (moto retries, the poller leaves the batch)
    with pytest.raises(ConnectionError, match="not started"):
        RemoteLambda(PREFIX).invoke("classify_image", {})
    with pytest.raises(ConnectionError, match="did not answer"):
        gone.invoke("classify_image", {})


def test_an_api_worker_on_a_busy_port_fails_with_address_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        worker = WorkerProcess("api", log_file=tmp_path / "api.log", stage="local", port=port).start()
        with pytest.raises(OSError) as refused:
            worker.wait_ready()
    assert refused.value.errno == errno.EADDRINUSE
    assert "the api worker did not start" in str(refused.value)
    assert worker._process.poll() is not None  # nothing left running


def test_a_worker_that_cannot_start_says_why(tmp_path):
    worker = WorkerProcess("lambda", log_file=tmp_path / "no-such-dir" / "x.log", stage="local").start()
    with pytest.raises(WorkerError, match="the lambda worker did not start: FileNotFoundError"):
        worker.wait_ready()


def test_a_worker_exits_when_its_parent_closes_the_pipe(tmp_path):
    worker = WorkerProcess("lambda", log_file=tmp_path / "lambda.log", stage="local").start().wait_ready()
    worker._process.stdin.close()  # what the parent's death does too
    assert worker._process.wait(timeout=10) == 0


def test_an_unknown_role_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown worker role"):
        WorkerProcess("model", log_file=tmp_path / "x.log", stage="local")
