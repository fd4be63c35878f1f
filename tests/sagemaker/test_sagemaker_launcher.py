"""The SageMaker launcher (SDK 3.x) against moto: what SageMaker is asked to create."""

import io
import json
import sys
import tarfile

import pytest
from sagemaker_helpers import BUCKET, BUILTIN_IMAGE, REGION, ROLE, channels, keys, s3_object

from inspection_app.cli import main as cli_main
from inspection_app.deploy.errors import DeployError
from inspection_app.deploy.names import validate_stage_and_endpoint
from training.dataset import DatasetError
from training.sagemaker import launcher
from training.sagemaker.defaults import DEFAULT_PREFIX, INPUT_SIZE_TAG

PYTORCH_TRAINING_IMAGE = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/pytorch-training:2.10-cpu-py313"
PYTORCH_INFERENCE_CPU_IMAGE = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/pytorch-inference:2.6-cpu-py312"
PYTORCH_INFERENCE_GPU_IMAGE = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/pytorch-inference:2.6-gpu-py312"
MODEL_DATA = f"s3://{BUCKET}/models/tiny/model.tar.gz"
MODEL_JSON = b'{"input_size": 192, "classes": ["defect_free", "defective"]}'


def _tar_gz(files: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _read_tar_gz(data: bytes) -> dict:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers() if member.isfile()}


@pytest.fixture
def dataset(tmp_path, write_dataset):
    return write_dataset(tmp_path / "boards", per_class=5)


@pytest.fixture
def model_data(aws):
    """A model.tar.gz in S3 as a training job leaves it (no code/ needed: deploy adds it)."""
    aws.client("s3").put_object(Bucket=BUCKET, Key="models/tiny/model.tar.gz",
                                Body=_tar_gz({"model.pt": b"weights", "model.json": MODEL_JSON}))
    return MODEL_DATA


def _endpoint_tags(aws, name: str) -> dict:
    sagemaker = aws.client("sagemaker")
    arn = sagemaker.describe_endpoint(EndpointName=name)["EndpointArn"]
    return {tag["Key"]: tag["Value"] for tag in sagemaker.list_tags(ResourceArn=arn)["Tags"]}


# --- training --------------------------------------------------------------------------------


def test_given_a_dataset_when_a_pytorch_job_starts_then_it_runs_our_training_code_in_script_mode(aws, dataset):
    # WHEN a script-mode job is started on the dataset
    result = launcher.train_job(dataset, BUCKET, ROLE, session=aws, options={"epochs": 4, "input_size": 160},
                                wait=False)
    # THEN the dataset's images were uploaded with their class folders
    job = aws.client("sagemaker").describe_training_job(TrainingJobName=result.job_name)
    images_prefix = result.dataset_uri.removeprefix(f"s3://{BUCKET}/")
    assert images_prefix.startswith(f"{DEFAULT_PREFIX}/datasets/boards-")
    assert keys(aws, images_prefix) == sorted(
        f"{images_prefix}{name}/{name}-{i:03d}.png" for name in ("defect_free", "defective") for i in range(5))
    # and the job trains with the PyTorch image on the train channel, with the training options as hyperparameters
    # (the entry script reads them as --epochs 4 --input-size 160)
    assert job["AlgorithmSpecification"]["TrainingImage"] == PYTORCH_TRAINING_IMAGE
    assert job["RoleArn"] == ROLE
    assert job["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge" and job["ResourceConfig"]["InstanceCount"] == 1
    assert job["HyperParameters"] == {"epochs": "4", "input-size": "160"}
    job_channels = channels(job)
    assert job_channels["train"]["DataSource"]["S3DataSource"]["S3Uri"] == result.dataset_uri
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/{DEFAULT_PREFIX}/models"
    assert result.model_data == f"s3://{BUCKET}/{DEFAULT_PREFIX}/models/{result.job_name}/output/model.tar.gz"
    # and the code channel carries the entry script, the training package and the requirements
    code_prefix = job_channels["code"]["DataSource"]["S3DataSource"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")
    code = [key.removeprefix(code_prefix + "/") for key in keys(aws, code_prefix)]
    assert {"sagemaker_train.py", "requirements.txt", "training/train.py", "training/preprocess.py",
            "training/sagemaker/package.py", "training/sagemaker/inference.py"} <= set(code)
    drivers_prefix = job_channels["sm_drivers"]["DataSource"]["S3DataSource"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")
    source_code = json.loads(s3_object(aws, f"s3://{BUCKET}/{drivers_prefix}/sourcecode.json"))
    assert source_code["entry_script"] == "sagemaker_train.py" and source_code["requirements"] == "requirements.txt"


def test_given_a_gpu_instance_then_the_pytorch_job_uses_the_gpu_training_image(aws, dataset):
    result = launcher.train_job(dataset, BUCKET, ROLE, session=aws, instance_type="ml.g4dn.xlarge", wait=False)
    job = aws.client("sagemaker").describe_training_job(TrainingJobName=result.job_name)
    assert job["AlgorithmSpecification"]["TrainingImage"].endswith("pytorch-training:2.10-gpu-py313")
    assert job["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert job["HyperParameters"] == {}  # the training code chooses its epochs from the dataset size


def test_given_the_same_dataset_twice_then_it_is_uploaded_to_the_same_place_and_a_changed_one_elsewhere(
        aws, dataset, synthetic_image):
    first = launcher.train_job(dataset, BUCKET, ROLE, session=aws, wait=False)
    again = launcher.train_job(dataset, BUCKET, ROLE, session=aws, wait=False)
    import numpy as np  # noqa: PLC0415

    synthetic_image(np.random.default_rng(5), defective=True).save(dataset / "defective" / "new.png")
    changed = launcher.train_job(dataset, BUCKET, ROLE, session=aws, wait=False)
    assert first.dataset_uri == again.dataset_uri != changed.dataset_uri


def test_given_an_invalid_dataset_then_nothing_is_uploaded_and_the_error_names_the_problem(aws, tmp_path):
    (tmp_path / "defective").mkdir()
    with pytest.raises(DatasetError, match="defect_free"):
        launcher.train_job(tmp_path, BUCKET, ROLE, session=aws, wait=False)
    assert keys(aws, "") == []


def test_given_an_unknown_algorithm_then_the_launcher_refuses(aws, dataset):
    with pytest.raises(launcher.LauncherError, match="pytorch, builtin"):
        launcher.train_job(dataset, BUCKET, ROLE, algorithm="xgboost", session=aws, wait=False)


# --- serving ---------------------------------------------------------------------------------


def test_given_model_data_when_deployed_real_time_then_the_model_serves_our_code_with_pytorch_2_6(aws, model_data):
    # WHEN the model is deployed to a real-time endpoint
    result = launcher.deploy_endpoint(model_data, "defect-classifier", role=ROLE, session=aws, wait=False)
    sagemaker = aws.client("sagemaker")
    # THEN the model runs the PyTorch 2.6 inference image with our handler as the program ...
    model = sagemaker.describe_model(ModelName=result.model_name)
    container = model["PrimaryContainer"]
    assert container["Image"] == result.image_uri == PYTORCH_INFERENCE_CPU_IMAGE
    assert model["ExecutionRoleArn"] == ROLE
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    # ... from a copy of model.tar.gz that holds the model files and our code/
    assert container["ModelDataUrl"] == result.model_data != model_data
    assert container["ModelDataUrl"].startswith(f"s3://{BUCKET}/")
    repacked = _read_tar_gz(s3_object(aws, container["ModelDataUrl"]))
    assert repacked["model.pt"] == b"weights" and repacked["model.json"] == MODEL_JSON
    assert {"code/inference.py", "code/training/preprocess.py", "code/efficientnet_lite_pytorch/model.py"} <= set(repacked)
    # ... and the endpoint puts one ml.m5.large instance behind it
    endpoint = sagemaker.describe_endpoint(EndpointName="defect-classifier")
    [variant] = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"]
    assert variant["ModelName"] == result.model_name
    assert variant["InstanceType"] == "ml.m5.large" and variant["InitialInstanceCount"] == 1
    assert "ServerlessConfig" not in variant
    # ... tagged with the input size of model.json, for `inspection-app deploy`
    assert result.input_size == 192
    assert _endpoint_tags(aws, "defect-classifier")[INPUT_SIZE_TAG] == "192"


@pytest.mark.parametrize("model_json", [b"{}", b'{"input_size": "192"}', b'{"input_size": 8}', None])
def test_given_an_archive_whose_model_json_gives_no_input_size_then_deploy_refuses_before_creating_anything(
        aws, model_json):
    files = {"model.pt": b"weights", **({"model.json": model_json} if model_json else {})}
    aws.client("s3").put_object(Bucket=BUCKET, Key="models/tiny/model.tar.gz", Body=_tar_gz(files))
    with pytest.raises(launcher.LauncherError, match="input.size|input_size"):
        launcher.deploy_endpoint(MODEL_DATA, "defect-classifier", role=ROLE, session=aws, wait=False)
    assert aws.client("sagemaker").list_models()["Models"] == []


def test_given_an_input_size_that_disagrees_with_model_json_then_deploy_refuses(aws, model_data):
    with pytest.raises(launcher.LauncherError, match="disagrees with the model's model.json"):
        launcher.deploy_endpoint(model_data, "defect-classifier", role=ROLE, session=aws, wait=False, input_size=224)


def test_given_serverless_when_deployed_then_the_endpoint_has_the_memory_and_concurrency_asked_for(aws, model_data):
    result = launcher.deploy_endpoint(model_data, "defect-serverless", serverless=True, memory_size_in_mb=4096,
                                      max_concurrency=3, role=ROLE, session=aws, wait=False)
    sagemaker = aws.client("sagemaker")
    config_name = sagemaker.describe_endpoint(EndpointName="defect-serverless")["EndpointConfigName"]
    [variant] = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 4096, "MaxConcurrency": 3}
    assert "InstanceType" not in variant
    # serverless endpoints run on CPU
    assert sagemaker.describe_model(ModelName=result.model_name)["PrimaryContainer"]["Image"] == PYTORCH_INFERENCE_CPU_IMAGE
    assert result.serverless


def test_given_a_gpu_instance_type_then_the_gpu_inference_image_serves(aws, model_data):
    result = launcher.deploy_endpoint(model_data, "defect-gpu", instance_type="ml.g4dn.xlarge", role=ROLE,
                                      session=aws, wait=False)
    assert result.image_uri == PYTORCH_INFERENCE_GPU_IMAGE


def test_given_a_builtin_model_when_deployed_then_the_algorithm_image_serves_the_archive_as_it_is(aws, model_data):
    # A built-in model from elsewhere does not tell its input size: it is given.
    result = launcher.deploy_endpoint(model_data, "defect-builtin", algorithm="builtin", role=ROLE, session=aws,
                                      wait=False, input_size=224)
    container = aws.client("sagemaker").describe_model(ModelName=result.model_name)["PrimaryContainer"]
    assert container["Image"] == BUILTIN_IMAGE
    assert container["ModelDataUrl"] == model_data
    assert "SAGEMAKER_PROGRAM" not in container.get("Environment", {})
    assert _endpoint_tags(aws, "defect-builtin")[INPUT_SIZE_TAG] == "224"


def test_given_a_builtin_model_of_unknown_origin_and_no_input_size_then_deploy_says_to_pass_it(aws, model_data):
    with pytest.raises(launcher.LauncherError, match="pass --input-size"):
        launcher.deploy_endpoint(model_data, "defect-builtin", algorithm="builtin", role=ROLE, session=aws, wait=False)


def test_given_the_model_of_a_builtin_training_job_then_its_image_shape_is_the_endpoints_input_size(aws, dataset):
    trained = launcher.train_job(dataset, BUCKET, ROLE, algorithm="builtin", session=aws, wait=False)
    result = launcher.deploy_endpoint(trained.model_data, "defect-builtin", algorithm="builtin", role=ROLE,
                                      session=aws, wait=False)
    assert result.input_size == 224  # image_shape 3,224,224
    assert _endpoint_tags(aws, "defect-builtin")[INPUT_SIZE_TAG] == "224"
    with pytest.raises(launcher.LauncherError, match="disagrees with the model's image_shape"):
        launcher.deploy_endpoint(trained.model_data, "defect-other", algorithm="builtin", role=ROLE, session=aws,
                                 wait=False, input_size=192)


@pytest.mark.parametrize("uri", ["models/tiny/model.tar.gz", "s3://bucket-only", "s3://b/model.zip", ""])
def test_given_model_data_that_is_not_an_s3_archive_then_deploy_says_what_it_needs(uri):
    with pytest.raises(launcher.LauncherError, match="S3 URI of a .tar.gz"):
        launcher.deploy_endpoint(uri, "defect-classifier", role=ROLE)


@pytest.mark.parametrize("name", ["-leading-hyphen", "trailing-hyphen-", "under_score", "x" * 64, "", None,
                                  "Defect-Classifier", "PCB"])
def test_given_an_invalid_endpoint_name_then_deploy_says_what_is_allowed_before_any_aws_call(name):
    # No session, no region, no moto: the name is refused before anything reaches AWS.
    with pytest.raises(launcher.LauncherError, match="lowercase letters, digits and hyphens"):
        launcher.deploy_endpoint(MODEL_DATA, name, role=ROLE)


@pytest.mark.parametrize(("name", "valid"), [
    *((name, True) for name in ("defect-classifier", "pcb--v2", "x" * 63, "7")),
    *((name, False) for name in ("Defect-Classifier", "PCB", "under_score", "trailing-", "x" * 64)),
])
def test_sagemaker_deploy_and_inspection_app_deploy_accept_the_same_endpoint_names(monkeypatch, name, valid):
    """An endpoint `sagemaker deploy` creates is one `inspection-app deploy` can point the app at."""
    class PastTheName(Exception):
        pass

    def sdk_session(*args, **kwargs):  # the launcher's first step after checking its arguments
        raise PastTheName

    monkeypatch.setattr(launcher, "sdk_session", sdk_session)
    try:
        launcher.deploy_endpoint(MODEL_DATA, name, role=ROLE)
    except PastTheName:
        launcher_accepts = True
    except launcher.LauncherError:
        launcher_accepts = False
    try:
        validate_stage_and_endpoint("dev", name)
        deploy_accepts = True
    except DeployError as error:
        deploy_accepts = False
        assert "lowercase letters, digits and hyphens" in str(error)
    assert launcher_accepts == deploy_accepts == valid


def test_given_no_region_anywhere_then_the_launcher_asks_for_one(monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    with pytest.raises(launcher.LauncherError, match="--region"):
        launcher.sdk_session()


def test_given_options_only_our_training_code_takes_then_a_builtin_job_is_refused_before_any_upload(aws, dataset):
    with pytest.raises(launcher.LauncherError, match="^--batch-size, --input-size: the built-in algorithm takes only"):
        launcher.train_job(dataset, BUCKET, ROLE, algorithm="builtin", session=aws,
                           options={"epochs": 3, "input_size": 160, "batch_size": 8}, wait=False)
    assert not aws.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents")


# --- the commands ----------------------------------------------------------------------------


def test_given_the_train_command_then_it_prints_the_job_and_the_deploy_command(aws, dataset, capsys):
    assert cli_main(["sagemaker", "train", "--dataset", str(dataset), "--bucket", BUCKET, "--role", ROLE,
                     "--algorithm", "builtin", "--region", REGION, "--no-wait"]) == 0
    out = capsys.readouterr().out
    assert "defect-classifier-builtin-" in out and "/output/model.tar.gz" in out
    assert "inspection-app sagemaker deploy --model-data s3://" in out and "--algorithm builtin" in out


def test_given_the_deploy_command_then_it_prints_the_endpoint_name_for_the_app(aws, model_data, capsys):
    assert cli_main(["sagemaker", "deploy", "--model-data", model_data, "--endpoint-name", "defect-classifier",
                     "--role", ROLE, "--serverless", "--region", REGION, "--no-wait"]) == 0
    out = capsys.readouterr().out
    assert "SAGEMAKER_ENDPOINT_NAME=defect-classifier" in out
    assert f"192 px input, tagged {INPUT_SIZE_TAG}" in out
    assert "inspection-app deploy --stage dev --endpoint-name defect-classifier" in out
    assert aws.client("sagemaker").describe_endpoint(EndpointName="defect-classifier")["EndpointStatus"]


def test_given_a_bad_dataset_then_the_train_command_exits_2_with_the_reason(aws, tmp_path, capsys):
    assert cli_main(["sagemaker", "train", "--dataset", str(tmp_path / "missing"), "--bucket", BUCKET,
                     "--role", ROLE, "--no-wait"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_given_training_options_then_the_train_command_passes_them_to_the_job(aws, dataset, capsys):
    assert cli_main(["sagemaker", "train", "--dataset", str(dataset), "--bucket", BUCKET, "--role", ROLE,
                     "--epochs", "2", "--batch-size", "16", "--region", REGION, "--no-wait"]) == 0
    job_name = capsys.readouterr().out.split()[2]
    job = aws.client("sagemaker").describe_training_job(TrainingJobName=job_name)
    assert job["HyperParameters"] == {"epochs": "2", "batch-size": "16"}


@pytest.mark.parametrize("command", [
    ["train", "--dataset", "d", "--bucket", "b", "--role", ROLE],
    ["deploy", "--model-data", MODEL_DATA, "--endpoint-name", "e"],
])
def test_given_no_sagemaker_sdk_then_the_commands_say_how_to_install_it_and_exit_2(monkeypatch, capsys, command):
    for name in [name for name in sys.modules if name == "sagemaker" or name.startswith("sagemaker.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sagemaker", None)  # what `import sagemaker` meets when it is not installed
    assert cli_main(["sagemaker", *command]) == 2
    assert "pip install -e '.[sagemaker]'" in capsys.readouterr().err
