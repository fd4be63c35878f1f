"""The stack's own local server (moto in server mode) for the tests that need one."""
from __future__ import annotations

import pytest

from inspection_app.stack.lambda_dispatch import LambdaDispatcher
from inspection_app.stack.local_aws import LocalAws


@pytest.fixture(scope="module")
def local_aws():
    """A LocalAws on a free loopback port; boto3 reaches it through AWS_ENDPOINT_URL, as in the embedded stack."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_PORT", "5000")  # LocalAws.start() sets it; put it back afterwards
        for name, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        server = LocalAws(LambdaDispatcher({}, "quality-inspection-local-"))
        patch.setenv("AWS_ENDPOINT_URL", server.url)
        server.start()
        try:
            yield server
        finally:
            server.stop()
