"""Least privilege: every IAM policy we deploy, checked for wildcards, broad actions and typos."""
from __future__ import annotations

import json

import botocore.session
import pytest
from deploy_helpers import PROJECT_DIR, copy_project, run_chalice

from inspection_app.deploy.merge_template import as_cloudformation
from inspection_app.deploy.names import CLOUDFORMATION_NAMES, FUNCTIONS, Names
from inspection_app.deploy.policies import function_policies, policy_file_name, write_policy_files
from inspection_app.resource_template import load_template

NAMES = Names(app_name="quality-inspection", stage="dev", partition="aws", region="eu-central-1",
                     account="123456789012", endpoint_name="pcb-classifier", upload_prefix="uploads/")

# Actions for which AWS offers no resource-level permissions, so "Resource": "*" is the only choice:
# Step Functions' CloudWatch Logs delivery ("IAM policies for logging to CloudWatch Logs" in the Step
# Functions developer guide) and X-Ray ("Service Authorization Reference": AWS X-Ray actions without
# resource types).
ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
}
# IAM action names that are not API operation names (so botocore's models do not list them).
# IAM actions that are not API operations (s3:GetObjectVersion: GetObject with a VersionId).
IAM_ONLY_ACTIONS = {"lambda:InvokeFunction", "s3:ListBucket", "s3:GetObjectVersion"} | {
    a for a in ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS if "LogDeliver" in a
}
# IAM service prefix -> the botocore services whose operations it covers.
SERVICES = {"s3": ["s3"], "sqs": ["sqs"], "states": ["stepfunctions"], "sagemaker": ["sagemaker-runtime", "sagemaker"],
            "dynamodb": ["dynamodb"], "logs": ["logs"], "xray": ["xray"], "sns": ["sns"], "lambda": ["lambda"]}

# What every function does: write its own logs and send its traces.
EVERY_FUNCTION_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents",
                          "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# What each function's code calls, and nothing else. Widening a role means changing this on purpose.
EXPECTED_ACTIONS = {
    "start_inspections": {"states:StartExecution", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                          "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:SendMessage"},
    "classify_image": {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "sagemaker:InvokeEndpoint",
                       "s3:PutObject"},  # the heat-map overlay (chalicelib/heatmaps.py)
    "record_verdict": {"dynamodb:PutItem", "dynamodb:GetItem"},
    "api_handler": {"s3:PutObject", "dynamodb:Query", "dynamodb:UpdateItem", "states:StartExecution",
                    # the review routes: find one inspection, show its photo, alert a defect a person found
                    "dynamodb:GetItem", "s3:GetObject", "s3:GetObjectVersion", "sns:Publish"},
}
SEND_TRACES = {"Sid": "SendTraces", "Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
               "Resource": ["*"]}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def allow_statements(document: dict) -> list[dict]:
    return [s for s in _as_list(document["Statement"]) if s["Effect"] == "Allow"]


def _resource_text(resource) -> str:
    """An ARN as text; in the CloudFormation form, the Fn::Sub pattern with the upload prefix filled in."""
    if isinstance(resource, dict) and set(resource) == {"Fn::Sub"} and isinstance(resource["Fn::Sub"], str):
        return resource["Fn::Sub"].replace("${UploadPrefix}", "uploads/")
    return resource if isinstance(resource, str) else json.dumps(resource)


def check_policy(document: dict, where: str) -> None:
    """No wildcard resources or actions where AWS allows narrower ones; no NotAction/NotResource."""
    assert document["Version"] == "2012-10-17", where
    for statement in allow_statements(document):
        assert "NotAction" not in statement and "NotResource" not in statement, where
        actions = _as_list(statement["Action"])
        for action in actions:
            assert "*" not in action, f"{where}: wildcard action {action}"
        resources = _as_list(statement["Resource"])
        if "*" in resources:
            broad = set(actions) - ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS
            assert not broad, f"{where}: {sorted(broad)} on every resource"
            continue
        for resource in resources:
            text = _resource_text(resource)
            # Wildcards only as the last character, after a named bucket prefix or log group.
            assert text.count("*") <= 1, f"{where}: {text}"
            if "*" in text:
                assert text.endswith(("/*", ":*")) and "/aws/lambda/*" not in text, f"{where}: {text}"
                assert ":::*" not in text and "log-group:*" not in text, f"{where}: {text}"


def check_actions_exist(document: dict, where: str) -> None:
    loader = botocore.session.get_session()
    for statement in allow_statements(document):
        for action in _as_list(statement["Action"]):
            if action in IAM_ONLY_ACTIONS:
                continue
            prefix, operation = action.split(":")
            known = set()
            for service in SERVICES[prefix]:
                known |= set(loader.get_service_model(service).operation_names)
            assert operation in known, f"{where}: {action} is not an operation of {SERVICES[prefix]}"


@pytest.mark.parametrize("handler", FUNCTIONS)
def test_function_policy_is_narrow(handler):
    document = function_policies(NAMES)[handler]
    check_policy(document, handler)
    check_actions_exist(document, handler)
    actions = {a for s in allow_statements(document) for a in _as_list(s["Action"])}
    assert actions == EXPECTED_ACTIONS[handler] | EVERY_FUNCTION_ACTIONS
    # Only sending traces reaches "*" (X-Ray has no resource-level permissions); every other action is narrowed.
    assert [s for s in allow_statements(document) if "*" in _as_list(s["Resource"])] == [SEND_TRACES]


def test_function_policies_name_this_stage_resources_only():
    documents = function_policies(NAMES)
    resources = {handler: {r for s in allow_statements(d) for r in _as_list(s["Resource"])}
                 for handler, d in documents.items()}
    assert resources["start_inspections"] >= {
        "arn:aws:states:eu-central-1:123456789012:stateMachine:quality-inspection-dev",
        "arn:aws:sqs:eu-central-1:123456789012:quality-inspection-dev-uploads",
    }
    bucket = "arn:aws:s3:::quality-inspection-dev-123456789012-eu-central-1"
    assert resources["classify_image"] >= {f"{bucket}/uploads/*",
                                           "arn:aws:sagemaker:eu-central-1:123456789012:endpoint/pcb-classifier"}
    assert resources["api_handler"] >= {f"{bucket}/uploads/*",
                                        "arn:aws:dynamodb:eu-central-1:123456789012:table/quality-inspection-dev-results"}
    assert resources["record_verdict"] == {
        "arn:aws:dynamodb:eu-central-1:123456789012:table/quality-inspection-dev-results",
        "arn:aws:logs:eu-central-1:123456789012:log-group:/aws/lambda/quality-inspection-dev-record_verdict:*",
        "*",  # X-Ray only
    }
    assert "arn:aws:logs:eu-central-1:123456789012:log-group:/aws/lambda/quality-inspection-dev:*" in resources["api_handler"]


def test_heat_maps_are_written_by_classify_only_outside_the_upload_prefix_and_shown_by_the_api():
    documents = function_policies(NAMES)
    bucket = "arn:aws:s3:::quality-inspection-dev-123456789012-eu-central-1"

    def resources_of(handler, action):
        return {r for s in allow_statements(documents[handler]) if action in _as_list(s["Action"])
                for r in _as_list(s["Resource"])}

    # A put under uploads/ would start an inspection of the overlay: the classify function may not.
    assert resources_of("classify_image", "s3:PutObject") == {f"{bucket}/heatmaps/*"}
    assert resources_of("api_handler", "s3:GetObject") == {f"{bucket}/uploads/*", f"{bucket}/heatmaps/*"}


def test_policy_files_are_written_per_function(tmp_path):
    files = write_policy_files(tmp_path, "dev", NAMES)
    assert files == {handler: f"policy-dev-{handler}.json" for handler in FUNCTIONS}
    for handler, name in files.items():
        assert json.loads((tmp_path / name).read_text()) == function_policies(NAMES)[handler]


def test_cloudformation_form_substitutes_every_name():
    document = as_cloudformation(function_policies(CLOUDFORMATION_NAMES)["classify_image"])
    resources = [r for s in document["Statement"] if s["Sid"] != "SendTraces" for r in s["Resource"]]
    assert {"Fn::Sub": "arn:${AWS::Partition}:s3:::${AppName}-${Stage}-${AWS::AccountId}-${AWS::Region}/${UploadPrefix}*"} in resources
    assert all(set(r) == {"Fn::Sub"} for r in resources)


# What a checked-in .chalice/policy-*.json holds until `inspection-app deploy` overwrites it with the stage's policy.
DENY_EVERYTHING = {"Version": "2012-10-17", "Statement": [{
    "Sid": "NothingUntilInspectionAppDeployWritesThisFile", "Effect": "Deny", "Action": "*", "Resource": "*"}]}


@pytest.mark.parametrize("path", sorted((PROJECT_DIR / ".chalice").glob("policy-*.json")), ids=lambda p: p.name)
def test_checked_in_policy_files_allow_nothing(path):
    """The checked-in files are placeholders that deny everything: a `chalice deploy` without
    `inspection-app deploy` first gets functions that can do nothing, never a policy kept by hand. (So the checks
    above cannot be run on them: test_deployed_functions_get_the_generated_policies checks what deploy writes.)"""
    assert json.loads(path.read_text()) == DENY_EVERYTHING


@pytest.fixture(scope="module")
def packaged_with_generated_policies(tmp_path_factory) -> dict:
    """`chalice package` after the policy files are written as `inspection-app deploy` writes them (step 2/5,
    before `chalice deploy`): "plain", the roles Chalice makes from the files the config names (what
    `chalice deploy` deploys), and "merged", with the merge template's roles (the one-stack package)."""
    project = copy_project(tmp_path_factory.mktemp("generated-policies") / "project")
    written = write_policy_files(project / ".chalice", "dev", NAMES)
    assert written == {handler: policy_file_name("dev", handler) for handler in FUNCTIONS}
    templates = {}
    for form, options in (("plain", []), ("merged", ["--merge-template", "statemachine/chalice-merge.json"])):
        result = run_chalice(project, "package", "--stage", "dev", *options, f"{form}/")
        assert result.returncode == 0, result.stdout + result.stderr
        templates[form] = json.loads((project / form / "sam.json").read_text())
    return templates


def _role_policies_by_function(template: dict) -> dict[str, list[dict]]:
    """handler name -> the policy documents of its Lambda function's role ("app.app" is the REST API's)."""
    resources = template["Resources"]
    found = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        handler = resource["Properties"]["Handler"].removeprefix("app.")
        role = resources[resource["Properties"]["Role"]["Fn::GetAtt"][0]]
        found["api_handler" if handler == "app" else handler] = [
            policy["PolicyDocument"] for policy in role["Properties"]["Policies"]]
    return found


@pytest.mark.parametrize("form, generated", [
    ("plain", lambda handler: function_policies(NAMES)[handler]),
    ("merged", lambda handler: as_cloudformation(function_policies(CLOUDFORMATION_NAMES)[handler])),
])
def test_deployed_functions_get_the_generated_policies(packaged_with_generated_policies, form, generated):
    # GIVEN what Chalice packages once `inspection-app deploy` has written the stage's policy files
    policies = _role_policies_by_function(packaged_with_generated_policies[form])
    # THEN every function's role carries exactly its generated policy, with the Allow statements it needs
    assert set(policies) == set(FUNCTIONS)
    for handler in FUNCTIONS:
        [document] = policies[handler]
        assert document == generated(handler), handler
        actions = {a for s in allow_statements(document) for a in _as_list(s["Action"])}
        assert actions == EXPECTED_ACTIONS[handler] | EVERY_FUNCTION_ACTIONS, handler
        check_policy(document, handler)


def test_config_turns_autogen_policy_off_with_a_file_per_function():
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    dev = config["stages"]["dev"]
    assert dev["autogen_policy"] is False
    for handler in FUNCTIONS:
        name = dev["lambda_functions"][handler]["iam_policy_file"]
        assert name == policy_file_name("dev", handler)
        assert (PROJECT_DIR / ".chalice" / name).exists()


def test_state_machine_role_may_only_invoke_its_functions_and_publish_alerts():
    template = load_template(PROJECT_DIR / "statemachine" / "resources.yaml")
    role = template["Resources"]["StateMachineRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]  # no confused deputy
    actions = set()
    for policy in role["Policies"]:
        check_policy(policy["PolicyDocument"], policy["PolicyName"])
        check_actions_exist(policy["PolicyDocument"], policy["PolicyName"])
        for statement in allow_statements(policy["PolicyDocument"]):
            actions |= set(_as_list(statement["Action"]))
            if statement["Sid"] == "InvokeInspectionFunctions":
                functions = [r["Fn::Sub"].rsplit(":", 1)[1] for r in statement["Resource"]]
                assert functions == ["${AppName}-${Stage}-classify_image", "${AppName}-${Stage}-record_verdict"]
            if statement["Sid"] == "PublishDefectAlerts":
                assert statement["Resource"] == {"Ref": "AlertTopic"}
            if statement["Sid"] == "ParkUnstoredVerdicts":
                assert statement["Resource"] == {"Fn::GetAtt": ["ParkedVerdictQueue", "Arn"]}
    assert actions - ACTIONS_WITHOUT_RESOURCE_LEVEL_PERMISSIONS == {"lambda:InvokeFunction", "sns:Publish", "sqs:SendMessage"}


def test_merged_template_policies_are_narrow(packaged_with_generated_policies):
    allowing = set()
    for name, resource in packaged_with_generated_policies["merged"]["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                check_policy(policy["PolicyDocument"], name)
                check_actions_exist(policy["PolicyDocument"], name)
                if allow_statements(policy["PolicyDocument"]):
                    allowing.add(name)
    # every function's role allows something (the state machine's role is in the nested resource stack)
    assert allowing == {"StartInspectionsRole", "ClassifyImageRole", "RecordVerdictRole", "ApiHandlerRole"}


def test_queue_and_bucket_policies_are_narrow():
    template = load_template(PROJECT_DIR / "statemachine" / "resources.yaml")
    queue_policy = template["Resources"]["UploadQueuePolicy"]["Properties"]["PolicyDocument"]
    check_policy(queue_policy, "UploadQueuePolicy")
    bucket_policy = template["Resources"]["UploadBucketPolicy"]["Properties"]["PolicyDocument"]
    assert not allow_statements(bucket_policy)  # it only denies plain-HTTP access
