"""MODEL_INPUT_SIZE: the pixels the model takes, from its model directory or its endpoint's tag, never guessed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from botocore.exceptions import ClientError

from chalicelib.settings import MAX_INPUT_SIZE, MIN_INPUT_SIZE
from training.sagemaker.defaults import INPUT_SIZE_TAG

from .errors import DeployError


def _input_size(value, source: str) -> int:
    size = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit():
        size = int(value)
    if size is None or not MIN_INPUT_SIZE <= size <= MAX_INPUT_SIZE:
        raise DeployError(f"{source} gives the model input size {value!r}; expected whole pixels from "
                          f"{MIN_INPUT_SIZE} to {MAX_INPUT_SIZE}.")
    return size


def model_dir_input_size(model_dir: Path) -> int:
    """`input_size` of the model directory's model.json (what `inspection-app train` writes)."""
    path = Path(model_dir) / "model.json"
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError:
        raise DeployError(f"{path} does not exist; --model-dir must be a model directory (with model.json).") from None
    except ValueError as error:
        raise DeployError(f"{path} is not JSON: {error}") from None
    if not isinstance(metadata, dict) or "input_size" not in metadata:
        raise DeployError(f"{path} has no input_size.")
    return _input_size(metadata["input_size"], str(path))


def endpoint_input_size(sagemaker, endpoint: dict | None) -> int | None:
    """The endpoint's INPUT_SIZE_TAG (set by `inspection-app sagemaker deploy`), or None without one."""
    if endpoint is None:
        return None
    tags = sagemaker.list_tags(ResourceArn=endpoint["EndpointArn"]).get("Tags", [])
    value = next((tag["Value"] for tag in tags if tag["Key"] == INPUT_SIZE_TAG), None)
    return None if value is None else _input_size(value, f"The tag {INPUT_SIZE_TAG} of endpoint {endpoint['EndpointName']}")


def resolve_model_input_size(endpoint_name: str, endpoint: dict | None, from_endpoint: int | None,
                             model_dir: Path | None) -> tuple[int, str]:
    """(MODEL_INPUT_SIZE, where it came from): the model directory's model.json or the endpoint's tag, which
    must agree when both are known; DeployError saying how to provide it when neither is."""
    from_dir = model_dir_input_size(model_dir) if model_dir is not None else None
    if from_dir is not None and from_endpoint is not None and from_dir != from_endpoint:
        raise DeployError(
            f"{Path(model_dir) / 'model.json'} says input_size {from_dir}, but endpoint {endpoint_name} is tagged "
            f"{INPUT_SIZE_TAG}={from_endpoint}: the endpoint serves another model. Pass the model directory it "
            "serves, or leave out --model-dir."
        )
    if from_dir is not None:
        return from_dir, f"{Path(model_dir) / 'model.json'}"
    if from_endpoint is not None:
        return from_endpoint, f"tag {INPUT_SIZE_TAG} of endpoint {endpoint_name}"
    why = "does not exist yet" if endpoint is None else f"has no tag {INPUT_SIZE_TAG}"
    arn = endpoint["EndpointArn"] if endpoint else "ENDPOINT_ARN"
    raise DeployError(
        f"The model's input size is unknown: endpoint {endpoint_name} {why}, and no --model-dir was given. "
        "Photos must be resized to exactly what the model takes. Either pass --model-dir DIR (the model "
        "directory the endpoint serves; its model.json has input_size), or deploy the model with "
        "`inspection-app sagemaker deploy` (it tags the endpoint), or tag the endpoint yourself: "
        f"aws sagemaker add-tags --resource-arn {arn} --tags Key={INPUT_SIZE_TAG},Value=SIZE"
    )


def check_endpoint(session, endpoint_name: str, out: Callable[[str], None]) -> dict | None:
    """The endpoint's description, or None; warns (only) when it is missing or not in service: it may be
    created after the deployment."""
    try:
        endpoint = session.client("sagemaker").describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        out(f"warning: SageMaker endpoint {endpoint_name!r} not found in {session.region_name} "
            f"({error.response['Error'].get('Message', error)}); images will be recorded as errors until it exists.")
        return None
    if endpoint["EndpointStatus"] != "InService":
        out(f"warning: SageMaker endpoint {endpoint_name!r} is {endpoint['EndpointStatus']}, not InService.")
    return endpoint
