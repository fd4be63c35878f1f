"""The model endpoint: a small interface, and its one real adapter (the SageMaker runtime).

Contract (the built-in image-classification algorithm's, so either kind of model can serve): request
`application/x-image` bytes, response a JSON list of class probabilities in class-index order.

Heat maps (docs/heatmaps.md): every request carries the custom attribute `heatmap=true`. Our own endpoints
(the embedded stack's, `training/sagemaker/inference.py`) then answer `{"probabilities": [...], "heatmap":
[[...], ...]}` (rows of log-odds cells of the defective class, top row first); the built-in algorithm ignores
the attribute and answers the bare list. Both are read; the map is there when the model provides one.
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


CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
HEATMAP_ATTRIBUTE = ("heatmap", "true")
# A map is a model's last feature grid (5x5 at 160 px, 7x7 at 224 px): anything larger is not one.
MAX_HEATMAP_SIDE = 64


class ModelEndpointUnavailable(RuntimeError):
    """The endpoint is throttling or temporarily failing; the state machine retries with backoff."""


class ModelEndpointError(RuntimeError):
    """The endpoint is missing, misconfigured or answered something that breaks the contract."""


@dataclass(frozen=True)
class Prediction:
    probabilities: list[float]
    model_id: str
    heatmap: list[list[float]] | None = None  # rows of cells, top row first; None when the model gives none


class ModelEndpoint(Protocol):
    def predict(self, body: bytes, content_type: str) -> Prediction: ...


def parse_prediction(payload: bytes, class_count: int) -> tuple[list[float], list[list[float]] | None]:
    """The probabilities and the heatmap (None when absent) from an endpoint response: the bare list, or the
    object our endpoints answer to `heatmap=true`; ModelEndpointError saying what is wrong."""
    values = _json(payload)
    if not isinstance(values, dict):
        return _probabilities(values, payload, class_count), None
    probabilities = _probabilities(values.get("probabilities"), payload, class_count)
    heatmap = values.get("heatmap")
    return probabilities, None if heatmap is None else _heatmap(heatmap)


def _heatmap(rows) -> list[list[float]]:
    width = len(rows[0]) if isinstance(rows, list) and rows and isinstance(rows[0], list) else 0
    if not (0 < width <= MAX_HEATMAP_SIDE and len(rows) <= MAX_HEATMAP_SIDE) or not all(
            isinstance(row, list) and len(row) == width and all(_finite_number(v) for v in row) for row in rows):
        raise ModelEndpointError(f"endpoint heatmap is not a grid of at most {MAX_HEATMAP_SIDE}x{MAX_HEATMAP_SIDE} "
                                 f"finite numbers: {json.dumps(rows)[:80]}")
    return [[float(v) for v in row] for row in rows]


def _finite_number(value) -> bool:
    try:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _json(payload: bytes):
    try:
        return json.loads(payload)
    except (TypeError, ValueError):
        raise ModelEndpointError(f"endpoint response is not JSON: {payload[:80]!r}") from None


def parse_probabilities(payload: bytes, class_count: int) -> list[float]:
    """The probabilities from an endpoint response, or ModelEndpointError saying what is wrong."""
    return _probabilities(_json(payload), payload, class_count)


def _probabilities(values, payload: bytes, class_count: int) -> list[float]:
    if not (isinstance(values, list) and len(values) == class_count and all(_finite_number(v) for v in values)):
        raise ModelEndpointError(f"endpoint response is not a list of {class_count} numbers: {payload[:80]!r}")
    if any(v < 0 or v > 1 for v in values) or abs(sum(values) - 1) > 1e-3:
        raise ModelEndpointError(f"endpoint response is not a probability distribution: {values}")
    return [float(v) for v in values]


def custom_attribute(custom_attributes: str | None, wanted: str) -> str | None:
    """The value of `wanted` in a custom-attributes text (`name=value` pairs, comma-separated), or None."""
    for pair in (custom_attributes or "").split(","):
        name, _, value = pair.strip().partition("=")
        if name == wanted and value:
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
            probabilities, heatmap = parse_prediction(response["Body"].read(), self._class_count)
        model_id = custom_attribute(response.get("CustomAttributes"), "model_id") or (
            f"{self._endpoint_name}/{response.get('InvokedProductionVariant') or 'default'}"
        )
        return Prediction(probabilities=probabilities, model_id=model_id, heatmap=heatmap)

    def _invoke(self, body: bytes, content_type: str) -> dict:
        try:
            return self._client.invoke_endpoint(
                EndpointName=self._endpoint_name, ContentType=content_type, Accept="application/json", Body=body,
                CustomAttributes="=".join(HEATMAP_ATTRIBUTE),
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
