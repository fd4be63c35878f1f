"""The embedded stack's resources, created from the cloud's own resource template on moto's CloudFormation.

`statemachine/resources.yaml` is the one description of the bucket, queues, table, topic and state machine:
`inspection-app deploy` creates it on AWS, and `create_local_resources` creates the same stack on moto with the
same `ensure_stack`. moto's CloudFormation (5.2.5, read from its source; tests/stack/test_resources.py checks
it) builds every resource but leaves some properties out. The completion step, `COMPLETIONS`, applies exactly
those after the stack is created: each value read from the template, turned from CloudFormation's property
shape into the API call's. `NOT_APPLIED_LOCALLY` names what the local stack knowingly goes without, and why.

The template's values are intrinsic functions (`!Ref`, `!GetAtt`, `!Sub`). moto's CloudFormation resolves the
ones the completion reads too: each becomes an extra output of the local stack (`Resolved<n>`).
"""
from __future__ import annotations

import copy
import json
import logging
import warnings
from typing import Any, Callable, NamedTuple

from ..chalice_stage import substitute_definition
from ..deploy.chalice_config import ENVIRONMENT_FROM_OUTPUTS
from ..deploy.cloudformation import ensure_stack

_RESOLVED = "Resolved"


class Completion(NamedTuple):
    properties: frozenset  # the template properties it applies; moto's CloudFormation leaves them out
    apply: Callable[[Any, dict], None]  # (boto3 session, the resource's properties with intrinsics resolved)


def _notification_configuration(value: dict) -> dict:
    """CloudFormation's NotificationConfiguration as PutBucketNotificationConfiguration takes it."""
    if set(value) != {"QueueConfigurations"}:
        raise ValueError(f"only queue notifications are converted for the local bucket, not {sorted(value)}")
    return {"QueueConfigurations": [
        {"QueueArn": target["Queue"], "Events": [target["Event"]],
         **({"Filter": {"Key": {"FilterRules": target["Filter"]["S3Key"]["Rules"]}}} if "Filter" in target else {})}
        for target in value["QueueConfigurations"]
    ]}


_CORS_RULE_KEYS = {"ExposedHeaders": "ExposeHeaders", "Id": "ID", "MaxAge": "MaxAgeSeconds"}


def _cors_configuration(value: dict) -> dict:
    """CloudFormation's CorsConfiguration as PutBucketCors takes it (three keys are named differently)."""
    return {"CORSRules": [{_CORS_RULE_KEYS.get(key, key): item for key, item in rule.items()}
                          for rule in value["CorsRules"]]}


_LIFECYCLE_RULE_KEYS = {"Id", "Status", "Prefix", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"}


def _lifecycle_configuration(value: dict) -> dict:
    """CloudFormation's LifecycleConfiguration as PutBucketLifecycleConfiguration takes it (the rules the template
    uses: Id is ID, a Prefix becomes a Filter, the two nested shapes are the API's)."""
    unconverted = {key for rule in value["Rules"] for key in rule} - _LIFECYCLE_RULE_KEYS
    if unconverted:
        raise ValueError(f"lifecycle rule keys {sorted(unconverted)} are not converted for the local bucket")
    return {"Rules": [{"Filter": {"Prefix": rule.get("Prefix", "")},
                       **{("ID" if key == "Id" else key): item for key, item in rule.items() if key != "Prefix"}}
                      for rule in value["Rules"]]}


def _logging_status(value: dict) -> dict:
    """CloudFormation's LoggingConfiguration as PutBucketLogging takes it."""
    return {"LoggingEnabled": {"TargetBucket": value["DestinationBucketName"], "TargetPrefix": value.get("LogFilePrefix", "")}}


# Bucket property -> the call that applies it (s3 client, bucket name, the property's value).
_BUCKET_SETTINGS = {
    # S3 -> SQS: how every upload reaches the starter.
    "NotificationConfiguration": lambda s3, bucket, value: s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration=_notification_configuration(value)),
    # The app reads exactly the version an event names.
    "VersioningConfiguration": lambda s3, bucket, value: s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration=value),
    "PublicAccessBlockConfiguration": lambda s3, bucket, value: s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=value),
    "OwnershipControls": lambda s3, bucket, value: s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls=value),
    "CorsConfiguration": lambda s3, bucket, value: s3.put_bucket_cors(
        Bucket=bucket, CORSConfiguration=_cors_configuration(value)),
    "LifecycleConfiguration": lambda s3, bucket, value: s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration=_lifecycle_configuration(value)),
    # Only with an AccessLogBucket parameter (the local stage gives none: the !If resolves to no value).
    "LoggingConfiguration": lambda s3, bucket, value: s3.put_bucket_logging(
        Bucket=bucket, BucketLoggingStatus=_logging_status(value)),
}


def _complete_bucket(session, properties: dict) -> None:
    s3 = session.client("s3")
    for name, apply in _BUCKET_SETTINGS.items():
        if name in properties:
            apply(s3, properties["BucketName"], properties[name])


def _complete_table(session, properties: dict) -> None:
    session.client("dynamodb").update_continuous_backups(
        TableName=properties["TableName"],
        PointInTimeRecoverySpecification=properties["PointInTimeRecoverySpecification"])


def _apply_queue_policy(session, properties: dict) -> None:
    sqs = session.client("sqs")
    for queue_url in properties["Queues"]:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(properties["PolicyDocument"])})


def _api_shape(value):
    """Step Functions' API names CloudFormation's keys with a lower-case first letter (Level -> level)."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _api_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_api_shape(item) for item in value]
    return value


_STATE_MACHINE_OPTIONS = {"StateMachineType": "type", "LoggingConfiguration": "loggingConfiguration",
                          "TracingConfiguration": "tracingConfiguration"}


def _create_state_machine(session, properties: dict) -> None:
    """moto's CloudFormation puts its state machine in the Step Functions backend that does not run executions;
    with execution switched on (LocalAws) the server answers from another one, where it is created here."""
    session.client("stepfunctions").create_state_machine(
        name=properties["StateMachineName"],
        definition=substitute_definition(properties["DefinitionString"], properties.get("DefinitionSubstitutions", {})),
        roleArn=properties["RoleArn"],
        **{option: _api_shape(properties[name]) for name, option in _STATE_MACHINE_OPTIONS.items() if name in properties},
    )


def _put_alarm(session, properties: dict) -> None:
    """The alarm as CloudWatch's PutMetricAlarm takes it (the same names). Locally no metric ever reaches it,
    but `aws cloudwatch describe-alarms` against the stack shows what the cloud would watch."""
    session.client("cloudwatch").put_metric_alarm(**properties)


COMPLETIONS = {
    "AWS::S3::Bucket": Completion(frozenset(_BUCKET_SETTINGS), _complete_bucket),
    "AWS::DynamoDB::Table": Completion(frozenset({"PointInTimeRecoverySpecification"}), _complete_table),
    # moto's CloudFormation skips the whole resource type.
    "AWS::SQS::QueuePolicy": Completion(frozenset({"Queues", "PolicyDocument"}), _apply_queue_policy),
    # moto's CloudFormation skips the whole resource type.
    "AWS::CloudWatch::Alarm": Completion(
        frozenset({"AlarmName", "AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic", "Period",
                   "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData", "AlarmActions"}),
        _put_alarm),
    "AWS::StepFunctions::StateMachine": Completion(
        frozenset({"StateMachineName", "DefinitionString", "DefinitionSubstitutions", "RoleArn", *_STATE_MACHINE_OPTIONS}),
        _create_state_machine),
}

# Resource type -> why the local stack goes without it.
NOT_APPLIED_LOCALLY = {
    "AWS::S3::BucketPolicy": (
        "It denies every request not made over TLS, and the local endpoint is plain HTTP on loopback: moto "
        "evaluates bucket policies, so it would refuse every upload and read."),
    "AWS::SNS::Subscription": (
        "The e-mail subscription exists only when AlertEmail is given; the local stage gives none (its own "
        "subscriber prints the alerts), so the cloud would not create it either."),
}


class _Resolved(NamedTuple):
    output: str  # the extra output that carries the intrinsic function's value


class _Choice(NamedTuple):
    """An `Fn::If`: an output says which branch its condition selects ("true"/"false"); each branch is deferred
    on its own (an output's value must be a string, so an object branch cannot travel whole)."""
    condition: _Resolved
    when_true: Any
    when_false: Any


def _is_intrinsic(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (next(iter(value)) == "Ref" or next(iter(value)).startswith("Fn::"))


def _output(value, outputs: dict) -> _Resolved:
    key = f"{_RESOLVED}{len(outputs)}"
    outputs[key] = {"Value": value}
    return _Resolved(key)


def _defer_intrinsics(value, outputs: dict):
    """`value` with every intrinsic function moved into `outputs` (a template's Outputs) and a _Resolved left."""
    if _is_intrinsic(value) and "Fn::If" in value:
        condition, when_true, when_false = value["Fn::If"]
        return _Choice(_output({"Fn::If": [condition, "true", "false"]}, outputs),
                       _defer_intrinsics(when_true, outputs), _defer_intrinsics(when_false, outputs))
    if _is_intrinsic(value):
        return _output(value, outputs)
    if isinstance(value, dict):
        return {key: _defer_intrinsics(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [_defer_intrinsics(item, outputs) for item in value]
    return value


def _fill(value, outputs: dict):
    """`value` with each _Resolved replaced by its output. A `Ref` to AWS::NoValue has no output: the property or
    list item holding it is left out, as CloudFormation leaves it out."""
    if isinstance(value, _Choice):
        return _fill(value.when_true if outputs[value.condition.output] == "true" else value.when_false, outputs)
    if isinstance(value, _Resolved):
        return outputs.get(value.output)
    if isinstance(value, dict):
        return {key: filled for key, item in value.items() if (filled := _fill(item, outputs)) is not None}
    if isinstance(value, list):
        return [filled for item in value if (filled := _fill(item, outputs)) is not None]
    return value


def create_local_resources(session, template: dict, *, stack_name: str, parameters: dict) -> dict:
    """Create the resource stack from `template` on the local moto server `session` points at, then complete it.

    Returns the stack's outputs (as the cloud stack's: moto names queues by their AWS URL, which its SQS
    accepts from any endpoint)."""
    template = copy.deepcopy(template)
    resolved_outputs = {}
    completed = {
        name: _defer_intrinsics(resource.get("Properties", {}), resolved_outputs)
        for name, resource in template["Resources"].items() if resource["Type"] in COMPLETIONS
    }
    template["Outputs"] = {**template.get("Outputs", {}), **resolved_outputs}
    _quiet_moto_cloudformation()
    outputs = ensure_stack(session.client("cloudformation"), stack_name, json.dumps(template), parameters, wait_delay=1)
    for name, properties in completed.items():
        COMPLETIONS[template["Resources"][name]["Type"]].apply(session, _fill(properties, outputs))
    return {key: value for key, value in outputs.items() if key not in resolved_outputs}


def environment_from_outputs(outputs: dict) -> dict:
    """The stage's environment variables that name the stack's resources, as `inspection-app deploy` sets them."""
    return {variable: str(outputs[output]) for variable, output in ENVIRONMENT_FROM_OUTPUTS.items()}


def _quiet_moto_cloudformation() -> None:
    """moto logs and warns of each resource type its CloudFormation skips; COMPLETIONS or NOT_APPLIED_LOCALLY
    covers each (tests/stack/test_resources.py)."""
    logging.getLogger("moto").addFilter(_not_a_skipped_type)  # once: the same filter is not added twice
    warnings.filterwarnings("ignore", message="Tried to parse AWS::.* but it's not supported", category=UserWarning)


def _not_a_skipped_type(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("No Moto CloudFormation support for")
