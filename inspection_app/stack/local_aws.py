"""moto in server mode on a loopback port: S3, SQS, SNS, DynamoDB and Step Functions for the embedded stack."""
from __future__ import annotations

import os

import requests
from moto.moto_server.werkzeug_app import create_backend_app

from .background import BackgroundServer, KeepAliveServer
from .faults import FaultTable, aws_service, control_middleware, fault_middleware
from .lambda_dispatch import LambdaDispatcher, RemoteLambda, lambda_middleware
from .s3_post_policy import post_policy_middleware
from . import moto_shim
from .s3_event_fields import install as install_s3_event_fields

from .access import LOCAL_CREDENTIALS, LOCAL_REGION

LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account


def local_aws_environment(moto_url: str, model_url: str) -> dict:
    """The configuration that points boto3 (and so the unchanged app) at the local services."""
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": model_url,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        **{name.upper(): value for name, value in LOCAL_CREDENTIALS.items()},
    }


class LocalAws(BackgroundServer):
    """A moto server whose Lambda Invoke requests run the Chalice app's handlers (a LambdaDispatcher in this
    process, or a RemoteLambda reaching the `lambda` worker), with fault injection."""

    def __init__(self, dispatcher: LambdaDispatcher | RemoteLambda, host: str = "127.0.0.1", port: int = 0,
                 faults: FaultTable | None = None):
        moto_shim.install()  # what moto recomputes for every request, computed once (see moto_shim)
        app = lambda_middleware(dispatcher, moto_shim.FastDispatcher(create_backend_app))
        # moto stores any POST upload; S3 checks the form's policy, signature and field order first.
        app = post_policy_middleware(app, LOCAL_CREDENTIALS)
        # Injected outages (DynamoDB, SNS, S3 reads) answer before moto; /_inspection/faults controls them.
        self.faults = faults or FaultTable()
        self._routed: list[str] = []
        app = control_middleware(self.faults, fault_middleware(self.faults, app, aws_service))
        super().__init__(KeepAliveServer(host, port, app), "local-aws")

    def start(self) -> "LocalAws":
        # moto's Step Functions interpreter calls Lambda and the other services at localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self._server.server_port)
        # moto's S3 events lack versionId and sequencer; the app needs both (see s3_event_fields).
        install_s3_event_fields()
        super().start()
        self._execute_state_machines(True)
        return self

    def _execute_state_machines(self, enabled: bool) -> None:
        response = requests.post(
            f"{self.url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": enabled}}, timeout=10
        )
        response.raise_for_status()

    def route(self, service: str, endpoint_url: str) -> None:
        """The state machine's calls of `service` go to `endpoint_url` (until `stop`), not to moto."""
        moto_shim.route_service(service, endpoint_url)
        self._routed.append(service)

    def stop(self) -> None:
        # moto's configuration is process-wide: leave it as moto's default for whatever runs after us.
        self._execute_state_machines(False)
        for service in self._routed:
            moto_shim.route_service(service, None)
        super().stop()
