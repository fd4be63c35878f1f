"""Fixtures of the SageMaker tests: one tiny trained model and moto (synthetic data: tests/conftest.py).

Nothing reaches AWS: the launcher runs against moto with fake credentials."""

import os

import pytest
from sagemaker_helpers import BUCKET, REGION, TINY_INPUT_SIZE


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, write_dataset):
    """A model directory from one tiny training run (1 epoch, 64 px, 10 images: one batch of 6)."""
    from training.train import train  # noqa: PLC0415 - torch loads only for the tests that need it

    root = tmp_path_factory.mktemp("tiny-model")
    dataset_dir = write_dataset(root / "dataset", per_class=5)
    train(dataset_dir, root / "model", epochs=1, input_size=TINY_INPUT_SIZE, batch_size=8, progress=lambda *a: None)
    return root / "model"


@pytest.fixture(scope="session")
def tiny_anomaly_model_dir(tmp_path_factory, write_dataset):
    """An anomaly model directory (docs/anomaly.md) learnt from 12 synthetic good photos at 64 px."""
    from training.anomaly import train_anomaly  # noqa: PLC0415

    root = tmp_path_factory.mktemp("tiny-anomaly-model")
    dataset_dir = write_dataset(root / "dataset", per_class=12)
    train_anomaly(dataset_dir, root / "model", input_size=TINY_INPUT_SIZE, progress=lambda *a: None)
    return root / "model"


def _without_empty_structs(response_object: property) -> property:
    """moto answers describe_model / describe_endpoint with empty VpcConfig / DataCaptureConfig
    structs, which real SageMaker omits and sagemaker-core's Model.get / Endpoint.get reject."""
    return property(lambda self: {key: value for key, value in response_object.fget(self).items() if value != {}})


@pytest.fixture
def aws(monkeypatch):
    """moto with fake credentials, a region and the test bucket; yields the boto3 session."""
    import boto3  # noqa: PLC0415
    import moto.sagemaker.models as moto_sagemaker  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")  # else the SDK calls iam:SimulatePrincipalPolicy
    for resource in (moto_sagemaker.Model, moto_sagemaker.FakeEndpoint):
        monkeypatch.setattr(resource, "response_object", _without_empty_structs(resource.response_object))
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield session
