"""The heat map's round trip: the same numbers (within 1e-4) from the ONNX graph, from the embedded stack's model
endpoint read by the classify step's adapter (CustomAttributes heatmap=true), and from the SageMaker handler
(`inference.py`), for a supervised and an anomaly model; and the built-in algorithm's contract (a bare list)
wherever no map is asked for."""
import io
import json

import boto3
import numpy as np
import pytest
from PIL import Image

from chalicelib.endpoint import SageMakerEndpoint
from inspection_app.stack.model_server import LocalModelEndpoint
from training.predictor import OnnxPredictor
from training.sagemaker import inference

from sagemaker_helpers import TINY_INPUT_SIZE

ENDPOINT_NAME = "defect-model"
TOLERANCE = 1e-4


def _encode(image: Image.Image, image_format: str, **options) -> bytes:
    body = io.BytesIO()
    image.save(body, format=image_format, **options)
    return body.getvalue()


@pytest.fixture(scope="module")
def bodies(synthetic_image):
    rng = np.random.default_rng(21)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    return [
        _encode(synthetic_image(rng, defective=True, size=(120, 120)), "PNG"),
        _encode(synthetic_image(rng, defective=False, size=(150, 70)), "JPEG", quality=85),
        _encode(synthetic_image(rng, defective=True, size=(100, 60)), "JPEG", exif=exif),
    ]


class _Context:
    """What the SageMaker inference toolkit hands a handler that takes `context`: the request's headers."""

    def __init__(self, headers: dict):
        self.request_processor = [self]
        self._headers = headers

    def get_request_properties(self) -> dict:
        return self._headers


def _handler_answer(model, body: bytes, context) -> object:
    prediction = inference.predict_fn(inference.input_fn(body, "application/x-image"), model, context)
    text, content_type = inference.output_fn(prediction, "application/json")
    assert content_type == "application/json"
    return json.loads(text)


# model directory fixture, cells per side of its map, and how the map's cells give the image's log-odds: the
# supervised map's mean (an exact class-activation map), the anomaly map's highest cell (docs/anomaly.md)
MODELS = [("tiny_model_dir", TINY_INPUT_SIZE // 32, np.mean), ("tiny_anomaly_model_dir", TINY_INPUT_SIZE // 8, np.max)]


@pytest.mark.parametrize("fixture, cells, image_log_odds", MODELS, ids=["supervised", "anomaly"])
def test_given_a_trained_model_then_onnx_the_local_endpoint_and_inference_py_give_the_same_map(
        request, bodies, fixture, cells, image_log_odds):
    tiny_model_dir = request.getfixturevalue(fixture)
    predictor = OnnxPredictor(tiny_model_dir)
    assert predictor.has_heatmap
    model = inference.model_fn(tiny_model_dir)
    server = LocalModelEndpoint(OnnxPredictor(tiny_model_dir), ENDPOINT_NAME).start()
    try:
        runtime = boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="eu-west-1",
                               aws_access_key_id="x", aws_secret_access_key="x")
        endpoint = SageMakerEndpoint(runtime, ENDPOINT_NAME, 2)
        for body in bodies:
            # WHEN the graph, the stack's endpoint (as the classify step asks it) and the handler answer one photo
            probabilities, heatmap = predictor.predict_with_heatmap(body)
            served = endpoint.predict(body, "application/x-image")
            handled = _handler_answer(model, body, _Context({"X-Amzn-SageMaker-Custom-Attributes": "heatmap=true"}))
            # THEN one grid cell per 32 px (supervised) or 8 px (anomaly) of input, and the same numbers everywhere
            grid = (cells, cells)
            assert np.shape(heatmap) == np.shape(served.heatmap) == np.shape(handled["heatmap"]) == grid
            np.testing.assert_allclose(served.heatmap, heatmap, atol=TOLERANCE, rtol=0)
            np.testing.assert_allclose(handled["heatmap"], heatmap, atol=TOLERANCE, rtol=0)
            np.testing.assert_allclose(served.probabilities, probabilities, atol=TOLERANCE, rtol=0)
            np.testing.assert_allclose(handled["probabilities"], probabilities, atol=TOLERANCE, rtol=0)
            # and the map's cells are log-odds: their mean (supervised) or highest (anomaly) is the image's, so the
            # sigmoid of that gives the served probability (compared as probabilities: onnxruntime's sigmoid is an
            # approximation in the tails, where log-odds read back from probabilities are ill-conditioned)
            assert 1 / (1 + np.exp(-image_log_odds(heatmap))) == pytest.approx(probabilities[1], abs=TOLERANCE)
            # without the attribute, both answer the built-in algorithm's bare list, with the same probabilities
            bare = json.loads(runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType="application/x-image",
                                                      Accept="application/json", Body=body)["Body"].read())
            np.testing.assert_allclose(bare, probabilities, atol=TOLERANCE, rtol=0)
            np.testing.assert_allclose(_handler_answer(model, body, None), probabilities, atol=TOLERANCE, rtol=0)
    finally:
        server.stop()


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_anomaly_model_dir"])
@pytest.mark.parametrize("headers", [{}, {"x-amzn-sagemaker-custom-attributes": "model_id=x"},
                                     {"X-Amzn-SageMaker-Custom-Attributes": "heatmap=false"}])
def test_given_no_heatmap_attribute_then_the_handler_answers_the_bare_list(request, bodies, headers, fixture):
    model = inference.model_fn(request.getfixturevalue(fixture))
    assert isinstance(_handler_answer(model, bodies[0], _Context(headers)), list)


def test_given_the_attribute_among_others_in_any_header_case_then_the_handler_answers_the_map(tiny_model_dir, bodies):
    model = inference.model_fn(tiny_model_dir)
    answer = _handler_answer(model, bodies[0], _Context({"x-amzn-sagemaker-custom-attributes": b"trace=1, heatmap=true"}))
    assert set(answer) == {"probabilities", "heatmap"}
