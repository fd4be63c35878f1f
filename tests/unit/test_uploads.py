"""chalicelib.uploads: pre-signed POSTs limited to one key, one content type and a size range."""
import base64
import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.keys import InvalidProductId, read_upload_key
from chalicelib.uploads import InvalidUploadRequest, create_upload

from .helpers import BUCKET, make_settings


def policy_of(upload: dict) -> dict:
    return json.loads(base64.b64decode(upload["fields"]["policy"]))


def conditions_of(upload: dict) -> list:
    return policy_of(upload)["conditions"]


def test_given_a_jpeg_request_when_created_then_key_is_under_the_product_and_parses_back(s3, settings):
    upload = create_upload({"product_id": "PCB-0042", "content_type": "image/jpeg"}, settings, s3)

    assert (upload["product_id"], upload["bucket"]) == ("PCB-0042", BUCKET)
    assert re.fullmatch(r"uploads/PCB-0042/\d{8}T\d{12}Z-[0-9a-f]{8}\.jpg", upload["key"])
    parsed = read_upload_key(settings.upload_prefix, upload["key"])
    assert parsed.product_id == "PCB-0042"
    assert parsed.capture_id == upload["capture_id"]
    assert upload["fields"]["key"] == upload["key"]
    assert upload["fields"]["Content-Type"] == "image/jpeg"
    assert upload["content_type"] == "image/jpeg"
    assert upload["results_path"] == "/results/PCB-0042"
    assert BUCKET in upload["url"]


def test_given_no_content_type_when_created_then_jpeg_is_assumed(s3, settings):
    upload = create_upload({"product_id": "PCB-0042"}, settings, s3)
    assert upload["content_type"] == "image/jpeg"
    assert upload["key"].endswith(".jpg")


def test_given_a_png_request_when_created_then_key_and_policy_say_png(s3, settings):
    upload = create_upload({"product_id": "CELL-7", "content_type": "image/png"}, settings, s3)
    assert upload["key"].endswith(".png")
    assert {"Content-Type": "image/png"} in conditions_of(upload)


@pytest.mark.parametrize("content_type, extension", [("image/tiff", ".tif"), ("image/bmp", ".bmp")])
def test_given_a_machine_vision_camera_format_when_created_then_key_and_policy_name_it(
    s3, settings, content_type, extension
):
    upload = create_upload({"product_id": "CELL-7", "content_type": content_type}, settings, s3)
    assert upload["key"].endswith(extension)
    assert {"Content-Type": content_type} in conditions_of(upload)


def test_given_an_upload_when_policy_decoded_then_it_limits_bucket_key_type_and_size(s3):
    settings = make_settings(max_upload_bytes=2_000_000)
    upload = create_upload({"product_id": "PCB-0042", "content_type": "image/jpeg"}, settings, s3)
    conditions = conditions_of(upload)

    assert {"bucket": BUCKET} in conditions
    assert {"key": upload["key"]} in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert ["content-length-range", 1, 2_000_000] in conditions
    # No starts-with wildcard that would let the client choose another key or type.
    assert not [c for c in conditions if isinstance(c, list) and c[0] == "starts-with"]
    assert upload["max_bytes"] == 2_000_000


def test_given_an_expiry_setting_when_created_then_policy_expires_that_many_seconds_from_now(s3):
    settings = make_settings(upload_url_expiry_seconds=120)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    upload = create_upload({"product_id": "PCB-0042"}, settings, s3)
    after = datetime.now(timezone.utc)

    expiration = datetime.strptime(policy_of(upload)["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert before + timedelta(seconds=120) <= expiration <= after + timedelta(seconds=120)
    assert upload["expires_in"] == 120


def test_given_two_requests_for_one_product_when_created_then_keys_differ(s3, settings):
    first = create_upload({"product_id": "PCB-0042"}, settings, s3)
    second = create_upload({"product_id": "PCB-0042"}, settings, s3)
    assert first["key"] != second["key"]


def test_given_a_signed_upload_when_fields_checked_then_sigv4_fields_are_present(s3, settings):
    fields = create_upload({"product_id": "PCB-0042"}, settings, s3)["fields"]
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert re.fullmatch(r"[0-9a-f]{64}", fields["x-amz-signature"])


@pytest.mark.parametrize("content_type", ["image/gif", "image/jpg", "IMAGE/JPEG", "application/pdf", "", None, 42])
def test_given_an_unsupported_content_type_when_created_then_error_lists_accepted_types(s3, settings, content_type):
    with pytest.raises(InvalidUploadRequest) as raised:
        create_upload({"product_id": "PCB-0042", "content_type": content_type}, settings, s3)
    message = str(raised.value)
    assert repr(content_type) in message
    assert "image/jpeg, image/png" in message


@pytest.mark.parametrize("content_type", [["image/jpeg"], {"type": "image/png"}])
def test_given_a_non_string_content_type_when_created_then_invalid_upload_request(s3, settings, content_type):
    with pytest.raises(InvalidUploadRequest):
        create_upload({"product_id": "PCB-0042", "content_type": content_type}, settings, s3)


@pytest.mark.parametrize("product_id", [None, "", "../../etc", "PCB/1", "-x", "A" * 129, 17])
def test_given_a_bad_product_id_when_created_then_invalid_product_id_and_nothing_signed(settings, product_id):
    class NoS3:
        def generate_presigned_post(self, **kwargs):  # pragma: no cover - must not be called
            raise AssertionError("a pre-signed POST was made for an invalid request")

    with pytest.raises(InvalidProductId) as raised:
        create_upload({"product_id": product_id, "content_type": "image/jpeg"}, settings, NoS3())
    assert "1 to 128 characters" in str(raised.value)


def test_given_a_request_without_product_id_when_created_then_error_says_it_is_required(s3, settings):
    with pytest.raises(InvalidProductId) as raised:
        create_upload({"content_type": "image/png"}, settings, s3)
    assert "product_id is required" in str(raised.value)


@pytest.mark.parametrize("body", [None, [], ["PCB-0042"], "PCB-0042", 42])
def test_given_a_body_that_is_no_json_object_when_created_then_error_shows_an_example(s3, settings, body):
    with pytest.raises(InvalidUploadRequest) as raised:
        create_upload(body, settings, s3)
    assert str(raised.value) == 'Send a JSON object like {"product_id": "PCB-0042", "content_type": "image/jpeg"}.'


def test_given_a_caller_check_when_it_refuses_the_product_then_nothing_is_signed(settings):
    # GIVEN a check that refuses PCB-0042 (app.py passes the caller's scope: chalicelib/access.py)
    class Refused(Exception):
        pass

    asked = []

    def authorize(product_id):
        asked.append(product_id)
        raise Refused(product_id)

    class NoS3:
        def generate_presigned_post(self, **_):
            raise AssertionError("signed an upload the caller may not make")

    # WHEN an upload is requested THEN the check saw the validated product id, and refused before any signing
    with pytest.raises(Refused):
        create_upload({"product_id": "PCB-0042", "content_type": "image/png"}, settings, NoS3(), authorize=authorize)
    assert asked == ["PCB-0042"]
    # An invalid product id never reaches the check
    with pytest.raises(InvalidProductId):
        create_upload({"product_id": "../x"}, settings, NoS3(), authorize=authorize)
    assert asked == ["PCB-0042"]
