"""`deploy` and `destroy`: the steps of a stage's deployment and of its removal, in order."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from botocore.exceptions import ClientError

from chalicelib.access import client_scopes
from chalicelib.settings import ConfigurationError, api_auth, cors_origin, unused_as_empty

from ..aws_session import aws_session
from ..chalice_stage import PROJECT_DIR
from ..resource_template import resource_template
from .api_gateway import API_KEY_HEADER, ensure_api_key, ensure_gateway_responses, remove_api_key
from .chalice_config import (
    clear_stage_outputs,
    configure_stage,
    deployed_resources,
    read_config,
    stage_environment,
    write_config,
)
from .cloudformation import delete_stack, ensure_stack, find_stack, stack_outputs, stack_parameters
from .errors import DeployError
from .model_input import check_endpoint, endpoint_input_size, resolve_model_input_size
from .model_version import REKOGNITION_INPUT_SIZE, checked_version_arn, find_model_version
from .names import Names, resource_stack_name, stage_names, validate_stage_and_endpoint
from .policies import write_policy_files
from .results_table import kept_table_notice, kept_table_problem, table_exists
from .sqs_trigger import enable_partial_batch_failures
from .upload_bucket import count_objects, empty_bucket

def chalice_command() -> str:
    """The `chalice` of this environment (next to the running Python), else the first on PATH."""
    beside = Path(sys.executable).with_name("chalice")
    found = str(beside) if beside.exists() else shutil.which("chalice")
    if not found:
        raise DeployError("The `chalice` command was not found; install the project with `pip install -e .`.")
    return found


def _run_chalice(verb: str, stage: str, *, project_dir: Path, env: dict, profile: str | None, run) -> None:
    """`chalice <verb> --stage <stage>` in the project, in the session's region and profile."""
    if profile:
        env = {**env, "AWS_PROFILE": profile}
    command = [chalice_command(), verb, "--stage", stage]
    result = (run or subprocess.run)(command, cwd=str(project_dir), env=env, check=False)
    if result.returncode != 0:
        raise DeployError(f"`{' '.join(command[-4:])}` failed with exit status {result.returncode}.")


def _names_in_account(session, config: dict, stage: str, outputs: dict) -> Names:
    region = session.region_name
    return Names(
        app_name=config["app_name"],
        stage=stage,
        partition=session.get_partition_for_region(region),
        region=region,
        account=session.client("sts").get_caller_identity()["Account"],
        endpoint_name=outputs["EndpointName"],
        upload_prefix=stage_environment(config, stage).get("UPLOAD_PREFIX", "uploads/"),
        project_version_arn=unused_as_empty(outputs["RekognitionProjectVersionArn"]),
        project_arn=unused_as_empty(outputs["RekognitionProjectArn"]),
    )


def _model_line(outputs: dict) -> str:
    if outputs.get("ModelBackend") == "rekognition":
        return f"Rekognition Custom Labels {outputs['RekognitionProjectVersionArn']}"
    return f"SageMaker endpoint {outputs['EndpointName']}"


def deploy(
    stage: str = "dev",
    *,
    endpoint_name: str | None = None,
    model_backend: str | None = None,
    project_version_arn: str | None = None,
    confidence_threshold: float | None = None,
    alert_email: str | None = None,
    access_log_bucket: str | None = None,
    auth: str | None = None,
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

    `model_backend`: "sagemaker" (the endpoint `endpoint_name`) or "rekognition" (the Custom Labels model
    version `project_version_arn`); None keeps the stage's (sagemaker for a new stage).
    `model_dir`: the model directory the endpoint serves, for its input size where the endpoint has no
    INPUT_SIZE_TAG (see `resolve_model_input_size`). `access_log_bucket`: where the upload bucket's access logs
    go ('' switches them off; None keeps the stack's setting). `auth`: the stage's API_AUTH, "api_key" (a usage
    plan and a default key) or "iam" (callers sign with SigV4; no key); None keeps the stage's (api_key)."""
    project_dir = Path(project_dir)
    session = session or aws_session(profile, region)
    config = read_config(project_dir)
    app_name = config["app_name"]
    environment = stage_environment(config, stage)
    validate_stage_and_endpoint(stage, endpoint_name)
    cfn = session.client("cloudformation")
    name = resource_stack_name(app_name, stage)
    existing = find_stack(cfn, name)
    previous = stack_parameters(existing) if existing else {}
    backend = model_backend or previous.get("ModelBackend") or "sagemaker"
    if backend == "sagemaker" and endpoint_name is None and not previous.get("EndpointName"):
        raise DeployError("The first deployment of a stage needs --endpoint-name (the SageMaker endpoint to call), "
                          "or --model-backend rekognition --project-version-arn ARN.")
    if backend == "rekognition":
        project_version_arn = checked_version_arn(project_version_arn or previous.get("RekognitionProjectVersionArn")
                                                  or "")
    if auth is not None:  # chosen here, read by app.py when `chalice deploy` loads it (step 3)
        environment = {**environment, "API_AUTH": auth}
    try:
        origin = cors_origin(environment)
        auth = api_auth(environment)
        client_scopes(environment)  # checked now, not at the first request
    except ConfigurationError as error:
        raise DeployError(f"Stage {stage} in .chalice/config.json: {error}") from None
    table = stage_names(app_name, stage).table_name
    if existing is None and table_exists(session.client("dynamodb"), table):
        raise DeployError(kept_table_problem(table, session.region_name, stage))

    # Before anything changes: the model to call (given, or the one the stack has) and its input size.
    if backend == "rekognition":
        project_arn = find_model_version(session, project_version_arn, out)
        input_size, input_size_source = REKOGNITION_INPUT_SIZE, "the Rekognition backend (photos checked only)"
    else:
        serving = endpoint_name or previous["EndpointName"]
        endpoint = check_endpoint(session, serving, out)
        input_size, input_size_source = resolve_model_input_size(
            serving, endpoint, endpoint_input_size(session.client("sagemaker"), endpoint), model_dir)
    out(f"Model input size {input_size} px (from {input_size_source}).")
    out(f"1/5 Resource stack {name} in {session.region_name} ...")
    parameters = {
        "AppName": app_name,
        "Stage": stage,
        "ModelBackend": backend,
        "EndpointName": endpoint_name,
        "RekognitionProjectVersionArn": project_version_arn if backend == "rekognition" else None,
        "RekognitionProjectArn": project_arn if backend == "rekognition" else None,
        "ModelInputSize": input_size,
        "ConfidenceThreshold": confidence_threshold,
        "AlertEmail": alert_email,
        "AccessLogBucket": access_log_bucket,
        "UploadPrefix": environment.get("UPLOAD_PREFIX", "uploads/"),
    }
    template_body = json.dumps(resource_template(project_dir))
    outputs = ensure_stack(cfn, name, template_body, parameters, wait_delay=wait_delay)

    out(f"2/5 Writing the stack's outputs and least-privilege policies into .chalice/ for stage {stage} ...")
    names = _names_in_account(session, config, stage, outputs)
    policy_files = write_policy_files(project_dir / ".chalice", stage, names)
    config = configure_stage(config, stage, outputs, policy_files)
    if auth != stage_environment(config, stage).get("API_AUTH", "api_key"):
        config["stages"][stage]["environment_variables"]["API_AUTH"] = auth
    write_config(project_dir, config)

    out(f"3/5 chalice deploy --stage {stage} ...")
    env = {**os.environ, "AWS_DEFAULT_REGION": session.region_name}
    _run_chalice("deploy", stage, project_dir=project_dir, env=env, profile=profile, run=run)

    out("4/5 Reporting partial batch failures on the SQS trigger (ReportBatchItemFailures) ...")
    mapping = enable_partial_batch_failures(
        session.client("lambda"), names.function_name("start_inspections"), outputs["UploadQueueArn"], sleep=sleep
    )

    out("5/5 " + ("Usage plan, API key" if auth == "api_key" else "IAM authorization (no API key)")
        + " and error responses of the REST API ...")
    rest_api = next((item for item in deployed_resources(project_dir, stage) if item.get("resource_type") == "rest_api"), None)
    if rest_api is None:
        raise DeployError(f".chalice/deployed/{stage}.json names no REST API; did `chalice deploy` succeed?")
    api_stage = config["stages"].get(stage, {}).get("api_gateway_stage", config.get("api_gateway_stage", "api"))
    api_key = (ensure_api_key(session.client("apigateway"), rest_api["rest_api_id"], api_stage, names)
               if auth == "api_key" else {"api_key_id": None, "usage_plan_id": None})
    ensure_gateway_responses(session.client("apigateway"), rest_api["rest_api_id"], api_stage, origin, auth)

    summary = {
        "stack": name,
        "api_url": rest_api.get("rest_api_url"),
        "api_key_id": api_key["api_key_id"],
        "usage_plan_id": api_key["usage_plan_id"],
        "event_source_mapping": mapping,
        "outputs": outputs,
    }
    callers = (
        f"  API key         {names.api_key_name()} (id {api_key['api_key_id']}); its value:\n"
        f"                  aws apigateway get-api-key --api-key {api_key['api_key_id']} --include-value "
        f"--query value --output text\n"
        f"                  Send it as the `{API_KEY_HEADER}` header.\n"
        if auth == "api_key" else
        "  callers         sign with SigV4 (IAM): allow execute-api:Invoke per kind of client (docs/security.md);\n"
        "                  inspection-app --auth iam ... signs with your AWS credentials\n")
    out(
        f"\nDeployed stage {stage}.\n"
        f"  REST API        {summary['api_url']}\n"
        + callers +
        f"  upload bucket   s3://{outputs['UploadBucketName']}/{names.upload_prefix}\n"
        f"  model           {_model_line(outputs)}\n"
        f"  model input     {outputs['ModelInputSize']} px, from {input_size_source}\n"
        f"  results table   {outputs['ResultsTableName']}\n"
        f"  state machine   {outputs['StateMachineArn']}\n"
        f"  dead letters    {outputs['DeadLetterQueueUrl']}\n"
        f"  browser origin  {origin or 'none (no CORS; set ALLOWED_ORIGINS for the stage to allow one)'}\n"
        f"  alarms notify   {outputs['OperationsTopicArn']}; subscribe:\n"
        f"                  aws sns subscribe --topic-arn {outputs['OperationsTopicArn']} --protocol email "
        f"--notification-endpoint YOU@EXAMPLE.COM\n"
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
    session = session or aws_session(profile, region)
    app_name = read_config(project_dir)["app_name"]
    names = stage_names(app_name, stage)
    cfn = session.client("cloudformation")
    name = resource_stack_name(app_name, stage)
    stack = find_stack(cfn, name)
    outputs = stack_outputs(stack) if stack else {}
    bucket = outputs.get("UploadBucketName")
    s3 = session.client("s3")
    images = count_objects(s3, bucket) if bucket else 0
    deployed = deployed_resources(project_dir, stage)

    out(f"This deletes stage {stage} in {session.region_name}:")
    if deployed:
        out(f"  the Chalice app (functions, SQS trigger, REST API) recorded in .chalice/deployed/{stage}.json")
    out(f"  the usage plan {names.usage_plan_name()} and the API key {names.api_key_name()}")
    if stack:
        out(f"  stack {name}: queues, topics and their key, alarms, state machine, logs")
        out(f"  every object in s3://{bucket} ({images} now) - the bucket must be empty before it can be deleted")
        out(f"It keeps the results table {outputs.get('ResultsTableName') or names.table_name} with every verdict "
            "(deletion protection; how to delete it on purpose follows).")
    if not assume_yes and ask(f"Type the stage name ({stage}) to delete it: ").strip() != stage:
        out("Nothing deleted.")
        return False

    remove_api_key(session.client("apigateway"), names)
    if deployed:
        out(f"chalice delete --stage {stage} ...")
        env = {**os.environ, "AWS_DEFAULT_REGION": session.region_name}
        _run_chalice("delete", stage, project_dir=project_dir, env=env, profile=profile, run=run)
    if stack:
        if bucket:
            out(f"Emptying s3://{bucket} ...")
            try:
                empty_bucket(s3, bucket)
            except ClientError as error:
                if error.response["Error"]["Code"] != "NoSuchBucket":
                    raise
        out(f"Deleting stack {name} ...")
        delete_stack(cfn, name, wait_delay=wait_delay)
        # The stage's settings pointed at what is now gone.
        clear_stage_outputs(project_dir, stage)
    out(f"Stage {stage} deleted.")
    if stack:
        out(kept_table_notice(outputs.get("ResultsTableName") or names.table_name, session.region_name))
    return True
