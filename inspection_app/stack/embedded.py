"""The embedded stack: the whole pipeline on one machine, no AWS account, no Docker.

The same `app.py`, the same resource template and state machine definition as in the cloud; only
configuration differs: boto3 is pointed at moto (S3, SQS, SNS, DynamoDB, Step Functions, CloudFormation) and at
a local model endpoint, and the `local` stage's resources are a stack created from `statemachine/resources.yaml`.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from chalicelib import logs

from .alerts_inbox import AlertInbox
from .background import quiet_servers
from ..chalice_stage import load_app_module, stage_config
from ..deploy.names import resource_stack_name
from .faults import FaultTable
from .lambda_dispatch import RemoteLambda
from .local_aws import LOCAL_REGION, LocalAws, local_aws_environment
from .model_server import LocalModelEndpoint
from ..resource_template import resource_template
from .resources import create_local_resources, environment_from_outputs
from .sqs_poller import QueuePoller, lambda_batch_processor
from .workers import start_workers, stop_workers

STAGE = "local"


@dataclass
class StackInfo:
    api_url: str
    aws_url: str
    model_url: str
    upload_bucket: str
    queue_url: str
    dead_letter_queue_url: str
    parked_verdict_queue_url: str
    results_table: str
    topic_arn: str
    state_machine_arn: str
    endpoint_name: str
    model_id: str
    log_file: str


@contextmanager
def _environment(values: dict):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def embedded_stack(predictor, *, api_port: int = 8000, log_file: Path, on_alert=None, quiet: bool = False,
                   retry_window_seconds: int | None = None):
    """Run the stack until the block exits; yields (StackInfo, AlertInbox).

    `retry_window_seconds` shortens the state machine's retries (see `shorten_retries`) for rehearsals."""
    config = stage_config(STAGE, load_app_module().app)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    quiet_servers()

    with open(log_file, "a", buffering=1) as log_stream:
        logs.configure(log_stream)
        faults = FaultTable()  # one table: `inspection-app fault` reaches the model endpoint via the AWS port
        endpoint_name = config.environment_variables["SAGEMAKER_ENDPOINT_NAME"]
        model_endpoint = LocalModelEndpoint(predictor, endpoint_name, faults=faults).start()
        # The handlers run in the `lambda` worker process; moto and the pollers invoke them there.
        functions = RemoteLambda(f"{config.app_name}-{STAGE}-")
        aws = LocalAws(functions, faults=faults).start()
        pollers, workers = [], {}
        try:
            with _environment(local_aws_environment(aws.url, model_endpoint.url)):
                session = boto3.session.Session()
                outputs = create_local_resources(
                    session, resource_template(retry_window_seconds=retry_window_seconds),
                    stack_name=resource_stack_name(config.app_name, STAGE),
                    # The local endpoint serves this model: uploads are resized to its input once, in the Lambda,
                    # and judged with the review threshold chosen with it.
                    parameters={"AppName": config.app_name, "Stage": STAGE, "EndpointName": endpoint_name,
                                "ModelInputSize": predictor.input_size, "ConfidenceThreshold": predictor.threshold},
                )
                with _environment({**config.environment_variables, **environment_from_outputs(outputs)}):
                    # Each worker inherits this environment: the same app, configured as the Lambda functions are.
                    workers = start_workers(("lambda", "api"), **{
                        "lambda": {"log_file": log_file, "stage": STAGE},
                        "api": {"log_file": log_file, "stage": STAGE, "port": api_port, "quiet": quiet},
                    })
                    functions.connect(workers["lambda"].url, workers["lambda"].handlers)
                    # The state machine's Lambda tasks call the worker directly, not through moto's server.
                    aws.route("lambda", workers["lambda"].url)
                    sqs = session.client("sqs")
                    inbox = AlertInbox(on_alert)
                    inbox_url = _subscribe_inbox(session, outputs["AlertTopicArn"], f"{config.app_name}-{STAGE}-alert-inbox")
                    pollers = [
                        QueuePoller(sqs, outputs["UploadQueueUrl"], lambda_batch_processor(
                            functions, "start_inspections", outputs["UploadQueueArn"], LOCAL_REGION)).start(),
                        QueuePoller(sqs, inbox_url, inbox.process).start(),
                    ]
                    yield _stack_info(outputs, api_url=workers["api"].url, aws_url=aws.url, model_url=model_endpoint.url,
                                      model_id=predictor.model_id, log_file=str(log_file)), inbox
        finally:
            if "api" in workers:
                workers["api"].stop()
            for poller in pollers:
                poller.stop()
            stop_workers(workers.values())
            aws.stop()
            model_endpoint.stop()
            logs.configure()


def _stack_info(outputs: dict, **urls_and_model) -> StackInfo:
    """What `inspection-app up --ready-file` writes: the servers' URLs, the model, the stack's resources."""
    return StackInfo(
        upload_bucket=outputs["UploadBucketName"],
        queue_url=outputs["UploadQueueUrl"],
        dead_letter_queue_url=outputs["DeadLetterQueueUrl"],
        parked_verdict_queue_url=outputs["ParkedVerdictQueueUrl"],
        results_table=outputs["ResultsTableName"],
        topic_arn=outputs["AlertTopicArn"],
        state_machine_arn=outputs["StateMachineArn"],
        endpoint_name=outputs["EndpointName"],
        **urls_and_model,
    )


def _subscribe_inbox(session, topic_arn: str, queue_name: str) -> str:
    sqs = session.client("sqs")
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    session.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url
