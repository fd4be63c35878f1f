"""chalicelib.aws: lazily made, cached, replaceable clients."""
import json
import threading
from pathlib import Path

import pytest

from chalicelib.aws import AwsClients, worst_call_seconds
from inspection_app.chalice_stage import stage_config

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The AWS calls each task function makes at most in one invocation (record_verdict reads back after a
# conditional put that found the verdict already stored), and its state in the state machine.
CALLS = {
    "classify_image": (["s3", "sagemaker-runtime"], "ClassifyImage"),
    "record_verdict": (["dynamodb", "dynamodb"], "RecordVerdict"),
}


def test_given_a_client_asked_twice_when_created_then_the_same_one_is_reused(boto_session):
    clients = AwsClients(boto_session)
    assert clients.s3 is clients.s3
    assert clients.dynamodb is clients.dynamodb
    assert clients.s3 is not clients.dynamodb


def test_given_each_property_when_used_then_the_right_service(boto_session):
    clients = AwsClients(boto_session)
    assert clients.s3.meta.service_model.service_name == "s3"
    assert clients.stepfunctions.meta.service_model.service_name == "stepfunctions"
    assert clients.dynamodb.meta.service_model.service_name == "dynamodb"
    assert clients.sagemaker_runtime.meta.service_model.service_name == "sagemaker-runtime"


def test_given_the_s3_client_when_made_then_it_signs_with_sigv4_and_retries_briefly(boto_session):
    s3 = AwsClients(boto_session).s3
    assert s3.meta.config.signature_version == "s3v4"
    assert s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert s3.meta.config.read_timeout == 10
    assert worst_call_seconds("s3") == 2 * (s3.meta.config.connect_timeout + 10)


@pytest.mark.parametrize("function", sorted(CALLS))
def test_given_every_client_call_timing_out_when_a_task_runs_then_it_still_ends_inside_its_lambda_timeout(function):
    # GIVEN the worst case: every call of the function exhausts its attempts and timeouts
    services, state = CALLS[function]
    worst = sum(worst_call_seconds(service) for service in services)
    # THEN the function raises (a retried error) before Lambda kills it, and Lambda before the state times out
    lambda_timeout = stage_config("dev").scope("dev", function).lambda_timeout
    state_timeout = json.loads((PROJECT_DIR / "statemachine" / "inspection.asl.json").read_text())["States"][state]["TimeoutSeconds"]
    assert worst < lambda_timeout < state_timeout, (function, worst, lambda_timeout, state_timeout)


def test_given_service_endpoint_variables_when_clients_made_then_they_point_at_local_services(monkeypatch):
    # The embedded stack relies on the standard boto3 variables; nothing in the code should override them.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:8089")
    clients = AwsClients()
    assert clients.dynamodb.meta.endpoint_url == "http://127.0.0.1:5999"
    assert clients.sagemaker_runtime.meta.endpoint_url == "http://127.0.0.1:8089"


def test_given_no_endpoint_variables_when_clients_made_then_the_real_regional_endpoints(boto_session):
    assert AwsClients(boto_session).dynamodb.meta.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"


def test_given_many_threads_when_they_ask_at_once_then_one_client_is_made(boto_session):
    clients = AwsClients(boto_session)
    seen, start = [], threading.Barrier(8)

    def ask():
        start.wait()
        seen.append(clients.stepfunctions)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8
    assert len({id(client) for client in seen}) == 1


@pytest.mark.parametrize("region", ["eu-west-1", "ap-east-1", "us-east-1"])
def test_given_a_stage_in_a_region_when_an_upload_is_presigned_then_the_url_is_the_buckets_regional_host(
        monkeypatch, region):
    # GIVEN the cloud: no endpoint override, credentials from the function's role
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    # WHEN POST /uploads presigns an upload
    post = AwsClients().s3.generate_presigned_post("plant-uploads", "uploads/p-1/a.jpg")
    # THEN browsers post straight to the bucket's region: no 307 from the global host, no CORS failure
    expected = ("https://plant-uploads.s3.amazonaws.com/" if region == "us-east-1"
                else f"https://plant-uploads.s3.{region}.amazonaws.com/")
    assert post["url"] == expected


@pytest.mark.parametrize("endpoint", ["http://localhost:5999", "http://127.0.0.1:5999"])
def test_given_a_local_s3_endpoint_when_an_upload_is_presigned_then_the_url_stays_path_style_on_it(
        monkeypatch, endpoint):
    # GIVEN the embedded stack's S3 on a local port
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    # WHEN an upload is presigned
    post = AwsClients().s3.generate_presigned_post("quality-inspection-local-uploads", "uploads/p-1/a.jpg")
    # THEN it names the local endpoint and the bucket in the path (a <bucket>.localhost host would not resolve)
    assert post["url"] == f"{endpoint}/quality-inspection-local-uploads"
