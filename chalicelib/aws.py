"""The one place AWS clients are made: lazily, once per Lambda container, and replaceable in tests.

Endpoints come from the standard boto3 configuration (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`),
which is how the embedded stack points the same code at local services.
"""
from __future__ import annotations

import threading
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

# Few, quick attempts: Step Functions retries whole tasks with backoff for minutes, so a Lambda must not sit
# in client-side retry loops while its own timeout runs out. Worst case of one call: ATTEMPTS x (connect +
# read) seconds; tests/unit/test_aws_clients.py checks each function's calls fit inside its timeout.
ATTEMPTS = 2
CONNECT_TIMEOUT = 3
READ_TIMEOUTS = {"s3": 10, "dynamodb": 5, "stepfunctions": 5, "sqs": 5, "sagemaker-runtime": 20, "rekognition": 20,
                 "sns": 5}
_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": ATTEMPTS}, connect_timeout=CONNECT_TIMEOUT)


# Pre-signed POST URLs that name the bucket's region (https://<bucket>.s3.<region>.amazonaws.com/). botocore
# otherwise presigns for the global host, which answers new buckets outside us-east-1 with a 307 redirect that
# browsers refuse (CORS), and which opt-in regions do not serve. Only for AWS's own endpoints: a local endpoint
# (the embedded stack's `http://localhost:PORT`) keeps path-style URLs, as `<bucket>.localhost` would not resolve.
_REGIONAL_UPLOAD_URLS = Config(s3={"addressing_style": "virtual"})


def _is_aws_host(endpoint_url: str) -> bool:
    return (urlsplit(endpoint_url).hostname or "").endswith((".amazonaws.com", ".amazonaws.com.cn"))


def worst_call_seconds(service: str) -> int:
    """The longest one call to `service` can take before it raises."""
    return ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUTS[service])


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
                config = config.merge(Config(read_timeout=READ_TIMEOUTS[name]))
                client = session.client(name, config=config)
                if name == "s3" and _is_aws_host(client.meta.endpoint_url):
                    client = session.client(name, config=config.merge(_REGIONAL_UPLOAD_URLS))
                self._clients[name] = client
            return self._clients[name]

    @property
    def s3(self):
        # SigV4 so pre-signed POSTs work in every region.
        return self._client("s3", _CLIENT_CONFIG.merge(Config(signature_version="s3v4")))

    @property
    def stepfunctions(self):
        return self._client("stepfunctions")

    @property
    def sqs(self):
        return self._client("sqs")

    @property
    def dynamodb(self):
        return self._client("dynamodb")

    @property
    def sagemaker_runtime(self):
        return self._client("sagemaker-runtime")

    @property
    def rekognition(self):
        return self._client("rekognition")

    @property
    def sns(self):
        return self._client("sns")
