"""Fixtures of the SageMaker tests: synthetic datasets, one tiny trained model, and moto.

Nothing reaches AWS: the launcher runs against moto with fake credentials. Helpers are handed out
as fixtures rather than imported, so this conftest never clashes with another folder's."""

import os

import numpy as np
import pytest
from PIL import Image
from sagemaker_helpers import BUCKET, REGION, TINY_INPUT_SIZE

from training.dataset import CLASSES


def _synthetic_image(rng: np.random.Generator, *, defective: bool, size=(96, 96)) -> Image.Image:
    """A grey textured 'part'; a defective one carries a dark square somewhere on it."""
    width, height = size
    pixels = rng.normal(170, 12, (height, width, 3)).clip(0, 255)
    if defective:
        side = min(width, height) // 4
        top, left = rng.integers(0, height - side), rng.integers(0, width - side)
        pixels[top : top + side, left : left + side] = 30
    return Image.fromarray(pixels.astype(np.uint8))


def _write_dataset(root, per_class: int, seed: int = 0):
    """A valid class-folder dataset of PNG images; returns its root."""
    rng = np.random.default_rng(seed)
    for index, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            _synthetic_image(rng, defective=index == 1).save(root / name / f"{name}-{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def synthetic_image():
    return _synthetic_image


@pytest.fixture(scope="session")
def write_dataset():
    return _write_dataset


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A model directory from one tiny training run (1 epoch, 64 px, 10 images: one batch of 6)."""
    from training.train import train  # noqa: PLC0415 - torch loads only for the tests that need it

    root = tmp_path_factory.mktemp("tiny-model")
    dataset_dir = _write_dataset(root / "dataset", per_class=5)
    train(dataset_dir, root / "model", epochs=1, input_size=TINY_INPUT_SIZE, batch_size=8, progress=lambda *a: None)
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
