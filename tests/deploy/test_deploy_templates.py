"""The resource template, the state machine definition and the generated merge template, checked offline."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from deploy_helpers import PROJECT_DIR, lint_errors

from chalicelib.results import INSPECTION_INDEX, VERDICT_INDEX
from inspection_app.deploy.chalice_config import ENVIRONMENT_FROM_OUTPUTS
from inspection_app.deploy.merge_template import MERGE_TEMPLATE_COMMAND, merge_template_text
from inspection_app.deploy.names import CLOUDFORMATION_NAMES, FUNCTIONS
from inspection_app.resource_template import load_template, resource_template

RESOURCES = PROJECT_DIR / "statemachine" / "resources.yaml"
DEFINITION = PROJECT_DIR / "statemachine" / "inspection.asl.json"
CONFIG = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(RESOURCES)


def resources_of_type(template: dict, resource_type: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def test_resource_template_lints_clean():
    assert lint_errors(RESOURCES) == []


def test_inlined_template_lints_clean_with_the_definition_validated(tmp_path):
    # Inlined, cfn-lint also validates the state machine definition (rule E3601).
    path = tmp_path / "resources.json"
    path.write_text(json.dumps(resource_template(PROJECT_DIR)))
    assert lint_errors(path) == []


def test_upload_queue_outlasts_the_starter_and_dead_letters_after_five_receives(template):
    queue = template["Resources"]["UploadQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["UploadDeadLetterQueue", "Arn"]}
    assert queue["SqsManagedSseEnabled"] is True
    # Lambda's guidance: at least six times the consuming function's timeout.
    assert queue["VisibilityTimeout"] >= 6 * CONFIG["lambda_functions"]["start_inspections"]["lambda_timeout"]


def test_results_table_serves_a_products_history_and_verdicts_across_products(template):
    table = template["Resources"]["ResultsTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "product_id", "KeyType": "HASH"},
                                  {"AttributeName": "inspection_key", "KeyType": "RANGE"}]
    index, by_id = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == VERDICT_INDEX  # the name the store queries
    assert index["KeySchema"] == [{"AttributeName": "verdict", "KeyType": "HASH"},
                                  {"AttributeName": "inspection_key", "KeyType": "RANGE"}]
    # One inspection by its id (the review routes): keys only, the record is then read by its key.
    assert by_id["IndexName"] == INSPECTION_INDEX
    assert by_id["KeySchema"] == [{"AttributeName": "inspection_id", "KeyType": "HASH"}]
    assert by_id["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_bucket_notifies_the_queue_of_every_new_object_under_the_prefix(template):
    assert template["Parameters"]["UploadPrefix"]["Default"] == CONFIG["environment_variables"]["UPLOAD_PREFIX"]
    bucket = template["Resources"]["UploadBucket"]
    # One prefix-only filter: any object under uploads/ ends with a result or a `rejected` record (the starter
    # reads the name); S3 refuses overlapping filters and its suffix filters are case-sensitive.
    [configuration] = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert configuration["Event"] == "s3:ObjectCreated:*"
    assert configuration["Queue"] == {"Fn::GetAtt": ["UploadQueue", "Arn"]}
    assert configuration["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": {"Ref": "UploadPrefix"}}]
    # No circular dependency: the bucket waits for the queue policy, which names the bucket by string.
    assert bucket["DependsOn"] == "UploadQueuePolicy"


def test_bucket_keeps_every_version_of_an_upload(template):
    assert template["Resources"]["UploadBucket"]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


def test_bucket_is_private_and_encrypted(template):
    properties = template["Resources"]["UploadBucket"]["Properties"]
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    rule = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    # Browser uploads use a pre-signed POST.
    assert properties["CorsConfiguration"]["CorsRules"][0]["AllowedMethods"] == ["POST"]


def test_only_the_bucket_may_send_to_the_queue(template):
    policy = template["Resources"]["UploadQueuePolicy"]["Properties"]["PolicyDocument"]
    [statement, _] = policy["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    bucket_arn = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    bucket_name = template["Resources"]["UploadBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    assert bucket_arn == f"arn:${{AWS::Partition}}:s3:::{bucket_name}"


def test_results_table_outlives_the_stack_and_refuses_deletion(template):
    table = template["Resources"]["ResultsTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert table["Properties"]["DeletionProtectionEnabled"] is True


def test_bucket_expires_old_versions_and_abandoned_uploads_and_can_log_access(template):
    properties = template["Resources"]["UploadBucket"]["Properties"]
    [rule] = properties["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and "Prefix" not in rule  # the whole bucket
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    # Access logging only when AccessLogBucket is given (off by default).
    assert template["Parameters"]["AccessLogBucket"]["Default"] == ""
    condition, logging, otherwise = properties["LoggingConfiguration"]["Fn::If"]
    assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AccessLogBucket"}, ""]}]}
    assert logging["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    assert otherwise == {"Ref": "AWS::NoValue"}


def test_every_queue_refuses_requests_without_tls(template):
    denied = set()
    for policy in resources_of_type(template, "AWS::SQS::QueuePolicy").values():
        statements = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        [deny] = statements
        assert (deny["Principal"], deny["Action"]) == ("*", "sqs:*")
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        resources = deny["Resource"] if isinstance(deny["Resource"], list) else [deny["Resource"]]
        assert resources == [{"Fn::GetAtt": [queue["Ref"], "Arn"]} for queue in policy["Properties"]["Queues"]]
        denied |= {queue["Ref"] for queue in policy["Properties"]["Queues"]}
    assert denied == set(resources_of_type(template, "AWS::SQS::Queue"))


def test_topics_are_encrypted_with_a_key_cloudwatch_and_the_state_machine_may_use(template):
    resources = template["Resources"]
    topics = resources_of_type(template, "AWS::SNS::Topic")
    assert set(topics) == {"AlertTopic", "OperationsTopic"}
    for name, topic in topics.items():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "TopicKey"}, name
    key = resources["TopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    root = statements["AccountAdministersAndDelegatesThroughIam"]
    assert root["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    alarms = statements["CloudWatchAlarmsPublishToTheOperationsTopic"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(alarms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    # The publishing roles (the state machine's) use the key through SNS only, and only in this account.
    via_sns = statements["AccountPrincipalsPublishThroughSns"]
    assert set(via_sns["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert via_sns["Condition"]["StringEquals"] == {"kms:CallerAccount": {"Ref": "AWS::AccountId"},
                                                     "kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}}
    assert len(statements) == 3
    assert template["Outputs"]["OperationsTopicArn"]["Value"] == {"Ref": "OperationsTopic"}


def test_alarms_watch_failures_and_publish_to_the_operations_topic(template):
    from chalicelib.logs import SERVICE
    from chalicelib.metrics import NAMESPACE

    by_name = {alarm["Properties"]["AlarmName"]["Fn::Sub"].split("}-", 2)[-1]: alarm["Properties"]
               for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values()}
    assert set(by_name) == {"dead-letters", "parked-verdicts", "failed-executions", "error-verdicts", "endpoint-5xx"}
    for name, alarm in by_name.items():
        assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}], name
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold"), name
        assert alarm["TreatMissingData"] == "notBreaching", name

    def dimensions(name):
        return {d["Name"]: d["Value"] for d in by_name[name]["Dimensions"]}

    assert dimensions("dead-letters") == {"QueueName": {"Fn::GetAtt": ["UploadDeadLetterQueue", "QueueName"]}}
    assert dimensions("parked-verdicts") == {"QueueName": {"Fn::GetAtt": ["ParkedVerdictQueue", "QueueName"]}}
    assert dimensions("failed-executions") == {"StateMachineArn": {"Ref": "InspectionStateMachine"}}
    # The EMF metric chalicelib/metrics.py writes: its namespace, and exactly its dimension set.
    errors = by_name["error-verdicts"]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == (NAMESPACE, "Verdicts", "Sum")
    assert dimensions("error-verdicts") == {"service": SERVICE, "verdict": "error"}
    assert dimensions("endpoint-5xx") == {"EndpointName": {"Ref": "EndpointName"},
                                          "VariantName": {"Ref": "EndpointVariantName"}}


def test_alert_email_is_optional(template):
    assert template["Parameters"]["AlertEmail"]["Default"] == ""
    subscription = template["Resources"]["AlertEmailSubscription"]
    assert subscription["Condition"] == "HasAlertEmail"
    assert subscription["Properties"]["Protocol"] == "email"


def test_parameters_and_outputs_cover_what_the_app_needs(template):
    assert {"Stage", "EndpointName", "ConfidenceThreshold", "AlertEmail"} <= set(template["Parameters"])
    threshold = template["Parameters"]["ConfidenceThreshold"]
    assert float(threshold["Default"]) == float(CONFIG["environment_variables"]["CONFIDENCE_THRESHOLD"])
    # Every environment variable deploy writes, plus what deploy itself reads.
    needed = set(ENVIRONMENT_FROM_OUTPUTS.values()) | {"UploadQueueName", "UploadQueueArn", "DeadLetterQueueUrl"}
    assert needed <= set(template["Outputs"])
    stage_variables = set(CONFIG["stages"]["dev"]["environment_variables"])
    assert stage_variables <= set(ENVIRONMENT_FROM_OUTPUTS)


def test_state_machine_uses_the_one_definition_with_logging_and_tracing(template):
    [(_, machine)] = resources_of_type(template, "AWS::StepFunctions::StateMachine").items()
    properties = machine["Properties"]
    assert (RESOURCES.parent / properties["DefinitionS3Location"]).resolve() == DEFINITION.resolve()
    placeholders = set(re.findall(r"\$\{(\w+)\}", DEFINITION.read_text()))
    assert set(properties["DefinitionSubstitutions"]) == placeholders
    assert properties["TracingConfiguration"] == {"Enabled": True}
    logging = properties["LoggingConfiguration"]
    assert logging["Level"] in ("ERROR", "ALL")
    assert logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": ["StateMachineLogGroup", "Arn"]
    }


def test_state_machine_names_the_functions_chalice_deploys(template):
    substitutions = template["Resources"]["InspectionStateMachine"]["Properties"]["DefinitionSubstitutions"]
    names = CLOUDFORMATION_NAMES
    for placeholder, handler in (("ClassifyImageFunctionArn", "classify_image"),
                                 ("RecordVerdictFunctionArn", "record_verdict")):
        expected = (f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:"
                    f"{names.function_name(handler)}")
        assert substitutions[placeholder] == {"Fn::Sub": expected}


def test_lambda_log_groups_exist_for_every_function(template):
    groups = {g["Properties"]["LogGroupName"]["Fn::Sub"] for g in resources_of_type(template, "AWS::Logs::LogGroup").values()}
    for handler in FUNCTIONS:
        assert f"/aws/lambda/{CLOUDFORMATION_NAMES.function_name(handler)}" in groups


# --- The state machine definition -----------------------------------------------------------------------


def _rendered_definition() -> str:
    text = DEFINITION.read_text()
    for name in re.findall(r"\$\{(\w+)\}", text):
        value = ("arn:aws:sns:us-east-1:123456789012:alerts" if "Topic" in name
                 else f"arn:aws:lambda:us-east-1:123456789012:function:{name}")
        text = text.replace("${" + name + "}", value)
    return text


def test_definition_parses_as_amazon_states_language():
    # The ASL parser Step Functions Local / LocalStack use (shipped in moto): unknown fields, wrong types
    # and malformed rules are syntax errors.
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    AmazonStateLanguageParser.parse(_rendered_definition())


def test_definition_transitions_are_complete():
    definition = json.loads(DEFINITION.read_text())
    states = definition["States"]

    def targets(state: dict) -> set[str]:
        found = {state["Next"]} if "Next" in state else set()
        found |= {choice["Next"] for choice in state.get("Choices", [])}
        found |= {catch["Next"] for catch in state.get("Catch", [])}
        if "Default" in state:
            found.add(state["Default"])
        return found

    assert definition["StartAt"] in states
    reachable, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in reachable:
            continue
        reachable.add(name)
        assert targets(states[name]) <= set(states), f"{name} goes to a state that does not exist"
        todo.extend(targets(states[name]))
    assert reachable == set(states), f"unreachable states: {set(states) - reachable}"
    for name, state in states.items():
        terminal = state["Type"] in ("Succeed", "Fail") or state.get("End") is True
        assert terminal or "Next" in state or state["Type"] == "Choice", f"{name} neither ends nor continues"


# --- The merge template of the one-stack path -----------------------------------------------------------


def test_merge_template_is_up_to_date():
    path = PROJECT_DIR / "statemachine" / "chalice-merge.json"
    assert path.read_text() == merge_template_text(PROJECT_DIR), (
        f"statemachine/chalice-merge.json is out of date; run `{MERGE_TEMPLATE_COMMAND}`"
    )


def test_merge_template_command_checks_the_file_without_warnings():
    # -W error: running a module of a package that imported it first would warn (RuntimeWarning).
    command = [sys.executable, "-W", "error", "-m", "inspection_app.deploy.merge_template", "--check"]
    result = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert "chalice-merge.json is up to date" in result.stdout
