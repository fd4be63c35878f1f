"""What the SageMaker launcher refuses, and the SDK's refusals turned into messages a person can act on."""

from contextlib import contextmanager

from training.errors import TrainingInputError

# The statement a SageMaker execution role's trust policy needs (IAM > Roles > Trust relationships).
SAGEMAKER_TRUST_STATEMENT = ('{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, '
                            '"Action": "sts:AssumeRole"}')


class LauncherError(TrainingInputError, ValueError):
    """A launcher argument is wrong; the message says how to fix it."""


def role_problem(sdk_message: str, bucket: str) -> str:
    """One line: what the SDK found wrong with the role, and what to pass instead.

    The SDK's message goes on to suggest Python calls (`IamRoleResolver().create_execution_role`) and lists every
    action of its own generic policy; only its diagnosis is kept (the role, the trust failure, the denied actions)."""
    diagnosis = sdk_message.split("\n\n")[0].splitlines()
    found = " ".join(line.strip() for line in diagnosis if not line.startswith("Required permissions:"))
    return (f"{found} Pass --role with the ARN of a SageMaker execution role: its trust policy must let "
            f"sagemaker.amazonaws.com assume it ({SAGEMAKER_TRUST_STATEMENT}), and it needs read and write access to "
            f"s3://{bucket}, ECR image pulls and CloudWatch Logs (AmazonSageMakerFullAccess plus an S3 policy for the "
            "bucket will do; see docs/sagemaker.md, Prerequisites).")


@contextmanager
def role_errors(bucket: str):
    """Turn the SDK's RoleValidationError (the role cannot be used: no role, trust policy, denied actions), raised
    when ModelTrainer or ModelBuilder validate the role, into a LauncherError instead of a traceback."""
    from sagemaker.core.helper.iam_role_resolver import RoleValidationError  # noqa: PLC0415 - optional extra

    try:
        yield
    except RoleValidationError as error:
        raise LauncherError(role_problem(str(error), bucket)) from None
