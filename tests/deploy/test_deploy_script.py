"""`inspection-app deploy` / `destroy` on moto, with `chalice deploy` / `chalice delete` replaced by a recorder.

The recorder does to moto what Chalice would do to AWS (role, starter function, SQS mapping, REST API, the
`.chalice/deployed/<stage>.json` record), so the steps after it run against real API shapes.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import zipfile
from pathlib import Path

import boto3
import pytest
from deploy_helpers import PROJECT_DIR, REGION, copy_project, loaded_app, trigger_queue
from moto import mock_aws

from inspection_app.chalice_stage import function_name
from inspection_app.cli import deploy_commands
from inspection_app.deploy.api_gateway import (
    API_THROTTLE,
    GATEWAY_RESPONSES,
    IAM_GATEWAY_RESPONSES,
    gateway_response_template,
)
from inspection_app.deploy.chalice_config import ENVIRONMENT_FROM_OUTPUTS, configure_stage
from inspection_app.deploy import deployment
from inspection_app.deploy.deployment import deploy, destroy
from inspection_app.resource_template import resource_template
from inspection_app.deploy.errors import DeployError
from inspection_app.deploy.names import FUNCTIONS, Names
from inspection_app.deploy.policies import function_policies
from training.sagemaker.defaults import INPUT_SIZE_TAG

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
        project = Path(cwd)
        queue = trigger_queue(project, stage).stdout.strip() if verb == "deploy" else None
        self.calls.append({"command": command, "cwd": cwd, "queue": queue, "region": env.get("AWS_DEFAULT_REGION")})
        record = project / ".chalice" / "deployed" / f"{stage}.json"
        if verb == "deploy":
            self._deploy(project, stage, queue, record)
        elif verb == "delete":
            self._delete(record)
        return subprocess.CompletedProcess(command, 0)

    def _deploy(self, project, stage, queue_name, record):
        config = json.loads((project / ".chalice" / "config.json").read_text())
        # What Chalice would read: a complete stage with a policy file per function.
        assert all(config["stages"][stage]["environment_variables"].values())
        for handler in FUNCTIONS:
            policy = config["stages"][stage]["lambda_functions"][handler]["iam_policy_file"]
            assert (project / ".chalice" / policy).exists()
        if record.exists():
            return
        iam, lambda_ = boto3.client("iam", region_name=REGION), boto3.client("lambda", region_name=REGION)
        starter = function_name(config["app_name"], stage, "start_inspections")
        role = iam.create_role(RoleName=starter,
                               AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
        function = lambda_.create_function(
            FunctionName=starter, Runtime="python3.11",
            Role=role["Role"]["Arn"], Handler="app.handler", Code={"ZipFile": _zip()})
        mapping = lambda_.create_event_source_mapping(
            EventSourceArn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}", FunctionName=function["FunctionArn"],
            BatchSize=10)
        apigateway = boto3.client("apigateway", region_name=REGION)
        api = apigateway.create_rest_api(name="quality-inspection")
        # A route (Chalice's API has several): a REST API without methods cannot be deployed.
        root = apigateway.get_resources(restApiId=api["id"])["items"][0]["id"]
        uploads = apigateway.create_resource(restApiId=api["id"], parentId=root, pathPart="uploads")["id"]
        apigateway.put_method(restApiId=api["id"], resourceId=uploads, httpMethod="POST", authorizationType="NONE",
                              apiKeyRequired=True)
        apigateway.put_integration(restApiId=api["id"], resourceId=uploads, httpMethod="POST", type="AWS_PROXY",
                                   integrationHttpMethod="POST",
                                   uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                                       f"{function['FunctionArn']}/invocations")
        apigateway.create_deployment(restApiId=api["id"], stageName="api")
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


INPUT_SIZE = 192  # of the model the tests' endpoint serves


@pytest.fixture
def project(tmp_path):
    """A copy of the project, and beside it the model directory the endpoint serves (`model`)."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text(json.dumps({"input_size": INPUT_SIZE, "classes": ["a", "b"]}))
    return copy_project(tmp_path / "project")


def _endpoint(session, name: str, tags: dict | None = None) -> str:
    """A SageMaker endpoint on moto, tagged like `inspection-app sagemaker deploy` tags it; returns its ARN."""
    sagemaker = session.client("sagemaker")
    sagemaker.create_model(ModelName=f"{name}-model", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sm",
                           PrimaryContainer={"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    sagemaker.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": f"{name}-model", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}])
    arn = sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")["EndpointArn"]
    if tags:
        sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return arn


def _deploy(session, project, chalice, **kwargs):
    kwargs.setdefault("model_dir", project.parent / "model")
    lines: list[str] = []
    summary = deploy("dev", project_dir=project, session=session, run=chalice, sleep=lambda _: None,
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
        "MODEL_BACKEND": "sagemaker",
        "SAGEMAKER_ENDPOINT_NAME": "pcb-classifier",
        "REKOGNITION_PROJECT_VERSION_ARN": "none",  # the backend the stage does not use
        "REKOGNITION_PROJECT_ARN": "none",
        "MODEL_INPUT_SIZE": "192",  # model.json's input_size
        "CONFIDENCE_THRESHOLD": "0.75",
        "DEAD_LETTER_QUEUE_URL": outputs["DeadLetterQueueUrl"],
        "UPLOAD_QUEUE_NAME": outputs["UploadQueueName"],
    }
    assert stage["autogen_policy"] is False
    assert stage["lambda_functions"]["classify_image"]["lambda_memory_size"] == 1024  # kept
    names = Names("quality-inspection", "dev", "aws", REGION, ACCOUNT, "pcb-classifier")
    for handler, document in function_policies(names).items():
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
    assert plan["throttle"]["rateLimit"] == API_THROTTLE["rateLimit"]
    [key] = apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    assert key["id"] == summary["api_key_id"]
    assert "x-api-key" in printed and summary["api_url"] in printed
    assert "warning: SageMaker endpoint 'pcb-classifier' not found" in printed  # moto has no such endpoint
    assert f"Model input size 192 px (from {project.parent / 'model' / 'model.json'})" in printed
    # API Gateway's own answers (unknown route, bad key ...) in the app's error shape, redeployed to the stage.
    responses = {r["responseType"]: r for r in apigateway.get_gateway_responses(restApiId=rest_api_id)["items"]}
    for response_type, (status, code, _) in GATEWAY_RESPONSES.items():
        template = responses[response_type]["responseTemplates"]["application/json"]
        assert template.startswith('{"error": "%s", "message": ' % code), response_type
        if status:
            assert responses[response_type]["statusCode"] == status
        # The dev stage allows no browser origin: no CORS header here either (never "*").
        assert not responses[response_type].get("responseParameters"), response_type
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"
    assert json.loads(gateway_response_template("NotFound", "No route.")) == {
        "error": "NotFound", "message": "No route."}
    assert any("gateway responses" in (d.get("description") or "")
               for d in apigateway.get_deployments(restApiId=rest_api_id)["items"])


REKOGNITION_VERSION = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/pcb/version/pcb.v1/1764500000000"
REKOGNITION_PROJECT = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/pcb/1764400000000"


def test_given_the_rekognition_backend_when_deployed_then_the_stage_and_its_policy_use_the_model_version(
        aws, project, monkeypatch):
    # GIVEN a Custom Labels model version (moto has no Custom Labels projects: the lookup is replaced)
    looked_up = []
    monkeypatch.setattr(deployment, "find_model_version",
                        lambda session, arn, out: looked_up.append(arn) or REKOGNITION_PROJECT)
    # WHEN the stage is deployed with it, and no SageMaker endpoint
    summary, printed = _deploy(aws, project, RecordedChalice(), model_backend="rekognition",
                               project_version_arn=REKOGNITION_VERSION, model_dir=None)
    # THEN the stage's environment names the backend, the version and its project; the endpoint is unused
    environment = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["dev"]["environment_variables"]
    assert looked_up == [REKOGNITION_VERSION]
    assert (environment["MODEL_BACKEND"], environment["REKOGNITION_PROJECT_VERSION_ARN"],
            environment["REKOGNITION_PROJECT_ARN"], environment["SAGEMAKER_ENDPOINT_NAME"]) == (
        "rekognition", REKOGNITION_VERSION, REKOGNITION_PROJECT, "none")
    assert f"Rekognition Custom Labels {REKOGNITION_VERSION}" in printed
    # AND the classify function may ask that version only, and read its status in that project only
    policy = json.loads((project / ".chalice" / "policy-dev-classify_image.json").read_text())
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert statements["AskModelVersion"]["Action"] == ["rekognition:DetectCustomLabels"]
    assert statements["AskModelVersion"]["Resource"] == [REKOGNITION_VERSION]
    assert statements["ReadModelVersionStatus"]["Resource"] == [REKOGNITION_PROJECT]
    assert not any("sagemaker:" in action for statement in policy["Statement"] for action in statement["Action"])
    # AND no alarm watches a SageMaker endpoint the stage does not have
    alarms = aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert not any(alarm["Namespace"] == "AWS/SageMaker" for alarm in alarms)


@pytest.mark.parametrize("arn", ["pcb", REKOGNITION_PROJECT, REKOGNITION_VERSION.replace(":rekognition:", ":s3:")])
def test_given_a_malformed_model_version_when_deployed_then_it_stops_before_anything_is_made(aws, project, arn):
    with pytest.raises(DeployError, match="--project-version-arn: REKOGNITION_PROJECT_VERSION_ARN="):
        _deploy(aws, project, RecordedChalice(), model_backend="rekognition", project_version_arn=arn)
    assert aws.client("cloudformation").list_stacks()["StackSummaries"] == []


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


def test_the_model_input_size_comes_from_the_endpoints_tag(aws, project):
    _endpoint(aws, "pcb-classifier", {INPUT_SIZE_TAG: "256"})
    summary, printed = _deploy(aws, project, RecordedChalice(), endpoint_name="pcb-classifier", model_dir=None)
    assert summary["outputs"]["ModelInputSize"] == "256"
    config = json.loads((project / ".chalice" / "config.json").read_text())
    assert config["stages"]["dev"]["environment_variables"]["MODEL_INPUT_SIZE"] == "256"
    assert f"tag {INPUT_SIZE_TAG} of endpoint pcb-classifier" in printed
    # A redeploy without --endpoint-name reads the tag of the endpoint the stack has.
    summary, _ = _deploy(aws, project, RecordedChalice(), model_dir=None)
    assert summary["outputs"]["ModelInputSize"] == "256"


def test_a_model_dir_that_disagrees_with_the_endpoints_tag_stops_before_anything_is_made(aws, project):
    _endpoint(aws, "pcb-classifier", {INPUT_SIZE_TAG: "224"})
    with pytest.raises(DeployError, match="says input_size 192, but endpoint pcb-classifier is tagged"):
        _deploy(aws, project, RecordedChalice(), endpoint_name="pcb-classifier")
    assert aws.client("cloudformation").list_stacks()["StackSummaries"] == []


@pytest.mark.parametrize("tagged", [False, True], ids=["no-endpoint", "untagged-endpoint"])
def test_an_unknown_model_input_size_stops_the_deployment_and_says_how_to_give_it(aws, project, tagged):
    if tagged:
        arn = _endpoint(aws, "pcb-classifier", {"team": "qa"})
    chalice = RecordedChalice()
    with pytest.raises(DeployError) as raised:
        _deploy(aws, project, chalice, endpoint_name="pcb-classifier", model_dir=None)
    message = str(raised.value)
    assert "--model-dir" in message and "inspection-app sagemaker deploy" in message
    assert f"aws sagemaker add-tags --resource-arn {arn if tagged else 'ENDPOINT_ARN'}" in message
    assert chalice.calls == [] and aws.client("cloudformation").list_stacks()["StackSummaries"] == []


@pytest.mark.parametrize("model_json, error", [
    (None, "does not exist"), ("not json", "is not JSON"), ('{"classes": []}', "has no input_size"),
    ('{"input_size": 8}', "expected whole pixels"), ('{"input_size": "big"}', "expected whole pixels"),
])
def test_a_model_dir_without_a_usable_input_size_is_refused(aws, project, tmp_path, model_json, error):
    model_dir = tmp_path / "other-model"
    model_dir.mkdir()
    if model_json is not None:
        (model_dir / "model.json").write_text(model_json)
    with pytest.raises(DeployError, match=error):
        _deploy(aws, project, RecordedChalice(), endpoint_name="pcb-classifier", model_dir=model_dir)


def test_first_deploy_needs_an_endpoint_name(aws, project):
    with pytest.raises(DeployError, match="--endpoint-name"):
        _deploy(aws, project, RecordedChalice())


def test_endpoint_names_must_be_lowercase(aws, project):
    with pytest.raises(DeployError, match="lowercase"):
        _deploy(aws, project, RecordedChalice(), endpoint_name="PCB-Classifier")


def test_a_failed_chalice_deploy_stops_the_deployment(aws, project):
    def failing(command, cwd, env, check):
        return subprocess.CompletedProcess(command, 2)

    with pytest.raises(DeployError, match="exit status 2"):
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

    assert destroy("dev", project_dir=project, session=aws, run=chalice, ask=ask, out=lines.append,
                          wait_delay=1)
    printed = "\n".join(lines)
    assert "1 now" in printed and prompts
    assert chalice.calls[-1]["command"][1:] == ["delete", "--stage", "dev"]
    stacks = aws.client("cloudformation").list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks if s["StackName"].startswith("quality-inspection-dev"))
    assert aws.client("apigateway").get_usage_plans()["items"] == []
    assert aws.client("apigateway").get_api_keys()["items"] == []
    assert bucket not in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]
    environment = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["dev"]["environment_variables"]
    assert environment["UPLOAD_BUCKET"] == ""
    # The verdicts stay (DeletionPolicy Retain, deletion protection), and the output says how to delete them.
    table = aws.client("dynamodb").describe_table(TableName="quality-inspection-dev-results")["Table"]
    assert table["DeletionProtectionEnabled"] is True
    assert "It keeps the results table quality-inspection-dev-results with every verdict" in printed
    assert "Kept the results table quality-inspection-dev-results" in printed
    for command in (f"aws dynamodb update-table --region {REGION} --table-name quality-inspection-dev-results "
                    "--no-deletion-protection-enabled",
                    f"aws dynamodb delete-table --region {REGION} --table-name quality-inspection-dev-results"):
        assert command in printed


def test_given_a_destroyed_stage_when_deployed_again_then_the_kept_table_stops_it_before_anything_is_made(
        aws, project):
    # GIVEN a stage that was deployed and destroyed: its results table was kept
    chalice = RecordedChalice()
    _deploy(aws, project, chalice, endpoint_name="pcb-classifier")
    assert destroy("dev", assume_yes=True, project_dir=project, session=aws, run=chalice, out=lambda _: None,
                   wait_delay=1)
    # WHEN it is deployed again
    with pytest.raises(DeployError) as raised:
        _deploy(aws, project, chalice, endpoint_name="pcb-classifier")
    # THEN it stops before creating a stack that could not create the table, and says what to do
    assert "results table quality-inspection-dev-results already exists" in str(raised.value)
    assert "--no-deletion-protection-enabled" in str(raised.value) and "another stage name" in str(raised.value)
    assert not [s for s in aws.client("cloudformation").list_stacks()["StackSummaries"]
                if s["StackStatus"] != "DELETE_COMPLETE"]
    # AND once the old verdicts are deleted on purpose, the stage deploys again
    dynamodb = aws.client("dynamodb")
    dynamodb.update_table(TableName="quality-inspection-dev-results", DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName="quality-inspection-dev-results")
    aws.client("iam").delete_role(RoleName="quality-inspection-dev-start_inspections")  # the recorder's leftover
    summary, _ = _deploy(aws, project, chalice, endpoint_name="pcb-classifier")
    assert summary["outputs"]["ResultsTableName"] == "quality-inspection-dev-results"


def _allow_origin(project, value: str) -> None:
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["dev"]["environment_variables"]["ALLOWED_ORIGINS"] = value
    config_path.write_text(json.dumps(config))


def test_given_a_stage_with_an_allowed_origin_when_deployed_then_api_gateways_own_answers_allow_only_it(
        aws, project):
    # GIVEN a stage that allows the line-7 dashboard's origin
    _allow_origin(project, "https://line7.example.com")
    # WHEN it is deployed
    summary, printed = _deploy(aws, project, RecordedChalice(), endpoint_name="pcb-classifier")
    # THEN a page there can read why API Gateway refused it (bad key, throttled), and only there
    apigateway = aws.client("apigateway")
    rest_api_id = apigateway.get_rest_apis()["items"][0]["id"]
    for response in apigateway.get_gateway_responses(restApiId=rest_api_id)["items"]:
        assert response["responseParameters"] == {
            "gatewayresponse.header.Access-Control-Allow-Origin": "'https://line7.example.com'"}
    assert "browser origin  https://line7.example.com" in printed


def test_given_a_wildcard_origin_when_deployed_then_it_is_refused_before_anything_is_made(aws, project):
    _allow_origin(project, "*")
    with pytest.raises(DeployError, match="ALLOWED_ORIGINS: '\\*' is not an origin"):
        _deploy(aws, project, RecordedChalice(), endpoint_name="pcb-classifier")
    assert aws.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_deploy_hardens_the_stack_and_says_where_the_alarms_go(aws, project):
    # WHEN a stage is deployed with an access-log bucket
    aws.client("s3").create_bucket(Bucket="plant-access-logs", ACL="log-delivery-write")
    summary, printed = _deploy(aws, project, RecordedChalice(), endpoint_name="pcb-classifier",
                               access_log_bucket="plant-access-logs")
    # THEN the stack has it as a parameter, and the output names the operations topic and how to subscribe
    stack = aws.client("cloudformation").describe_stacks(StackName="quality-inspection-dev-resources")["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["AccessLogBucket"] == "plant-access-logs"
    topic = summary["outputs"]["OperationsTopicArn"]
    assert topic == f"arn:aws:sns:{REGION}:{ACCOUNT}:quality-inspection-dev-operations"
    assert f"aws sns subscribe --topic-arn {topic} --protocol email" in printed
    attributes = aws.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["KmsMasterKeyId"] == summary["outputs"]["TopicKeyArn"].rsplit("/", 1)[1]


def test_destroy_without_confirmation_deletes_nothing(aws, project):
    chalice = RecordedChalice()
    _deploy(aws, project, chalice, endpoint_name="pcb-classifier")
    assert not destroy("dev", project_dir=project, session=aws, run=chalice, ask=lambda _: "no",
                              out=lambda _: None)
    assert [c["command"][1] for c in chalice.calls] == ["deploy"]
    stack = aws.client("cloudformation").describe_stacks(StackName="quality-inspection-dev-resources")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"


def test_commands_register_in_a_cli():
    parser = argparse.ArgumentParser()
    deploy_commands.add_deploy_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["deploy", "--stage", "dev", "--endpoint-name", "pcb-classifier",
                              "--alert-email", "qa@example.com", "--confidence-threshold", "0.8",
                              "--model-dir", "var/model", "--access-log-bucket", "plant-access-logs", "--auth", "iam"])
    assert (args.stage, args.endpoint_name, args.alert_email, args.confidence_threshold, args.model_dir,
            args.access_log_bucket) == ("dev", "pcb-classifier", "qa@example.com", 0.8, Path("var/model"),
                                        "plant-access-logs")
    assert args.func is deploy_commands._cmd_deploy and args.auth == "iam"
    assert parser.parse_args(["deploy"]).auth is None  # the stage's API_AUTH is kept
    assert args.model_backend is None  # the stage's backend is kept
    args = parser.parse_args(["deploy", "--model-backend", "rekognition", "--project-version-arn", REKOGNITION_VERSION])
    assert (args.model_backend, args.project_version_arn) == ("rekognition", REKOGNITION_VERSION)
    with pytest.raises(SystemExit):
        parser.parse_args(["deploy", "--model-backend", "lookout"])
    args = parser.parse_args(["destroy", "--stage", "dev", "--yes"])
    assert args.yes and args.func is deploy_commands._cmd_destroy


def test_configure_stage_creates_a_new_stage():
    config = {"app_name": "quality-inspection", "stages": {}}
    outputs = {output: f"value-of-{output}" for output in ENVIRONMENT_FROM_OUTPUTS.values()}
    result = configure_stage(config, "prod", outputs, {"api_handler": "policy-prod-api_handler.json"})
    stage = result["stages"]["prod"]
    assert stage["api_gateway_stage"] == "api" and stage["autogen_policy"] is False
    assert stage["environment_variables"]["UPLOAD_BUCKET"] == "value-of-UploadBucketName"
    assert config == {"app_name": "quality-inspection", "stages": {}}  # the input is not changed


def test_given_the_checked_in_dev_stage_when_plain_chalice_deploy_loads_the_app_then_the_trigger_is_the_stacks_queue(
        tmp_path):
    # GIVEN the project as committed (what `chalice deploy --stage dev` reads after a code-only change)
    project = copy_project(tmp_path / "project")
    # WHEN Chalice loads app.py for the dev stage, with no variable set by inspection-app
    loaded = trigger_queue(project, "dev")
    # THEN the starter's trigger is the queue the resource stack names <AppName>-<Stage>-uploads
    queue_name = resource_template()["Resources"]["UploadQueue"]["Properties"]["QueueName"]["Fn::Sub"]
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == [queue_name.replace("${AppName}", "quality-inspection").replace("${Stage}", "dev")]


def test_given_a_stage_never_deployed_when_chalice_loads_the_app_then_it_stops_and_says_to_run_inspection_app_deploy(
        tmp_path):
    # GIVEN a new stage in config.json that `inspection-app deploy` has not configured yet
    project = copy_project(tmp_path / "project")
    config = json.loads((project / ".chalice" / "config.json").read_text())
    config["stages"]["prod"] = {"api_gateway_stage": "api"}
    (project / ".chalice" / "config.json").write_text(json.dumps(config))
    # WHEN `chalice deploy --stage prod` would load the app
    loaded = trigger_queue(project, "prod")
    # THEN it stops before subscribing the starter to a queue that does not exist
    assert loaded.returncode != 0
    assert "UPLOAD_QUEUE_NAME is not set for this stage" in loaded.stderr
    assert "inspection-app deploy --stage" in loaded.stderr


def _stage_variable(project, name: str, value: str) -> None:
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["dev"]["environment_variables"][name] = value
    config_path.write_text(json.dumps(config))


# What `chalice deploy` sees: each protected route's (authorizer name, api_key_required)
ROUTE_AUTH = ("sorted({(str(getattr(e.authorizer, 'name', None)), e.api_key_required) for p, m in app.routes.items() "
              "for e in m.values() if p not in ('/', '/openapi.json')})")


def test_given_auth_iam_when_deployed_then_routes_need_sigv4_no_key_is_made_and_refusals_say_to_sign(aws, project):
    # GIVEN a new stage WHEN deployed with --auth iam
    summary, printed = _deploy(aws, project, RecordedChalice(), endpoint_name="pcb-classifier", auth="iam")
    # THEN the stage's configuration says so, and app.py, loaded as `chalice deploy` loads it, puts IAM on the routes
    config = json.loads((project / ".chalice" / "config.json").read_text())
    assert config["stages"]["dev"]["environment_variables"]["API_AUTH"] == "iam"
    loaded = loaded_app(project, "dev", ROUTE_AUTH)
    assert (loaded.returncode, loaded.stdout.strip()) == (0, "[('sigv4', None)]"), loaded.stderr  # no key
    # no usage plan or API key (they would authorize nothing)
    apigateway = aws.client("apigateway")
    assert apigateway.get_usage_plans()["items"] == [] and apigateway.get_api_keys()["items"] == []
    assert summary["api_key_id"] is None and "sign with SigV4" in printed and "x-api-key" not in printed
    # API Gateway's refusals in the app's shape, saying what to do: an unsigned request is told to sign
    rest_api_id = apigateway.get_rest_apis()["items"][0]["id"]
    responses = {r["responseType"]: r for r in apigateway.get_gateway_responses(restApiId=rest_api_id)["items"]}
    assert set(responses) == set(IAM_GATEWAY_RESPONSES)
    unsigned = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert unsigned["statusCode"] == "403"
    body = json.loads(unsigned["responseTemplates"]["application/json"])
    assert body["error"] == "MissingAuthenticationToken" and "SigV4 signature" in body["message"]
    for response_type, status, code in (("ACCESS_DENIED", "403", "AccessDenied"), ("UNAUTHORIZED", "401", "Unauthorized"),
                                        ("INVALID_SIGNATURE", "403", "InvalidSignature")):
        assert responses[response_type]["statusCode"] == status
        assert json.loads(responses[response_type]["responseTemplates"]["application/json"])["error"] == code

    # WHEN deployed again without --auth THEN it stays an IAM stage
    _deploy(aws, project, RecordedChalice())
    assert json.loads((project / ".chalice" / "config.json").read_text())["stages"]["dev"][
        "environment_variables"]["API_AUTH"] == "iam"


def test_given_the_default_auth_when_loaded_as_chalice_deploy_does_then_routes_need_the_api_key(tmp_path):
    loaded = loaded_app(copy_project(tmp_path / "project"), "dev", ROUTE_AUTH)
    assert (loaded.returncode, loaded.stdout.strip()) == (0, "[('None', True)]"), loaded.stderr


@pytest.mark.parametrize("name, value, message", [
    ("CLIENT_SCOPES", '[{"client": "k", "kind": "admin"}]', "kind 'admin' must be one of camera, mes, operator"),
    ("API_AUTH", "cognito", "API_AUTH='cognito' must be api_key"),
])
def test_given_a_malformed_access_setting_when_deployed_then_refused_before_anything_is_made(
        aws, project, name, value, message):
    _stage_variable(project, name, value)
    with pytest.raises(DeployError, match=re.escape(message)):
        _deploy(aws, project, RecordedChalice(), endpoint_name="pcb-classifier")
    assert aws.client("cloudformation").list_stacks()["StackSummaries"] == []
