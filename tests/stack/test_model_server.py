"""The local endpoint speaks the SageMaker runtime API: botocore talks to it as to the real one."""
from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.endpoint import ModelEndpointError, SageMakerEndpoint
from inspection_app.stack.model_server import LocalModelEndpoint


class FixedPredictor:
    model_id = "tiny-20261130-abc"

    def predict(self, data: bytes) -> list[float]:
        if data == b"garbage":
            raise ValueError("cannot identify image file")
        return [0.2, 0.8]


@pytest.fixture
def runtime():
    server = LocalModelEndpoint(FixedPredictor(), "inspection-model").start()
    client = boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    yield client
    server.stop()


def test_invocation_returns_probabilities_and_model_id_through_the_app_adapter(runtime):
    prediction = SageMakerEndpoint(runtime, "inspection-model", 2).predict(b"\x89PNG...", "application/x-image")
    assert prediction.probabilities == [0.2, 0.8]
    assert prediction.model_id == "tiny-20261130-abc"


def test_unknown_endpoint_is_a_validation_error(runtime):
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(EndpointName="other", ContentType="application/x-image", Body=b"x")
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ModelEndpointError, match="not found"):
        SageMakerEndpoint(runtime, "other", 2).predict(b"x", "application/x-image")


def test_wrong_content_type_and_unreadable_image_are_refused(runtime):
    with pytest.raises(ClientError) as wrong_type:
        runtime.invoke_endpoint(EndpointName="inspection-model", ContentType="text/csv", Body=b"1,2")
    assert "application/x-image" in wrong_type.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as unreadable:
        runtime.invoke_endpoint(EndpointName="inspection-model", ContentType="application/x-image", Body=b"garbage")
    assert unreadable.value.response["Error"]["Code"] == "ModelError"


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png", "image/tiff", "image/bmp"])
def test_image_content_types_of_every_accepted_format_are_answered(runtime, content_type):
    response = runtime.invoke_endpoint(EndpointName="inspection-model", ContentType=content_type, Body=b"photo")
    assert response["Body"].read() == b"[0.2, 0.8]"
