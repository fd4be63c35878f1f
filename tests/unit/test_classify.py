"""chalicelib.classify: read the upload from S3, check it, ask the model."""
import io

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.response import StreamingBody
from PIL import Image

from chalicelib.classify import StorageError, StorageUnavailable, classify_upload, read_upload
from chalicelib.endpoint import ModelEndpointUnavailable, Prediction

from .helpers import BUCKET, encode_image, jpeg_bytes, make_settings, noisy_jpeg, png_bytes

KEY = "uploads/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg"


class FakeEndpoint:
    """A ModelEndpoint that answers fixed probabilities and remembers what it was sent."""

    def __init__(self, probabilities=(0.08, 0.92), model_id="effnet-lite0-2024-05-10", error=None):
        self.probabilities = list(probabilities)
        self.model_id = model_id
        self.error = error
        self.calls = []

    def predict(self, body: bytes, content_type: str) -> Prediction:
        self.calls.append((body, content_type))
        if self.error:
            raise self.error
        return Prediction(probabilities=self.probabilities, model_id=self.model_id)


def task(key=KEY, bucket=BUCKET) -> dict:
    return {
        "inspection_id": "PCB-0042-4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
        "bucket": bucket,
        "key": key,
        "product_id": "PCB-0042",
        "capture_id": "20240514T092107532000Z-0a1b2c3d",
        "size": 1234,
        "etag": "9b2cf535f27731c974343645a3985328",
        "version_id": "",
        "sequencer": "0066433B1F7D9A5C21",
        "uploaded_at": "2024-05-14T09:21:07.532Z",
    }


def test_given_a_jpeg_upload_when_classified_then_label_confidence_probabilities_model_and_image_facts(s3, settings):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=jpeg_bytes(640, 480), ContentType="image/jpeg")
    endpoint = FakeEndpoint(probabilities=(0.08, 0.92))

    result = classify_upload(task(), settings, s3, endpoint)

    assert result == {
        "status": "classified",
        "label": "defective",
        "confidence": 0.92,
        "probabilities": {"defect_free": 0.08, "defective": 0.92},
        "model_id": "effnet-lite0-2024-05-10",
        "image": {"format": "JPEG", "width": 640, "height": 480},
    }
    assert type(result["confidence"]) is float


def test_given_an_upload_when_classified_then_the_model_gets_the_prepared_png(s3):
    settings = make_settings(model_input_size=64)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=jpeg_bytes(640, 480))
    endpoint = FakeEndpoint()
    classify_upload(task(), settings, s3, endpoint)

    [(body, content_type)] = endpoint.calls
    assert content_type == "application/x-image"
    sent = Image.open(io.BytesIO(body))
    assert (sent.format, sent.mode, sent.size) == ("PNG", "RGB", (64, 64))


def test_given_a_defect_free_answer_when_classified_then_label_is_defect_free(s3, settings):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=png_bytes(), ContentType="image/png")
    result = classify_upload(task(), settings, s3, FakeEndpoint(probabilities=(0.97, 0.03)))
    assert (result["label"], result["confidence"]) == ("defect_free", 0.97)
    assert result["image"]["format"] == "PNG"


def test_given_classes_configured_in_another_index_order_when_classified_then_probabilities_follow_it(s3):
    settings = make_settings(model_classes=("defective", "defect_free"))
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=jpeg_bytes())
    result = classify_upload(task(), settings, s3, FakeEndpoint(probabilities=(0.2, 0.8)))
    assert result["probabilities"] == {"defective": 0.2, "defect_free": 0.8}
    assert result["label"] == "defect_free"


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"", "empty (0 bytes)"),
        (b"Station 3 log: camera timeout\n", "not an image in an accepted format"),  # text saved as .jpg
        (encode_image(Image.new("RGB", (20, 20)), "GIF"), "GIF image"),
        (noisy_jpeg()[:1500], "truncated or corrupt"),
    ],
    ids=["zero-bytes", "text-named-jpg", "gif-named-jpg", "truncated-jpeg"],
)
def test_given_a_bad_image_when_classified_then_rejected_with_reason_and_model_not_asked(s3, settings, body, reason):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body, ContentType="image/jpeg")
    endpoint = FakeEndpoint()
    result = classify_upload(task(), settings, s3, endpoint)
    assert result["status"] == "rejected"
    assert reason in result["reason"]
    assert endpoint.calls == []


def test_given_a_min_image_side_setting_when_a_smaller_photo_is_classified_then_rejected_naming_it(s3):
    settings = make_settings(min_image_side=100)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=jpeg_bytes(640, 80))
    endpoint = FakeEndpoint()
    result = classify_upload(task(), settings, s3, endpoint)
    assert result["status"] == "rejected"
    assert "640x80 pixels" in result["reason"] and "at least 100 pixels" in result["reason"]
    assert endpoint.calls == []


def test_given_a_deleted_upload_when_classified_then_rejected_as_gone(s3, settings):
    endpoint = FakeEndpoint()
    result = classify_upload(task(), settings, s3, endpoint)
    assert result == {"status": "rejected", "reason": f"s3://{BUCKET}/{KEY} no longer exists; upload the photo again."}
    assert endpoint.calls == []


def test_given_an_object_over_the_size_limit_when_classified_then_rejected_without_reading_it(s3, monkeypatch):
    settings = make_settings(max_upload_bytes=10_000)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=jpeg_bytes(8, 8) + b"\x00" * 20_000)
    assert isinstance(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"], StreamingBody)  # what the spy replaces

    def must_not_read(self, amt=None):
        raise AssertionError("the body of an oversized object was read")

    monkeypatch.setattr(StreamingBody, "read", must_not_read)
    endpoint = FakeEndpoint()
    result = classify_upload(task(), settings, s3, endpoint)

    assert result["status"] == "rejected"
    assert "limit is 10000 bytes" in result["reason"]
    assert endpoint.calls == []


def test_given_an_object_of_exactly_the_size_limit_when_read_then_its_bytes_come_back(s3):
    body = jpeg_bytes(16, 16)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    assert read_upload(s3, BUCKET, KEY, max_bytes=len(body)) == body


def test_given_a_missing_bucket_when_classified_then_a_permanent_storage_error(s3, settings):
    with pytest.raises(StorageError) as raised:
        classify_upload(task(bucket="quality-inspection-deleted-bucket"), settings, s3, FakeEndpoint())
    assert "NoSuchBucket" in str(raised.value)
    assert not isinstance(raised.value, StorageUnavailable)


class FailingS3:
    def __init__(self, error):
        self.error = error

    def get_object(self, **kwargs):
        raise self.error


def s3_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "GetObject")


@pytest.mark.parametrize("code, status", [("SlowDown", 503), ("InternalError", 500), ("ServiceUnavailable", 503)])
def test_given_s3_failing_transiently_when_classified_then_storage_unavailable_for_a_retry(settings, code, status):
    with pytest.raises(StorageUnavailable) as raised:
        classify_upload(task(), settings, FailingS3(s3_error(code, status)), FakeEndpoint())
    assert code in str(raised.value)


def test_given_s3_timing_out_when_classified_then_storage_unavailable(settings):
    error = ReadTimeoutError(endpoint_url=f"https://{BUCKET}.s3.amazonaws.com/{KEY}")
    with pytest.raises(StorageUnavailable):
        classify_upload(task(), settings, FailingS3(error), FakeEndpoint())


def test_given_access_denied_when_classified_then_permanent_storage_error(settings):
    with pytest.raises(StorageError) as raised:
        classify_upload(task(), settings, FailingS3(s3_error("AccessDenied", 403)), FakeEndpoint())
    assert "AccessDenied" in str(raised.value)


def test_given_the_model_unavailable_when_classified_then_the_error_reaches_the_state_machine(s3, settings):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=jpeg_bytes())
    with pytest.raises(ModelEndpointUnavailable):
        classify_upload(task(), settings, s3, FakeEndpoint(error=ModelEndpointUnavailable("throttled")))


# --- unmatched uploads and exact versions ---------------------------------------------------------------


class NoS3:
    """An S3 client that must not be used."""

    def get_object(self, **kwargs):
        raise AssertionError(f"S3 was read: {kwargs}")


def test_given_an_unmatched_upload_when_classified_then_rejected_at_once_with_its_reason(settings):
    # GIVEN the input the starter makes for an object whose key names no product
    unmatched = task(key="uploads/a/b/c.jpg") | {
        "product_id": "_unmatched",
        "capture_id": "c",
        "rejection": "the key is 2 folders deep under uploads/; photos go to uploads/<product_id>/<file>",
    }
    endpoint = FakeEndpoint()
    # WHEN it is classified
    result = classify_upload(unmatched, settings, NoS3(), endpoint)
    # THEN it is rejected with that reason, without reading S3 or asking the model
    assert result == {"status": "rejected", "reason": unmatched["rejection"]}
    assert endpoint.calls == []


@pytest.fixture
def versioned_s3(s3):
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


def test_given_a_key_overwritten_since_the_upload_when_classified_then_the_uploaded_version_is_read(versioned_s3, settings):
    # GIVEN a photo uploaded to a versioned bucket, then another object written to the same key
    first = versioned_s3.put_object(Bucket=BUCKET, Key=KEY, Body=jpeg_bytes(64, 48))["VersionId"]
    versioned_s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"overwritten: not a photo")
    endpoint = FakeEndpoint()
    # WHEN the first upload's inspection classifies it (its event named the first version)
    result = classify_upload(task() | {"version_id": first}, settings, versioned_s3, endpoint)
    # THEN exactly that version is what the model saw
    assert result["status"] == "classified"
    assert (result["image"]["width"], result["image"]["height"]) == (64, 48)
    assert len(endpoint.calls) == 1


def test_given_a_version_id_when_read_then_get_object_names_that_version(settings):
    calls = []

    class Spy:
        def get_object(self, **kwargs):
            calls.append(kwargs)
            raise s3_error("NoSuchKey", 404)

    classify_upload(task() | {"version_id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"}, settings, Spy(), FakeEndpoint())
    classify_upload(task(), settings, Spy(), FakeEndpoint())
    assert calls == [
        {"Bucket": BUCKET, "Key": KEY, "VersionId": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"},
        {"Bucket": BUCKET, "Key": KEY},
    ]


def test_given_the_uploaded_version_deleted_when_classified_then_rejected_as_gone(versioned_s3, settings):
    # GIVEN the uploaded version permanently deleted, while a newer version of the key exists
    first = versioned_s3.put_object(Bucket=BUCKET, Key=KEY, Body=jpeg_bytes())["VersionId"]
    versioned_s3.put_object(Bucket=BUCKET, Key=KEY, Body=jpeg_bytes(32, 32))
    versioned_s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=first)
    endpoint = FakeEndpoint()
    # WHEN it is classified
    result = classify_upload(task() | {"version_id": first}, settings, versioned_s3, endpoint)
    # THEN it is rejected as gone (the newer version is not inspected in its place)
    assert result == {
        "status": "rejected",
        "reason": f"s3://{BUCKET}/{KEY} (version {first}) no longer exists; upload the photo again.",
    }
    assert endpoint.calls == []


def test_given_s3_answering_no_such_version_when_classified_then_rejected_as_gone(settings):
    result = classify_upload(task() | {"version_id": "v1"}, settings, FailingS3(s3_error("NoSuchVersion", 404)), FakeEndpoint())
    assert result["status"] == "rejected"
    assert "(version v1) no longer exists" in result["reason"]
