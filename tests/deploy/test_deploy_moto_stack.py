"""The resource template, created on moto's CloudFormation: what moto supports is really built and inspected."""
from __future__ import annotations

import json

import boto3
import pytest
from deploy_helpers import PROJECT_DIR, REGION
from moto import mock_aws

from inspection_app.deploy.cloudformation import STACK_CAPABILITIES, stack_outputs
from inspection_app.deploy.names import FUNCTIONS, Names
from inspection_app.resource_template import load_template, resource_template

STACK = "quality-inspection-dev-resources"
# Types in resources.yaml that moto's CloudFormation skips; cfn-lint checks their properties instead.
UNSUPPORTED_BY_MOTO = {"AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::SNS::Subscription",
                       "AWS::CloudWatch::Alarm"}

pytestmark = pytest.mark.filterwarnings("ignore:.*CloudFormation.*:UserWarning")


@pytest.fixture
def stack(aws_credentials):
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(
            StackName=STACK,
            TemplateBody=json.dumps(resource_template(PROJECT_DIR)),
            Parameters=[{"ParameterKey": "EndpointName", "ParameterValue": "pcb-classifier"},
                        {"ParameterKey": "ModelInputSize", "ParameterValue": "192"},
                        {"ParameterKey": "AlertEmail", "ParameterValue": "qa@example.com"}],
            Capabilities=STACK_CAPABILITIES,
        )
        description = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        yield description, cfn


def test_stack_is_created_with_every_supported_resource(stack):
    description, cfn = stack
    assert description["StackStatus"] == "CREATE_COMPLETE"
    template = load_template(PROJECT_DIR / "statemachine" / "resources.yaml")
    created = {r["LogicalResourceId"]: r for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]}
    for name, resource in template["Resources"].items():
        if resource["Type"] not in UNSUPPORTED_BY_MOTO:
            assert created[name]["ResourceStatus"] == "CREATE_COMPLETE", name
            assert created[name]["ResourceType"] == resource["Type"], name


def test_outputs_are_what_the_names_predict(stack):
    description, _ = stack
    outputs = stack_outputs(description)
    names = Names(app_name="quality-inspection", stage="dev", partition="aws", region=REGION,
                         account="123456789012", endpoint_name="pcb-classifier")
    # The policies are written from these names: they must be the stack's own.
    assert outputs["UploadBucketName"] == names.bucket
    assert outputs["UploadQueueName"] == names.queue_name
    assert outputs["UploadQueueArn"] == names.queue_arn
    assert outputs["ResultsTableArn"] == names.table_arn
    assert outputs["AlertTopicArn"] == names.topic_arn
    assert outputs["StateMachineArn"] == names.state_machine_arn
    assert outputs["EndpointName"] == "pcb-classifier"
    assert float(outputs["ConfidenceThreshold"]) == 0.75
    assert outputs["ModelInputSize"] == "192"
    assert outputs["UploadPrefix"] == "uploads/"


def test_queue_and_dead_letter_queue(stack):
    description, _ = stack
    outputs = stack_outputs(description)
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(QueueUrl=outputs["UploadQueueUrl"], AttributeNames=["All"])["Attributes"]
    declared = load_template(PROJECT_DIR / "statemachine" / "resources.yaml")["Resources"]["UploadQueue"]["Properties"]
    assert int(attributes["VisibilityTimeout"]) == declared["VisibilityTimeout"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 5
    dlq = sqs.get_queue_attributes(QueueUrl=outputs["DeadLetterQueueUrl"], AttributeNames=["QueueArn"])
    assert redrive["deadLetterTargetArn"] == dlq["Attributes"]["QueueArn"]
    assert attributes["SqsManagedSseEnabled"] == "true"


def test_table_bucket_topic_and_state_machine(stack):
    description, _ = stack
    outputs = stack_outputs(description)
    table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=outputs["ResultsTableName"])["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [("product_id", "HASH"), ("inspection_key", "RANGE")]
    s3 = boto3.client("s3", region_name=REGION)
    encryption = s3.get_bucket_encryption(Bucket=outputs["UploadBucketName"])["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert boto3.client("sns", region_name=REGION).get_topic_attributes(TopicArn=outputs["AlertTopicArn"])
    machine = boto3.client("stepfunctions", region_name=REGION).describe_state_machine(
        stateMachineArn=outputs["StateMachineArn"])
    # moto stores the definition as given (it does not apply DefinitionSubstitutions).
    assert json.loads(machine["definition"])["StartAt"] == "IsClassified"
    assert boto3.client("sqs", region_name=REGION).get_queue_url(QueueName="quality-inspection-dev-parked-verdicts")["QueueUrl"] == outputs["ParkedVerdictQueueUrl"]
    groups = boto3.client("logs", region_name=REGION).describe_log_groups(logGroupNamePrefix="/aws/lambda/quality-inspection-dev")
    assert len(groups["logGroups"]) == len(FUNCTIONS)
