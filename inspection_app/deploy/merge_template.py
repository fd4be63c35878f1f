"""The template `chalice package --merge-template` merges into Chalice's SAM template: the one-stack path.

`python -m inspection_app.deploy.merge_template` writes it to statemachine/chalice-merge.json; `--check`
only says whether that file is up to date.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..chalice_stage import PROJECT_DIR
from ..resource_template import load_template
from .api_gateway import API_QUOTA, API_THROTTLE, gateway_responses_sam
from .chalice_config import ENVIRONMENT_FROM_OUTPUTS
from .names import CLOUDFORMATION_NAMES
from .policies import function_policies

MERGE_TEMPLATE_COMMAND = "python -m inspection_app.deploy.merge_template"
MERGE_TEMPLATE_PATH = Path("statemachine") / "chalice-merge.json"

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


def as_cloudformation(value):
    """`value` with every string that holds a `${...}` substitution wrapped in Fn::Sub."""
    if isinstance(value, dict):
        return {key: as_cloudformation(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_cloudformation(item) for item in value]
    if isinstance(value, str) and "${" in value:
        return {"Fn::Sub": value}
    return value


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
    merged_resources[FUNCTION_LOGICAL_IDS["start_inspections"]]["Properties"]["Events"] = {
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
                    "AlertTopicArn", "OperationsTopicArn", "StateMachineArn")
    }
    outputs["ApiKeyId"] = {"Description": "aws apigateway get-api-key --api-key ID --include-value",
                           "Value": {"Ref": "ApiKey"}}
    return {
        "Metadata": {"GeneratedBy": f"{MERGE_TEMPLATE_COMMAND}; do not edit"},
        "Parameters": parameters,
        "Resources": merged_resources,
        "Outputs": outputs,
    }


def merge_template_text(project_dir: Path = PROJECT_DIR) -> str:
    return json.dumps(merge_template(project_dir), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=MERGE_TEMPLATE_COMMAND, description=f"Regenerate {MERGE_TEMPLATE_PATH}.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date instead of writing")
    args = parser.parse_args(argv)
    path = PROJECT_DIR / MERGE_TEMPLATE_PATH
    text = merge_template_text()
    if args.check:
        current = path.read_text() if path.exists() else ""
        print(f"{path} is {'up to date' if current == text else 'out of date'}")
        return 0 if current == text else 1
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
