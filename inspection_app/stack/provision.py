"""Creating the stack's resources on the local services, with the names the stage configures.

The cloud creates the same resources from the resource template (`statemachine/`); settings that shape
behaviour (dead-letter policy, keys, notification filter) come from `resource_settings.py`, shared by both.
"""
from __future__ import annotations

import json

from chalicelib.settings import Settings

from ..chalice_stage import function_name, render_definition
from .local_aws import LOCAL_ACCOUNT_ID, LOCAL_REGION
from ..resource_settings import (
    DLQ_MAX_RECEIVE_COUNT,
    PARKED_VERDICT_RETENTION_SECONDS,
    QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    results_table_definition,
)


def provision(session, settings: Settings, *, app_name: str, stage: str, queue_name: str,
              retry_window_seconds: int | None = None) -> dict:
    """Create bucket, queues, table, topic and state machine; returns their identifiers.

    `retry_window_seconds`: see `render_definition` (None keeps the definition's own retries)."""
    s3 = session.client("s3")
    sqs = session.client("sqs")
    sns = session.client("sns")
    dynamodb = session.client("dynamodb")
    sfn = session.client("stepfunctions")

    dlq_url = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=queue_name,
        Attributes={
            "VisibilityTimeout": str(QUEUE_VISIBILITY_TIMEOUT_SECONDS),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    parked_url = sqs.create_queue(
        QueueName=f"{app_name}-{stage}-parked-verdicts",
        Attributes={"MessageRetentionPeriod": str(PARKED_VERDICT_RETENTION_SECONDS)},
    )["QueueUrl"]

    s3.create_bucket(Bucket=settings.upload_bucket)
    # Versioned: a photo an alert links to can never be overwritten by a later upload to the same key.
    s3.put_bucket_versioning(Bucket=settings.upload_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=settings.upload_bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_notification_configuration(
        Bucket=settings.upload_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": settings.upload_prefix}]}},
                }
            ]
        },
    )

    dynamodb.create_table(**results_table_definition(settings.results_table))

    topic_arn = sns.create_topic(Name=settings.alert_topic_arn.rsplit(":", 1)[-1])["TopicArn"]
    if topic_arn != settings.alert_topic_arn:
        raise ValueError(f"ALERT_TOPIC_ARN {settings.alert_topic_arn} does not match the local topic {topic_arn}")

    def lambda_arn(handler: str) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{function_name(app_name, stage, handler)}"

    definition = render_definition(
        {
            "ClassifyImageFunctionArn": lambda_arn("classify_image"),
            "RecordVerdictFunctionArn": lambda_arn("record_verdict"),
            "AlertTopicArn": topic_arn,
            "ParkedVerdictQueueUrl": parked_url,
        },
        retry_window_seconds,
    )
    state_machine_arn = sfn.create_state_machine(
        name=settings.state_machine_arn.rsplit(":", 1)[-1],
        definition=definition,
        roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/{app_name}-{stage}-state-machine",
    )["stateMachineArn"]
    if state_machine_arn != settings.state_machine_arn:
        raise ValueError(f"STATE_MACHINE_ARN {settings.state_machine_arn} does not match {state_machine_arn}")

    return {
        "queue_url": queue_url,
        "queue_arn": queue_arn,
        "dead_letter_queue_url": dlq_url,
        "parked_verdict_queue_url": parked_url,
        "topic_arn": topic_arn,
        "state_machine_arn": state_machine_arn,
    }
