"""Defaults of the SageMaker launcher, in a module of their own so that the CLI can show them in
`--help` without importing anything heavy (and so that `inspection-app deploy` shares its rules without a cycle)."""

import re

ALGORITHMS = ("pytorch", "builtin")
# The newest PyTorch images in the SDK's image config: training 2.10, inference 2.6. The model
# is saved as a state dict that torch 2.6 loads, and inference.py uses nothing newer.
TRAINING_FRAMEWORK_VERSION, TRAINING_PY_VERSION = "2.10", "py313"
INFERENCE_FRAMEWORK_VERSION, INFERENCE_PY_VERSION = "2.6", "py312"
BUILTIN_IMAGE = "image-classification"
# Script mode trains on CPU by default: no GPU quota needed, and the defaults finish ~7,000
# images in minutes. The built-in algorithm trains on GPU instances only.
DEFAULT_TRAINING_INSTANCE = {"pytorch": "ml.m5.xlarge", "builtin": "ml.g4dn.xlarge"}
DEFAULT_INFERENCE_INSTANCE = "ml.m5.large"
DEFAULT_SERVERLESS_MEMORY_MB = 3072  # torch + the model; 1024-6144 in steps of 1024
DEFAULT_SERVERLESS_CONCURRENCY = 5
DEFAULT_PREFIX = "quality-inspection"  # S3 key prefix of datasets, code and models in the bucket
# The reference notebook's hyperparameters for the built-in algorithm. Its images are uploaded squashed to this
# square (training/sagemaker/builtin.py), as the classify function sends them; `resize` is this size too.
BUILTIN_IMAGE_SIZE = 224
BUILTIN_LEARNING_RATE = 0.001
BUILTIN_EPOCHS = 10
BUILTIN_MAX_BATCH_SIZE = 16
# The tag `sagemaker deploy` puts on an endpoint: the side of the square its model takes as input (model.json
# `input_size`; image_shape for the built-in algorithm). `inspection-app deploy` reads it back and sets the
# stage's MODEL_INPUT_SIZE from it, so the classify Lambda resizes photos to exactly what the model expects.
INPUT_SIZE_TAG = "quality-inspection:input-size"

# Endpoint names that both `sagemaker deploy` and `inspection-app deploy` accept. SageMaker itself takes upper-case
# letters too, but it writes endpoint ARNs in lower case and IAM compares ARNs case-sensitively: the classify
# function's sagemaker:InvokeEndpoint permission, built from the name, would never match an upper-case one.
ENDPOINT_NAME_PATTERN = re.compile(r"[a-z0-9](-*[a-z0-9]){0,62}")
ENDPOINT_NAME_RULE = ("use 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit "
                      "(SageMaker ARNs are lowercase and IAM compares them case-sensitively)")


def endpoint_name_problem(name: str | None) -> str | None:
    """What is wrong with a SageMaker endpoint name (`ENDPOINT_NAME_RULE`), or None when it is valid."""
    if isinstance(name, str) and ENDPOINT_NAME_PATTERN.fullmatch(name):
        return None
    return f"Endpoint name {name!r}: {ENDPOINT_NAME_RULE}."
