"""End to end on the embedded stack: pre-signed upload → S3 event → SQS → starter → Step Functions →
classify (real model behind the local SageMaker-compatible endpoint) → DynamoDB → SNS."""
from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import requests
from conftest import alerts_of_inspection, execution_arn, jpeg_bytes, synthetic_photo, wait_until

from inspection_app.client import ApiClient, ApiError

ELPV_IMAGES = Path(__import__("elpv_dataset").__file__).parent / "data" / "images"
THRESHOLD = 0.75  # the local stage's CONFIDENCE_THRESHOLD


def upload_bytes(client: ApiClient, tmp_path: Path, name: str, data: bytes, product_id: str) -> dict:
    path = tmp_path / name
    path.write_bytes(data)
    upload = client.upload(path, product_id)
    return client.wait_for_result(product_id, upload["key"], timeout=60)


def test_real_photo_gets_the_models_probabilities_stored(stack, predictor):
    # GIVEN two real electroluminescence photos of solar cells
    client = ApiClient(stack.api_url)
    for photo in (ELPV_IMAGES / "cell0001.png", ELPV_IMAGES / "cell0004.png"):
        # WHEN a station uploads each through the API's pre-signed POST
        inspection = client.inspect(photo, product_id=f"cell-{photo.stem}", timeout=60)
        result = inspection.result
        # THEN the stored result carries exactly what the model says about that photo
        expected = predictor.predict(photo.read_bytes())
        assert result["probabilities"]["defect_free"] == pytest.approx(expected[0], abs=1e-4)
        assert result["probabilities"]["defective"] == pytest.approx(expected[1], abs=1e-4)
        assert isinstance(result["confidence"], float) and 0.5 <= result["confidence"] <= 1
        assert result["label"] == ("defective" if expected[1] > expected[0] else "defect_free")
        expected_verdict = result["label"] if max(expected) >= THRESHOLD else "needs_review"
        assert result["verdict"] == expected_verdict
        assert result["model_id"] == predictor.model_id
        assert result["image"] == {"format": "PNG", "width": 300, "height": 300}
        assert result["bucket"] == stack.info["upload_bucket"] and result["key"] == inspection.key
        # AND the product's history answers through GET /results
        answer = client.results(f"cell-{photo.stem}")
        assert answer["latest"]["inspection_id"] == result["inspection_id"]


@pytest.fixture(scope="module")
def defective_inspection(stack, predictor, alert_queue, tmp_path_factory):
    """A synthetic photo the model calls defective with high confidence, inspected through the stack."""
    rng = np.random.default_rng(99)
    for attempt in range(20):
        data = jpeg_bytes(synthetic_photo(rng, defective=True))
        if predictor.predict(data)[1] >= THRESHOLD + 0.05:
            break
    else:
        pytest.fail("the tiny test model never calls a blemished part defective: training is broken")
    client = ApiClient(stack.api_url)
    result = upload_bytes(client, tmp_path_factory.mktemp("defect"), "blemish.jpg", data, "PART-DEFECT-1")
    return result, alerts_of_inspection(stack, alert_queue, result["inspection_id"])


def test_defective_part_is_stored_and_alerted_once(defective_inspection):
    result, alerts = defective_inspection
    assert result["verdict"] == "defective"
    assert len(alerts) == 1
    body = json.loads(alerts[0]["Message"])  # what a queue, a Lambda or a webhook gets
    assert (body["file_name"], body["s3_url"]) == (result["key"].rsplit("/", 1)[-1], f"s3://{result['bucket']}/{result['key']}")
    assert body["confidence"] == pytest.approx(float(result["confidence"])) and body["verdict"] == "defective"
    assert {name: value["Value"] for name, value in alerts[0]["MessageAttributes"].items()} == {
        "verdict": "defective", "product_id": "PART-DEFECT-1", "model_id": result["model_id"]}
    message = body["text"]  # what e-mail gets
    file_name = result["key"].rsplit("/", 1)[-1]
    assert f"File name: {file_name}" in message
    assert f"S3 URL path: s3://{result['bucket']}/{result['key']}" in message
    confidence = float(re.search(r"Confidence: ([0-9.]+)", message).group(1))
    assert 0 <= confidence <= 1 and confidence == pytest.approx(result["confidence"], abs=1e-4)
    assert alerts[0]["Subject"] == "Defect detected: PART-DEFECT-1"


def test_redelivered_s3_event_is_inspected_and_alerted_only_once(stack, defective_inspection, alert_queue):
    # GIVEN the S3 event of an upload that was already inspected
    result, _ = defective_inspection
    sfn = stack.client("stepfunctions")
    original = json.loads(sfn.describe_execution(executionArn=execution_arn(stack, result["inspection_id"]))["input"])
    event = {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": original["uploaded_at"], "eventName": "ObjectCreated:Post",
        "s3": {"bucket": {"name": original["bucket"]},
               "object": {"key": original["key"], "size": original["size"], "eTag": original["etag"],
                          "versionId": original["version_id"] or None, "sequencer": original["sequencer"]}},
    }]}
    executions_before = _executions(sfn, stack.info["state_machine_arn"])
    # WHEN SQS delivers it twice more
    sqs = stack.client("sqs")
    for _ in range(2):
        sqs.send_message(QueueUrl=stack.info["queue_url"], MessageBody=json.dumps(event))
    # THEN the starter takes both off the queue (each start happens before its message is deleted)...
    wait_until(lambda: _queue_counts(sqs, stack.info["queue_url"]) == ("0", "0"), timeout=30,
               failure=lambda _: f"the upload queue still holds {_queue_counts(sqs, stack.info['queue_url'])} "
                                 "(visible, in flight) messages after 30 s")
    # ...nothing went to the dead-letter queue, no second execution started, one result and no new alert exist
    assert _queue_counts(sqs, stack.info["dead_letter_queue_url"])[0] == "0"
    assert _executions(sfn, stack.info["state_machine_arn"]) == executions_before
    history = ApiClient(stack.api_url).results(result["product_id"])["history"]
    assert [item["inspection_id"] for item in history] == [result["inspection_id"]]
    # no window to wait out: alerts come only from executions, and the only one of this upload has ended
    assert alerts_of_inspection(stack, alert_queue, result["inspection_id"]) == []


def _queue_counts(sqs, url: str) -> tuple[str, str]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]


def _executions(sfn, state_machine_arn: str) -> int:
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn)
    return sum(len(page["executions"]) for page in pages)


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`x`height` pixels, without the pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("notes.jpg", b"this is a text file, not a photo\n" * 20, "not an image in an accepted format"),
        ("truncated.jpg", jpeg_bytes(synthetic_photo(np.random.default_rng(1), False, size=400))[:3000], "truncated or corrupt"),
        ("huge.png", _png_claiming(20000, 20000), "400000000"),
    ],
    ids=["text-named-jpg", "truncated-jpeg", "huge-dimensions"],
)
def test_bad_upload_is_rejected_with_a_reason_and_stored(stack, alert_queue, tmp_path, name, data, reason):
    result = upload_bytes(ApiClient(stack.api_url), tmp_path, name, data, f"BAD-{Path(name).stem}")
    assert result["verdict"] == "rejected"
    assert reason in result["reason"]
    assert "label" not in result and "confidence" not in result


def test_an_empty_file_is_refused_by_storage_as_s3_does(stack, tmp_path):
    # GIVEN an empty file named like a photo
    # WHEN a station uploads it through the pre-signed POST (whose policy asks for 1 byte to 10 MiB)
    with pytest.raises(ApiError) as refused:
        upload_bytes(ApiClient(stack.api_url), tmp_path, "empty.jpg", b"", "BAD-empty-post")
    # THEN storage refuses it with S3's own code, and the client says so
    assert refused.value.status == 400
    assert "refused by storage: EntityTooSmall" in str(refused.value)


def test_an_empty_object_written_another_way_is_rejected_with_a_reason(stack):
    # GIVEN an empty object written into the upload prefix by an SDK writer (no POST policy applies)
    s3 = stack.client("s3")
    key = "uploads/BAD-empty-put/20260101T000000000000Z-empty.jpg"
    s3.put_object(Bucket=stack.info["upload_bucket"], Key=key, Body=b"", ContentType="image/jpeg")
    # WHEN the pipeline inspects it
    result = ApiClient(stack.api_url).wait_for_result("BAD-empty-put", key, timeout=60)
    # THEN it is stored as rejected, saying why
    assert result["verdict"] == "rejected" and "empty (0 bytes)" in result["reason"]


@pytest.mark.parametrize(
    "product_id", ["", "a/b", "..", "up..down", "x" * 129, "bad\u0001id", "-leading-dash", "sp ace", "ünï"]
)
def test_invalid_product_id_gets_400_saying_what_is_allowed(stack, product_id):
    response = requests.post(f"{stack.api_url}/uploads", json={"product_id": product_id, "content_type": "image/jpeg"}, timeout=10)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "InvalidUploadRequest"
    assert "letters, digits" in body["message"]


def test_upload_request_for_a_non_image_type_gets_400(stack):
    response = requests.post(f"{stack.api_url}/uploads", json={"product_id": "P-1", "content_type": "text/plain"}, timeout=10)
    assert response.status_code == 400
    assert "image/jpeg" in response.json()["message"]


def test_results_of_unknown_product_is_404_json(stack):
    response = requests.get(f"{stack.api_url}/results/NEVER-SEEN", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"] == "ProductNotFound"
    assert "NEVER-SEEN" in response.json()["message"]


def test_permanent_failure_is_caught_and_stored_as_an_error_verdict(stack):
    # GIVEN an S3 event for an object in a bucket that does not exist (the read fails for good)
    event = {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-30T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "no-such-bucket"},
               "object": {"key": "uploads/PART-ERR-1/capture.jpg", "size": 1234, "eTag": "abc", "sequencer": "01"}},
    }]}
    # WHEN it is delivered
    stack.client("sqs").send_message(QueueUrl=stack.info["queue_url"], MessageBody=json.dumps(event))
    # THEN the state machine's Catch records an `error` verdict with the reason, so nothing is lost
    result = ApiClient(stack.api_url).wait_for_result("PART-ERR-1", "uploads/PART-ERR-1/capture.jpg", timeout=30)
    assert result["verdict"] == "error"
    assert result["reason"].startswith("StorageError: reading s3://no-such-bucket/uploads/PART-ERR-1/capture.jpg")
