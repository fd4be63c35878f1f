"""The local S3 refuses POST uploads as S3 does: each abuse of the app's pre-signed POST gets S3's error code and
status, nothing is stored, and a well-formed upload is still stored and announced on the queue."""
from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import boto3
import pytest
import requests
from botocore.config import Config
from werkzeug.test import EnvironBuilder

from chalicelib.settings import Settings
from chalicelib.uploads import create_upload
from inspection_app.stack.access import LOCAL_CREDENTIALS, LOCAL_REGION
from inspection_app.stack.s3_post_policy import post_policy_middleware

BUCKET = "policy-uploads"
MIB = 1024 * 1024
PHOTO = b"\xff\xd8\xff\xe0 a small JPEG"


def s3_client(url: str, signature_version: str = "s3v4", **credentials):
    """An S3 client on the local stack signed as the app signs (s3v4, the stack's credentials)."""
    session = boto3.session.Session(region_name=LOCAL_REGION, **(credentials or LOCAL_CREDENTIALS))
    return session.client("s3", endpoint_url=url, config=Config(signature_version=signature_version))


@pytest.fixture(scope="module")
def stack(local_aws):
    s3 = s3_client(local_aws.url)
    s3.create_bucket(Bucket=BUCKET)
    sqs = boto3.client("sqs", endpoint_url=local_aws.url, region_name=LOCAL_REGION)
    queue_url = sqs.create_queue(QueueName="policy-uploads-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]})
    return {"s3": s3, "sqs": sqs, "queue_url": queue_url}


def upload_for(stack, product_id: str = "P1", content_type: str = "image/jpeg") -> dict:
    """The pre-signed POST the app's POST /uploads hands a camera (exact key, type, 1 B-10 MiB, 300 s)."""
    settings = Settings(upload_bucket=BUCKET, state_machine_arn="-", results_table="-", alert_topic_arn="-",
                        endpoint_name="-", model_input_size=64)
    return create_upload({"product_id": product_id, "content_type": content_type}, settings, stack["s3"])


def post(upload: dict, photo: bytes = PHOTO, *, fields: dict | None = None, file_first: bool = False):
    """POST the form as a browser does: the given fields in order, then the file (or the file first)."""
    form = [(name, (None, value)) for name, value in (upload["fields"] if fields is None else fields).items()]
    file = ("file", ("photo.jpg", photo, "image/jpeg"))
    return requests.post(upload["url"], files=[file, *form] if file_first else [*form, file], timeout=30)


def s3_error(response) -> tuple[int, str, str]:
    """(status, S3 error code, message) of an S3 XML error answer."""
    error = ET.fromstring(response.content)
    assert error.tag == "Error" and error.findtext("RequestId")
    return response.status_code, error.findtext("Code"), error.findtext("Message")


def is_stored(stack, key: str) -> bool:
    return stack["s3"].list_objects_v2(Bucket=BUCKET, Prefix=key)["KeyCount"] > 0


def test_given_the_apps_presigned_post_when_a_camera_posts_a_photo_then_204_stored_and_announced(stack):
    # GIVEN the upload the app hands a camera for product P1
    upload = upload_for(stack)
    # WHEN the camera posts its photo with the fields as given, file last
    response = post(upload)
    # THEN S3's 204, the object holds the photo, and its ObjectCreated event is on the queue
    assert response.status_code == 204, response.text
    assert stack["s3"].get_object(Bucket=BUCKET, Key=upload["key"])["Body"].read() == PHOTO
    messages = stack["sqs"].receive_message(QueueUrl=stack["queue_url"], MaxNumberOfMessages=10,
                                            WaitTimeSeconds=2).get("Messages", [])
    keys = [record["s3"]["object"]["key"] for message in messages
            for record in json.loads(message["Body"]).get("Records", [])]
    assert upload["key"].replace("/", "%2F") in keys or upload["key"] in keys


def test_given_a_form_with_the_file_before_the_policy_fields_when_posted_then_invalid_argument(stack):
    # GIVEN the app's upload, WHEN the file part comes first (S3 reads nothing after the file)
    upload = upload_for(stack)
    response = post(upload, file_first=True)
    # THEN S3's answer for a form whose key it never saw
    status, code, message = s3_error(response)
    assert (status, code) == (400, "InvalidArgument")
    assert "must contain a field named 'key'" in message and "order of the fields" in message
    assert not is_stored(stack, upload["key"])


def test_given_a_form_with_a_field_after_the_file_when_posted_then_invalid_argument(stack):
    # GIVEN the app's upload, WHEN a field follows the file (S3 ignores it; moto would not)
    upload = upload_for(stack)
    form = [(name, (None, value)) for name, value in upload["fields"].items()]
    response = requests.post(upload["url"], timeout=30, files=[
        *form, ("file", ("photo.jpg", PHOTO, "image/jpeg")), ("x-ignore-note", (None, "after the file"))])
    # THEN refused, so the form is fixed before it meets S3
    assert s3_error(response)[:2] == (400, "InvalidArgument")
    assert not is_stored(stack, upload["key"])


def test_given_p1s_upload_when_posted_with_p2s_key_then_access_denied(stack):
    # GIVEN the upload for P1, WHEN the form names a key of product P2 (a spoofed verdict for P2)
    upload = upload_for(stack, "P1")
    spoofed = upload["key"].replace("/P1/", "/P2/")
    response = post(upload, fields={**upload["fields"], "key": spoofed})
    # THEN the key condition fails
    status, code, message = s3_error(response)
    assert (status, code) == (403, "AccessDenied")
    assert message == f'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "{upload["key"]}"]'
    assert not is_stored(stack, spoofed)


def test_given_a_starts_with_uploads_policy_when_the_key_is_outside_uploads_then_access_denied(stack):
    # GIVEN a policy that allows any key under uploads/
    upload = stack["s3"].generate_presigned_post(BUCKET, "uploads/${filename}",
                                                 Conditions=[["starts-with", "$key", "uploads/"]])
    # WHEN the form puts the photo outside uploads/
    response = post(upload, fields={**upload["fields"], "key": "public/index.jpg"})
    # THEN the starts-with condition fails
    status, code, message = s3_error(response)
    assert (status, code) == (403, "AccessDenied")
    assert message.endswith('Policy Condition failed: ["starts-with", "$key", "uploads/"]')
    assert not is_stored(stack, "public/index.jpg")


def test_given_a_jpeg_upload_when_posted_as_text_html_then_access_denied(stack):
    # GIVEN an upload for image/jpeg, WHEN the form says text/html (a page served from the bucket)
    upload = upload_for(stack)
    response = post(upload, fields={**upload["fields"], "Content-Type": "text/html"})
    # THEN the Content-Type condition fails
    status, code, message = s3_error(response)
    assert (status, code) == (403, "AccessDenied")
    assert '"$Content-Type", "image/jpeg"' in message
    assert not is_stored(stack, upload["key"])


def test_given_the_10_mib_limit_when_11_mib_are_posted_then_entity_too_large(stack):
    upload = upload_for(stack)
    response = post(upload, b"\xff" * (11 * MIB))
    status, code, message = s3_error(response)
    assert (status, code) == (400, "EntityTooLarge")
    assert ET.fromstring(response.content).findtext("MaxSizeAllowed") == str(10 * MIB)
    assert not is_stored(stack, upload["key"])


def test_given_the_1_byte_minimum_when_0_bytes_are_posted_then_entity_too_small(stack):
    upload = upload_for(stack)
    response = post(upload, b"")
    status, code, message = s3_error(response)
    assert (status, code) == (400, "EntityTooSmall")
    assert ET.fromstring(response.content).findtext("ProposedSize") == "0"
    assert not is_stored(stack, upload["key"])


@pytest.mark.parametrize("query", ["", "?x-id=PostObject"])  # a query string does not skip the checks
def test_given_a_garbage_signature_when_posted_then_signature_does_not_match(stack, query):
    upload = upload_for(stack)
    upload["url"] += query
    response = post(upload, fields={**upload["fields"], "x-amz-signature": "0" * 64})
    assert s3_error(response)[:2] == (403, "SignatureDoesNotMatch")
    assert not is_stored(stack, upload["key"])


def test_given_a_policy_signed_with_an_unknown_access_key_when_posted_then_invalid_access_key_id(stack):
    stranger = s3_client(stack["s3"].meta.endpoint_url, aws_access_key_id="AKIASTRANGER",
                         aws_secret_access_key="guessed")
    upload = stranger.generate_presigned_post(BUCKET, "uploads/P1/stranger.jpg")
    assert s3_error(post(upload))[:2] == (403, "InvalidAccessKeyId")
    assert not is_stored(stack, "uploads/P1/stranger.jpg")


def test_given_a_form_without_a_policy_when_posted_then_access_denied(stack):
    # GIVEN only a key and a type: an anonymous upload, and the bucket is private
    upload = upload_for(stack)
    response = post(upload, fields={"key": upload["key"], "Content-Type": "image/jpeg"})
    assert s3_error(response)[:2] == (403, "AccessDenied")
    assert not is_stored(stack, upload["key"])


def test_given_a_policy_that_is_not_base64_json_when_posted_then_invalid_policy_document(stack):
    upload = upload_for(stack)
    response = post(upload, fields={**upload["fields"], "policy": "not a policy"})
    assert s3_error(response) == (400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")


def test_given_the_apps_upload_when_acl_public_read_is_added_then_access_denied_extra_field(stack):
    upload = upload_for(stack)
    response = post(upload, fields={**upload["fields"], "acl": "public-read"})
    assert s3_error(response) == (403, "AccessDenied", "Invalid according to Policy: Extra input fields: acl")
    assert not is_stored(stack, upload["key"])


def test_given_the_apps_upload_when_a_redirect_to_another_site_is_added_then_access_denied(stack):
    upload = upload_for(stack)
    response = post(upload, fields={**upload["fields"], "success_action_redirect": "https://evil.example/"})
    assert s3_error(response) == (403, "AccessDenied",
                                  "Invalid according to Policy: Extra input fields: success_action_redirect")
    assert "Location" not in response.headers
    assert not is_stored(stack, upload["key"])


def test_given_an_expired_policy_when_posted_then_access_denied_policy_expired(stack):
    upload = stack["s3"].generate_presigned_post(BUCKET, "uploads/P1/late.jpg", ExpiresIn=-1)
    assert s3_error(post(upload)) == (403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    assert not is_stored(stack, "uploads/P1/late.jpg")


def test_given_a_sigv2_presigned_post_when_posted_then_accepted_as_s3_still_does(stack):
    # GIVEN boto3's default S3 signing for a custom endpoint (AWSAccessKeyId + signature, SigV2)
    upload = s3_client(stack["s3"].meta.endpoint_url, "s3").generate_presigned_post(BUCKET, "uploads/P9/v2.jpg")
    assert "AWSAccessKeyId" in upload["fields"]
    # WHEN posted, THEN stored
    assert post(upload).status_code == 204
    assert is_stored(stack, "uploads/P9/v2.jpg")


@pytest.mark.parametrize("method, path, content_type", [
    ("PUT", "/bucket/uploads/a.jpg", "image/jpeg"),  # an SDK PutObject
    ("GET", "/bucket", ""),  # ListObjects
    ("POST", "/", "application/x-www-form-urlencoded"),  # SQS/SNS query APIs
    ("POST", "/bucket/uploads/a.jpg", "multipart/form-data; boundary=x"),  # not a bucket: not POST Object
])
def test_given_any_other_request_when_it_passes_then_the_inner_app_gets_it_untouched(method, path, content_type):
    # GIVEN the middleware in front of an app that records what it receives
    seen = {}

    def inner(environ, start_response):
        seen["body"] = environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b"inner"]

    body = b"unchanged body"
    environ = EnvironBuilder(path=path, method=method, data=body, content_type=content_type).get_environ()
    # WHEN the request passes
    answer = post_policy_middleware(inner)(environ, lambda status, headers: None)
    # THEN the inner app answered and read the same bytes
    assert b"".join(answer) == b"inner" and seen["body"] == body


def test_given_an_accepted_form_when_it_passes_then_moto_reads_the_original_bytes():
    # GIVEN a form signed with the stack's credentials
    upload = s3_client("http://127.0.0.1:1").generate_presigned_post(BUCKET, "uploads/P1/same.jpg")
    request = requests.Request("POST", upload["url"], files=[*((n, (None, v)) for n, v in upload["fields"].items()),
                                                               ("file", ("a.jpg", PHOTO, "image/jpeg"))]).prepare()
    seen = {}

    def inner(environ, start_response):
        seen["body"] = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("204 No Content", [])
        return []

    environ = EnvironBuilder(path=f"/{BUCKET}", method="POST", input_stream=io.BytesIO(request.body),
                             content_length=len(request.body), content_type=request.headers["Content-Type"])
    # WHEN it passes the middleware, THEN the inner app reads exactly the bytes the client sent
    post_policy_middleware(inner)(environ.get_environ(), lambda status, headers: None)
    assert seen["body"] == request.body
