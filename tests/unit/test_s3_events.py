"""chalicelib.s3_events: S3 event notifications read out of SQS message bodies."""
import json
from urllib.parse import quote, quote_plus

import pytest

from chalicelib.keys import UNMATCHED_PRODUCT_ID
from chalicelib.s3_events import MalformedEvent, UploadEvent, read_message

from .helpers import (
    BUCKET,
    eventbridge_object_created,
    s3_message,
    s3_record,
    s3_test_event,
    sns_envelope,
    upload_events,
)

PREFIX = "uploads/"
NOT_JSON = "message body is not JSON"
NOT_AN_OBJECT = "message body is not a JSON object"
NO_RECORDS = "message has no 'Records' list and is no EventBridge event; not an S3 event notification"
RECORD_LACKS = "record 0: record lacks eventName, s3.bucket.name or s3.object.key"
RECORD_NOT_STRINGS = "record 0: record's eventName and s3.bucket.name must be strings"
EVENTBRIDGE_NOT_STRINGS = "EventBridge event's detail.bucket.name and detail.object.key must be strings"


def eventbridge(detail: dict) -> str:
    return json.dumps({"detail-type": "Object Created", "source": "aws.s3", "detail": detail})


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
    assert skipped == [{"reason": "s3:TestEvent sent when the notification was configured"}]


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
    assert skipped == []
    assert (events[0].key, events[0].product_id) == ("uploads/line-3/PCB-1/x.jpg", UNMATCHED_PRODUCT_ID)
    assert "2 folders deep" in events[0].rejection


@pytest.mark.parametrize(
    "key, capture_id, reasons",
    [
        ("uploads/board one.jpg", "board one", ["the file name 'board one' is not a valid product id ("]),
        ("uploads/board one/x.jpg", "x", ["the key's folder 'board one' is not a valid product id ("]),
        ("uploads/-bad/x.jpg", "x", ["the key's folder '-bad' is not a valid product id ("]),
        ("uploads//x.jpg", "x", ["the key's folder '' is not a valid product id ("]),
        ("uploads/a/b/c.jpg", "c", ["the key is 2 folders deep under uploads/; photos go to uploads/<product_id>/"]),
        ("uploads/line-3/PCB-0042/x.jpg", "x", ["the key is 2 folders deep"]),
        ("uploads/PCB-0042/notes.txt", "notes", ["the file 'notes.txt' is not a photo: only .jpg, .jpeg, .png, .tif, .tiff and .bmp"]),
        ("uploads/PCB-0042/scan.gif", "scan", ["the file 'scan.gif' is not a photo"]),
        ("uploads/PCB-0042/README", "README", ["the file 'README' is not a photo"]),
        ("uploads/a/b/notes.pdf", "notes", ["the file 'notes.pdf' is not a photo", "2 folders deep"]),
    ],
)
def test_given_an_object_under_the_prefix_that_names_no_product_when_read_then_an_unmatched_upload_with_the_reason(
    key, capture_id, reasons
):
    # GIVEN a created object under the upload prefix whose key is no photo of a product
    # WHEN the notification is read
    events, skipped = upload_events(s3_message(s3_record(key, size=1234)), PREFIX)
    # THEN it is still an upload: recorded under the reserved product id, with its real key and every reason
    assert skipped == []
    [event] = events
    assert (event.key, event.product_id, event.capture_id, event.size) == (key, UNMATCHED_PRODUCT_ID, capture_id, 1234)
    assert event.version_id == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    for reason in reasons:
        assert reason in event.rejection
    assert event.as_execution_input("x")["rejection"] == event.rejection


def test_given_an_unmatched_upload_when_made_execution_input_then_it_carries_the_rejection_and_reserved_product():
    key = "uploads/board one.jpg"
    event = upload_events(s3_message(s3_record(key)), PREFIX)[0][0]
    execution_input = event.as_execution_input("_unmatched-abc")
    assert execution_input["product_id"] == "_unmatched"
    assert execution_input["key"] == key
    assert execution_input["rejection"].startswith("the file name 'board one' is not a valid product id")


@pytest.mark.parametrize(
    "key, reason",
    [
        ("exports/PCB-0042/report.jpg", "not under uploads/; not an upload"),
        ("uploadsX/PCB-0042/report.jpg", "not under uploads/; not an upload"),
        ("uploads/PCB-0042/", "a folder placeholder; not an upload"),
    ],
)
def test_given_keys_that_are_no_upload_when_read_then_skipped_with_key_and_reason(key, reason):
    events, skipped = upload_events(s3_message(s3_record(key)), PREFIX)
    assert events == []
    assert skipped == [{"key": key, "reason": reason}]


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
    assert [(event.key, event.product_id) for event in events] == [
        ("uploads/PCB-1/a.jpg", "PCB-1"),
        ("uploads/PCB-2/readme.md", UNMATCHED_PRODUCT_ID),
        ("uploads/PCB-3/b.png", "PCB-3"),
    ]
    assert [skip["key"] for skip in skipped] == ["uploads/PCB-1/a.jpg"]


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
    assert "rejection" not in event.as_execution_input("PCB-1-abc")  # only unmatched uploads carry one
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
        ("", NOT_JSON),
        ("{'Records': []}", NOT_JSON),
        ("Records", NOT_JSON),
        (None, NOT_JSON),
        ("[]", NOT_AN_OBJECT),
        ('"uploads/PCB-1/a.jpg"', NOT_AN_OBJECT),
        ("{}", NO_RECORDS),
        ('{"Records": {"eventName": "ObjectCreated:Put"}}', NO_RECORDS),
        ('{"Type": "Notification", "Message": "{}"}', NO_RECORDS),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', RECORD_LACKS),
        ('{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {}}}]}', RECORD_LACKS),
        ('{"Records": ["uploads/PCB-1/a.jpg"]}', RECORD_LACKS),
        ('{"Records": [null]}', RECORD_LACKS),
        (s3_message(s3_record("uploads/PCB-1/a.jpg", bucket="")), RECORD_NOT_STRINGS),
        (s3_message(s3_record("uploads/PCB-1/a.jpg", bucket=7)), RECORD_NOT_STRINGS),
        (s3_message(s3_record("uploads/PCB-1/a.jpg", event_name=7)), RECORD_NOT_STRINGS),
    ],
)
def test_given_a_body_that_is_no_s3_notification_when_read_then_malformed_event(body, message):
    with pytest.raises(MalformedEvent) as raised:
        upload_events(body, PREFIX)
    assert str(raised.value) == message


def test_given_one_malformed_record_among_good_ones_when_read_then_the_whole_message_is_malformed():
    good = s3_record("uploads/PCB-1/a.jpg")
    body = json.dumps({"Records": [good, {"eventName": "ObjectCreated:Put"}]})
    with pytest.raises(MalformedEvent):
        upload_events(body, PREFIX)


# --- EventBridge "Object Created" events and SNS-wrapped notifications -----------------------------------


def test_given_an_eventbridge_object_created_event_when_read_then_every_field_comes_from_its_detail():
    # GIVEN an EventBridge event from S3 (EventBridge rule -> SQS target); its key is NOT URL-encoded
    key = "uploads/PCB-0042/capture 1+2.jpg"
    body = eventbridge_object_created(key, size=777, etag="0a1b", sequencer="0066433B1F7D9A5C2F", version_id="v7",
                                      time="2024-05-14T09:21:07Z")
    # WHEN it is read
    events, skipped = upload_events(body, PREFIX)
    # THEN it is the upload the direct S3 notification of that object gives, key as it is ('+' stays '+')
    direct, _ = upload_events(s3_message(s3_record(key, size=777, etag="0a1b", sequencer="0066433B1F7D9A5C2F",
                                                   version_id="v7", event_time="2024-05-14T09:21:07Z")), PREFIX)
    assert skipped == []
    assert events == direct
    assert (events[0].key, events[0].capture_id, events[0].version_id) == (key, "capture 1+2", "v7")


def test_given_an_eventbridge_event_for_an_unversioned_bucket_when_read_then_version_is_empty():
    events, _ = upload_events(eventbridge_object_created("uploads/PCB-1/a.jpg", version_id=None), PREFIX)
    assert events[0].version_id == ""


def test_given_an_eventbridge_event_for_an_odd_key_when_read_then_an_unmatched_upload_with_the_reason():
    events, _ = upload_events(eventbridge_object_created("uploads/a/b/c.jpg"), PREFIX)
    assert (events[0].key, events[0].product_id) == ("uploads/a/b/c.jpg", UNMATCHED_PRODUCT_ID)
    assert "2 folders deep" in events[0].rejection


@pytest.mark.parametrize("detail_type", ["Object Deleted", "Object Restore Completed", "Object Tags Added"])
def test_given_eventbridge_events_other_than_creation_when_read_then_skipped_naming_the_event(detail_type):
    events, skipped = upload_events(eventbridge_object_created("uploads/PCB-1/a.jpg", detail_type=detail_type), PREFIX)
    assert events == []
    assert skipped == [{"key": "uploads/PCB-1/a.jpg", "reason": f"EventBridge event {detail_type!r} is not an object creation"}]


def test_given_an_s3_notification_wrapped_by_sns_when_read_then_read_like_a_direct_one():
    # GIVEN S3 -> SNS topic -> SQS queue without raw message delivery: the notification is the envelope's Message
    notification = s3_message(s3_record("uploads/PCB-0042/capture 1.jpg", sequencer="0066433B1F7D9A5C22"))
    # WHEN it is read
    wrapped, direct = upload_events(sns_envelope(notification), PREFIX), upload_events(notification, PREFIX)
    # THEN it gives exactly what the direct notification gives
    assert wrapped == direct
    assert [(event.key, event.sequencer) for event in wrapped[0]] == [("uploads/PCB-0042/capture 1.jpg", "0066433B1F7D9A5C22")]


def test_given_the_s3_test_event_wrapped_by_sns_when_read_then_skipped():
    events, skipped = upload_events(sns_envelope(s3_test_event()), PREFIX)
    assert events == []
    assert "s3:TestEvent" in skipped[0]["reason"]


def test_given_an_eventbridge_event_wrapped_by_sns_when_read_then_read_too():
    events, _ = upload_events(sns_envelope(eventbridge_object_created("uploads/PCB-1/a.jpg")), PREFIX)
    assert [event.product_id for event in events] == ["PCB-1"]


@pytest.mark.parametrize(
    "body, message",
    [
        (sns_envelope("not json at all"), "the SNS notification's Message is not JSON"),
        (sns_envelope('["uploads/PCB-1/a.jpg"]'), "the SNS notification's Message is not a JSON object"),
        (json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t"}),
         "SNS notification has no 'Message' string"),
        (json.dumps({"Type": "SubscriptionConfirmation", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
                     "Message": "You have chosen to subscribe", "SubscribeURL": "https://sns.example/confirm"}),
         "SNS message of type 'SubscriptionConfirmation' is not a notification"),
        (json.dumps({"detail-type": "Object Created", "source": "aws.ec2", "detail": {}}),
         "EventBridge event from source 'aws.ec2', not aws.s3"),
        (eventbridge({"bucket": {"name": "b"}}), "EventBridge event lacks detail.bucket.name or detail.object.key"),
        (eventbridge({"bucket": {"name": "b"}, "object": {"key": 7}}), EVENTBRIDGE_NOT_STRINGS),
        (eventbridge({"bucket": {"name": ""}, "object": {"key": "uploads/PCB-1/a.jpg"}}), EVENTBRIDGE_NOT_STRINGS),
        (eventbridge({"bucket": {"name": 7}, "object": {"key": "uploads/PCB-1/a.jpg"}}), EVENTBRIDGE_NOT_STRINGS),
        (eventbridge({"bucket": {"name": "b"}, "object": {"key": "uploads/PCB-1/a.jpg", "size": "big"}}),
         "object size 'big' is not a number"),
    ],
)
def test_given_an_envelope_that_holds_no_s3_event_when_read_then_malformed_event(body, message):
    with pytest.raises(MalformedEvent) as raised:
        read_message(body, PREFIX)
    assert str(raised.value) == message


@pytest.mark.parametrize("etag_field", ["etag", "eTag"])
def test_given_an_eventbridge_event_with_either_etag_spelling_when_read_then_the_etag_is_kept(etag_field):
    detail = {"bucket": {"name": "b"}, "object": {"key": "uploads/PCB-1/a.jpg", "size": 5, etag_field: "0a1b"}}
    [event] = read_message(eventbridge(detail), PREFIX).events
    assert event.etag == "0a1b"


def test_given_an_event_without_a_time_when_read_then_its_time_is_empty_text():
    [event] = read_message(eventbridge({"bucket": {"name": "b"}, "object": {"key": "uploads/PCB-1/a.jpg"}}), PREFIX).events
    assert event.event_time == ""


def test_given_one_malformed_record_among_good_ones_when_read_as_a_message_then_the_good_ones_are_still_uploads():
    # GIVEN a message whose second record can never be read
    body = json.dumps({"Records": [s3_record("uploads/PCB-1/a.jpg"), {"eventName": "ObjectCreated:Put"},
                                   s3_record("uploads/PCB-2/b.jpg")]})
    # WHEN it is read as a message
    message = read_message(body, PREFIX)
    # THEN the readable uploads are kept and the bad record is named with its reason
    assert [event.key for event in message.events] == ["uploads/PCB-1/a.jpg", "uploads/PCB-2/b.jpg"]
    assert message.malformed == ["record 1: record lacks eventName, s3.bucket.name or s3.object.key"]
