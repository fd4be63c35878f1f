"""Properties of reading S3 events out of SQS bodies (chalicelib/s3_events.py): every well-formed record is
read, its URL-encoded key decoded exactly; anything else is MalformedEvent (or a malformed record), never a
crash."""
from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.keys import UNMATCHED_PRODUCT_ID, read_upload_key
from chalicelib.s3_events import Message, MalformedEvent, read_message

from unit.helpers import eventbridge_object_created, s3_message, s3_record, sns_envelope
from .strategies import capture_ids, extensions, product_ids, raw_keys

PREFIX = "uploads/"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
photo_keys = st.builds(lambda p, c, e: f"{PREFIX}{p}/{c}.{e}", product_ids, capture_ids, extensions)
any_keys = st.one_of(photo_keys, raw_keys.map(lambda k: PREFIX + k), raw_keys)
record_fields = st.fixed_dictionaries({
    "size": st.integers(min_value=0, max_value=5 * 2**30),
    "etag": st.text(alphabet="0123456789abcdef", max_size=32),
    "sequencer": st.text(alphabet="0123456789ABCDEF", max_size=18),
    "version_id": st.none() | st.text(alphabet="abcdefXYZ0123456789._", min_size=1, max_size=32),
    "event_time": st.just("2024-05-14T09:21:07.532Z"),
})


def read(body) -> Message:
    """read_message's answer, or the MalformedEvent it raised; any other exception fails the test."""
    try:
        return read_message(body, PREFIX)
    except MalformedEvent as error:
        assert str(error)
        return None


@given(any_keys, record_fields, st.sampled_from([quote_plus, quote]), st.booleans())
def test_given_a_well_formed_created_record_when_read_then_its_event_carries_the_decoded_key(key, fields, encode, wrapped):
    # `quote` writes a space as %20, `quote_plus` as '+' (S3 does the latter): both decode to the same key.
    body = s3_message(s3_record(key, encode=encode, **fields))
    message = read_message(sns_envelope(body) if wrapped else body, PREFIX)
    assert message.malformed == []
    upload = read_upload_key(PREFIX, key)
    if upload is None:
        assert message.events == [] and [s["key"] for s in message.skipped] == [key]
        return
    [event] = message.events
    assert event.key == key
    assert (event.product_id, event.capture_id) == (upload.product_id, upload.capture_id)
    assert event.size == fields["size"]
    assert event.version_id == (fields["version_id"] or "")
    assert event.etag == fields["etag"] and event.sequencer == fields["sequencer"]
    assert bool(event.rejection) == (upload.product_id == UNMATCHED_PRODUCT_ID)
    assert event.as_execution_input("id")["key"] == key


@given(photo_keys)
def test_given_an_eventbridge_event_when_read_then_the_key_is_taken_as_it_is(key):
    [event] = read_message(eventbridge_object_created(key), PREFIX).events
    assert event.key == key


@given(photo_keys, st.sampled_from(["ObjectRemoved:Delete", "ObjectRestore:Completed", "ReducedRedundancyLostObject"]))
def test_given_a_record_that_creates_nothing_when_read_then_skipped_with_its_key(key, event_name):
    message = read_message(s3_message(s3_record(key, event_name=event_name)), PREFIX)
    assert message.events == [] and message.malformed == []
    assert message.skipped == [{"key": key, "reason": f"event {event_name} is not an object creation"}]


@given(st.lists(photo_keys, min_size=1, max_size=5), st.data())
def test_given_records_with_a_field_broken_when_read_then_only_those_are_malformed(keys, data):
    records = [s3_record(key) for key in keys]
    broken = data.draw(st.sets(st.integers(0, len(keys) - 1)))
    for index in broken:
        path = data.draw(st.sampled_from([("eventName",), ("s3", "bucket", "name"), ("s3", "object", "key"), ("s3",)]))
        parent = records[index]
        for name in path[:-1]:
            parent = parent[name]
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(st.none() | st.integers() | st.lists(st.integers(), max_size=2))
    message = read_message(s3_message(*records), PREFIX)
    assert len(message.events) == len(keys) - len(broken)
    assert [reason.split(":")[0] for reason in message.malformed] == [f"record {i}" for i in sorted(broken)]


@given(json_values)
def test_given_any_json_body_when_read_then_a_message_or_malformed_never_a_crash(value):
    message = read(json.dumps(value))
    if not isinstance(value, dict):
        assert message is None


@given(st.dictionaries(st.sampled_from(["Records", "Type", "Message", "TopicArn", "Event", "detail-type", "source",
                                        "detail", "time"]), json_values, max_size=5))
def test_given_event_shaped_json_when_read_then_a_message_or_malformed_never_a_crash(value):
    read(json.dumps(value))
    read(sns_envelope(json.dumps(value)))


@given(st.lists(json_values, max_size=4))
def test_given_records_of_any_shape_when_read_then_each_is_an_event_skipped_or_malformed(records):
    message = read(json.dumps({"Records": records}))
    assert message is not None
    assert len(message.events) + len(message.skipped) + len(message.malformed) == len(records)


@given(st.text(max_size=30) | st.binary(max_size=30))
def test_given_a_body_that_is_no_json_object_when_read_then_malformed(body):
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        with pytest.raises(MalformedEvent):
            read_message(body, PREFIX)
