"""A local model endpoint that speaks the SageMaker runtime invocation API.

`POST /endpoints/{name}/invocations` with `application/x-image` bytes answers the JSON list of class
probabilities (the built-in algorithm's contract), and sends the model id back in the custom-attributes
header. A request whose custom attributes hold `heatmap=true` gets `{"probabilities": [...], "heatmap": [[...]]}`
when the model has a map (docs/heatmaps.md), as `training/sagemaker/inference.py` answers in SageMaker. Errors use the runtime's error shapes, so botocore raises the same exceptions as in the cloud.
"""
from __future__ import annotations

import json
import re

from werkzeug.wrappers import Request, Response

from chalicelib.endpoint import CUSTOM_ATTRIBUTES_HEADER, HEATMAP_ATTRIBUTE, custom_attribute

from .background import BackgroundServer, KeepAliveServer
from .faults import FaultTable, fault_middleware

_INVOCATIONS = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations$")
ACCEPTED_CONTENT_TYPES = frozenset({"application/x-image", "image/jpeg", "image/png", "image/tiff", "image/bmp"})


def _error(status: int, error_type: str, message: str) -> Response:
    return Response(
        json.dumps({"__type": error_type, "message": message}),
        status=status,
        content_type="application/json",
        headers={"x-amzn-ErrorType": error_type},
    )


class ModelEndpointApp:
    """WSGI app serving one predictor under one endpoint name."""

    def __init__(self, predictor, endpoint_name: str):
        self._predictor = predictor
        self._endpoint_name = endpoint_name

    def __call__(self, environ, start_response):
        return self._respond(Request(environ))(environ, start_response)

    def _respond(self, request: Request) -> Response:
        if request.path == "/ping":
            return Response("", status=200)
        match = _INVOCATIONS.match(request.path)
        if request.method != "POST" or not match:
            return _error(404, "UnknownOperationException", f"{request.method} {request.path} is not an operation")
        if match["name"] != self._endpoint_name:
            return _error(400, "ValidationError", f"Endpoint {match['name']} not found; this server serves {self._endpoint_name}.")
        if request.mimetype not in ACCEPTED_CONTENT_TYPES:
            return _error(400, "ValidationError", f"ContentType {request.mimetype!r} is not supported; send application/x-image.")
        name, value = HEATMAP_ATTRIBUTE
        with_heatmap = (custom_attribute(request.headers.get(CUSTOM_ATTRIBUTES_HEADER), name) == value
                        and getattr(self._predictor, "has_heatmap", False))
        try:
            if with_heatmap:
                probabilities, heatmap = self._predictor.predict_with_heatmap(request.get_data())
                answer = {"probabilities": probabilities, "heatmap": heatmap}
            else:
                answer = self._predictor.predict(request.get_data())
        except (OSError, ValueError) as error:  # undecodable image: the model's error, as SageMaker reports it
            return _error(424, "ModelError", f"The model could not read the image: {error}")
        return Response(
            json.dumps(answer),
            status=200,
            content_type="application/json",
            headers={
                "X-Amzn-Invoked-Production-Variant": "AllTraffic",
                "X-Amzn-SageMaker-Custom-Attributes": f"model_id={self._predictor.model_id}",
            },
        )


class LocalModelEndpoint(BackgroundServer):
    """The model endpoint app on a loopback port, in a background thread."""

    def __init__(self, predictor, endpoint_name: str, host: str = "127.0.0.1", port: int = 0,
                 faults: FaultTable | None = None):
        self.faults = faults or FaultTable()  # an injected "model" fault fails every request
        app = fault_middleware(self.faults, ModelEndpointApp(predictor, endpoint_name), lambda environ: "model")
        super().__init__(KeepAliveServer(host, port, app), "model-endpoint")
