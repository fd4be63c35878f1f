"""`inspection-app deploy` / `destroy` on moto, with `chalice deploy` / `chalice delete` replaced by a recorder.

The recorder does to moto what Chalice would do to AWS (role, starter function, SQS mapping, REST API, the
`.chalice/deployed/<stage>.json` record), so the steps after it run against real API shapes.
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import zipfile

import boto3
import pytest
from deploy_helpers import PROJECT_DIR, REGION, copy_project
from moto import mock_aws

from inspection_app import deploy

ACCOUNT = "123456789012"
pytestmark = pytest.mark.filterwarnings("ignore:.*CloudFormation.*:UserWarning")


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


class RecordedChalice:
    """Stands in for the `chalice` subprocess: records each command and fakes its effect on moto."""

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, command, cwd, env, check):
        verb, stage = command[1], command[3]
        self.calls.append({"command": command, "cwd": cwd, "queue": env.get(deploy.UPLOAD_QUEUE_VARIABLE),
                           "region": env.get("AWS_DEFAULT_REGION")})
        project = deploy.Path(cwd)
        record = project / ".chalice" / "deployed" / f"{stage}.json"
        if verb == "deploy":
            self._deploy(project, stage, env[deploy.UPLOAD_QUEUE_VARIABLE], record)
        elif verb == "delete":
            self._delete(record)
        return subprocess.CompletedProcess(command, 0)

    def _deploy(self, project, stage, queue_name, record):
        config = json.loads((project / ".chalice" / "config.json").read_text())
        # What Chalice would read: a complete stage with a policy file per function.
        assert all(config["stages"][stage]["environment_variables"].values())
        for handler in deploy.FUNCTIONS:
            policy = config["stages"][stage]["lambda_functions"][handler]["iam_policy_file"]
            assert (project / ".chalice" / policy).exists()
        if record.exists():
            return
        iam, lambda_ = boto3.client("iam", region_name=REGION), boto3.client("lambda", region_name=REGION)
        role = iam.create_role(RoleName=f"quality-inspection-{stage}-start_inspections",
                               AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
        function = lambda_.create_function(
            FunctionName=f"quality-inspection-{stage}-start_inspections", Runtime="python3.11",
            Role=role["Role"]["Arn"], Handler="app.handler", Code={"ZipFile": _zip()})
        mapping = lambda_.create_event_source_mapping(
            EventSourceArn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}", FunctionName=function["FunctionArn"],
            BatchSize=10)
        api = boto3.client("apigateway", region_name=REGION).create_rest_api(name="quality-inspection")
        record.parent.mkdir(exist_ok=True)
        record.write_text(json.dumps({"schema_version": "2.0", "backend": "api", "resources": [
            {"name": "start_inspections", "resource_type": "lambda_function", "lambda_arn": function["FunctionArn"]},
            {"name": "start_inspections-sqs-event-source", "resource_type": "sqs_event",
             "queue": queue_name, "event_uuid": mapping["UUID"], "lambda_arn": function["FunctionArn"]},
            {"name": "rest_api", "resource_type": "rest_api", "rest_api_id": api["id"],
             "rest_api_url": f"https://{api['id']}.execute-api.{REGION}.amazonaws.com/api/"},
        ]}))

    def _delete(self, record):
        resources = {r["resource_type"]: r for r in json.loads(record.read_text())["resources"]}
        lambda_ = boto3.client("lambda", region_name=REGION)
        lambda_.delete_event_source_mapping(UUID=resources["sqs_event"]["event_uuid"])
        lambda_.delete_function(FunctionName=resources["lambda_function"]["lambda_arn"])
        boto3.client("apigateway", region_name=REGION).delete_rest_api(restApiId=resources["rest_api"]["rest_api_id"])
        record.unlink()


@pytest.fixture
def aws(aws_credentials):
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "project")


def _deploy(session, project, chalice, **kwargs):
    lines: list[str] = []
    summary = deploy.deploy("dev", project_dir=project, session=session, run=chalice, sleep=lambda _: None,
                            out=lines.append, wait_delay=1, **kwargs)
    return summary, "\n".join(lines)


def test_deploy_creates_the_stack_configures_the_stage_and_runs_chalice(aws, project):
    real_config = (PROJECT_DIR / ".chalice" / "config.json").read_bytes()
    chalice = RecordedChalice()
    summary, printed = _deploy(aws, project, chalice, endpoint_name="pcb-classifier", alert_email="qa@example.com")

    outputs = summary["outputs"]
    stack = aws.client("cloudformation").describe_stacks(StackName="quality-inspection-dev-resources")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["EndpointName"] == "pcb-classifier" and parameters["Stage"] == "dev"

    # The stack's outputs in the stage's environment, and a policy file per function.
    config = json.loads((project / ".chalice" / "config.json").read_text())
    stage = config["stages"]["dev"]
    assert stage["environment_variables"] == {
        "UPLOAD_BUCKET": f"quality-inspection-dev-{ACCOUNT}-{REGION}",
        "RESULTS_TABLE": "quality-inspection-dev-results",
        "ALERT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:quality-inspection-dev-alerts",
        "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:quality-inspection-dev",
        "SAGEMAKER_ENDPOINT_NAME": "pcb-classifier",
        "CONFIDENCE_THRESHOLD": "0.75",
    }
    assert stage["autogen_policy"] is False
    assert stage["lambda_functions"]["classify_image"]["lambda_memory_size"] == 1024  # kept
    names = deploy.Names("quality-inspection", "dev", "aws", REGION, ACCOUNT, "pcb-classifier")
    for handler, document in deploy.function_policies(names).items():
        written = json.loads((project / ".chalice" / f"policy-dev-{handler}.json").read_text())
        assert written == document
    # The real project is never touched.
    assert (PROJECT_DIR / ".chalice" / "config.json").read_bytes() == real_config

    # `chalice deploy --stage dev`, subscribed to the stack's queue.
    [call] = chalice.calls
    assert call["command"][1:] == ["deploy", "--stage", "dev"]
    assert call["command"][0].endswith("chalice")
    assert call["cwd"] == str(project)
    assert call["queue"] == outputs["UploadQueueName"] == "quality-inspection-dev-uploads"
    assert call["region"] == REGION

    # What Chalice leaves out.
    mapping = aws.client("lambda").get_event_source_mapping(UUID=summary["event_source_mapping"])
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    apigateway = aws.client("apigateway")
    [plan] = apigateway.get_usage_plans()["items"]
    rest_api_id = apigateway.get_rest_apis()["items"][0]["id"]
    assert plan["name"] == "quality-inspection-dev"
    assert plan["apiStages"] == [{"apiId": rest_api_id, "stage": "api"}]
    assert plan["throttle"]["rateLimit"] == deploy.API_THROTTLE["rateLimit"]
    [key] = apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    assert key["id"] == summary["api_key_id"]
    assert "x-api-key" in printed and summary["api_url"] in printed
    assert "warning: SageMaker endpoint 'pcb-classifier' not found" in printed  # moto has no such endpoint


def test_deploy_again_keeps_previous_parameters_and_creates_nothing_twice(aws, project):
    chalice = RecordedChalice()
    _deploy(aws, project, chalice, endpoint_name="pcb-classifier")
    summary, _ = _deploy(aws, project, chalice, confidence_threshold=0.9)  # no endpoint name this time
    stack = aws.client("cloudformation").describe_stacks(StackName="quality-inspection-dev-resources")["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["EndpointName"] == "pcb-classifier"
    assert float(parameters["ConfidenceThreshold"]) == 0.9
    config = json.loads((project / ".chalice" / "config.json").read_text())
    assert config["stages"]["dev"]["environment_variables"]["CONFIDENCE_THRESHOLD"] == "0.9"
    assert len(chalice.calls) == 2
    apigateway = aws.client("apigateway")
    assert len(apigateway.get_usage_plans()["items"]) == 1
    assert len(apigateway.get_api_keys()["items"]) == 1
    assert summary["api_key_id"] == apigateway.get_api_keys()["items"][0]["id"]


def test_first_deploy_needs_an_endpoint_name(aws, project):
    with pytest.raises(deploy.DeployError, match="--endpoint-name"):
        _deploy(aws, project, RecordedChalice())


def test_endpoint_names_must_be_lowercase(aws, project):
    with pytest.raises(deploy.DeployError, match="lowercase"):
        _deploy(aws, project, RecordedChalice(), endpoint_name="PCB-Classifier")


def test_a_failed_chalice_deploy_stops_the_deployment(aws, project):
    def failing(command, cwd, env, check):
        return subprocess.CompletedProcess(command, 2)

    with pytest.raises(deploy.DeployError, match="exit status 2"):
        _deploy(aws, project, failing, endpoint_name="pcb-classifier")


def test_destroy_removes_everything_after_emptying_the_bucket(aws, project):
    chalice = RecordedChalice()
    summary, _ = _deploy(aws, project, chalice, endpoint_name="pcb-classifier")
    bucket = summary["outputs"]["UploadBucketName"]
    aws.client("s3").put_object(Bucket=bucket, Key="uploads/PCB-1/x.jpg", Body=b"jpeg")
    prompts, lines = [], []

    def ask(prompt):
        prompts.append(prompt)
        return "dev"

    assert deploy.destroy("dev", project_dir=project, session=aws, run=chalice, ask=ask, out=lines.append,
                          wait_delay=1)
    assert "1 now" in "\n".join(lines) and prompts
    assert chalice.calls[-1]["command"][1:] == ["delete", "--stage", "dev"]
    stacks = aws.client("cloudformation").list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks if s["StackName"].startswith("quality-inspection-dev"))
    assert aws.client("apigateway").get_usage_plans()["items"] == []
    assert aws.client("apigateway").get_api_keys()["items"] == []
    assert bucket not in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]
    environment = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["dev"]["environment_variables"]
    assert environment["UPLOAD_BUCKET"] == ""


def test_destroy_without_confirmation_deletes_nothing(aws, project):
    chalice = RecordedChalice()
    _deploy(aws, project, chalice, endpoint_name="pcb-classifier")
    assert not deploy.destroy("dev", project_dir=project, session=aws, run=chalice, ask=lambda _: "no",
                              out=lambda _: None)
    assert [c["command"][1] for c in chalice.calls] == ["deploy"]
    stack = aws.client("cloudformation").describe_stacks(StackName="quality-inspection-dev-resources")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"


def test_commands_register_in_a_cli():
    parser = argparse.ArgumentParser()
    deploy.add_deploy_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["deploy", "--stage", "dev", "--endpoint-name", "pcb-classifier",
                              "--alert-email", "qa@example.com", "--confidence-threshold", "0.8"])
    assert (args.stage, args.endpoint_name, args.alert_email, args.confidence_threshold) == (
        "dev", "pcb-classifier", "qa@example.com", 0.8)
    assert args.func is deploy._cmd_deploy
    args = parser.parse_args(["destroy", "--stage", "dev", "--yes"])
    assert args.yes and args.func is deploy._cmd_destroy


def test_configure_stage_creates_a_new_stage():
    config = {"app_name": "quality-inspection", "stages": {}}
    outputs = {output: f"value-of-{output}" for output in deploy.ENVIRONMENT_FROM_OUTPUTS.values()}
    result = deploy.configure_stage(config, "prod", outputs, {"api_handler": "policy-prod-api_handler.json"})
    stage = result["stages"]["prod"]
    assert stage["api_gateway_stage"] == "api" and stage["autogen_policy"] is False
    assert stage["environment_variables"]["UPLOAD_BUCKET"] == "value-of-UploadBucketName"
    assert config == {"app_name": "quality-inspection", "stages": {}}  # the input is not changed
