"""The one place AWS clients are made: lazily, once per Lambda container, and replaceable in tests.

Endpoints come from the standard boto3 configuration (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`),
which is how the embedded stack points the same code at local services.
"""
from __future__ import annotations

import functools

import boto3
from botocore.config import Config

# Few, quick retries: Step Functions retries whole tasks with backoff, so a Lambda must not sit in long
# client-side retry loops while its timeout runs out.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


class AwsClients:
    """Lazily created boto3 clients. Tests pass their own instance with moto-backed or stubbed clients."""

    def __init__(self, session: boto3.session.Session | None = None):
        self._session = session

    @functools.cached_property
    def session(self) -> boto3.session.Session:
        return self._session or boto3.session.Session()

    def _client(self, name: str):
        return self.session.client(name, config=_CLIENT_CONFIG)

    @functools.cached_property
    def s3(self):
        # SigV4 so pre-signed POSTs work in every region.
        return self.session.client("s3", config=_CLIENT_CONFIG.merge(Config(signature_version="s3v4")))

    @functools.cached_property
    def stepfunctions(self):
        return self._client("stepfunctions")

    @functools.cached_property
    def dynamodb(self):
        return self._client("dynamodb")

    @functools.cached_property
    def sagemaker_runtime(self):
        return self._client("sagemaker-runtime")
