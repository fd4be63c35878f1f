"""The embedded stack for end-to-end tests: a tiny model trained once, `inspection-app up` in a subprocess.

A subprocess keeps the stack's moto server apart from the unit tests' in-process `mock_aws` (both would
share moto's global state in one process), and it is how a user runs it.
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from chalicelib.results import DynamoDbResultsStore, inspection_key
from inspection_app.stack.access import local_client

PROJECT_DIR = Path(__file__).resolve().parents[2]


def synthetic_photo(rng: np.random.Generator, defective: bool, size: int = 96) -> Image.Image:
    """A textured light part; a defective one carries a large dark blemish."""
    pixels = rng.normal(190, 18, (size, size, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    if defective:
        x, y = rng.integers(10, size - 50, 2)
        ImageDraw.Draw(image).ellipse([x, y, x + 40, y + 40], fill=(20, 20, 20))
    return image


def jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    from training.train import train

    rng = np.random.default_rng(7)
    dataset = tmp_path_factory.mktemp("synthetic-dataset")
    for label in ("defect_free", "defective"):
        (dataset / label).mkdir()
        for index in range(24):
            synthetic_photo(rng, label == "defective").save(dataset / label / f"{label}-{index}.jpg")
    model = tmp_path_factory.mktemp("model")
    train(dataset, model, epochs=10, input_size=64, batch_size=8, seed=0, progress=lambda *_: None)
    return model


@pytest.fixture(scope="session")
def predictor(model_dir):
    from training.predictor import OnnxPredictor

    return OnnxPredictor(model_dir)


class RunningStack:
    def __init__(self, info: dict):
        self.info = info
        self.api_url = info["api_url"]

    def client(self, service: str):
        return local_client(self.info["aws_url"], service)


def running_stack(model_dir: Path, home: Path, *options: str):
    """`inspection-app up` in a subprocess until the generator is closed; yields a RunningStack."""
    ready = home / "ready.json"
    env = {**os.environ, "INSPECTION_APP_HOME": str(home)}
    for name in [n for n in env if n.startswith("AWS_")]:
        env.pop(name)
    # A file, not a pipe: a stack that prints many alerts must never block on a full pipe.
    output = home / "stack-output.txt"
    with open(output, "w") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "inspection_app", "up", "--model-dir", str(model_dir), "--port", "0",
             "--ready-file", str(ready), *options],
            cwd=PROJECT_DIR, env=env, stdout=stdout, stderr=subprocess.STDOUT, text=True,
        )
    deadline = time.monotonic() + 90
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"embedded stack did not start:\n{output.read_text()}")
        time.sleep(0.2)
    yield RunningStack(json.loads(ready.read_text()))
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("embedded stack did not stop within 30 s of Ctrl-C")
    assert process.returncode == 0, output.read_text()


@pytest.fixture(scope="session")
def stack(model_dir, tmp_path_factory) -> RunningStack:
    yield from running_stack(model_dir, tmp_path_factory.mktemp("stack-home"))


@pytest.fixture(scope="session")
def alert_queue(stack) -> str:
    """An SQS queue subscribed to the alert topic, read by the tests (as an operator's e-mail would be)."""
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="e2e-alert-reader")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.client("sns").subscribe(TopicArn=stack.info["topic_arn"], Protocol="sqs", Endpoint=arn)
    return url


def wait_until(condition, *, timeout: float, failure, interval: float = 0.1):
    """Poll `condition()` until it returns something truthy, and return that; past `timeout` seconds fail the
    test with `failure` (a text, or a function making one from what was last seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(failure(value) if callable(failure) else failure)
        time.sleep(interval)


def take_alerts(stack: RunningStack, queue_url: str) -> list[dict]:
    """Every alert in the reader queue now (consumed): receives until one comes back empty."""
    sqs, alerts = stack.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                          WaitTimeSeconds=0).get("Messages", []):
        for message in messages:
            alerts.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return alerts


def execution_arn(stack: RunningStack, inspection_id: str) -> str:
    return stack.info["state_machine_arn"].replace(":stateMachine:", ":execution:") + ":" + inspection_id


def alerts_of_inspection(stack: RunningStack, queue_url: str, inspection_id: str, timeout: float = 30) -> list[dict]:
    """The alerts about one inspection, once its execution has ended (the others in the queue are consumed too).

    No window to wait out: the local SNS puts an alert into a subscribed SQS queue inside Publish, so when the
    execution that publishes has ended, every alert it sent is in the queue. (A second execution of the same
    upload would be another source; tests that rule it out count the executions.)"""
    sfn = stack.client("stepfunctions")
    status = wait_until(
        lambda: (s := sfn.describe_execution(executionArn=execution_arn(stack, inspection_id))["status"]) != "RUNNING"
        and s,
        timeout=timeout, failure=f"the execution of inspection {inspection_id} still runs after {timeout} s")
    assert status == "SUCCEEDED", f"the execution of inspection {inspection_id} ended {status}"
    # A queue gets each alert's JSON body (chalicelib/alerts.py); e-mail would get its `text`.
    return [alert for alert in take_alerts(stack, queue_url)
            if json.loads(alert["Message"])["inspection_id"] == inspection_id]


def read_alerts(stack: RunningStack, queue_url: str, wait_seconds: float = 3) -> list[dict]:
    """Every alert delivered to the reader queue within `wait_seconds` (consumed). A fixed window: kept for
    tests/e2e/test_webapp.py only; prefer alerts_of_inspection, which waits for the condition instead."""
    alerts, deadline = [], time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        alerts += take_alerts(stack, queue_url)
        time.sleep(0.1)
    return alerts


def store_needs_review(stack, product_id: str, seed: int = 3) -> dict:
    """A photo the model was unsure about: stored beside the pipeline (outside uploads/, so not inspected
    again) with a needs_review result, as the record task stores one."""
    return store_result(stack, product_id, "needs_review", seed)


def store_result(stack, product_id: str, verdict: str, seed: int = 3) -> dict:
    """A photo stored beside the pipeline with a result of `verdict`, uploaded now."""
    photo = jpeg_bytes(synthetic_photo(np.random.default_rng(seed), defective=verdict != "defect_free", size=240))
    key = f"review-fixtures/{product_id}.jpg"
    stack.client("s3").put_object(Bucket=stack.info["upload_bucket"], Key=key, Body=photo, ContentType="image/jpeg")
    uploaded_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    inspection_id = f"{product_id}-0123456789abcdef0123456789abcdef"
    record = {
        "product_id": product_id, "inspection_key": inspection_key(uploaded_at, inspection_id),
        "inspection_id": inspection_id, "capture_id": product_id, "bucket": stack.info["upload_bucket"], "key": key,
        "uploaded_at": uploaded_at, "inspected_at": uploaded_at, "threshold": 0.75, "verdict": verdict,
        "label": "defective", "confidence": 0.58, "probabilities": {"defect_free": 0.42, "defective": 0.58},
        "model_id": stack.info["model_id"], "image": {"format": "JPEG", "width": 240, "height": 240},
    }
    return DynamoDbResultsStore(stack.client("dynamodb"), stack.info["results_table"]).put(record)
