"""The one place AWS clients are made: lazily, once per Lambda container, and replaceable in tests.

Endpoints come from the standard boto3 configuration (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`),
which is how the embedded stack points the same code at local services.
"""
from __future__ import annotations

import threading

import boto3
from botocore.config import Config

# Few, quick retries: Step Functions retries whole tasks with backoff, so a Lambda must not sit in long
# client-side retry loops while its timeout runs out.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


class AwsClients:
    """Lazily created boto3 clients. Tests pass their own instance with moto-backed or stubbed clients."""

    def __init__(self, session: boto3.session.Session | None = None):
        self._session = session
        self._clients: dict = {}
        # A boto3 session is not thread-safe; the embedded stack runs handlers on several threads.
        self._lock = threading.Lock()

    def _client(self, name: str, config: Config = _CLIENT_CONFIG):
        with self._lock:
            if name not in self._clients:
                session = self._session or boto3.session.Session()
                self._clients[name] = session.client(name, config=config)
            return self._clients[name]

    @property
    def s3(self):
        # SigV4 so pre-signed POSTs work in every region.
        return self._client("s3", _CLIENT_CONFIG.merge(Config(signature_version="s3v4")))

    @property
    def stepfunctions(self):
        return self._client("stepfunctions")

    @property
    def dynamodb(self):
        return self._client("dynamodb")

    @property
    def sagemaker_runtime(self):
        return self._client("sagemaker-runtime")
