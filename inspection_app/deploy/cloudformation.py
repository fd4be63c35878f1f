"""The stage's resource stack: create or update it, wait for it, read its outputs, delete it."""
from __future__ import annotations

from botocore.exceptions import ClientError, WaiterError

from ..aws_session import aws_session
from ..chalice_stage import PROJECT_DIR
from .chalice_config import read_config
from .errors import DeployError
from .names import resource_stack_name

STACK_CAPABILITIES = ["CAPABILITY_IAM"]


def find_stack(cfn, name: str) -> dict | None:
    """The stack's description, or None if there is no such stack."""
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def stack_outputs(stack: dict) -> dict:
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}


def stack_parameters(stack: dict) -> dict:
    return {item["ParameterKey"]: item["ParameterValue"] for item in stack.get("Parameters", [])}


def deployed_outputs(stage: str, *, profile: str | None = None, region: str | None = None, session=None):
    """(boto3 session, the outputs of the stage's resource stack), or DeployError if it is not deployed."""
    session = session or aws_session(profile, region)
    name = resource_stack_name(read_config(PROJECT_DIR)["app_name"], stage)
    stack = find_stack(session.client("cloudformation"), name)
    if stack is None:
        raise DeployError(f"Stage {stage!r} is not deployed in {session.region_name} (no stack {name}); "
                          f"deploy it with `inspection-app deploy --stage {stage}`.")
    return session, stack_outputs(stack)


def _failure_reasons(cfn, name: str) -> str:
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return ""
    reasons = [
        f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
        for event in events
        if event["ResourceStatus"].endswith("FAILED")
    ]
    return "; ".join(reversed(reasons[:5]))


def _wait(cfn, waiter_name: str, name: str, delay: int) -> None:
    try:
        cfn.get_waiter(waiter_name).wait(StackName=name, WaiterConfig={"Delay": delay, "MaxAttempts": 3600 // delay})
    except WaiterError as error:
        raise DeployError(f"Stack {name} did not finish ({error}). {_failure_reasons(cfn, name)}") from None


def ensure_stack(cfn, name: str, template_body: str, parameters: dict, *, wait_delay: int = 10) -> dict:
    """Create or update the stack; returns its outputs. A parameter given as None keeps its current value."""
    existing = find_stack(cfn, name)
    if existing and existing["StackStatus"].endswith("_IN_PROGRESS"):
        raise DeployError(f"Stack {name} is {existing['StackStatus']}; wait until it has finished and try again.")
    if existing and existing["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
        raise DeployError(
            f"Stack {name} is {existing['StackStatus']} and cannot be updated. Delete it "
            f"(`aws cloudformation delete-stack --stack-name {name}`) and deploy again."
        )
    if existing:
        # Not given: the value the stack has now (none of our parameters is NoEcho).
        previous = stack_parameters(existing)
        parameter_list = [
            {"ParameterKey": key, "ParameterValue": str(value) if value is not None else previous[key]}
            for key, value in parameters.items()
            if value is not None or key in previous
        ]
        try:
            cfn.update_stack(StackName=name, TemplateBody=template_body, Parameters=parameter_list,
                             Capabilities=STACK_CAPABILITIES)
        except ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise DeployError(f"Updating stack {name}: {error}") from None
        else:
            _wait(cfn, "stack_update_complete", name, wait_delay)
    else:
        parameter_list = [
            {"ParameterKey": key, "ParameterValue": str(value)} for key, value in parameters.items() if value is not None
        ]
        try:
            cfn.create_stack(StackName=name, TemplateBody=template_body, Parameters=parameter_list,
                             Capabilities=STACK_CAPABILITIES, OnFailure="DELETE",
                             Tags=[{"Key": "quality-inspection:stack", "Value": name}])
        except ClientError as error:
            raise DeployError(f"Creating stack {name}: {error}") from None
        _wait(cfn, "stack_create_complete", name, wait_delay)
    return stack_outputs(find_stack(cfn, name))


def delete_stack(cfn, name: str, *, wait_delay: int = 10) -> None:
    cfn.delete_stack(StackName=name)
    _wait(cfn, "stack_delete_complete", name, wait_delay)
