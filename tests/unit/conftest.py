"""Fixtures for the unit tests: fake AWS credentials, moto, a log capture, settings."""
from __future__ import annotations

import io
import json
import os
import sys

import boto3
import pytest
from moto import mock_aws

from chalicelib import logs
from chalicelib.aws import AwsClients

from .helpers import (
    BUCKET,
    LOCAL_STAGE_RESOURCES,
    PASS_DEFINITION,
    REGION,
    ROLE_ARN,
    STATE_MACHINE_NAME,
    TABLE,
    create_results_table,
    make_settings,
)

_SETTINGS_VARIABLES = (
    "UPLOAD_BUCKET", "STATE_MACHINE_ARN", "RESULTS_TABLE", "ALERT_TOPIC_ARN", "SAGEMAKER_ENDPOINT_NAME",
    "UPLOAD_PREFIX", "CONFIDENCE_THRESHOLD", "MAX_UPLOAD_BYTES", "MAX_IMAGE_PIXELS", "MODEL_INPUT_SIZE",
    "MODEL_CLASSES", "UPLOAD_URL_EXPIRY_SECONDS",
)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch, tmp_path):
    """Fake credentials and region; nothing from the developer's AWS setup or the embedded stack leaks in."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION"):
            monkeypatch.delenv(name)
    for name in _SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # .chalice/config.json names no resources for the `local` stage: the embedded stack sets them from its
    # resource stack, and so does this for app.py under chalice.test.Client's `local` stage.
    for name, value in LOCAL_STAGE_RESOURCES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


class LogLines:
    """The JSON lines chalicelib wrote during one test: log entries and metrics (EMF)."""

    def __init__(self, stream: io.StringIO):
        self._stream = stream

    @property
    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self._stream.getvalue().splitlines() if line.strip()]

    def named(self, event: str) -> list[dict]:
        return [entry for entry in self.entries if entry.get("message") == event]

    @property
    def metrics(self) -> list[dict]:
        """Each metric of the EMF lines: {namespace, name, unit, values, dimensions (name: value)}."""
        return [
            {"namespace": directive["Namespace"], "name": metric["Name"], "unit": metric["Unit"],
             "values": entry[metric["Name"]],
             "dimensions": {name: entry[name] for names in directive["Dimensions"] for name in names}}
            for entry in self.entries if "_aws" in entry
            for directive in entry["_aws"]["CloudWatchMetrics"]
            for metric in directive["Metrics"]
        ]


@pytest.fixture(autouse=True)
def log_lines():
    """chalicelib's JSON lines go to a fresh buffer per test, then back to stdout."""
    handler = logs.logger.logger_handler
    if getattr(handler.stream, "closed", False):
        # The capture of an earlier pytest session in this process (`make mutation` runs several): replacing
        # a closed stream flushes it first, which raises.
        handler.stream = sys.__stdout__
    stream = io.StringIO()
    logs.configure(stream)
    yield LogLines(stream)
    logs.configure()


@pytest.fixture(scope="session")
def boto_session():
    """One boto3 session for the whole run: it caches the service models, so making a client is cheap.

    (moto resets boto3's default session on every `mock_aws`, and each new session loads the models again.)
    Clients are made only inside `mock_aws`, with the fake credentials set by `aws_environment`.
    """
    return boto3.session.Session(region_name=REGION)


@pytest.fixture
def aws():
    with mock_aws():
        yield


@pytest.fixture
def settings():
    return make_settings()


@pytest.fixture
def aws_clients(aws, boto_session):
    """The project's own client factory, on the shared session, inside moto."""
    return AwsClients(boto_session)


@pytest.fixture
def s3(aws_clients):
    client = aws_clients.s3
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def dynamodb(aws_clients):
    client = aws_clients.dynamodb
    create_results_table(client, TABLE)
    return client


@pytest.fixture
def stepfunctions(aws_clients):
    client = aws_clients.stepfunctions
    client.create_state_machine(name=STATE_MACHINE_NAME, definition=PASS_DEFINITION, roleArn=ROLE_ARN)
    return client

