"""chalicelib.s3_events: S3 event notifications read out of SQS message bodies."""
import json
from urllib.parse import quote, quote_plus

import pytest

from chalicelib.s3_events import MalformedEvent, UploadEvent, upload_events

from .helpers import BUCKET, s3_message, s3_record, s3_test_event

PREFIX = "uploads/"


def test_given_one_created_image_when_read_then_every_field_comes_from_the_record():
    body = s3_message(
        s3_record(
            "uploads/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg",
            size=48213,
            etag="9b2cf535f27731c974343645a3985328",
            sequencer="0066433B1F7D9A5C21",
            version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
            event_time="2024-05-14T09:21:07.532Z",
        )
    )
    events, skipped = upload_events(body, PREFIX)
    assert skipped == []
    assert events == [
        UploadEvent(
            bucket=BUCKET,
            key="uploads/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg",
            product_id="PCB-0042",
            capture_id="20240514T092107532000Z-0a1b2c3d",
            size=48213,
            etag="9b2cf535f27731c974343645a3985328",
            version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
            sequencer="0066433B1F7D9A5C21",
            event_time="2024-05-14T09:21:07.532Z",
        )
    ]


def test_given_a_message_with_several_records_when_read_then_every_record_is_an_event_in_order():
    keys = [f"uploads/CELL-{n}/20240514T0921{n:02d}000000Z-0000000{n}.png" for n in range(4)]
    body = s3_message(*[s3_record(key, sequencer=f"0066433B1F7D9A5C2{n}") for n, key in enumerate(keys)])
    events, skipped = upload_events(body, PREFIX)
    assert [event.key for event in events] == keys
    assert [event.product_id for event in events] == ["CELL-0", "CELL-1", "CELL-2", "CELL-3"]
    assert skipped == []


def test_given_the_s3_test_event_when_read_then_nothing_to_inspect_and_a_reason():
    events, skipped = upload_events(s3_test_event(), PREFIX)
    assert events == []
    assert len(skipped) == 1
    assert "s3:TestEvent" in skipped[0]["reason"]


@pytest.mark.parametrize(
    "key, product_id, capture_id",
    [
        ("uploads/PCB-0042/capture 1.jpg", "PCB-0042", "capture 1"),  # space -> '+'
        ("uploads/PCB-0042/a+b.jpg", "PCB-0042", "a+b"),  # literal '+' -> %2B
        ("uploads/PCB-0042/ü-100%.png", "PCB-0042", "ü-100%"),  # UTF-8 and '%'
        ("uploads/Cell.17/x(1).jpeg", "Cell.17", "x(1)"),
    ],
)
@pytest.mark.parametrize("encode", [
    pytest.param(quote_plus, id="slash-as-%2F(moto)"),
    pytest.param(lambda key: quote_plus(key, safe="/"), id="slash-kept(AWS)"),
])
def test_given_a_url_encoded_key_when_read_then_the_real_key_is_used(key, product_id, capture_id, encode):
    record = s3_record(key, encode=encode)
    assert record["s3"]["object"]["key"] != key  # the notification really carries it encoded
    events, skipped = upload_events(s3_message(record), PREFIX)
    assert skipped == []
    assert (events[0].key, events[0].product_id, events[0].capture_id) == (key, product_id, capture_id)


def test_given_a_key_with_an_encoded_slash_in_a_name_when_read_then_decoded_before_parsing():
    # "%2F" decodes to "/": the key has 3 levels under the prefix, which is no upload of ours.
    record = s3_record("x", encode=lambda _: quote("uploads/line-3/PCB-1/x.jpg", safe=""))
    events, skipped = upload_events(s3_message(record), PREFIX)
    assert events == []
    assert skipped[0]["key"] == "uploads/line-3/PCB-1/x.jpg"


@pytest.mark.parametrize(
    "key",
    [
        "exports/PCB-0042/report.jpg",
        "uploads/PCB-0042/notes.txt",
        "uploads/PCB-0042/scan.gif",
        "uploads/line-3/PCB-0042/x.jpg",
        "uploads/-bad/x.jpg",
    ],
)
def test_given_keys_that_are_not_images_under_the_prefix_when_read_then_skipped_with_key_and_reason(key):
    events, skipped = upload_events(s3_message(s3_record(key)), PREFIX)
    assert events == []
    assert skipped == [{"key": key, "reason": "not an image (.jpg/.jpeg/.png) under uploads/<product_id>/"}]


@pytest.mark.parametrize("event_name", ["ObjectRemoved:Delete", "ObjectRestore:Completed", "ObjectTagging:Put"])
def test_given_events_other_than_creation_when_read_then_skipped_naming_the_event(event_name):
    events, skipped = upload_events(s3_message(s3_record("uploads/PCB-1/x.jpg", event_name=event_name)), PREFIX)
    assert events == []
    assert skipped[0]["key"] == "uploads/PCB-1/x.jpg"
    assert event_name in skipped[0]["reason"]


@pytest.mark.parametrize("event_name", ["ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy",
                                        "ObjectCreated:CompleteMultipartUpload"])
def test_given_any_kind_of_creation_when_read_then_inspected(event_name):
    events, _ = upload_events(s3_message(s3_record("uploads/PCB-1/x.jpg", event_name=event_name)), PREFIX)
    assert [event.key for event in events] == ["uploads/PCB-1/x.jpg"]


def test_given_a_mixed_message_when_read_then_images_are_events_and_the_rest_is_skipped():
    body = s3_message(
        s3_record("uploads/PCB-1/a.jpg"),
        s3_record("uploads/PCB-1/a.jpg", event_name="ObjectRemoved:Delete"),
        s3_record("uploads/PCB-2/readme.md"),
        s3_record("uploads/PCB-3/b.png"),
    )
    events, skipped = upload_events(body, PREFIX)
    assert [event.key for event in events] == ["uploads/PCB-1/a.jpg", "uploads/PCB-3/b.png"]
    assert [skip["key"] for skip in skipped] == ["uploads/PCB-1/a.jpg", "uploads/PCB-2/readme.md"]


def test_given_an_unversioned_bucket_when_read_then_version_is_empty():
    events, _ = upload_events(s3_message(s3_record("uploads/PCB-1/a.jpg", version_id=None)), PREFIX)
    assert events[0].version_id == ""


def test_given_another_prefix_when_read_then_keys_under_it_are_the_uploads():
    body = s3_message(s3_record("factory/line-3/PCB-1/a.jpg"), s3_record("uploads/PCB-1/a.jpg"))
    events, skipped = upload_events(body, "factory/line-3/")
    assert [event.product_id for event in events] == ["PCB-1"]
    assert [skip["key"] for skip in skipped] == ["uploads/PCB-1/a.jpg"]


def test_given_an_event_when_made_execution_input_then_it_carries_what_the_tasks_need():
    record = s3_record("uploads/PCB-1/a.jpg", size=99, sequencer="0066433B1F7D9A5C21")
    event = upload_events(s3_message(record), PREFIX)[0][0]
    assert event.as_execution_input("PCB-1-abc") == {
        "inspection_id": "PCB-1-abc",
        "bucket": BUCKET,
        "key": "uploads/PCB-1/a.jpg",
        "product_id": "PCB-1",
        "capture_id": "a",
        "size": 99,
        "etag": event.etag,
        "version_id": event.version_id,
        "sequencer": "0066433B1F7D9A5C21",
        "uploaded_at": "2024-05-14T09:21:07.532Z",
    }


@pytest.mark.parametrize(
    "body, message",
    [
        ("", "not JSON"),
        ("{'Records': []}", "not JSON"),
        ("Records", "not JSON"),
        (None, "not JSON"),
        ("[]", "not a JSON object"),
        ('"uploads/PCB-1/a.jpg"', "not a JSON object"),
        ("{}", "no 'Records' list"),
        ('{"Records": {"eventName": "ObjectCreated:Put"}}', "no 'Records' list"),
        ('{"Type": "Notification", "Message": "{}"}', "no 'Records' list"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "lacks eventName"),
        ('{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {}}}]}', "lacks eventName"),
        ('{"Records": ["uploads/PCB-1/a.jpg"]}', "lacks eventName"),
        ('{"Records": [null]}', "lacks eventName"),
    ],
)
def test_given_a_body_that_is_no_s3_notification_when_read_then_malformed_event(body, message):
    with pytest.raises(MalformedEvent) as raised:
        upload_events(body, PREFIX)
    assert message in str(raised.value)


def test_given_one_malformed_record_among_good_ones_when_read_then_the_whole_message_is_malformed():
    good = s3_record("uploads/PCB-1/a.jpg")
    body = json.dumps({"Records": [good, {"eventName": "ObjectCreated:Put"}]})
    with pytest.raises(MalformedEvent):
        upload_events(body, PREFIX)
