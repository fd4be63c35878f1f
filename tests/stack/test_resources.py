"""The embedded stack's resources come from the cloud's resource template, so local and cloud agree by construction.

moto's CloudFormation builds the stack from `statemachine/resources.yaml`; the completion step
(inspection_app/stack/resources.py) applies what moto leaves out, read from the template. These tests hold both
halves to the template: every property is applied by one of them or knowingly left out, with a reason.
"""
from __future__ import annotations

import copy
import json
from urllib.parse import unquote_plus

import boto3
import pytest
from botocore.exceptions import ClientError

from inspection_app.chalice_stage import retry_wait_seconds
from inspection_app.resource_template import resource_template
from inspection_app.stack.resources import COMPLETIONS, NOT_APPLIED_LOCALLY, create_local_resources, environment_from_outputs

ACCOUNT, REGION = "123456789012", "us-east-1"
TEMPLATE = resource_template()

# What moto 5.2.5's CloudFormation applies itself, per resource type (each type's create_from_cloudformation_json;
# an SQS queue takes every property as a queue attribute). A state machine is missing from the list: moto builds
# it in the Step Functions backend that runs no executions, so the completion step creates it again.
APPLIED_BY_MOTO = {
    "AWS::SQS::Queue": {"QueueName", "VisibilityTimeout", "MessageRetentionPeriod", "SqsManagedSseEnabled",
                        "RedrivePolicy"},
    "AWS::S3::Bucket": {"BucketName", "BucketEncryption"},
    "AWS::DynamoDB::Table": {"TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
                             "DeletionProtectionEnabled"},
    # A topic takes every property as a topic attribute.
    "AWS::SNS::Topic": {"TopicName", "DisplayName", "KmsMasterKeyId"},
    "AWS::KMS::Key": {"Description", "EnableKeyRotation", "KeyPolicy"},
    "AWS::Logs::LogGroup": {"LogGroupName", "RetentionInDays"},
    "AWS::IAM::Role": {"Description", "AssumeRolePolicyDocument", "Policies"},
}
# Types moto's CloudFormation skips altogether (it logs "No Moto CloudFormation support for ...").
SKIPPED_BY_MOTO = {"AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::SNS::Subscription", "AWS::CloudWatch::Alarm"}
# Completed properties that the local stage's parameters leave empty (an !If to no value): tested on their own.
CONDITIONAL = {("AWS::S3::Bucket", "LoggingConfiguration")}

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")  # the types SKIPPED_BY_MOTO


def parameters(stage: str) -> dict:
    """The embedded stack's parameters for the demo model (EfficientNet-Lite0 at 160 px, its chosen threshold)."""
    return {"Stage": stage, "EndpointName": f"quality-inspection-{stage}-model", "ModelInputSize": 160,
            "ConfidenceThreshold": 0.82}


def create(template: dict, stage: str) -> dict:
    return create_local_resources(boto3.session.Session(), template, stack_name=f"quality-inspection-{stage}-resources",
                                  parameters=parameters(stage))


def client(service: str):
    return boto3.session.Session().client(service)


@pytest.fixture(scope="module")
def local_stack(local_aws) -> dict:
    """The outputs of the `local` stage's stack, as `inspection-app up` creates it."""
    return create(TEMPLATE, "local")


@pytest.fixture(scope="module")
def moto_only_stack(local_aws) -> dict:
    """The outputs of the same template created by moto's CloudFormation alone, without the completion step."""
    cfn = client("cloudformation")
    cfn.create_stack(StackName="quality-inspection-plain-resources", TemplateBody=json.dumps(TEMPLATE),
                     Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in parameters("plain").items()],
                     Capabilities=["CAPABILITY_IAM"])
    stack = cfn.describe_stacks(StackName="quality-inspection-plain-resources")["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}


def _or_none(call):
    try:
        return call()
    except ClientError:
        return None


def _state_machine(outputs: dict):
    return _or_none(lambda: client("stepfunctions").describe_state_machine(stateMachineArn=outputs["StateMachineArn"]))


# (type, property the completion applies) -> what the served API shows of it, None when it is not applied.
PROBES = {
    ("AWS::S3::Bucket", "NotificationConfiguration"): lambda o: client("s3").get_bucket_notification_configuration(
        Bucket=o["UploadBucketName"]).get("QueueConfigurations"),
    ("AWS::S3::Bucket", "VersioningConfiguration"): lambda o: client("s3").get_bucket_versioning(
        Bucket=o["UploadBucketName"]).get("Status"),
    ("AWS::S3::Bucket", "PublicAccessBlockConfiguration"): lambda o: _or_none(lambda: client("s3").get_public_access_block(
        Bucket=o["UploadBucketName"])["PublicAccessBlockConfiguration"]),
    ("AWS::S3::Bucket", "OwnershipControls"): lambda o: _or_none(lambda: client("s3").get_bucket_ownership_controls(
        Bucket=o["UploadBucketName"])["OwnershipControls"]),
    ("AWS::S3::Bucket", "CorsConfiguration"): lambda o: _or_none(lambda: client("s3").get_bucket_cors(
        Bucket=o["UploadBucketName"])["CORSRules"]),
    ("AWS::S3::Bucket", "LifecycleConfiguration"): lambda o: _or_none(lambda: client("s3").get_bucket_lifecycle_configuration(
        Bucket=o["UploadBucketName"])["Rules"]),
    ("AWS::DynamoDB::Table", "PointInTimeRecoverySpecification"): lambda o: {"ENABLED": True}.get(
        client("dynamodb").describe_continuous_backups(TableName=o["ResultsTableName"])["ContinuousBackupsDescription"]
        ["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]),
    **{("AWS::SQS::QueuePolicy", name): lambda o: client("sqs").get_queue_attributes(
        QueueUrl=o["UploadQueueUrl"], AttributeNames=["Policy"]).get("Attributes", {}).get("Policy")
       for name in COMPLETIONS["AWS::SQS::QueuePolicy"].properties},
    **{("AWS::StepFunctions::StateMachine", name): _state_machine
       for name in COMPLETIONS["AWS::StepFunctions::StateMachine"].properties},
    **{("AWS::CloudWatch::Alarm", name): lambda o: _alarms(o) or None
       for name in COMPLETIONS["AWS::CloudWatch::Alarm"].properties},
}
COMPLETED = sorted((resource_type, name) for resource_type, completion in COMPLETIONS.items()
                   for name in completion.properties if (resource_type, name) not in CONDITIONAL)


def _alarms(outputs: dict) -> dict:
    """The stack's alarms (those that publish to its operations topic), by name."""
    return {alarm["AlarmName"]: alarm for alarm in client("cloudwatch").describe_alarms()["MetricAlarms"]
            if alarm.get("AlarmActions") == [outputs["OperationsTopicArn"]]}


def template_properties():
    for logical_id, resource in TEMPLATE["Resources"].items():
        for name in resource.get("Properties", {}):
            yield logical_id, resource["Type"], name


def test_every_property_of_the_template_is_applied_locally_or_knowingly_left_out_with_a_reason():
    uncovered = [
        (logical_id, resource_type, name) for logical_id, resource_type, name in template_properties()
        if name not in APPLIED_BY_MOTO.get(resource_type, set())
        and name not in (COMPLETIONS[resource_type].properties if resource_type in COMPLETIONS else set())
        and resource_type not in NOT_APPLIED_LOCALLY
    ]
    assert uncovered == [], "apply these in inspection_app/stack/resources.py or name them in NOT_APPLIED_LOCALLY"
    assert all(reason.strip() for reason in NOT_APPLIED_LOCALLY.values())
    types = {resource["Type"] for resource in TEMPLATE["Resources"].values()}
    assert set(NOT_APPLIED_LOCALLY) <= types and set(COMPLETIONS) <= types  # nothing stale
    assert SKIPPED_BY_MOTO <= set(COMPLETIONS) | set(NOT_APPLIED_LOCALLY)


def test_the_completion_applies_nothing_that_moto_applies_itself():
    for resource_type, completion in COMPLETIONS.items():
        assert not completion.properties & APPLIED_BY_MOTO.get(resource_type, set()), resource_type


@pytest.mark.parametrize(("resource_type", "name"), COMPLETED)
def test_given_moto_alone_when_the_template_is_created_then_what_the_completion_applies_is_missing_until_it_runs(
    moto_only_stack, local_stack, resource_type, name
):
    # GIVEN the template on moto's CloudFormation alone, and the same template as the embedded stack creates it
    probe = PROBES[(resource_type, name)]
    # THEN moto alone left the property out, and the completion step applied it
    assert probe(moto_only_stack) is None
    assert probe(local_stack) is not None


def test_given_the_local_stack_when_created_then_every_resource_the_local_parameters_select_exists(local_stack):
    created = {resource["LogicalResourceId"]: resource for resource in client("cloudformation").describe_stack_resources(
        StackName="quality-inspection-local-resources")["StackResources"] if "LogicalResourceId" in resource}
    # Conditional resources (the e-mail subscription) need an AlertEmail the local stage never gives.
    expected = {logical_id for logical_id, resource in TEMPLATE["Resources"].items()
                if resource["Type"] not in SKIPPED_BY_MOTO and "Condition" not in resource}
    assert set(created) == expected
    assert {created[name]["ResourceType"] for name in expected} == {TEMPLATE["Resources"][n]["Type"] for n in expected}
    assert all(resource["ResourceStatus"] == "CREATE_COMPLETE" for resource in created.values())


def test_given_the_local_stack_when_read_then_its_outputs_become_the_local_stages_environment(local_stack):
    environment = environment_from_outputs(local_stack)
    assert environment["UPLOAD_BUCKET"] == f"quality-inspection-local-{ACCOUNT}-{REGION}"
    assert environment["RESULTS_TABLE"] == "quality-inspection-local-results"
    assert environment["ALERT_TOPIC_ARN"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:quality-inspection-local-alerts"
    assert environment["STATE_MACHINE_ARN"] == f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:quality-inspection-local"
    assert environment["SAGEMAKER_ENDPOINT_NAME"] == "quality-inspection-local-model"
    assert (environment["MODEL_INPUT_SIZE"], environment["CONFIDENCE_THRESHOLD"]) == ("160", "0.82")
    assert not any(key.startswith("Resolved") for key in local_stack)  # the completion's own outputs stay inside


def test_given_the_local_stack_then_moto_applied_the_templates_own_values(local_stack):
    resources = TEMPLATE["Resources"]
    queue = client("sqs").get_queue_attributes(QueueUrl=local_stack["UploadQueueUrl"], AttributeNames=["All"])["Attributes"]
    expected_queue = resources["UploadQueue"]["Properties"]
    assert int(queue["VisibilityTimeout"]) == expected_queue["VisibilityTimeout"]
    assert int(queue["MessageRetentionPeriod"]) == expected_queue["MessageRetentionPeriod"]
    assert json.loads(queue["RedrivePolicy"])["maxReceiveCount"] == expected_queue["RedrivePolicy"]["maxReceiveCount"]
    table = client("dynamodb").describe_table(TableName=local_stack["ResultsTableName"])["Table"]
    expected_table = resources["ResultsTable"]["Properties"]
    assert table["KeySchema"] == expected_table["KeySchema"]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == [
        index["IndexName"] for index in expected_table["GlobalSecondaryIndexes"]]
    assert table["BillingModeSummary"]["BillingMode"] == expected_table["BillingMode"]
    encryption = client("s3").get_bucket_encryption(Bucket=local_stack["UploadBucketName"])
    assert encryption["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"}


def test_given_the_local_stack_then_the_completion_applied_the_templates_values(local_stack):
    bucket = TEMPLATE["Resources"]["UploadBucket"]["Properties"]
    s3, name = client("s3"), local_stack["UploadBucketName"]
    [notification] = PROBES[("AWS::S3::Bucket", "NotificationConfiguration")](local_stack)
    assert notification["QueueArn"] == local_stack["UploadQueueArn"]
    assert notification["Events"] == ["s3:ObjectCreated:*"]
    assert notification["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "uploads/"}]
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == bucket["VersioningConfiguration"]["Status"]
    assert s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"] == bucket["PublicAccessBlockConfiguration"]
    assert s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"] == bucket["OwnershipControls"]
    [rule] = s3.get_bucket_cors(Bucket=name)["CORSRules"]
    [expected_rule] = bucket["CorsConfiguration"]["CorsRules"]
    assert (rule["AllowedMethods"], rule["MaxAgeSeconds"]) == (expected_rule["AllowedMethods"], expected_rule["MaxAge"])
    policy = json.loads(PROBES[("AWS::SQS::QueuePolicy", "PolicyDocument")](local_stack))
    [statement, tls_only] = policy["Statement"]
    assert statement["Resource"] == local_stack["UploadQueueArn"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == f"arn:aws:s3:::{name}"
    # moto's SQS evaluates no queue policy, so the TLS-only deny is applied locally and refuses nothing there.
    assert (tls_only["Effect"], tls_only["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    for queue in ("DeadLetterQueueUrl", "ParkedVerdictQueueUrl"):
        [deny] = json.loads(client("sqs").get_queue_attributes(
            QueueUrl=local_stack[queue], AttributeNames=["Policy"])["Attributes"]["Policy"])["Statement"]
        assert deny["Sid"] == "DenyUnencryptedTransport", queue
    [lifecycle] = PROBES[("AWS::S3::Bucket", "LifecycleConfiguration")](local_stack)
    assert (lifecycle["Status"], lifecycle["NoncurrentVersionExpiration"]["NoncurrentDays"],
            lifecycle["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]) == ("Enabled", 30, 1)
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=name)  # no AccessLogBucket locally


def test_given_the_local_stack_then_its_alarms_watch_the_templates_metrics_and_publish_to_the_operations_topic(
        local_stack):
    alarms = _alarms(local_stack)
    expected = {resource["Properties"]["AlarmName"]["Fn::Sub"].replace("${AppName}-${Stage}", "quality-inspection-local")
                for resource in TEMPLATE["Resources"].values() if resource["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == expected and len(expected) == 5
    errors = alarms["quality-inspection-local-error-verdicts"]
    assert (errors["Namespace"], errors["MetricName"]) == ("QualityInspection", "Verdicts")
    assert {d["Name"]: d["Value"] for d in errors["Dimensions"]} == {"service": "quality-inspection", "verdict": "error"}
    dead_letters = alarms["quality-inspection-local-dead-letters"]
    assert dead_letters["Dimensions"] == [{"Name": "QueueName", "Value": "quality-inspection-local-uploads-dlq"}]
    assert (dead_letters["Threshold"], dead_letters["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    failed = alarms["quality-inspection-local-failed-executions"]
    assert failed["Dimensions"] == [{"Name": "StateMachineArn", "Value": local_stack["StateMachineArn"]}]


def test_given_the_local_stack_then_both_topics_are_encrypted_with_the_stacks_key(local_stack):
    sns = client("sns")
    key_id = local_stack["TopicKeyArn"].rsplit("/", 1)[1]
    for topic in ("AlertTopicArn", "OperationsTopicArn"):
        assert sns.get_topic_attributes(TopicArn=local_stack[topic])["Attributes"]["KmsMasterKeyId"] == key_id, topic
    assert client("kms").get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    table = client("dynamodb").describe_table(TableName=local_stack["ResultsTableName"])["Table"]
    assert table["DeletionProtectionEnabled"] is True


def test_given_an_access_log_bucket_when_created_then_the_upload_bucket_logs_to_it(local_aws):
    # GIVEN a log bucket S3's log delivery may write to (S3, and moto, refuse any other)
    client("s3").create_bucket(Bucket="line9-access-logs", ACL="log-delivery-write")
    # WHEN a stack is created with it as AccessLogBucket
    outputs = create_local_resources(boto3.session.Session(), TEMPLATE, stack_name="quality-inspection-line9-resources",
                                     parameters={**parameters("line9"), "AccessLogBucket": "line9-access-logs"})
    logging = client("s3").get_bucket_logging(Bucket=outputs["UploadBucketName"])["LoggingEnabled"]
    assert logging == {"TargetBucket": "line9-access-logs", "TargetPrefix": "quality-inspection-line9/"}


def test_given_the_local_stack_then_its_state_machine_runs_the_one_definition_with_local_arns(local_stack):
    machine = _state_machine(local_stack)
    definition = json.loads(machine["definition"])
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:quality-inspection-local"
    assert definition["States"]["ClassifyImage"]["Resource"] == f"{function}-classify_image"
    assert definition["States"]["RecordVerdict"]["Resource"] == f"{function}-record_verdict"
    assert "${" not in machine["definition"]
    [role] = [resource["PhysicalResourceId"] for resource in client("cloudformation").describe_stack_resources(
        StackName="quality-inspection-local-resources")["StackResources"] if resource.get("LogicalResourceId") == "StateMachineRole"]
    assert machine["roleArn"] == client("iam").get_role(RoleName=role)["Role"]["Arn"]
    assert (machine["type"], machine["loggingConfiguration"]["level"], machine["tracingConfiguration"]) == (
        "STANDARD", "ERROR", {"enabled": True})


def test_given_a_template_with_other_values_when_created_then_the_local_stack_follows_the_template(local_aws):
    # GIVEN a template whose bucket keeps no versions, allows one browser origin, and whose table and state
    # machine skip backups and tracing (as a cost-cutting test stage might)
    template = copy.deepcopy(TEMPLATE)
    resources = template["Resources"]
    resources["UploadBucket"]["Properties"]["VersioningConfiguration"] = {"Status": "Suspended"}
    resources["UploadBucket"]["Properties"]["CorsConfiguration"]["CorsRules"][0].update(
        AllowedOrigins=["https://line7.example.com"], MaxAge=600)
    resources["ResultsTable"]["Properties"]["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": False}
    resources["InspectionStateMachine"]["Properties"]["TracingConfiguration"] = {"Enabled": False}
    # WHEN the embedded stack creates it
    outputs = create(template, "line7")
    # THEN every completed property has the template's value, not one written again in Python
    assert client("s3").get_bucket_versioning(Bucket=outputs["UploadBucketName"])["Status"] == "Suspended"
    [rule] = client("s3").get_bucket_cors(Bucket=outputs["UploadBucketName"])["CORSRules"]
    assert (rule["AllowedOrigins"], rule["MaxAgeSeconds"]) == (["https://line7.example.com"], 600)
    assert PROBES[("AWS::DynamoDB::Table", "PointInTimeRecoverySpecification")](outputs) is None
    assert _state_machine(outputs)["tracingConfiguration"] == {"enabled": False}


def test_given_a_retry_window_when_the_stack_is_created_then_its_state_machine_carries_the_short_retries(local_aws):
    outputs = create(resource_template(retry_window_seconds=6), "drill")
    states = json.loads(_state_machine(outputs)["definition"])["States"]
    retriers = [retrier for state in states.values() for retrier in state.get("Retry", [])]
    assert retriers and all(retry_wait_seconds(retrier) == 6 and retrier["IntervalSeconds"] == 1 for retrier in retriers)


def test_given_the_local_stack_when_a_photo_is_uploaded_then_its_versioned_event_reaches_the_upload_queue(local_stack):
    # GIVEN the local stack's bucket and queue
    s3, sqs = client("s3"), client("sqs")
    # WHEN a camera uploads a photo of PCB-0042 under uploads/, and a note outside it
    version = s3.put_object(Bucket=local_stack["UploadBucketName"], Key="uploads/PCB-0042/capture-0001.jpg",
                            Body=b"\xff\xd8\xff\xe0 jpeg")["VersionId"]
    s3.put_object(Bucket=local_stack["UploadBucketName"], Key="notes/shift-2.txt", Body=b"line 7 ok")
    # THEN one ObjectCreated event names the photo's version (the s3:TestEvent of the configuration aside)
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(
        QueueUrl=local_stack["UploadQueueUrl"], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])]
    [record] = [record for body in bodies for record in body.get("Records", [])]
    assert unquote_plus(record["s3"]["object"]["key"]) == "uploads/PCB-0042/capture-0001.jpg"
    assert record["s3"]["object"]["versionId"] == version


def test_given_a_notification_the_completion_cannot_convert_when_created_then_it_says_so(local_aws):
    template = copy.deepcopy(TEMPLATE)
    notification = template["Resources"]["UploadBucket"]["Properties"]["NotificationConfiguration"]
    notification["TopicConfigurations"] = [{"Event": "s3:ObjectRemoved:*", "Topic": {"Ref": "AlertTopic"}}]
    with pytest.raises(ValueError, match="only queue notifications.*TopicConfigurations"):
        create(template, "topics")
