"""The inspection state machine executed for real: moto's Step Functions interpreter runs
statemachine/inspection.asl.json against the unchanged task code (chalicelib's classify and record steps), an
S3 bucket, a DynamoDB table, an SNS topic and a SageMaker-compatible model endpoint, all in this process.

Failures are injected by request count, not by time ("fail the next N requests to S3"), through the same WSGI
fault layer as `inspection-app fault` (inspection_app/stack/faults.py), so what fails is exactly what AWS
answers during an outage. The interpreter's Retry waits are recorded instead of slept: a test sees every wait
the definition asks for and still runs in about a second.
"""
from __future__ import annotations

import json
import threading
import time
import types
from collections import Counter
from datetime import datetime, timezone

import boto3
import pytest
import requests
from botocore.retries import standard
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from chalicelib import inspection
from chalicelib.aws import AwsClients
from chalicelib.classify import classify_upload
from chalicelib.endpoint import SageMakerEndpoint
from chalicelib.results import DynamoDbResultsStore
from inspection_app.chalice_stage import render_definition
from inspection_app.stack.faults import Fault
from inspection_app.stack.lambda_dispatch import LambdaDispatcher
from inspection_app.stack.local_aws import LOCAL_ACCOUNT_ID, LOCAL_REGION, LocalAws, local_aws_environment
from inspection_app.stack.model_server import LocalModelEndpoint
from unit.helpers import create_results_table, make_settings, noisy_jpeg

PREFIX = "quality-inspection-sfn-"
BUCKET = "sfn-test-uploads"
TABLE = "sfn-test-results"
ENDPOINT = "sfn-test-model"
MODEL_ID = "sfn-test-model-v1"


class FailNext:
    """A fault table that fails the next N requests of a service (then answers normally), and counts the
    requests each service got. Duck-types FaultTable.active for `fault_middleware`."""

    def __init__(self):
        self._lock = threading.Lock()
        self.remaining: Counter = Counter()
        self.requests: Counter = Counter()

    def fail(self, service: str, times: int) -> None:
        with self._lock:
            self.remaining[service] = times

    def reset(self) -> None:
        with self._lock:
            self.remaining.clear()
            self.requests.clear()

    def active(self, service):
        if service is None:
            return None
        with self._lock:
            self.requests[service] += 1
            if self.remaining[service] <= 0:
                return None
            self.remaining[service] -= 1
        return Fault(service, "error", 1.0, float("inf"), datetime.now(timezone.utc))


class Model:
    """The fake model behind the local endpoint: sure the part is defective (`answer`); `hang_next` seconds on
    its next call (an endpoint that stops answering)."""

    model_id = MODEL_ID
    input_size = 64
    threshold = 0.75

    def __init__(self):
        self.hang_next = 0.0
        self.calls = 0
        self.answer = [0.05, 0.95]

    def predict(self, body: bytes):
        self.calls += 1
        hang, self.hang_next = self.hang_next, 0.0
        time.sleep(hang)
        return self.answer


class Pipeline:
    """The running pieces one test drives: start an execution, read its history, inject failures."""

    def __init__(self, aws: LocalAws, faults: FailNext, model: Model, waits: list, session):
        self.aws, self.faults, self.model, self.waits = aws, faults, model, waits
        self.session = session
        self.sfn = session.client("stepfunctions")
        self.sqs = session.client("sqs")
        self.dynamodb = session.client("dynamodb")
        self.topic_arn = session.client("sns").create_topic(Name="sfn-test-alerts")["TopicArn"]
        self.parked_url = self.sqs.create_queue(QueueName="sfn-test-parked")["QueueUrl"]
        self.alerts_url = self.sqs.create_queue(QueueName="sfn-test-alert-reader")["QueueUrl"]
        alerts_arn = self.sqs.get_queue_attributes(QueueUrl=self.alerts_url, AttributeNames=["QueueArn"])
        session.client("sns").subscribe(TopicArn=self.topic_arn, Protocol="sqs",
                                        Endpoint=alerts_arn["Attributes"]["QueueArn"])
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="uploads/PCB-7/capture-1.jpg", Body=noisy_jpeg())
        create_results_table(self.dynamodb, TABLE)
        self._machines: dict = {}
        self._executions = 0

    def function_arn(self, handler: str) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{PREFIX}{handler}"

    def definition(self, change=None) -> str:
        """The real definition, filled in; `change(states)` may alter it first (a test's time scale)."""
        text = render_definition({
            "ClassifyImageFunctionArn": self.function_arn("classify_image"),
            "RecordVerdictFunctionArn": self.function_arn("record_verdict"),
            "AlertTopicArn": self.topic_arn,
            "ParkedVerdictQueueUrl": self.parked_url,
        })
        if change is None:
            return text
        definition = json.loads(text)
        change(definition["States"])
        return json.dumps(definition)

    def run(self, change=None, timeout: float = 60) -> "Execution":
        """Run one inspection to its end; the execution's history and what it stored and alerted."""
        text = self.definition(change)
        if text not in self._machines:
            self._machines[text] = self.sfn.create_state_machine(
                name=f"sfn-test-{len(self._machines)}", definition=text,
                roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/sfn-test")["stateMachineArn"]
        self._executions += 1
        inspection_id = f"PCB-7-{self._executions:04d}"
        arn = self.sfn.start_execution(stateMachineArn=self._machines[text], name=inspection_id, input=json.dumps({
            "inspection_id": inspection_id, "bucket": BUCKET, "key": "uploads/PCB-7/capture-1.jpg",
            "product_id": "PCB-7", "capture_id": "capture-1", "size": 1, "etag": "", "version_id": "",
            "sequencer": "", "uploaded_at": f"2024-05-14T09:21:{self._executions:02d}.000Z"}))["executionArn"]
        deadline = time.monotonic() + timeout
        while (status := self.sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
            assert time.monotonic() < deadline, f"execution {inspection_id} still running after {timeout} s"
            time.sleep(0.05)
        events = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return Execution(status, events, self._stored(inspection_id), self._drain(self.alerts_url),
                         self._drain(self.parked_url))

    def _stored(self, inspection_id: str) -> list[dict]:
        items = self.dynamodb.scan(TableName=TABLE)["Items"]
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in items
                if item["inspection_id"]["S"] == inspection_id]

    def _drain(self, queue_url: str) -> list[dict]:
        messages = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(message["Body"]) for message in messages]


class Execution:
    """One ended execution, read from its history: attempts and errors per task state."""

    def __init__(self, status: str, events: list, stored: list, alerts: list, parked: list):
        self.status, self.events, self.stored, self.alerts, self.parked = status, events, stored, alerts, parked
        self.attempts: Counter = Counter()
        self.errors: dict = {}
        self.states: list = []
        state = None
        for event in events:
            kind = event["type"]
            if kind.endswith("StateEntered"):
                state = event["stateEnteredEventDetails"]["name"]
                self.states.append(state)
            elif kind in ("LambdaFunctionScheduled", "TaskScheduled"):
                self.attempts[state] += 1
            elif kind in ("LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskFailed", "TaskTimedOut"):
                details = next(value for name, value in event.items() if name.endswith("EventDetails"))
                self.errors.setdefault(state, []).append(details.get("error"))
        self.failure = next((event.get("executionFailedEventDetails") for event in events
                             if event["type"] == "ExecutionFailed"), None)


@pytest.fixture(scope="module")
def pipeline():
    faults, model = FailNext(), Model()
    waits: list = []
    with pytest.MonkeyPatch.context() as patch:
        # The interpreter's Retry waits are recorded, not slept; so are botocore's own retry pauses.
        patch.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=waits.append))
        patch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
        patch.setenv("MOTO_PORT", "5000")  # LocalAws.start() sets it; put back afterwards
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
            patch.delenv(name, raising=False)
        settings = make_settings(upload_bucket=BUCKET, results_table=TABLE, endpoint_name=ENDPOINT,
                                 model_input_size=Model.input_size)
        clients = AwsClients()

        def classify_image(event, context):
            endpoint = SageMakerEndpoint(clients.sagemaker_runtime, settings.endpoint_name, len(settings.model_classes))
            return classify_upload(event, settings, clients.s3, endpoint)

        def record_verdict(event, context):
            return inspection.record_verdict(event, settings, DynamoDbResultsStore(clients.dynamodb, TABLE))

        dispatcher = LambdaDispatcher({"classify_image": classify_image, "record_verdict": record_verdict}, PREFIX)
        endpoint = LocalModelEndpoint(model, ENDPOINT, faults=faults).start()
        aws = LocalAws(dispatcher, faults=faults)
        for name, value in local_aws_environment(aws.url, endpoint.url).items():
            patch.setenv(name, value)
        aws.start()
        try:
            yield Pipeline(aws, faults, model, waits, boto3.session.Session())
        finally:
            # moto's backends live as long as the process: the next module's pipeline creates the same resources.
            requests.post(f"{aws.url}/moto-api/reset", timeout=10)
            aws.stop()
            endpoint.stop()


@pytest.fixture
def run(pipeline):
    """pipeline.run after a clean slate: no failures pending, no waits or requests counted."""
    pipeline.faults.reset()
    pipeline.waits.clear()
    pipeline.model.hang_next, pipeline.model.calls = 0.0, 0
    pipeline.model.answer = [0.05, 0.95]
    return pipeline.run
