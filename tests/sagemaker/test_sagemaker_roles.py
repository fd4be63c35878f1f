"""An execution role SageMaker cannot use: the SDK's RoleValidationError reaches the user as `error: ...` with
what was wrong and what to pass, not as a traceback, and before anything is uploaded or created."""

import json

import pytest
from sagemaker_helpers import BUCKET, REGION, ROLE, keys

from inspection_app.cli import main as cli_main
from training.sagemaker import launcher

MODEL_DATA = f"s3://{BUCKET}/models/builtin/model.tar.gz"


def _create_role(aws, trusted_service: str) -> None:
    """ROLE in moto's IAM, with a trust policy that lets `trusted_service` assume it."""
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": trusted_service}, "Action": "sts:AssumeRole"}]}
    aws.client("iam").create_role(RoleName=ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(trust))


@pytest.fixture
def validated(aws, monkeypatch):
    """Role validation on, as it is by default; IAM's policy simulator answers with `denied` (moto has none)."""
    from sagemaker.core.helper import iam_role_resolver  # noqa: PLC0415

    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "true")
    denied = []
    monkeypatch.setattr(iam_role_resolver, "_simulate_denied_actions", lambda iam, role, actions: (list(denied), []))
    return denied


@pytest.fixture
def ec2_role(aws):
    """ROLE exists, but its trust policy lets EC2 assume it, not SageMaker."""
    _create_role(aws, "ec2.amazonaws.com")
    return ROLE


def test_given_a_role_sagemaker_may_not_assume_then_training_stops_before_any_upload_and_says_what_to_pass(
        aws, validated, ec2_role, tmp_path, write_dataset):
    dataset = write_dataset(tmp_path / "boards", per_class=5)
    with pytest.raises(launcher.LauncherError) as raised:
        launcher.train_job(dataset, BUCKET, ec2_role, algorithm="builtin", session=aws, wait=False)
    message = str(raised.value)
    assert message.startswith(f"IAM role '{ROLE}' cannot be used for 'training' workloads. Its trust policy does not "
                              "allow 'sagemaker.amazonaws.com' to assume it")
    assert "Pass --role with the ARN of a SageMaker execution role" in message
    assert '"Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"' in message
    assert f"s3://{BUCKET}" in message and "IamRoleResolver" not in message and "\n" not in message
    assert keys(aws, "") == []
    assert aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_given_a_role_sagemaker_may_not_assume_then_the_train_command_exits_2_with_one_line(
        aws, validated, ec2_role, tmp_path, write_dataset, capsys):
    dataset = write_dataset(tmp_path / "boards", per_class=5)
    assert cli_main(["sagemaker", "train", "--dataset", str(dataset), "--bucket", BUCKET, "--role", ec2_role,
                     "--region", REGION, "--no-wait"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: IAM role '{ROLE}' cannot be used") and err.count("\n") == 1
    assert "Traceback" not in err


def test_given_a_role_without_the_permissions_then_deploy_names_them_and_creates_nothing(aws, validated):
    _create_role(aws, "sagemaker.amazonaws.com")
    aws.client("s3").put_object(Bucket=BUCKET, Key="models/builtin/model.tar.gz", Body=b"archive")
    validated.append("sagemaker:CreateModel")
    with pytest.raises(launcher.LauncherError, match=r"^IAM role '.+' cannot be used for 'serving' workloads\. "
                                                     r"Missing permissions: sagemaker:CreateModel Pass --role "):
        launcher.deploy_endpoint(MODEL_DATA, "defect-builtin", algorithm="builtin", input_size=224, role=ROLE,
                                 session=aws, wait=False)
    assert aws.client("sagemaker").list_models()["Models"] == []
    assert aws.client("sagemaker").list_endpoints()["Endpoints"] == []


def test_given_no_role_and_a_caller_that_is_no_role_then_deploy_asks_for_one(aws, validated):
    # moto's caller identity is an IAM user, which no role can be derived from.
    aws.client("s3").put_object(Bucket=BUCKET, Key="models/builtin/model.tar.gz", Body=b"archive")
    with pytest.raises(launcher.LauncherError, match="^No IAM role could be resolved .* Pass --role with the ARN"):
        launcher.deploy_endpoint(MODEL_DATA, "defect-builtin", algorithm="builtin", input_size=224, session=aws,
                                 wait=False)
