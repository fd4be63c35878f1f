"""The model endpoint: a small interface, and its one real adapter (the SageMaker runtime).

Contract (the built-in image-classification algorithm's, so either kind of model can serve): request
`application/x-image` bytes, response a JSON list of class probabilities in class-index order.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from . import metrics

# Error codes after which the same request may succeed later: Step Functions retries these with backoff.
_TRANSIENT_CODES = frozenset(
    {"ThrottlingException", "ServiceUnavailable", "InternalFailure", "ModelNotReadyException", "InternalDependencyException"}
)


class ModelEndpointUnavailable(RuntimeError):
    """The endpoint is throttling or temporarily failing; the state machine retries with backoff."""


class ModelEndpointError(RuntimeError):
    """The endpoint is missing, misconfigured or answered something that breaks the contract."""


@dataclass(frozen=True)
class Prediction:
    probabilities: list[float]
    model_id: str


class ModelEndpoint(Protocol):
    def predict(self, body: bytes, content_type: str) -> Prediction: ...


def parse_probabilities(payload: bytes, class_count: int) -> list[float]:
    """The probabilities from an endpoint response, or ModelEndpointError saying what is wrong."""
    try:
        values = json.loads(payload)
    except (TypeError, ValueError):
        raise ModelEndpointError(f"endpoint response is not JSON: {payload[:80]!r}") from None
    try:
        numbers = (
            isinstance(values, list)
            and len(values) == class_count
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
        )
    except OverflowError:  # an integer too large for a float
        numbers = False
    if not numbers:
        raise ModelEndpointError(f"endpoint response is not a list of {class_count} numbers: {payload[:80]!r}")
    if any(v < 0 or v > 1 for v in values) or abs(sum(values) - 1) > 1e-3:
        raise ModelEndpointError(f"endpoint response is not a probability distribution: {values}")
    return [float(v) for v in values]


def _model_id_from(custom_attributes: str | None) -> str | None:
    for pair in (custom_attributes or "").split(","):
        name, _, value = pair.strip().partition("=")
        if name == "model_id" and value:
            return value
    return None


class SageMakerEndpoint:
    """ModelEndpoint backed by `sagemaker-runtime:InvokeEndpoint`."""

    def __init__(self, client, endpoint_name: str, class_count: int):
        self._client = client
        self._endpoint_name = endpoint_name
        self._class_count = class_count

    def predict(self, body: bytes, content_type: str) -> Prediction:
        with metrics.endpoint_call():
            response = self._invoke(body, content_type)
            probabilities = parse_probabilities(response["Body"].read(), self._class_count)
        model_id = _model_id_from(response.get("CustomAttributes")) or (
            f"{self._endpoint_name}/{response.get('InvokedProductionVariant') or 'default'}"
        )
        return Prediction(probabilities=probabilities, model_id=model_id)

    def _invoke(self, body: bytes, content_type: str) -> dict:
        try:
            return self._client.invoke_endpoint(
                EndpointName=self._endpoint_name, ContentType=content_type, Accept="application/json", Body=body
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            message = f"endpoint {self._endpoint_name}: {code}: {error.response.get('Error', {}).get('Message', '')}"
            if code in _TRANSIENT_CODES or status in (429, 502, 503, 504):
                raise ModelEndpointUnavailable(message) from None
            raise ModelEndpointError(message) from None
        except BotoCoreError as error:  # connection refused, timeouts
            raise ModelEndpointUnavailable(f"endpoint {self._endpoint_name}: {error}") from None
