"""chalicelib.endpoint: the model endpoint contract and its SageMaker runtime adapter."""
import json

import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError
from botocore.stub import ANY, Stubber

from chalicelib.endpoint import (
    ModelEndpointError,
    ModelEndpointUnavailable,
    Prediction,
    SageMakerEndpoint,
    parse_prediction,
    parse_probabilities,
)

from .helpers import ENDPOINT_NAME, invoke_endpoint_response, sagemaker_runtime_client

IMAGE = b"\x89PNG\r\n\x1a\n-pretend-model-input"


@pytest.mark.parametrize(
    "payload, expected",
    [
        (b"[0.9, 0.1]", [0.9, 0.1]),
        (b"[0.0, 1.0]", [0.0, 1.0]),
        (b"[1, 0]", [1.0, 0.0]),
        (b"  [0.25, 0.75]\n", [0.25, 0.75]),
        (b"[0.3333, 0.6669]", [0.3333, 0.6669]),  # sum within 1e-3 of 1
        ("[0.4, 0.6]", [0.4, 0.6]),
    ],
)
def test_given_a_probability_list_when_parsed_then_floats_in_class_order(payload, expected):
    values = parse_probabilities(payload, 2)
    assert values == expected
    assert all(type(value) is float for value in values)


@pytest.mark.parametrize(
    "payload, hint",
    [
        (b"", "not JSON"),
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b'{"defect_free": 0.9, "defective": 0.1}', "not a list of 2 numbers"),
        (b"[0.9]", "not a list of 2 numbers"),
        (b"[0.8, 0.1, 0.1]", "not a list of 2 numbers"),
        (b"[]", "not a list of 2 numbers"),
        (b'["0.9", "0.1"]', "not a list of 2 numbers"),
        (b"[true, false]", "not a list of 2 numbers"),
        (b"[1, false]", "not a list of 2 numbers"),
        (b"[null, 1]", "not a list of 2 numbers"),
        (b"[NaN, 1.0]", "not a list of 2 numbers"),
        (b"[Infinity, 0]", "not a list of 2 numbers"),
        (b"[[0.9, 0.1]]", "not a list of 2 numbers"),
        (b"0.9", "not a list of 2 numbers"),
        (b"[-0.1, 1.1]", "not a probability distribution"),
        (b"[1.5, -0.5]", "not a probability distribution"),
        (b"[0.5, 0.4]", "not a probability distribution"),
        (b"[0.6, 0.6]", "not a probability distribution"),
        (b"[2.197, -1.204]", "not a probability distribution"),  # logits, not probabilities
        (b"[0, 0]", "not a probability distribution"),
    ],
)
def test_given_a_response_breaking_the_contract_when_parsed_then_model_endpoint_error(payload, hint):
    with pytest.raises(ModelEndpointError) as raised:
        parse_probabilities(payload, 2)
    assert hint in str(raised.value)


def test_given_a_long_bad_response_when_parsed_then_the_error_quotes_only_its_start():
    payload = b"x" * 5000
    with pytest.raises(ModelEndpointError) as raised:
        parse_probabilities(payload, 2)
    assert len(str(raised.value)) < 200


def test_given_a_huge_integer_when_parsed_then_model_endpoint_error():
    with pytest.raises(ModelEndpointError):
        parse_probabilities(b"[" + b"9" * 400 + b", 0]", 2)


# --- SageMakerEndpoint via a stubbed sagemaker-runtime client -----------------------------------------------


@pytest.fixture
def runtime():
    client = sagemaker_runtime_client()
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_invocation(stubber, response=None, **params):
    expected = {"EndpointName": ENDPOINT_NAME, "ContentType": "application/x-image", "Accept": "application/json",
                "Body": IMAGE, "CustomAttributes": "heatmap=true"}
    expected.update(params)
    stubber.add_response("invoke_endpoint", response or invoke_endpoint_response([0.1, 0.9]), expected)


def test_given_a_model_answering_when_predicting_then_request_is_an_image_and_answer_parsed(runtime):
    client, stubber = runtime
    expect_invocation(stubber, invoke_endpoint_response([0.12, 0.88], custom_attributes="model_id=effnet-lite0-2024-05-10"))

    prediction = SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image")

    assert prediction == Prediction(probabilities=[0.12, 0.88], model_id="effnet-lite0-2024-05-10")


@pytest.mark.parametrize(
    "custom_attributes, model_id",
    [
        ("trace=abc,model_id=resnet18-v3", "resnet18-v3"),
        (" model_id=resnet18-v3 , trace=abc", "resnet18-v3"),
        ("model_id=", f"{ENDPOINT_NAME}/AllTraffic"),
        ("model=resnet18-v3", f"{ENDPOINT_NAME}/AllTraffic"),
        ("", f"{ENDPOINT_NAME}/AllTraffic"),
        (None, f"{ENDPOINT_NAME}/AllTraffic"),
    ],
)
def test_given_custom_attributes_when_predicting_then_model_id_from_them_or_endpoint_and_variant(
    runtime, custom_attributes, model_id
):
    client, stubber = runtime
    expect_invocation(stubber, invoke_endpoint_response([0.5, 0.5], custom_attributes=custom_attributes))
    assert SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image").model_id == model_id


def test_given_no_variant_in_the_answer_when_predicting_then_model_id_says_default(runtime):
    client, stubber = runtime
    expect_invocation(stubber, invoke_endpoint_response([0.5, 0.5], variant=None))
    assert SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image").model_id == (
        f"{ENDPOINT_NAME}/default"
    )


def test_given_a_content_type_when_predicting_then_it_is_passed_on(runtime):
    client, stubber = runtime
    expect_invocation(stubber, ContentType="image/png")
    SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "image/png")


@pytest.mark.parametrize(
    "code, status",
    [
        ("ThrottlingException", 400),
        ("ModelNotReadyException", 429),
        ("ServiceUnavailable", 503),
        ("InternalFailure", 500),
        ("InternalDependencyException", 530),
        ("TooManyRequests", 429),
        ("BadGateway", 502),
        ("GatewayTimeout", 504),
    ],
)
def test_given_a_throttled_or_failing_endpoint_when_predicting_then_unavailable_so_it_is_retried(runtime, code, status):
    client, stubber = runtime
    stubber.add_client_error("invoke_endpoint", code, "Rate exceeded", http_status_code=status,
                             expected_params={"EndpointName": ENDPOINT_NAME, "ContentType": "application/x-image",
                                              "Accept": "application/json", "Body": ANY,
                                              "CustomAttributes": "heatmap=true"})
    with pytest.raises(ModelEndpointUnavailable) as raised:
        SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image")
    assert ENDPOINT_NAME in str(raised.value)
    assert code in str(raised.value)


@pytest.mark.parametrize(
    "code, status, message",
    [
        ("ValidationError", 400, f"Endpoint {ENDPOINT_NAME} of account 123456789012 not found."),
        ("ModelError", 424, "Received client error (415) from primary with message unsupported content type"),
        ("AccessDeniedException", 403, "not authorized to perform: sagemaker:InvokeEndpoint"),
    ],
)
def test_given_a_missing_or_broken_endpoint_when_predicting_then_endpoint_error_not_retried(
    runtime, code, status, message
):
    client, stubber = runtime
    stubber.add_client_error("invoke_endpoint", code, message, http_status_code=status)
    with pytest.raises(ModelEndpointError) as raised:
        SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image")
    assert not isinstance(raised.value, ModelEndpointUnavailable)
    assert code in str(raised.value)
    assert message in str(raised.value)


def test_given_an_answer_breaking_the_contract_when_predicting_then_endpoint_error(runtime):
    client, stubber = runtime
    expect_invocation(stubber, invoke_endpoint_response(b'{"label": "defective"}'))
    with pytest.raises(ModelEndpointError):
        SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image")


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com"),
    ],
)
def test_given_the_endpoint_unreachable_when_predicting_then_unavailable(error):
    class Unreachable:
        def invoke_endpoint(self, **kwargs):
            raise error

    with pytest.raises(ModelEndpointUnavailable) as raised:
        SageMakerEndpoint(Unreachable(), ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image")
    assert ENDPOINT_NAME in str(raised.value)


def test_given_three_classes_configured_when_the_model_answers_two_then_endpoint_error(runtime):
    client, stubber = runtime
    expect_invocation(stubber, invoke_endpoint_response([0.1, 0.9]))
    with pytest.raises(ModelEndpointError) as raised:
        SageMakerEndpoint(client, ENDPOINT_NAME, 3).predict(IMAGE, "application/x-image")
    assert "3 numbers" in str(raised.value)


def test_given_json_floats_when_predicting_then_they_are_not_rounded(runtime):
    client, stubber = runtime
    values = [0.12345678901234566, 0.8765432109876543]
    expect_invocation(stubber, invoke_endpoint_response(json.dumps(values).encode()))
    assert SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image").probabilities == values


# --- metrics: latency of each answered call, a count of the failed ones --------------------------------


def test_given_a_model_answering_when_predicting_then_its_latency_is_a_metric(runtime, log_lines):
    client, stubber = runtime
    expect_invocation(stubber)
    SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image")
    [metric] = log_lines.metrics
    assert (metric["name"], metric["unit"], metric["dimensions"]) == (
        "EndpointLatency", "Milliseconds", {"service": "quality-inspection"})
    assert 0 <= metric["values"][0] < 5000


def test_given_a_throttled_endpoint_when_predicting_then_an_error_is_counted_and_no_latency(runtime, log_lines):
    client, stubber = runtime
    stubber.add_client_error("invoke_endpoint", "ThrottlingException", "Rate exceeded", http_status_code=400)
    with pytest.raises(ModelEndpointUnavailable):
        SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image")
    assert [(m["name"], m["values"]) for m in log_lines.metrics] == [("EndpointErrors", [1.0])]


# ---- heat maps (docs/heatmaps.md) -------------------------------------------------------------------------


def test_given_an_endpoint_answering_a_heatmap_when_predicting_then_the_map_comes_with_the_probabilities(runtime):
    client, stubber = runtime
    expect_invocation(stubber, invoke_endpoint_response({"probabilities": [0.2, 0.8], "heatmap": [[0, -1.5], [2, 3]]}))
    prediction = SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image")
    assert prediction.probabilities == [0.2, 0.8]
    assert prediction.heatmap == [[0.0, -1.5], [2.0, 3.0]]


def test_given_the_builtin_algorithm_answering_a_bare_list_when_predicting_then_no_heatmap(runtime):
    client, stubber = runtime
    expect_invocation(stubber, invoke_endpoint_response([0.3, 0.7]))
    prediction = SageMakerEndpoint(client, ENDPOINT_NAME, 2).predict(IMAGE, "application/x-image")
    assert (prediction.probabilities, prediction.heatmap) == ([0.3, 0.7], None)


def test_given_an_object_without_a_heatmap_when_parsed_then_probabilities_only():
    assert parse_prediction(b'{"probabilities": [0.4, 0.6]}', 2) == ([0.4, 0.6], None)


@pytest.mark.parametrize(
    "heatmap",
    [[], [[]], [[1, 2], [3]], [[1, "2"]], [[1, float("inf")]], [[True]], [1, 2], "map", 3, {"a": 1},
     [[0.0] * 65], [[0.0]] * 65],
)
def test_given_a_malformed_heatmap_when_parsed_then_a_contract_error(heatmap):
    payload = json.dumps({"probabilities": [0.5, 0.5], "heatmap": heatmap}).encode()
    with pytest.raises(ModelEndpointError, match="heatmap"):
        parse_prediction(payload, 2)


@pytest.mark.parametrize("body", [b'{"heatmap": [[1]]}', b'{"probabilities": [0.5], "heatmap": [[1]]}'])
def test_given_an_object_without_valid_probabilities_when_parsed_then_a_contract_error(body):
    with pytest.raises(ModelEndpointError, match="not a list of 2 numbers"):
        parse_prediction(body, 2)
