"""Train on SageMaker and deploy the model behind an endpoint, with the SageMaker Python SDK 3.x
(`ModelTrainer`, `ModelBuilder`; the 2.x Estimator/Model classes no longer exist).

- `train_job(dataset_dir, bucket, role, algorithm="pytorch")`: uploads the class-folder dataset,
  then runs the script-mode job (`training.train.train` in the PyTorch training container; its
  model.tar.gz holds model.pt, model.json, model.onnx and code/), or, with `algorithm="builtin"`,
  the built-in image-classification algorithm on the same split's train and validation images, each in a folder
  of its own and squashed to the model's square as the pipeline sends them (`builtin`).
- `deploy_endpoint(model_data_s3_uri, endpoint_name)`: a real-time or serverless endpoint, with
  the PyTorch 2.6 inference container and our `code/inference.py` (or the built-in algorithm's
  image for its models). Both answer the same contract: JPEG/PNG bytes in, the JSON list of class
  probabilities (defect_free, defective) out. The endpoint is tagged with the model's input size
  (`INPUT_SIZE_TAG`), read from the model itself, for `inspection-app deploy`.

An execution role SageMaker cannot use is a LauncherError that says what to pass (`errors.role_errors`).
The SDK is an optional extra (`pip install -e '.[sagemaker]'`): it is imported inside the functions.
"""

import hashlib
import json
import logging
import os
import re
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import boto3

from chalicelib.settings import MAX_INPUT_SIZE, MIN_INPUT_SIZE
from training.dataset import Dataset, load_dataset, split_dataset
from training.options import option_flag
from training.sagemaker.builtin import builtin_hyperparameters, upload_builtin_input
from training.sagemaker.defaults import (
    ALGORITHMS,
    BUILTIN_IMAGE,
    BUILTIN_IMAGE_SIZE,
    DEFAULT_INFERENCE_INSTANCE,
    DEFAULT_PREFIX,
    DEFAULT_SERVERLESS_CONCURRENCY,
    DEFAULT_SERVERLESS_MEMORY_MB,
    DEFAULT_TRAINING_INSTANCE,
    INFERENCE_FRAMEWORK_VERSION,
    INFERENCE_PY_VERSION,
    INPUT_SIZE_TAG,
    TRAINING_FRAMEWORK_VERSION,
    TRAINING_PY_VERSION,
    endpoint_name_problem,
)
from training.sagemaker.errors import LauncherError, role_errors
from training.sagemaker.package import (
    CODE_DIR,
    INFERENCE_SCRIPT,
    REQUIREMENTS,
    TRAINING_ENTRY_SCRIPT,
    write_serving_code,
    write_training_source,
)

IMAGE_CONTENT_TYPE = "application/x-image"
MODEL_DATA_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+\.tar\.gz)$")
# Where a training job leaves its model: <output path>/<job name>/output/model.tar.gz
TRAINING_JOB_OUTPUT = re.compile(r"/(?P<job>[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})/output/model\.tar\.gz$")


@dataclass(frozen=True)
class TrainingJobResult:
    job_name: str
    algorithm: str
    status: str
    dataset_uri: str  # the uploaded images: the class-folder dataset, or the built-in job's squared splits
    model_data: str  # s3://.../output/model.tar.gz, complete once the job has succeeded


@dataclass(frozen=True)
class EndpointResult:
    endpoint_name: str
    model_name: str
    image_uri: str
    model_data: str  # what the model serves (a repacked copy holding our code/, for PyTorch)
    serverless: bool
    input_size: int  # the model's, also the endpoint's INPUT_SIZE_TAG


def sdk_session(session: boto3.Session | None = None) -> boto3.Session:
    """The caller's session (the CLI builds it with inspection_app.aws_session; else boto3's default chain),
    checked for a region, or LauncherError."""
    session = session or boto3.Session()
    if not session.region_name:
        raise LauncherError("No AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION.")
    # sagemaker.serve builds a boto3 client when it is imported, from the default region only.
    os.environ.setdefault("AWS_DEFAULT_REGION", session.region_name)
    return session


def _sagemaker_session(boto_session: boto3.Session, bucket: str, prefix: str):
    from sagemaker.core.helper.session_helper import Session  # noqa: PLC0415 - optional extra

    # The SDK stages code and repacked models in this bucket instead of creating its own
    # sagemaker-<region>-<account> bucket.
    return Session(boto_session=boto_session, default_bucket=bucket, default_bucket_prefix=prefix)


# ---------------------------------------------------------------------------------------------
# Training


def dataset_key(dataset: Dataset) -> str:
    """A folder name for the uploaded dataset: its name and a hash of its files' names and bytes,
    so a changed dataset never overwrites the one an earlier job trained on."""
    digest = hashlib.sha256()
    for path, label in dataset.samples:
        digest.update(f"{path.relative_to(dataset.root).as_posix()}\0{label}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset.root.resolve().name).strip("-") or "dataset"
    return f"{name}-{digest.hexdigest()[:12]}"


def upload_dataset(dataset: Dataset, bucket: str, key_prefix: str, s3_client) -> str:
    """Upload the dataset's images under `key_prefix/` (class folders kept); returns its S3 URI."""
    for path, _ in dataset.samples:
        s3_client.upload_file(str(path), bucket, f"{key_prefix}/{path.relative_to(dataset.root).as_posix()}")
    return f"s3://{bucket}/{key_prefix}/"


def train_job(dataset_dir, bucket: str, role: str, *, algorithm: str = "pytorch", instance_type: str | None = None,
              session: boto3.Session | None = None, options: dict | None = None, prefix: str = DEFAULT_PREFIX,
              wait: bool = True) -> TrainingJobResult:
    """Upload the dataset and start (and by default wait for) a training job.

    `options`: train()'s keyword arguments (training/options.py), passed to the script-mode job as its
    hyperparameters; the built-in algorithm takes only `epochs`."""
    options = options or {}
    if algorithm not in ALGORITHMS:
        raise LauncherError(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")
    unsupported = sorted(options.keys() - {"epochs"}) if algorithm == "builtin" else []
    if unsupported:
        flags = ", ".join(f"--{option_flag(name)}" for name in unsupported)
        raise LauncherError(f"{flags}: the built-in algorithm takes only --epochs; the other training options "
                            "are for --algorithm pytorch")
    boto_session = sdk_session(session)
    from sagemaker.core import image_uris  # noqa: PLC0415 - optional extra
    from sagemaker.core.training.configs import Compute, InputData, OutputDataConfig  # noqa: PLC0415
    from sagemaker.train import ModelTrainer  # noqa: PLC0415

    dataset = load_dataset(dataset_dir)  # DatasetError before anything is uploaded
    instance_type = instance_type or DEFAULT_TRAINING_INSTANCE[algorithm]
    region = boto_session.region_name
    dataset_prefix = f"{prefix}/datasets/{dataset_key(dataset)}"
    s3 = boto_session.client("s3")
    common = dict(
        role=role,
        sagemaker_session=_sagemaker_session(boto_session, bucket, prefix),
        compute=Compute(instance_type=instance_type, instance_count=1),
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{bucket}/{prefix}/models"),
        base_job_name=f"defect-classifier-{algorithm}",
    )
    # The trainer is made first: it validates the role (role_errors) before anything is uploaded.
    with tempfile.TemporaryDirectory() as staging, role_errors(bucket):
        if algorithm == "pytorch":
            from sagemaker.core.training.configs import SourceCode  # noqa: PLC0415

            trainer = ModelTrainer(
                training_image=image_uris.retrieve(
                    "pytorch", region=region, version=TRAINING_FRAMEWORK_VERSION, py_version=TRAINING_PY_VERSION,
                    image_scope="training", instance_type=instance_type,
                ),
                source_code=SourceCode(
                    source_dir=str(write_training_source(Path(staging) / "source")),
                    entry_script=TRAINING_ENTRY_SCRIPT,
                    requirements=REQUIREMENTS,
                ),
                # The entry script reads them as options: --input-size 160 ...
                hyperparameters={option_flag(name): value for name, value in options.items()},
                **common,
            )
            dataset_uri = upload_dataset(dataset, bucket, f"{dataset_prefix}/images", s3)
            channels = [InputData(channel_name="train", data_source=dataset_uri)]
        else:
            splits = split_dataset(dataset)  # the same seeded split as local training (test split not uploaded)
            trainer = ModelTrainer(
                training_image=image_uris.retrieve(BUILTIN_IMAGE, region=region),
                hyperparameters=builtin_hyperparameters(len(splits.train), epochs=options.get("epochs")),
                **common,
            )
            uploaded = upload_builtin_input(splits, dataset.root, bucket,
                                            f"{dataset_prefix}/builtin-{BUILTIN_IMAGE_SIZE}", s3, staging)
            dataset_uri = uploaded.uri
            channels = [InputData(channel_name=name, data_source=uri, content_type=IMAGE_CONTENT_TYPE)
                        for name, uri in uploaded.channels.items()]
        trainer.train(input_data_config=channels, wait=wait, logs=wait)
    job_name = trainer._latest_training_job.training_job_name  # the SDK's documented handle on the job
    described = boto_session.client("sagemaker").describe_training_job(TrainingJobName=job_name)
    model_data = described.get("ModelArtifacts", {}).get("S3ModelArtifacts") or (
        f"{described['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job_name}/output/model.tar.gz"
    )
    return TrainingJobResult(job_name=job_name, algorithm=algorithm, status=described["TrainingJobStatus"],
                             dataset_uri=dataset_uri, model_data=model_data)


# ---------------------------------------------------------------------------------------------
# Serving


def inference_image(algorithm: str, region: str, instance_type: str | None) -> str:
    """The serving image: PyTorch 2.6 (CPU for serverless) or the built-in algorithm's."""
    from sagemaker.core import image_uris  # noqa: PLC0415 - optional extra

    if algorithm == "builtin":
        return image_uris.retrieve(BUILTIN_IMAGE, region=region)
    return image_uris.retrieve(
        "pytorch", region=region, version=INFERENCE_FRAMEWORK_VERSION, py_version=INFERENCE_PY_VERSION,
        image_scope="inference", instance_type=instance_type or DEFAULT_INFERENCE_INSTANCE,
    )


def _archived_input_size(s3, bucket: str, key: str) -> int | None:
    """model.json's input_size in the model.tar.gz at s3://bucket/key, read as a stream (None without one)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        with tarfile.open(fileobj=body, mode="r|gz") as archive:
            for member in archive:
                if member.isfile() and member.name.removeprefix("./") == "model.json":
                    metadata = json.loads(archive.extractfile(member).read())
                    return metadata.get("input_size") if isinstance(metadata, dict) else None
    except (tarfile.TarError, OSError, ValueError) as error:
        raise LauncherError(f"s3://{bucket}/{key} is not a readable model.tar.gz: {error}") from None
    finally:
        body.close()
    return None


def _training_job_input_size(sagemaker_client, model_data_s3_uri: str) -> int | None:
    """The image_shape hyperparameter ("3,224,224") of the built-in job that wrote the archive, if it is known."""
    job = TRAINING_JOB_OUTPUT.search(model_data_s3_uri)
    if not job:
        return None
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        described = sagemaker_client.describe_training_job(TrainingJobName=job["job"])
    except ClientError:
        return None
    shape = described.get("HyperParameters", {}).get("image_shape", "")
    return int(shape.split(",")[-1]) if re.fullmatch(r"\d+,\d+,\d+", shape) else None


def model_input_size(model_data_s3_uri: str, algorithm: str, session: boto3.Session,
                     input_size: int | None = None) -> int:
    """The side of the square the model takes, from the model itself: model.json in the archive (PyTorch), or
    the image_shape its built-in training job ran with. `input_size` is for models that do not tell (a built-in
    model trained elsewhere); it must agree with the model where the model does tell."""
    location = MODEL_DATA_URI.match(model_data_s3_uri)
    if algorithm == "pytorch":
        found, source = _archived_input_size(session.client("s3"), location["bucket"], location["key"]), "model.json"
    else:
        found, source = _training_job_input_size(session.client("sagemaker"), model_data_s3_uri), "image_shape"
    if found is not None and (not isinstance(found, int) or not MIN_INPUT_SIZE <= found <= MAX_INPUT_SIZE):
        raise LauncherError(f"The model's {source} gives input size {found!r}; expected a whole number of pixels "
                            f"from {MIN_INPUT_SIZE} to {MAX_INPUT_SIZE}.")
    if input_size is not None and found is not None and input_size != found:
        raise LauncherError(f"--input-size {input_size} disagrees with the model's {source} ({found}); leave it out.")
    size = found if found is not None else input_size
    if size is None:
        where = ("has no model.json with input_size" if algorithm == "pytorch"
                 else "does not come from a training job whose image_shape can be read")
        raise LauncherError(f"{model_data_s3_uri} {where}: pass --input-size (the side of the square images the "
                            "model was trained on), so that the app resizes photos to it.")
    if not MIN_INPUT_SIZE <= size <= MAX_INPUT_SIZE:
        raise LauncherError(f"--input-size must lie between {MIN_INPUT_SIZE} and {MAX_INPUT_SIZE}, not {size}.")
    return size


def tag_input_size(sagemaker_client, endpoint_name: str, input_size: int) -> None:
    """Tag the endpoint with the model's input size (read back by `inspection-app deploy`)."""
    arn = sagemaker_client.describe_endpoint(EndpointName=endpoint_name)["EndpointArn"]
    sagemaker_client.add_tags(ResourceArn=arn, Tags=[{"Key": INPUT_SIZE_TAG, "Value": str(input_size)}])


def deploy_endpoint(model_data_s3_uri: str, endpoint_name: str, *, serverless: bool = False,
                    instance_type: str = DEFAULT_INFERENCE_INSTANCE,
                    memory_size_in_mb: int = DEFAULT_SERVERLESS_MEMORY_MB,
                    max_concurrency: int = DEFAULT_SERVERLESS_CONCURRENCY, role: str | None = None,
                    session: boto3.Session | None = None, algorithm: str = "pytorch",
                    prefix: str = DEFAULT_PREFIX, wait: bool = True, input_size: int | None = None) -> EndpointResult:
    """Create a SageMaker model from `model_data_s3_uri` and an endpoint named `endpoint_name`.

    For the PyTorch model the SDK repacks model.tar.gz with a fresh `code/` (so any archive with
    model.pt and model.json deploys, and always with the current handler) into the same bucket.
    `role` is the execution role SageMaker assumes (S3 read, ECR pull, CloudWatch logs). The endpoint is
    tagged with the model's input size (see `model_input_size`; `input_size` only where the model does not
    tell)."""
    if algorithm not in ALGORITHMS:
        raise LauncherError(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")
    location = MODEL_DATA_URI.match(model_data_s3_uri or "")
    if not location:
        raise LauncherError(f"--model-data must be an S3 URI of a .tar.gz archive (s3://bucket/key/model.tar.gz), "
                            f"not {model_data_s3_uri!r}")
    if problem := endpoint_name_problem(endpoint_name):  # the rule `inspection-app deploy` checks too
        raise LauncherError(problem)
    boto_session = sdk_session(session)
    size = model_input_size(model_data_s3_uri, algorithm, boto_session, input_size)  # before anything is made
    from sagemaker.core.inference_config import ServerlessInferenceConfig  # noqa: PLC0415 - optional extra
    from sagemaker.core.training.configs import SourceCode  # noqa: PLC0415
    from sagemaker.serve.model_builder import ModelBuilder  # noqa: PLC0415

    image_uri = inference_image(algorithm, boto_session.region_name, None if serverless else instance_type)
    model_name = f"{endpoint_name[:47]}-{time.strftime('%Y%m%d-%H%M%S')}"
    if serverless:
        placement = {"inference_config": ServerlessInferenceConfig(memory_size_in_mb=memory_size_in_mb,
                                                                   max_concurrency=max_concurrency)}
    else:
        placement = {"instance_type": instance_type, "initial_instance_count": 1}
    # ModelBuilder validates the role (the caller's own when none is given) when it builds and deploys.
    with tempfile.TemporaryDirectory() as staging, role_errors(location["bucket"]):
        source_code = None
        if algorithm == "pytorch":
            code_dir = write_serving_code(Path(staging) / CODE_DIR)
            source_code = SourceCode(source_dir=str(code_dir), entry_script=INFERENCE_SCRIPT)
        builder = ModelBuilder(
            image_uri=image_uri,
            s3_model_data_url=model_data_s3_uri,
            source_code=source_code,
            role_arn=role,
            sagemaker_session=_sagemaker_session(boto_session, location["bucket"], prefix),
            instance_type=None if serverless else instance_type,
            log_level=logging.INFO,
        )
        builder.build(model_name=model_name)
        builder.deploy(endpoint_name=endpoint_name, wait=wait, **placement)
    sagemaker_client = boto_session.client("sagemaker")
    tag_input_size(sagemaker_client, endpoint_name, size)
    described = sagemaker_client.describe_model(ModelName=model_name)
    return EndpointResult(endpoint_name=endpoint_name, model_name=model_name, image_uri=image_uri,
                          model_data=described["PrimaryContainer"].get("ModelDataUrl", model_data_s3_uri),
                          serverless=serverless, input_size=size)
