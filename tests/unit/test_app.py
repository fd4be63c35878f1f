"""app.py through chalice.test.Client on the `local` stage, with moto behind it."""
import base64
import io
import json
import time
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from chalice.test import Client
from PIL import Image

import app as app_module
from chalicelib.aws import AwsClients
from chalicelib.endpoint import ModelEndpointError, ModelEndpointUnavailable
from chalicelib.results import DynamoDbResultsStore, inspection_key

from .helpers import (
    LOCAL_BUCKET,
    LOCAL_ENDPOINT_NAME,
    LOCAL_STATE_MACHINE_NAME,
    LOCAL_TABLE,
    PASS_DEFINITION,
    ROLE_ARN,
    create_results_table,
    invoke_endpoint_response,
    jpeg_bytes,
    s3_message,
    s3_record,
    s3_test_event,
    sqs_event,
    sqs_record,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}
KEY = "uploads/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg"
SERVED_INPUT_SIZE = 192


@pytest.fixture
def clients(aws, boto_session, monkeypatch):
    """The app's clients, on moto; the resources the `local` stage names exist."""
    # What the embedded stack sets from the model it serves (config.json has no MODEL_INPUT_SIZE).
    monkeypatch.setenv("MODEL_INPUT_SIZE", str(SERVED_INPUT_SIZE))
    fresh = AwsClients(boto_session)
    monkeypatch.setattr(app_module, "clients", fresh)
    fresh.s3.create_bucket(Bucket=LOCAL_BUCKET)
    create_results_table(fresh.dynamodb, LOCAL_TABLE)
    fresh.stepfunctions.create_state_machine(name=LOCAL_STATE_MACHINE_NAME, definition=PASS_DEFINITION, roleArn=ROLE_ARN)
    return fresh


@pytest.fixture
def client(clients, monkeypatch):
    # chalice.test's Lambda context leaves every function 3 s, not its configured timeout: give the
    # starter's time check the configured 60 s instead, as Lambda would.
    monkeypatch.setattr("chalice.local.LambdaContext.get_remaining_time_in_millis", lambda self: 60_000)
    with Client(app_module.app, stage_name="local", project_dir=str(PROJECT_DIR)) as test_client:
        yield test_client


@pytest.fixture
def model(clients, boto_session):
    """A stubbed sagemaker-runtime client the app uses; `sent` collects the request bodies."""
    runtime = boto_session.client("sagemaker-runtime")
    clients._clients["sagemaker-runtime"] = runtime
    sent = []
    runtime.meta.events.register(
        "before-parameter-build.sagemaker-runtime.InvokeEndpoint", lambda params, **_: sent.append(params)
    )
    with Stubber(runtime) as stubber:
        stubber.sent = sent
        yield stubber


def post_upload(client, body) -> "object":
    return client.http.post("/uploads", headers=JSON, body=json.dumps(body).encode())


# --- POST /uploads ------------------------------------------------------------------------------------


def test_given_a_valid_request_when_posted_then_201_with_a_presigned_post_for_the_local_bucket(client):
    response = post_upload(client, {"product_id": "PCB-0042", "content_type": "image/png"})

    assert response.status_code == 201
    body = response.json_body
    assert body["bucket"] == LOCAL_BUCKET
    assert body["key"].startswith("uploads/PCB-0042/") and body["key"].endswith(".png")
    assert body["url"].startswith("https://") and LOCAL_BUCKET in body["url"]
    assert body["fields"]["key"] == body["key"]
    policy = json.loads(base64.b64decode(body["fields"]["policy"]))
    assert ["content-length-range", 1, 10485760] in policy["conditions"]  # MAX_UPLOAD_BYTES of config.json
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert body["results_path"] == "/results/PCB-0042"
    assert "Access-Control-Allow-Origin" not in response.headers  # no origin configured: no CORS (ALLOWED_ORIGINS)


def test_given_the_presigned_post_when_a_camera_uploads_with_it_then_the_object_is_in_the_bucket(client, clients):
    body = post_upload(client, {"product_id": "PCB-0042"}).json_body
    photo = jpeg_bytes(32, 32)
    upload = requests.post(body["url"], data=body["fields"], files={"file": ("photo.jpg", photo, "image/jpeg")})
    assert upload.status_code in (200, 201, 204)
    stored = clients.s3.get_object(Bucket=LOCAL_BUCKET, Key=body["key"])
    assert stored["Body"].read() == photo
    assert stored["ContentType"] == "image/jpeg"


@pytest.mark.parametrize(
    "product_id",
    ["", "../../etc/passwd", "PCB/0042", "-PCB", "PCB..1", "P" * 129, "Prüfling", "PCB 1", 42, None],
)
def test_given_an_invalid_product_id_when_posted_then_400_json_error_with_the_rule(client, product_id):
    response = post_upload(client, {"product_id": product_id, "content_type": "image/jpeg"})
    assert response.status_code == 400
    assert response.json_body["error"] == "InvalidUploadRequest"
    assert "1 to 128 characters" in response.json_body["message"]


@pytest.mark.parametrize("content_type", ["image/gif", "text/plain", "image/jpg", ""])
def test_given_an_unaccepted_content_type_when_posted_then_400_listing_the_accepted_ones(client, content_type):
    response = post_upload(client, {"product_id": "PCB-0042", "content_type": content_type})
    assert response.status_code == 400
    assert response.json_body["error"] == "InvalidUploadRequest"
    assert "image/jpeg, image/png" in response.json_body["message"]


def test_given_a_list_as_content_type_when_posted_then_400(client):
    response = post_upload(client, {"product_id": "PCB-0042", "content_type": ["image/jpeg"]})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "headers, body",
    [({}, b""), (JSON, b"null"), (JSON, b"[]"), (JSON, b'"PCB-0042"')],
    ids=["no-body", "null", "array", "string"],
)
def test_given_no_json_object_when_posted_then_400_with_an_example_request(client, headers, body):
    response = client.http.post("/uploads", headers=headers, body=body)
    assert response.status_code == 400
    assert response.json_body["error"] == "InvalidUploadRequest"
    assert '"product_id": "PCB-0042"' in response.json_body["message"]


def test_given_a_body_that_is_no_json_when_posted_then_400(client):
    # Answered in the app's own error format, saying what to send.
    response = client.http.post("/uploads", headers=JSON, body=b"{product_id: PCB-0042")
    assert response.status_code == 400
    assert response.json_body["error"] == "InvalidUploadRequest"
    assert '"product_id"' in response.json_body["message"]


# --- GET /results/{product_id} ------------------------------------------------------------------------


def test_given_an_unknown_product_when_results_asked_then_404_json(client):
    response = client.http.get("/results/PCB-9999")
    assert response.status_code == 404
    assert response.json_body["error"] == "ProductNotFound"
    assert "PCB-9999" in response.json_body["message"]


@pytest.mark.parametrize("product_id", ["..", "-PCB", "P" * 129, "PCB%2F1", "%C3%A9"])
def test_given_an_invalid_product_id_when_results_asked_then_400_json(client, product_id):
    response = client.http.get(f"/results/{product_id}")
    assert response.status_code == 400
    assert response.json_body["error"] == "InvalidProductId"


def test_given_stored_results_when_asked_then_200_with_latest_and_history(client, clients):
    store = DynamoDbResultsStore(clients.dynamodb, LOCAL_TABLE)
    for uploaded_at, verdict in [("2024-05-14T09:00:00.000Z", "defect_free"), ("2024-05-14T10:00:00.000Z", "defective")]:
        inspection_id = f"PCB-0042-{verdict}"
        store.put({"product_id": "PCB-0042", "inspection_key": inspection_key(uploaded_at, inspection_id),
                   "inspection_id": inspection_id, "uploaded_at": uploaded_at, "verdict": verdict, "confidence": 0.9})
    store.put({"product_id": "PCB-0043", "inspection_key": inspection_key("2024-05-14T11:00:00.000Z", "x"),
               "inspection_id": "x", "uploaded_at": "2024-05-14T11:00:00.000Z", "verdict": "rejected"})

    response = client.http.get("/results/PCB-0042")

    assert response.status_code == 200
    body = response.json_body
    assert body["product_id"] == "PCB-0042"
    assert body["count"] == 2
    assert body["latest"]["verdict"] == "defective"
    assert [entry["verdict"] for entry in body["history"]] == ["defective", "defect_free"]
    assert body["latest"]["confidence"] == 0.9


def _store_result_of(clients, key=KEY, verdict="defect_free"):
    uploaded_at = "2024-05-14T09:21:08.000Z"
    DynamoDbResultsStore(clients.dynamodb, LOCAL_TABLE).put(
        {"product_id": "PCB-0042", "inspection_key": inspection_key(uploaded_at, "PCB-0042-x"),
         "inspection_id": "PCB-0042-x", "uploaded_at": uploaded_at, "key": key, "verdict": verdict})


def test_given_the_uploads_result_stored_when_waited_for_then_200_with_that_result(client, clients):
    # GIVEN the stored result of an upload
    _store_result_of(clients)
    # WHEN a client waits for it with one request
    response = client.http.get(f"/results/PCB-0042?key={KEY}&wait=20")
    # THEN it gets that result at once
    assert response.status_code == 200
    assert response.json_body["key"] == KEY
    assert response.json_body["result"]["verdict"] == "defect_free"


def test_given_no_result_yet_when_the_wait_runs_out_then_202_pending(client, clients):
    # GIVEN no result
    # WHEN a client waits 0.3 s
    started = time.monotonic()
    response = client.http.get(f"/results/PCB-0042?key={KEY}&wait=0.3")
    # THEN it is told to ask again, after the wait
    assert response.status_code == 202
    assert response.json_body["status"] == "pending"
    assert 0.3 <= time.monotonic() - started < 2


@pytest.mark.parametrize("query", [
    "key=uploads/PCB-0043/20240514T092107532000Z-0a1b2c3d.jpg",  # another product's upload
    f"key={KEY}&wait=21",
    f"key={KEY}&wait=soon",
    "wait=5",
])
def test_given_a_bad_key_or_wait_when_waited_then_400_json(client, clients, query):
    response = client.http.get(f"/results/PCB-0042?{query}")
    assert response.status_code == 400
    assert response.json_body["error"] == "InvalidResultsRequest"
    assert response.json_body["message"]


# --- the Lambda functions -------------------------------------------------------------------------------


def task_input(key=KEY) -> dict:
    return {
        "inspection_id": "PCB-0042-4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
        "bucket": LOCAL_BUCKET,
        "key": key,
        "product_id": "PCB-0042",
        "capture_id": "20240514T092107532000Z-0a1b2c3d",
        "size": 2048,
        "etag": "9b2cf535f27731c974343645a3985328",
        "version_id": "",
        "sequencer": "0066433B1F7D9A5C21",
        "uploaded_at": "2024-05-14T09:21:07.532Z",
    }


def test_given_an_uploaded_photo_when_classify_image_invoked_then_the_endpoint_is_asked_and_a_result_returned(
    client, clients, model
):
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=KEY, Body=jpeg_bytes(640, 480), ContentType="image/jpeg")
    model.add_response(
        "invoke_endpoint",
        invoke_endpoint_response([0.07, 0.93], custom_attributes="model_id=effnet-lite0-2024-05-10"),
        {"EndpointName": LOCAL_ENDPOINT_NAME, "ContentType": "application/x-image", "Accept": "application/json",
         "Body": ANY, "CustomAttributes": "heatmap=true"},
    )

    result = client.lambda_.invoke("classify_image", task_input()).payload

    model.assert_no_pending_responses()
    assert result == {
        "status": "classified",
        "label": "defective",
        "confidence": 0.93,
        "probabilities": {"defect_free": 0.07, "defective": 0.93},
        "model_id": "effnet-lite0-2024-05-10",
        "image": {"format": "JPEG", "width": 640, "height": 480},
    }
    [request] = model.sent
    sent_image = Image.open(io.BytesIO(request["Body"]))
    assert sent_image.size == (SERVED_INPUT_SIZE, SERVED_INPUT_SIZE)  # MODEL_INPUT_SIZE, set from the model


def test_given_a_text_file_named_jpg_when_classify_image_invoked_then_rejected_without_the_model(client, clients, model):
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=KEY, Body=b"not a photo\n")
    result = client.lambda_.invoke("classify_image", task_input()).payload
    assert result["status"] == "rejected"
    assert "not an image in an accepted format" in result["reason"]
    assert model.sent == []


def test_given_a_throttled_endpoint_when_classify_image_invoked_then_the_retryable_error_type_is_raised(
    client, clients, model
):
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=KEY, Body=jpeg_bytes())
    model.add_client_error("invoke_endpoint", "ThrottlingException", "Rate exceeded", http_status_code=400)
    with pytest.raises(ModelEndpointUnavailable):
        client.lambda_.invoke("classify_image", task_input())


def test_given_a_classification_when_record_verdict_invoked_then_stored_alert_returned_and_results_served(
    client, clients, model
):
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=KEY, Body=jpeg_bytes())
    model.add_response("invoke_endpoint", invoke_endpoint_response([0.05, 0.95]))
    state = task_input()
    state["classification"] = client.lambda_.invoke("classify_image", state).payload

    recorded = client.lambda_.invoke("record_verdict", state).payload

    assert recorded["verdict"] == "defective"
    assert recorded["inspection_key"] == f"2024-05-14T09:21:07.532Z#{state['inspection_id']}"
    assert f"s3://{LOCAL_BUCKET}/{KEY}" in recorded["alert"]["message"]
    results = client.http.get("/results/PCB-0042").json_body
    assert results["latest"]["verdict"] == "defective"
    assert results["latest"]["model_id"] == f"{LOCAL_ENDPOINT_NAME}/AllTraffic"
    assert results["latest"]["threshold"] == 0.75  # CONFIDENCE_THRESHOLD of config.json


def test_given_a_model_giving_a_heat_map_when_classified_and_recorded_then_its_overlay_is_stored_beside_the_upload(
    client, clients, model
):
    # GIVEN a 640x480 photo and a model whose 2x2 map says "defect" in the top-left cell only
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=KEY, Body=jpeg_bytes(640, 480))
    model.add_response("invoke_endpoint", invoke_endpoint_response(
        {"probabilities": [0.1, 0.9], "heatmap": [[6.0, -6.0], [-6.0, -6.0]]}))
    state = task_input()
    # WHEN it is classified and recorded
    state["classification"] = client.lambda_.invoke("classify_image", state).payload
    recorded = client.lambda_.invoke("record_verdict", state).payload
    # THEN the overlay lies outside the upload prefix, one per inspection, and the result names it
    key = f"heatmaps/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg.{state['inspection_id']}.png"
    assert state["classification"]["heatmap_key"] == key
    assert recorded["verdict"] == "defective"
    assert client.http.get("/results/PCB-0042").json_body["latest"]["heatmap_key"] == key
    stored = clients.s3.get_object(Bucket=LOCAL_BUCKET, Key=key)
    assert stored["ContentType"] == "image/png"
    overlay = Image.open(io.BytesIO(stored["Body"].read())).convert("RGB")
    photo = Image.open(io.BytesIO(jpeg_bytes(640, 480))).convert("RGB")
    # the photo's size, coloured where the map is hot (top-left quarter), the photo itself where it is cold
    assert overlay.size == (640, 480)
    hot, cold = overlay.getpixel((80, 60)), overlay.getpixel((560, 420))
    assert hot[0] > hot[2] + 60 and hot != photo.getpixel((80, 60))
    assert max(abs(a - b) for a, b in zip(cold, photo.getpixel((560, 420)))) <= 2


def test_given_a_heat_map_that_cannot_be_stored_when_classified_then_the_verdict_stands_without_it(
    client, clients, model, monkeypatch
):
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=KEY, Body=jpeg_bytes(640, 480))
    model.add_response("invoke_endpoint", invoke_endpoint_response({"probabilities": [0.1, 0.9], "heatmap": [[1.0]]}))
    put_object = clients.s3.put_object

    def refused(**params):
        if params["Key"].startswith("heatmaps/"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
        return put_object(**params)

    monkeypatch.setattr(clients.s3, "put_object", refused)
    result = client.lambda_.invoke("classify_image", task_input()).payload
    assert result["status"] == "classified" and result["label"] == "defective"
    assert "heatmap_key" not in result


def test_given_a_version_retried_when_classified_and_recorded_twice_then_that_version_is_read_and_stored_once(
    client, clients, model
):
    # GIVEN a versioned bucket where the key was overwritten after the upload the event names
    clients.s3.put_bucket_versioning(Bucket=LOCAL_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    version = clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=KEY, Body=jpeg_bytes())["VersionId"]
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=KEY, Body=b"overwritten, not a photo")
    model.add_response("invoke_endpoint", invoke_endpoint_response([0.05, 0.95]))
    state = {**task_input(), "version_id": version}
    state["classification"] = client.lambda_.invoke("classify_image", state).payload
    # WHEN the record task runs twice (Step Functions retried it after a lost answer)
    first = client.lambda_.invoke("record_verdict", state).payload
    again = client.lambda_.invoke("record_verdict", state).payload
    # THEN the named version was judged, and the second run answers what the first stored
    assert state["classification"]["status"] == "classified"
    assert again == first and first["verdict"] == "defective"
    stored = client.http.get("/results/PCB-0042").json_body
    assert stored["count"] == 1 and stored["latest"]["version_id"] == version


def test_given_a_caught_failure_when_record_verdict_invoked_then_an_error_result_is_served(client):
    state = task_input()
    state["failure"] = {
        "Error": "ModelEndpointError",
        "Cause": json.dumps({"errorMessage": "endpoint quality-inspection-local-model: ValidationError: not found",
                             "errorType": "ModelEndpointError"}),
    }
    alert = client.lambda_.invoke("record_verdict", state).payload["alert"]
    assert alert["subject"] == "Not inspected: PCB-0042"
    latest = client.http.get("/results/PCB-0042").json_body["latest"]
    assert latest["verdict"] == "error"
    assert latest["reason"] == "ModelEndpointError: endpoint quality-inspection-local-model: ValidationError: not found"


# --- POST /reinspections ------------------------------------------------------------------------------


def test_given_an_error_result_when_reinspection_posted_then_202_and_the_photo_is_inspected_again(client, clients):
    # GIVEN a stored error result
    state = task_input()
    state["failure"] = {"Error": "States.Timeout", "Cause": ""}
    client.lambda_.invoke("record_verdict", state)
    # WHEN its reinspection is asked for through the API
    response = client.http.post("/reinspections", headers=JSON,
                                body=json.dumps({"verdict": "error", "since": "2024-05-14T00:00:00Z"}).encode())
    # THEN 202 names what was started, and an execution re-runs that key
    assert response.status_code == 202
    assert response.json_body["count"] == 1
    [started] = executions(clients)
    assert (started["key"], started["reinspection_of"]) == (state["key"], state["inspection_id"])


def test_given_a_bad_reinspection_request_when_posted_then_400_in_the_usual_shape(client):
    response = client.http.post("/reinspections", headers=JSON, body=b'{"verdict": "perhaps"}')
    assert response.status_code == 400
    assert response.json_body["error"] == "InvalidReinspectionRequest"
    assert "verdict 'perhaps'" in response.json_body["message"]


def executions(clients) -> list:
    arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{LOCAL_STATE_MACHINE_NAME}"
    found = clients.stepfunctions.list_executions(stateMachineArn=arn)["executions"]
    return [json.loads(clients.stepfunctions.describe_execution(executionArn=e["executionArn"])["input"]) for e in found]


def test_given_an_sqs_event_from_chalice_when_start_inspections_invoked_then_an_execution_starts(client, clients):
    event = client.events.generate_sqs_event([s3_message(s3_record(KEY, bucket=LOCAL_BUCKET))])
    result = client.lambda_.invoke("start_inspections", event).payload
    assert result == {"batchItemFailures": []}
    [started] = executions(clients)
    assert (started["bucket"], started["key"], started["product_id"]) == (LOCAL_BUCKET, KEY, "PCB-0042")


def test_given_a_batch_with_a_bad_message_when_start_inspections_invoked_then_only_it_is_reported(client, clients):
    event = sqs_event(
        sqs_record(s3_message(s3_record("uploads/PCB-1/a.jpg", bucket=LOCAL_BUCKET)), "7d1a0b1e-0001-4000-8000-000000000001"),
        sqs_record("{\"Records\": 5}", "7d1a0b1e-0002-4000-8000-000000000002"),
        sqs_record(s3_test_event(LOCAL_BUCKET), "7d1a0b1e-0003-4000-8000-000000000003"),
        sqs_record(s3_message(s3_record("uploads/PCB-4/d.png", bucket=LOCAL_BUCKET)), "7d1a0b1e-0004-4000-8000-000000000004"),
    )
    result = client.lambda_.invoke("start_inspections", event).payload
    assert result == {"batchItemFailures": [{"itemIdentifier": "7d1a0b1e-0002-4000-8000-000000000002"}]}
    assert {started["key"] for started in executions(clients)} == {"uploads/PCB-1/a.jpg", "uploads/PCB-4/d.png"}


# --- unmatched uploads and unreadable messages -----------------------------------------------------------


def test_given_an_unmatched_upload_recorded_when_results_of_the_reserved_id_asked_then_200(client, clients):
    # GIVEN a rejected record of an object whose key named no product
    uploaded_at = "2024-05-14T09:00:00.000Z"
    DynamoDbResultsStore(clients.dynamodb, LOCAL_TABLE).put({
        "product_id": "_unmatched", "inspection_key": inspection_key(uploaded_at, "_unmatched-1"),
        "inspection_id": "_unmatched-1", "key": "uploads/board one.jpg", "uploaded_at": uploaded_at,
        "verdict": "rejected", "reason": "the file name 'board one' is not a valid product id",
    })
    # WHEN GET /results/_unmatched
    response = client.http.get("/results/_unmatched")
    # THEN it is served like any product's results, with the real key and the reason
    assert response.status_code == 200
    assert response.json_body["latest"]["key"] == "uploads/board one.jpg"
    assert "not a valid product id" in response.json_body["latest"]["reason"]


@pytest.mark.parametrize("product_id", ["_unmatched2", "_other"])
def test_given_other_ids_starting_with_underscore_when_results_asked_then_still_400(client, product_id):
    assert client.http.get(f"/results/{product_id}").status_code == 400


def test_given_an_unreadable_message_and_a_dead_letter_queue_when_start_inspections_invoked_then_dead_lettered(
    client, clients, monkeypatch
):
    dlq = clients.sqs.create_queue(QueueName="quality-inspection-local-uploads-dlq")["QueueUrl"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dlq)
    event = sqs_event(sqs_record("{\"Records\": 5}", "7d1a0b1e-0002-4000-8000-000000000002"))
    result = client.lambda_.invoke("start_inspections", event).payload
    assert result == {"batchItemFailures": []}
    [message] = clients.sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"])["Messages"]
    assert message["Body"] == "{\"Records\": 5}"
    assert "no 'Records' list" in message["MessageAttributes"]["error"]["StringValue"]


# --- every error in the app's shape: {"error": ..., "message": ...} ---------------------------------------


def assert_app_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    assert set(body) == {"error", "message"} and body["error"] == code and body["message"]
    return body


def nested(depth: int) -> bytes:
    """A request body whose `extra` holds lists `depth - 1` deep (the object itself is the first level)."""
    return b'{"product_id": "PCB-0042", "extra": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_given_json_nested_1000_deep_when_posted_then_400_not_a_recursion_error(client):
    response = client.http.post("/uploads", headers=JSON, body=b"[" * 1000 + b"]" * 1000)
    body = assert_app_error(response, 400, "InvalidRequestBody")
    assert "16 levels" in body["message"]
    assert "Access-Control-Allow-Origin" not in response.headers  # not "*": only a configured origin gets one


def test_given_json_as_deep_as_allowed_when_posted_then_the_view_answers(client):
    from chalicelib.api_errors import MAX_JSON_DEPTH

    assert client.http.post("/uploads", headers=JSON, body=nested(MAX_JSON_DEPTH)).status_code == 201
    assert_app_error(client.http.post("/uploads", headers=JSON, body=nested(MAX_JSON_DEPTH + 1)), 400,
                     "InvalidRequestBody")


def test_given_brackets_inside_strings_when_posted_then_they_do_not_count_as_nesting(client):
    body = json.dumps({"product_id": "PCB-0042", "note": "[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{\\\"["}).encode()
    assert client.http.post("/uploads", headers=JSON, body=body).status_code == 201


def test_given_a_body_over_16_kib_when_posted_then_413(client):
    from chalicelib.api_errors import MAX_BODY_BYTES

    padding = "x" * MAX_BODY_BYTES
    response = client.http.post("/uploads", headers=JSON, body=json.dumps({"product_id": "PCB-0042", "p": padding}).encode())
    body = assert_app_error(response, 413, "RequestTooLarge")
    assert "16384" in body["message"]


def test_given_a_body_that_is_not_json_when_posted_then_chalices_415_in_the_app_shape(client):
    response = client.http.post("/uploads", headers={"Content-Type": "text/plain"}, body=b"PCB-0042")
    body = assert_app_error(response, 415, "UnsupportedMediaType")
    assert "text/plain" in body["message"] and "Content-Type: application/json" in body["message"]


def test_given_a_method_the_route_lacks_when_requested_then_405_in_the_app_shape_with_allow(client):
    response = client.http.delete("/uploads")
    body = assert_app_error(response, 405, "MethodNotAllowed")
    assert response.headers["Allow"] == "POST"
    assert body["message"] == "DELETE is not allowed on /uploads; use POST."


def test_given_a_view_that_fails_when_requested_then_a_generic_500_without_the_details(client, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret table name and a stack frame")

    monkeypatch.setattr(app_module.uploads, "create_upload", broken)
    for debug in (False, True):  # in debug mode Chalice would answer the traceback as text/plain
        monkeypatch.setattr(app_module.app, "debug", debug)
        response = post_upload(client, {"product_id": "PCB-0042"})
        body = assert_app_error(response, 500, "InternalServerError")
        assert "secret" not in response.body.decode() and "Traceback" not in response.body.decode()
        assert "logged" in body["message"]


def test_given_a_chalice_view_error_raised_when_requested_then_its_status_in_the_app_shape(client, monkeypatch):
    from chalice import NotFoundError

    def not_found(*_args, **_kwargs):
        raise NotFoundError("no such thing")

    monkeypatch.setattr(app_module.uploads, "create_upload", not_found)
    body = assert_app_error(post_upload(client, {"product_id": "PCB-0042"}), 404, "NotFound")
    assert body["message"] == "no such thing"


def test_given_the_apps_own_errors_when_answered_then_unchanged(client):
    body = assert_app_error(client.http.get("/results/PCB-9999"), 404, "ProductNotFound")
    assert "PCB-9999" in body["message"]


def test_given_an_unknown_route_when_the_local_gateway_answers_then_404_in_the_app_shape():
    # Chalice's local gateway answers it before the app (API Gateway's 403 "Missing Authentication Token");
    # the embedded stack's server (inspection_app/stack/api_server.py) answers 404 NotFound, as deploy makes AWS do.
    from chalice.local import LocalGateway, LocalGatewayException

    from inspection_app.stack.api_server import gateway_error
    from inspection_app.chalice_stage import stage_config

    gateway = LocalGateway(app_module.app, stage_config("local", app_module.app))
    with pytest.raises(LocalGatewayException) as raised:
        gateway.handle_request("GET", "/nothing/here", {}, b"")
    status, body = gateway_error(raised.value, "GET", "/nothing/here?x=1")
    assert status == 404
    assert json.loads(body) == {"error": "NotFound", "message": "No route GET /nothing/here."}


def test_given_the_results_store_down_when_results_asked_then_503_with_retry_after(client, clients, monkeypatch):
    # GIVEN DynamoDB answering 500 to every query (an outage)
    def failing_query(**_):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "Query")

    monkeypatch.setattr(clients.dynamodb, "query", failing_query)
    # WHEN an MES asks for a product's results
    response = client.http.get("/results/PCB-0042")
    # THEN it is told to ask again shortly, in the usual shape, not a 500
    assert response.status_code == 503
    assert response.json_body["error"] == "ServiceUnavailable"
    assert response.headers["Retry-After"] == "5"


REKOGNITION_ARN = "arn:aws:rekognition:us-east-1:123456789012:project/pcb-boards/version/pcb-boards.v1/1764500000000"
REKOGNITION_PROJECT = "arn:aws:rekognition:us-east-1:123456789012:project/pcb-boards/1764400000000"


@pytest.fixture
def rekognition_stage(clients, boto_session, monkeypatch):
    """The stage's MODEL_BACKEND is a Rekognition Custom Labels model version (no SageMaker endpoint); yields the
    stubbed rekognition client the app uses."""
    monkeypatch.setenv("MODEL_BACKEND", "rekognition")
    monkeypatch.setenv("REKOGNITION_PROJECT_VERSION_ARN", REKOGNITION_ARN)
    monkeypatch.setenv("REKOGNITION_PROJECT_ARN", REKOGNITION_PROJECT)
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "none")
    rekognition = boto_session.client("rekognition")
    clients._clients["rekognition"] = rekognition
    with Stubber(rekognition) as model:  # a call with no response queued fails the test
        yield model
        model.assert_no_pending_responses()


def test_given_the_rekognition_backend_when_classify_image_invoked_then_the_model_version_reads_the_s3_object(
    client, clients, rekognition_stage
):
    # GIVEN a photo uploaded to a stage whose backend is a Rekognition model version
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=KEY, Body=jpeg_bytes(640, 480), ContentType="image/jpeg")
    rekognition_stage.add_response(
        "detect_custom_labels",
        {"CustomLabels": [{"Name": "defective", "Confidence": 88.0}, {"Name": "defect_free", "Confidence": 12.0}]},
        {"ProjectVersionArn": REKOGNITION_ARN, "MinConfidence": 0,
         "Image": {"S3Object": {"Bucket": LOCAL_BUCKET, "Name": KEY}}},
    )
    # WHEN the classify task runs
    result = client.lambda_.invoke("classify_image", task_input()).payload
    # THEN the photo was checked here, judged where it lies in S3, and the version is the model id
    assert result["status"] == "classified" and result["label"] == "defective"
    assert result["probabilities"] == pytest.approx({"defect_free": 0.12, "defective": 0.88})
    assert result["model_id"] == REKOGNITION_ARN
    assert result["image"] == {"format": "JPEG", "width": 640, "height": 480}


def test_given_a_stopped_rekognition_model_when_classify_image_invoked_then_a_permanent_error_says_how_to_start_it(
    client, clients, rekognition_stage
):
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=KEY, Body=jpeg_bytes(640, 480), ContentType="image/jpeg")
    rekognition_stage.add_client_error("detect_custom_labels", "ResourceNotReadyException", "not deployed", 400)
    rekognition_stage.add_response(
        "describe_project_versions",
        {"ProjectVersionDescriptions": [{"ProjectVersionArn": REKOGNITION_ARN, "Status": "STOPPED"}]},
        {"ProjectArn": REKOGNITION_PROJECT, "VersionNames": ["pcb-boards.v1"]})
    with pytest.raises(ModelEndpointError, match="start-project-version"):
        client.lambda_.invoke("classify_image", task_input())


def test_given_the_rekognition_backend_when_a_text_file_arrives_then_rejected_before_any_model_call(
    client, clients, rekognition_stage
):
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=KEY, Body=b"not a photo\n")
    result = client.lambda_.invoke("classify_image", task_input()).payload
    assert result["status"] == "rejected" and "not an image in an accepted format" in result["reason"]
