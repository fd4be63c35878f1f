"""Deploying to AWS with one command, and taking it down again.

`inspection-app deploy --stage dev` does what `chalice deploy` alone cannot:

1. creates or updates the resource stack `statemachine/resources.yaml` (bucket, queues, table, topic, state
   machine, log groups) with the state machine definition inlined from `statemachine/inspection.asl.json`;
2. writes the stack's outputs into the stage's environment variables in `.chalice/config.json`, and one
   least-privilege IAM policy per function into `.chalice/policy-<stage>-<function>.json`;
3. runs `chalice deploy --stage <stage>` with INSPECTION_UPLOAD_QUEUE naming the stack's queue;
4. switches on ReportBatchItemFailures on the starter's SQS event source mapping (Chalice never does);
5. creates the usage plan and an API key for the REST API (every route has `api_key_required=True`), and
   gives API Gateway's own error answers (unknown route, bad key, throttling) the app's error shape.

MODEL_INPUT_SIZE comes from the model alone: its model directory's model.json (`--model-dir`) or the tag
`inspection-app sagemaker deploy` puts on the endpoint (INPUT_SIZE_TAG); the stack keeps it as a parameter.

Nothing refers back in a circle: every name derives from the app name and the stage, so the stack names
the functions Chalice is about to create (`<app>-<stage>-<handler>`), and Chalice gets the stack's outputs.

The second, one-stack path is `chalice package --merge-template statemachine/chalice-merge.json out/`; that
template is generated here too (`python -m inspection_app.cli.deploy_commands merge-template`) from the same policies.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from botocore.exceptions import ClientError, WaiterError

from chalicelib.settings import MAX_INPUT_SIZE, MIN_INPUT_SIZE
from training.sagemaker.defaults import INPUT_SIZE_TAG

from .chalice_stage import PROJECT_DIR, function_name
from .resource_template import load_template, resource_template
from .resource_settings import VERDICT_INDEX

FUNCTIONS = ("start_inspections", "classify_image", "record_verdict", "api_handler")
# Logical ids in the template `chalice package` generates (checked by tests/deploy).
FUNCTION_LOGICAL_IDS = {
    "start_inspections": "StartInspections",
    "classify_image": "ClassifyImage",
    "record_verdict": "RecordVerdict",
    "api_handler": "APIHandler",
}
ROLE_LOGICAL_IDS = {
    "start_inspections": "StartInspectionsRole",
    "classify_image": "ClassifyImageRole",
    "record_verdict": "RecordVerdictRole",
    "api_handler": "ApiHandlerRole",
}
SQS_EVENT_LOGICAL_ID = "StartInspectionsSqsEventSource"
REST_API_LOGICAL_ID = "RestAPI"

# Environment variable -> resource stack output.
ENVIRONMENT_FROM_OUTPUTS = {
    "UPLOAD_BUCKET": "UploadBucketName",
    "RESULTS_TABLE": "ResultsTableName",
    "ALERT_TOPIC_ARN": "AlertTopicArn",
    "STATE_MACHINE_ARN": "StateMachineArn",
    "SAGEMAKER_ENDPOINT_NAME": "EndpointName",
    "MODEL_INPUT_SIZE": "ModelInputSize",
    "CONFIDENCE_THRESHOLD": "ConfidenceThreshold",
    "DEAD_LETTER_QUEUE_URL": "DeadLetterQueueUrl",
}
# The queue Chalice subscribes the starter to; read by app.py when `chalice deploy` loads it.
UPLOAD_QUEUE_VARIABLE = "INSPECTION_UPLOAD_QUEUE"

# Per API key: steady rate and burst (requests per second), and a monthly quota that caps a runaway client.
API_THROTTLE = {"rateLimit": 50.0, "burstLimit": 100}
API_QUOTA = {"limit": 1_000_000, "period": "MONTH"}
API_KEY_HEADER = "x-api-key"

# API Gateway answers some requests without the app; these gateway responses give those answers the app's
# error shape (chalicelib/api_errors.py). Response type -> (status, or None for API Gateway's own; error code;
# message, or None for API Gateway's). A path or method no route has is 404 NotFound, as in the embedded stack.
GATEWAY_RESPONSES = {
    "MISSING_AUTHENTICATION_TOKEN": ("404", "NotFound", "No route matches this method and path."),
    "INVALID_API_KEY": (None, "InvalidApiKey", "Send a valid API key in the x-api-key header."),
    "THROTTLED": (None, "TooManyRequests", None),
    "QUOTA_EXCEEDED": (None, "QuotaExceeded", None),
    "REQUEST_TOO_LARGE": (None, "RequestTooLarge", None),
    "DEFAULT_4XX": (None, "$context.error.responseType", None),
    "DEFAULT_5XX": (None, "InternalServerError", "An internal error occurred. Try again later."),
}

STACK_CAPABILITIES = ["CAPABILITY_IAM"]
MERGE_TEMPLATE_COMMAND = "python -m inspection_app.cli.deploy_commands merge-template"


class DeployError(RuntimeError):
    """Something the user has to fix; the message says what."""


# --- Names and least-privilege policies -----------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """Every identifier the functions' policies need; all derive from app, stage, account and region.

    The same rules are in statemachine/resources.yaml; tests/deploy compares them with a created stack.
    """

    app_name: str
    stage: str
    partition: str
    region: str
    account: str
    endpoint_name: str
    upload_prefix: str = "uploads/"

    def function_name(self, handler: str) -> str:
        # Chalice names the REST API's function <app>-<stage>, every other one <app>-<stage>-<handler>.
        return function_name(self.app_name, self.stage, handler)

    @property
    def bucket(self) -> str:
        return f"{self.app_name}-{self.stage}-{self.account}-{self.region}"

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    @property
    def uploads_arn(self) -> str:
        return f"{self.bucket_arn}/{self.upload_prefix}*"

    @property
    def queue_name(self) -> str:
        return f"{self.app_name}-{self.stage}-uploads"

    @property
    def queue_arn(self) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{self.queue_name}"

    @property
    def dead_letter_queue_arn(self) -> str:
        return f"{self.queue_arn}-dlq"

    @property
    def table_arn(self) -> str:
        return f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table/{self.app_name}-{self.stage}-results"

    @property
    def topic_arn(self) -> str:
        return f"arn:{self.partition}:sns:{self.region}:{self.account}:{self.app_name}-{self.stage}-alerts"

    @property
    def state_machine_arn(self) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account}:stateMachine:{self.app_name}-{self.stage}"

    @property
    def endpoint_arn(self) -> str:
        return f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:endpoint/{self.endpoint_name}"

    def log_group_arn(self, handler: str) -> str:
        return (
            f"arn:{self.partition}:logs:{self.region}:{self.account}:"
            f"log-group:/aws/lambda/{self.function_name(handler)}:*"
        )

    def usage_plan_name(self) -> str:
        return f"{self.app_name}-{self.stage}"

    def api_key_name(self) -> str:
        return f"{self.app_name}-{self.stage}-default"


# The same names as CloudFormation substitutions, for the one-stack path (parameters of the merged template).
CLOUDFORMATION_NAMES = Names(
    app_name="${AppName}",
    stage="${Stage}",
    partition="${AWS::Partition}",
    region="${AWS::Region}",
    account="${AWS::AccountId}",
    endpoint_name="${EndpointName}",
    upload_prefix="${UploadPrefix}",
)


def _statement(sid: str, actions: list[str], resources: list[str], **extra) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def function_policies(names: Names) -> dict[str, dict]:
    """One IAM policy per Chalice function: only the actions its code calls, only on this stage's resources."""

    def logs(handler: str) -> dict:
        # The stack creates the log group, so CreateLogGroup is not needed.
        return _statement("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [names.log_group_arn(handler)])

    # The functions' tracer sends its segments itself; X-Ray has no resource-level permissions, hence "*".
    send_traces = _statement("SendTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])
    statements = {
        "start_inspections": [
            _statement("StartInspections", ["states:StartExecution"], [names.state_machine_arn]),
            # A message that can never be parsed goes to the dead-letter queue at once.
            _statement("DeadLetterUnparseable", ["sqs:SendMessage"], [names.dead_letter_queue_arn]),
            # What the SQS event source mapping does with the function's role.
            _statement(
                "ConsumeUploadQueue",
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
                [names.queue_arn],
            ),
        ],
        "classify_image": [
            # The exact version the upload event names (the bucket is versioned).
            _statement("ReadUploads", ["s3:GetObject", "s3:GetObjectVersion"], [names.uploads_arn]),
            # Without ListBucket a deleted upload reads as 403 AccessDenied instead of 404 NoSuchKey, and
            # the image would be recorded as an error instead of rejected.
            _statement("TellMissingUploadsApart", ["s3:ListBucket"], [names.bucket_arn]),
            _statement("InvokeModelEndpoint", ["sagemaker:InvokeEndpoint"], [names.endpoint_arn]),
        ],
        "record_verdict": [
            _statement("StoreVerdicts", ["dynamodb:PutItem", "dynamodb:GetItem"], [names.table_arn]),
        ],
        "api_handler": [
            # A pre-signed POST is signed with this role: it may only put objects under the upload prefix.
            _statement("SignUploads", ["s3:PutObject"], [names.uploads_arn]),
            _statement("ReadResults", ["dynamodb:Query"], [names.table_arn, f"{names.table_arn}/index/{VERDICT_INDEX}"]),
            # POST /reinspections: start the inspection again and mark the result it re-runs.
            _statement("MarkReinspected", ["dynamodb:UpdateItem"], [names.table_arn]),
            _statement("StartReinspections", ["states:StartExecution"], [names.state_machine_arn]),
        ],
    }
    return {
        handler: {"Version": "2012-10-17", "Statement": statements[handler] + [logs(handler), send_traces]}
        for handler in FUNCTIONS
    }


def as_cloudformation(value):
    """`value` with every string that holds a `${...}` substitution wrapped in Fn::Sub."""
    if isinstance(value, dict):
        return {key: as_cloudformation(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_cloudformation(item) for item in value]
    if isinstance(value, str) and "${" in value:
        return {"Fn::Sub": value}
    return value


def policy_file_name(stage: str, handler: str) -> str:
    return f"policy-{stage}-{handler}.json"


def write_policy_files(chalice_dir: Path, stage: str, names: Names) -> dict[str, str]:
    """Write `.chalice/policy-<stage>-<function>.json`; returns handler -> file name (relative to .chalice)."""
    files = {}
    for handler, document in function_policies(names).items():
        name = policy_file_name(stage, handler)
        (Path(chalice_dir) / name).write_text(json.dumps(document, indent=2) + "\n")
        files[handler] = name
    return files


# --- The Chalice stage's configuration ------------------------------------------------------------------


def read_config(project_dir: Path) -> dict:
    return json.loads((Path(project_dir) / ".chalice" / "config.json").read_text())


def write_config(project_dir: Path, config: dict) -> None:
    (Path(project_dir) / ".chalice" / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def stage_environment(config: dict, stage: str) -> dict:
    """Top-level environment variables overlaid with the stage's (as Chalice merges them)."""
    return {**config.get("environment_variables", {}), **config.get("stages", {}).get(stage, {}).get("environment_variables", {})}


def gateway_response_template(code: str, message: str | None) -> str:
    """The JSON body of a gateway response (a mapping template: $context variables are filled in)."""
    text = json.dumps(message) if message is not None else "$context.error.messageString"  # already quoted
    return '{"error": "%s", "message": %s}' % (code, text)


def gateway_responses_sam() -> dict:
    """GATEWAY_RESPONSES as the GatewayResponses property of SAM's AWS::Serverless::Api."""
    responses = {}
    for response_type, (status, code, message) in GATEWAY_RESPONSES.items():
        response = {
            "ResponseParameters": {"Headers": {"Access-Control-Allow-Origin": "'*'"}},
            "ResponseTemplates": {"application/json": gateway_response_template(code, message)},
        }
        if status:
            response["StatusCode"] = status
        responses[response_type] = response
    return responses


def ensure_gateway_responses(apigateway, rest_api_id: str, api_stage: str) -> None:
    """Put GATEWAY_RESPONSES on the REST API and redeploy its stage (they apply from the next deployment).

    Run after every `chalice deploy`: it rewrites the API from its swagger, which has none of them."""
    for response_type, (status, code, message) in GATEWAY_RESPONSES.items():
        apigateway.put_gateway_response(
            restApiId=rest_api_id, responseType=response_type, **({"statusCode": status} if status else {}),
            responseParameters={"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
            responseTemplates={"application/json": gateway_response_template(code, message)},
        )
    apigateway.create_deployment(restApiId=rest_api_id, stageName=api_stage,
                                 description="inspection-app deploy: gateway responses in the app's error shape")


def configure_stage(config: dict, stage: str, outputs: dict, policy_files: dict[str, str]) -> dict:
    """`config` with the stage's environment set from the stack outputs and a policy file per function."""
    config = copy.deepcopy(config)
    stage_config = config.setdefault("stages", {}).setdefault(stage, {"api_gateway_stage": "api"})
    environment = stage_config.setdefault("environment_variables", {})
    for variable, output in ENVIRONMENT_FROM_OUTPUTS.items():
        environment[variable] = str(outputs[output])
    stage_config["autogen_policy"] = False
    functions = stage_config.setdefault("lambda_functions", {})
    for handler, file_name in policy_files.items():
        functions.setdefault(handler, {})["iam_policy_file"] = file_name
    return config


# --- The resource stack ---------------------------------------------------------------------------------


def resource_stack_name(app_name: str, stage: str) -> str:
    return f"{app_name}-{stage}-resources"


def _stack(cfn, name: str) -> dict | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def stack_outputs(stack: dict) -> dict:
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}


def deployed_outputs(stage: str, *, profile: str | None = None, region: str | None = None, session=None):
    """(boto3 session, the outputs of the stage's resource stack), or DeployError if it is not deployed."""
    session = _session(session, profile, region)
    name = resource_stack_name(read_config(PROJECT_DIR)["app_name"], stage)
    stack = _stack(session.client("cloudformation"), name)
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
    existing = _stack(cfn, name)
    if existing and existing["StackStatus"].endswith("_IN_PROGRESS"):
        raise DeployError(f"Stack {name} is {existing['StackStatus']}; wait until it has finished and try again.")
    if existing and existing["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
        raise DeployError(
            f"Stack {name} is {existing['StackStatus']} and cannot be updated. Delete it "
            f"(`aws cloudformation delete-stack --stack-name {name}`) and deploy again."
        )
    if existing:
        # Not given: the value the stack has now (none of our parameters is NoEcho).
        previous = {item["ParameterKey"]: item["ParameterValue"] for item in existing.get("Parameters", [])}
        stack_parameters = [
            {"ParameterKey": key, "ParameterValue": str(value) if value is not None else previous[key]}
            for key, value in parameters.items()
            if value is not None or key in previous
        ]
        try:
            cfn.update_stack(StackName=name, TemplateBody=template_body, Parameters=stack_parameters,
                             Capabilities=STACK_CAPABILITIES)
        except ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise DeployError(f"Updating stack {name}: {error}") from None
        else:
            _wait(cfn, "stack_update_complete", name, wait_delay)
    else:
        stack_parameters = [
            {"ParameterKey": key, "ParameterValue": str(value)} for key, value in parameters.items() if value is not None
        ]
        try:
            cfn.create_stack(StackName=name, TemplateBody=template_body, Parameters=stack_parameters,
                             Capabilities=STACK_CAPABILITIES, OnFailure="DELETE",
                             Tags=[{"Key": "quality-inspection:stack", "Value": name}])
        except ClientError as error:
            raise DeployError(f"Creating stack {name}: {error}") from None
        _wait(cfn, "stack_create_complete", name, wait_delay)
    return stack_outputs(_stack(cfn, name))


# --- What Chalice leaves out ----------------------------------------------------------------------------


def deployed_resources(project_dir: Path, stage: str) -> list[dict]:
    """The resources `chalice deploy` recorded in `.chalice/deployed/<stage>.json` ([] if none)."""
    path = Path(project_dir) / ".chalice" / "deployed" / f"{stage}.json"
    if not path.exists():
        return []
    return json.loads(path.read_text()).get("resources", [])


def enable_partial_batch_failures(lambda_client, function_name: str, queue_arn: str, *,
                                  sleep: Callable[[float], None] = time.sleep, attempts: int = 12) -> str:
    """Switch on ReportBatchItemFailures on the function's mapping from the queue; returns the mapping's UUID."""
    mappings = [
        mapping
        for mapping in lambda_client.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]
        if mapping["FunctionArn"].split(":")[6] == function_name
    ]
    if not mappings:
        raise DeployError(f"{function_name} has no event source mapping from {queue_arn}; did `chalice deploy` run?")
    uuid = mappings[0]["UUID"]
    if "ReportBatchItemFailures" in (mappings[0].get("FunctionResponseTypes") or []):
        return uuid
    for attempt in range(attempts):
        try:
            lambda_client.update_event_source_mapping(UUID=uuid, FunctionResponseTypes=["ReportBatchItemFailures"])
            return uuid
        except ClientError as error:
            # A mapping that is still being created or updated refuses changes for a few seconds.
            if error.response["Error"]["Code"] != "ResourceInUseException" or attempt == attempts - 1:
                raise
            sleep(5)
    return uuid


def _all_pages(call, **kwargs) -> list[dict]:
    items, position = [], None
    while True:
        page = call(**kwargs, **({"position": position} if position else {}))
        items.extend(page.get("items", []))
        position = page.get("position")
        if not position:
            return items


def ensure_api_key(apigateway, rest_api_id: str, api_stage: str, names: Names) -> dict:
    """A usage plan on the REST API's stage and a default API key in it; returns their ids."""
    plans = [plan for plan in _all_pages(apigateway.get_usage_plans, limit=500) if plan["name"] == names.usage_plan_name()]
    if plans:
        plan = plans[0]
        stages = plan.get("apiStages", [])
        operations = [
            {"op": "remove", "path": "/apiStages", "value": f"{item['apiId']}:{item['stage']}"}
            for item in stages if item["apiId"] != rest_api_id  # a REST API that `chalice delete` removed
        ]
        if not any(item["apiId"] == rest_api_id and item["stage"] == api_stage for item in stages):
            operations.append({"op": "add", "path": "/apiStages", "value": f"{rest_api_id}:{api_stage}"})
        if operations:
            apigateway.update_usage_plan(usagePlanId=plan["id"], patchOperations=operations)
    else:
        plan = apigateway.create_usage_plan(
            name=names.usage_plan_name(),
            description=f"Clients of the {names.app_name} {names.stage} inspection API (one API key per client).",
            apiStages=[{"apiId": rest_api_id, "stage": api_stage}],
            throttle=API_THROTTLE,
            quota=API_QUOTA,
        )
    keys = [key for key in _all_pages(apigateway.get_api_keys, nameQuery=names.api_key_name(), limit=500)
            if key["name"] == names.api_key_name()]
    key = keys[0] if keys else apigateway.create_api_key(
        name=names.api_key_name(), description="Default key made by inspection-app deploy", enabled=True
    )
    in_plan = {item["id"] for item in _all_pages(apigateway.get_usage_plan_keys, usagePlanId=plan["id"], limit=500)}
    if key["id"] not in in_plan:
        apigateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    return {"usage_plan_id": plan["id"], "api_key_id": key["id"]}


def remove_api_key(apigateway, names: Names) -> None:
    """Delete the stage's usage plan and default key (before the REST API goes: a plan pins its stage)."""
    for plan in _all_pages(apigateway.get_usage_plans, limit=500):
        if plan["name"] != names.usage_plan_name():
            continue
        operations = [{"op": "remove", "path": "/apiStages", "value": f"{item['apiId']}:{item['stage']}"}
                      for item in plan.get("apiStages", [])]
        if operations:
            apigateway.update_usage_plan(usagePlanId=plan["id"], patchOperations=operations)
        apigateway.delete_usage_plan(usagePlanId=plan["id"])
    for key in _all_pages(apigateway.get_api_keys, nameQuery=names.api_key_name(), limit=500):
        if key["name"] == names.api_key_name():
            apigateway.delete_api_key(apiKey=key["id"])


def empty_bucket(s3, bucket: str) -> int:
    """Delete every object (and every version, should versioning be switched on); returns how many."""
    deleted = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        objects = [{"Key": item["Key"], "VersionId": item["VersionId"]}
                   for item in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(objects), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects[start:start + 1000], "Quiet": True})
        deleted += len(objects)
    return deleted


def count_objects(s3, bucket: str) -> int:
    try:
        return sum(page.get("KeyCount", 0) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    except ClientError:
        return 0


# --- deploy / destroy -----------------------------------------------------------------------------------


def chalice_command() -> str:
    """The `chalice` of this environment (next to the running Python), else the first on PATH."""
    beside = Path(sys.executable).with_name("chalice")
    found = str(beside) if beside.exists() else shutil.which("chalice")
    if not found:
        raise DeployError("The `chalice` command was not found; install the project with `pip install -e .`.")
    return found


def _session(session, profile: str | None, region: str | None):
    if session is None:
        import boto3  # noqa: PLC0415

        # botocore reads AWS_DEFAULT_REGION; the AWS CLI v2 and other SDKs also AWS_REGION.
        session = boto3.session.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION"))
    if not session.region_name:
        raise DeployError("No AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile.")
    return session


def _names(session, config: dict, stage: str, endpoint_name: str) -> Names:
    region = session.region_name
    return Names(
        app_name=config["app_name"],
        stage=stage,
        partition=session.get_partition_for_region(region),
        region=region,
        account=session.client("sts").get_caller_identity()["Account"],
        endpoint_name=endpoint_name,
        upload_prefix=stage_environment(config, stage).get("UPLOAD_PREFIX", "uploads/"),
    )


def _validate(stage: str, endpoint_name: str | None) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9]{0,11}", stage):
        raise DeployError(f"Stage {stage!r}: use 1 to 12 lowercase letters and digits, starting with a letter.")
    if endpoint_name is not None and not re.fullmatch(r"[a-z0-9](-*[a-z0-9]){0,62}", endpoint_name):
        raise DeployError(
            f"Endpoint name {endpoint_name!r}: use lowercase letters, digits and hyphens (SageMaker ARNs are "
            "lowercase and IAM compares them case-sensitively)."
        )


def _check_endpoint(session, endpoint_name: str, out: Callable[[str], None]) -> dict | None:
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


def _run(command: list[str], *, cwd: Path, env: dict, run) -> None:
    result = (run or subprocess.run)(command, cwd=str(cwd), env=env, check=False)
    if result.returncode != 0:
        raise DeployError(f"`{' '.join(command[-4:])}` failed with exit status {result.returncode}.")


def deploy(
    stage: str = "dev",
    *,
    endpoint_name: str | None = None,
    confidence_threshold: float | None = None,
    alert_email: str | None = None,
    model_dir: Path | None = None,
    profile: str | None = None,
    region: str | None = None,
    project_dir: Path = PROJECT_DIR,
    session=None,
    run=None,
    sleep: Callable[[float], None] = time.sleep,
    out: Callable[[str], None] = print,
    wait_delay: int = 10,
) -> dict:
    """Deploy the stage: resource stack, configuration, `chalice deploy`, partial batch failures, API key.

    `model_dir`: the model directory the endpoint serves, for its input size where the endpoint has no
    INPUT_SIZE_TAG (see `resolve_model_input_size`)."""
    project_dir = Path(project_dir)
    session = _session(session, profile, region)
    config = read_config(project_dir)
    app_name = config["app_name"]
    environment = stage_environment(config, stage)
    _validate(stage, endpoint_name)
    cfn = session.client("cloudformation")
    name = resource_stack_name(app_name, stage)
    existing = _stack(cfn, name)
    if endpoint_name is None and existing is None:
        raise DeployError("The first deployment of a stage needs --endpoint-name (the SageMaker endpoint to call).")

    # Before anything changes: the endpoint to call (given, or the one the stack has) and its model's input size.
    serving = endpoint_name or {p["ParameterKey"]: p["ParameterValue"] for p in existing["Parameters"]}["EndpointName"]
    endpoint = _check_endpoint(session, serving, out)
    input_size, input_size_source = resolve_model_input_size(
        serving, endpoint, endpoint_input_size(session.client("sagemaker"), endpoint), model_dir)
    out(f"Model input size {input_size} px (from {input_size_source}).")
    out(f"1/5 Resource stack {name} in {session.region_name} ...")
    parameters = {
        "AppName": app_name,
        "Stage": stage,
        "EndpointName": endpoint_name,
        "ModelInputSize": input_size,
        "ConfidenceThreshold": confidence_threshold,
        "AlertEmail": alert_email,
        "UploadPrefix": environment.get("UPLOAD_PREFIX", "uploads/"),
    }
    template_body = json.dumps(resource_template(project_dir))
    outputs = ensure_stack(cfn, name, template_body, parameters, wait_delay=wait_delay)

    out(f"2/5 Writing the stack's outputs and least-privilege policies into .chalice/ for stage {stage} ...")
    names = _names(session, config, stage, outputs["EndpointName"])
    policy_files = write_policy_files(project_dir / ".chalice", stage, names)
    write_config(project_dir, configure_stage(config, stage, outputs, policy_files))

    out(f"3/5 chalice deploy --stage {stage} ...")
    env = {**os.environ, UPLOAD_QUEUE_VARIABLE: outputs["UploadQueueName"], "AWS_DEFAULT_REGION": session.region_name}
    if profile:
        env["AWS_PROFILE"] = profile
    _run([chalice_command(), "deploy", "--stage", stage], cwd=project_dir, env=env, run=run)

    out("4/5 Reporting partial batch failures on the SQS trigger (ReportBatchItemFailures) ...")
    mapping = enable_partial_batch_failures(
        session.client("lambda"), names.function_name("start_inspections"), outputs["UploadQueueArn"], sleep=sleep
    )

    out("5/5 Usage plan, API key and error responses of the REST API ...")
    rest_api = next((item for item in deployed_resources(project_dir, stage) if item.get("resource_type") == "rest_api"), None)
    if rest_api is None:
        raise DeployError(f".chalice/deployed/{stage}.json names no REST API; did `chalice deploy` succeed?")
    api_stage = config["stages"].get(stage, {}).get("api_gateway_stage", config.get("api_gateway_stage", "api"))
    api_key = ensure_api_key(session.client("apigateway"), rest_api["rest_api_id"], api_stage, names)
    ensure_gateway_responses(session.client("apigateway"), rest_api["rest_api_id"], api_stage)

    summary = {
        "stack": name,
        "api_url": rest_api.get("rest_api_url"),
        "api_key_id": api_key["api_key_id"],
        "usage_plan_id": api_key["usage_plan_id"],
        "event_source_mapping": mapping,
        "outputs": outputs,
    }
    out(
        f"\nDeployed stage {stage}.\n"
        f"  REST API        {summary['api_url']}\n"
        f"  API key         {names.api_key_name()} (id {api_key['api_key_id']}); its value:\n"
        f"                  aws apigateway get-api-key --api-key {api_key['api_key_id']} --include-value "
        f"--query value --output text\n"
        f"                  Send it as the `{API_KEY_HEADER}` header.\n"
        f"  upload bucket   s3://{outputs['UploadBucketName']}/{names.upload_prefix}\n"
        f"  model input     {outputs['ModelInputSize']} px, from {input_size_source}\n"
        f"  results table   {outputs['ResultsTableName']}\n"
        f"  state machine   {outputs['StateMachineArn']}\n"
        f"  dead letters    {outputs['DeadLetterQueueUrl']}\n"
        + ("  alert e-mail    confirm the subscription in the mail AWS just sent\n" if alert_email else "")
    )
    return summary


def destroy(
    stage: str = "dev",
    *,
    assume_yes: bool = False,
    profile: str | None = None,
    region: str | None = None,
    project_dir: Path = PROJECT_DIR,
    session=None,
    run=None,
    ask: Callable[[str], str] = input,
    out: Callable[[str], None] = print,
    wait_delay: int = 10,
) -> bool:
    """Remove the stage: API key and usage plan, `chalice delete`, the uploaded images, the resource stack."""
    project_dir = Path(project_dir)
    session = _session(session, profile, region)
    config = read_config(project_dir)
    app_name = config["app_name"]
    cfn = session.client("cloudformation")
    name = resource_stack_name(app_name, stage)
    stack = _stack(cfn, name)
    outputs = stack_outputs(stack) if stack else {}
    bucket = outputs.get("UploadBucketName")
    s3 = session.client("s3")
    images = count_objects(s3, bucket) if bucket else 0
    deployed = deployed_resources(project_dir, stage)

    out(f"This deletes stage {stage} in {session.region_name}:")
    if deployed:
        out(f"  the Chalice app (functions, SQS trigger, REST API) recorded in .chalice/deployed/{stage}.json")
    out(f"  the usage plan {app_name}-{stage} and the API key {app_name}-{stage}-default")
    if stack:
        out(f"  stack {name}: results table {outputs.get('ResultsTableName')} with all verdicts, queues, topic, "
            "state machine, logs")
        out(f"  every object in s3://{bucket} ({images} now) - the bucket must be empty before it can be deleted")
    if not assume_yes and ask(f"Type the stage name ({stage}) to delete all of it: ").strip() != stage:
        out("Nothing deleted.")
        return False

    remove_api_key(session.client("apigateway"), _placeholder_names(app_name, stage))
    if deployed:
        out(f"chalice delete --stage {stage} ...")
        env = {**os.environ, "AWS_DEFAULT_REGION": session.region_name}
        if profile:
            env["AWS_PROFILE"] = profile
        _run([chalice_command(), "delete", "--stage", stage], cwd=project_dir, env=env, run=run)
    if stack:
        if bucket:
            out(f"Emptying s3://{bucket} ...")
            try:
                empty_bucket(s3, bucket)
            except ClientError as error:
                if error.response["Error"]["Code"] != "NoSuchBucket":
                    raise
        out(f"Deleting stack {name} ...")
        cfn.delete_stack(StackName=name)
        _wait(cfn, "stack_delete_complete", name, wait_delay)
        # The stage's settings pointed at what is now gone.
        config = read_config(project_dir)
        environment = config.get("stages", {}).get(stage, {}).get("environment_variables", {})
        for variable in ENVIRONMENT_FROM_OUTPUTS:
            if variable in environment:
                environment[variable] = ""
        write_config(project_dir, config)
    out(f"Stage {stage} deleted.")
    return True


def _placeholder_names(app_name: str, stage: str) -> Names:
    """Names for lookups that need only the app and the stage (usage plan, API key)."""
    return Names(app_name=app_name, stage=stage, partition="", region="", account="", endpoint_name="")


# --- The one-stack path: the template `chalice package --merge-template` merges -------------------------


def merge_template(project_dir: Path = PROJECT_DIR) -> dict:
    """What `chalice package --merge-template` adds to Chalice's SAM template to make one stack of it.

    The resource stack becomes a nested stack (`aws cloudformation package` uploads it and, from it, the
    state machine definition); the functions get their predictable names, the stack's outputs as their
    environment, their least-privilege policies, and the starter reports partial batch failures. The REST
    API gets a usage plan and a default API key.
    """
    resources = load_template(Path(project_dir) / "statemachine" / "resources.yaml")
    parameters = resources["Parameters"]
    nested = "InspectionResources"

    def output(key: str) -> dict:
        return {"Fn::GetAtt": [nested, f"Outputs.{key}"]}

    environment = {variable: output(key) for variable, key in ENVIRONMENT_FROM_OUTPUTS.items()}
    environment["UPLOAD_PREFIX"] = {"Ref": "UploadPrefix"}
    names = CLOUDFORMATION_NAMES
    merged_resources: dict = {
        nested: {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {
                # Relative to the packaged template: `chalice package ... out/` in the project directory.
                "TemplateURL": "../statemachine/resources.yaml",
                "Parameters": {key: {"Ref": key} for key in parameters},
            },
        },
    }
    for handler, logical_id in FUNCTION_LOGICAL_IDS.items():
        merged_resources[logical_id] = {
            "Properties": {
                "FunctionName": {"Fn::Sub": names.function_name(handler)},
                "Environment": {"Variables": environment},
            }
        }
    merged_resources["StartInspections"]["Properties"]["Events"] = {
        SQS_EVENT_LOGICAL_ID: {
            "Properties": {
                # Fn::Sub, like the value Chalice generates: the merge would blend two different intrinsics.
                "Queue": {"Fn::Sub": "${%s.Outputs.UploadQueueArn}" % nested},
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            }
        }
    }
    for handler, document in function_policies(names).items():
        role = ROLE_LOGICAL_IDS[handler]
        merged_resources[role] = {
            "Properties": {"Policies": [{"PolicyName": f"{role}Policy", "PolicyDocument": as_cloudformation(document)}]}
        }
    merged_resources[REST_API_LOGICAL_ID] = {"Properties": {"GatewayResponses": gateway_responses_sam()}}
    merged_resources["ApiUsagePlan"] = {
        "Type": "AWS::ApiGateway::UsagePlan",
        "Properties": {
            "UsagePlanName": {"Fn::Sub": names.usage_plan_name()},
            "Description": "Clients of the inspection API (one API key per client).",
            "ApiStages": [{"ApiId": {"Ref": REST_API_LOGICAL_ID}, "Stage": {"Ref": f"{REST_API_LOGICAL_ID}.Stage"}}],
            "Throttle": {"RateLimit": API_THROTTLE["rateLimit"], "BurstLimit": API_THROTTLE["burstLimit"]},
            "Quota": {"Limit": API_QUOTA["limit"], "Period": API_QUOTA["period"]},
        },
    }
    merged_resources["ApiKey"] = {
        "Type": "AWS::ApiGateway::ApiKey",
        "Properties": {"Name": {"Fn::Sub": names.api_key_name()}, "Enabled": True,
                       "Description": "Default key of the inspection API"},
    }
    merged_resources["ApiUsagePlanKey"] = {
        "Type": "AWS::ApiGateway::UsagePlanKey",
        "Properties": {"KeyId": {"Ref": "ApiKey"}, "KeyType": "API_KEY", "UsagePlanId": {"Ref": "ApiUsagePlan"}},
    }
    outputs = {
        key: {"Value": output(key)}
        for key in ("UploadBucketName", "UploadQueueUrl", "DeadLetterQueueUrl", "ResultsTableName",
                    "AlertTopicArn", "StateMachineArn")
    }
    outputs["ApiKeyId"] = {"Description": "aws apigateway get-api-key --api-key ID --include-value",
                           "Value": {"Ref": "ApiKey"}}
    return {
        "Metadata": {"GeneratedBy": f"{MERGE_TEMPLATE_COMMAND} (inspection_app/deploy.py); do not edit"},
        "Parameters": parameters,
        "Resources": merged_resources,
        "Outputs": outputs,
    }


def merge_template_text(project_dir: Path = PROJECT_DIR) -> str:
    return json.dumps(merge_template(project_dir), indent=2) + "\n"
