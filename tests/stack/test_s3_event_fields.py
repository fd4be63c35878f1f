"""The local server's S3 events carry versionId (versioned buckets) and an increasing sequencer, as AWS's do."""
from __future__ import annotations

import json
from urllib.parse import unquote_plus

import boto3
from moto.s3 import notifications

from chalicelib.s3_events import read_message
from inspection_app.stack import s3_event_fields

KEY = "uploads/PCB-0042/capture 1.jpg"


def bucket_with_queue(local_aws, name: str, versioned: bool):
    """A bucket whose ObjectCreated events under uploads/ go to a queue, as the resource stack configures it."""
    session = boto3.session.Session(region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=local_aws.url)
    sqs = session.client("sqs", endpoint_url=local_aws.url)
    queue_url = sqs.create_queue(QueueName=f"{name}-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"QueueConfigurations": [{
        "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
    }]})
    return s3, sqs, queue_url


def received_records(sqs, queue_url: str) -> list[dict]:
    """The ObjectCreated records on the queue, in order (the s3:TestEvent left out)."""
    records = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return records
        for message in messages:
            records.extend(json.loads(message["Body"]).get("Records", []))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_given_a_versioned_bucket_when_one_key_is_uploaded_twice_then_events_carry_each_version_and_increasing_sequencers(
    local_aws,
):
    # GIVEN a versioned upload bucket on the local server, its events going to a queue
    s3, sqs, queue_url = bucket_with_queue(local_aws, "events-versioned", versioned=True)
    # WHEN the same key is uploaded twice
    versions = [s3.put_object(Bucket="events-versioned", Key=KEY, Body=body)["VersionId"] for body in (b"one", b"two")]
    # THEN each event names the version it created, and the second sequencer is greater than the first
    records = received_records(sqs, queue_url)
    objects = [record["s3"]["object"] for record in records]
    assert [unquote_plus(obj["key"]) for obj in objects] == [KEY, KEY]
    assert [obj["versionId"] for obj in objects] == versions
    assert versions[0] != versions[1]
    first, second = (obj["sequencer"] for obj in objects)
    assert len(first) == len(second) and int(first, 16) < int(second, 16) and first < second
    assert all(c in "0123456789ABCDEF" for c in first + second)
    # AND the app reads them into two distinct inspections of the exact versions
    events = [read_message(json.dumps({"Records": [record]}), "uploads/").events[0] for record in records]
    assert [event.version_id for event in events] == versions
    assert events[0].sequencer < events[1].sequencer


def test_given_an_unversioned_bucket_when_uploaded_then_events_carry_a_sequencer_and_no_version(local_aws):
    s3, sqs, queue_url = bucket_with_queue(local_aws, "events-unversioned", versioned=False)
    s3.put_object(Bucket="events-unversioned", Key=KEY, Body=b"one")
    [record] = received_records(sqs, queue_url)
    assert "versionId" not in record["s3"]["object"]
    assert record["s3"]["object"]["sequencer"]


def test_given_the_fields_installed_twice_when_events_built_then_moto_is_wrapped_once():
    s3_event_fields.install()
    wrapped = notifications._get_s3_event
    s3_event_fields.install()
    assert notifications._get_s3_event is wrapped
    assert wrapped.adds_version_and_sequencer


def test_given_many_sequencers_when_made_then_each_is_greater_than_the_one_before():
    made = [s3_event_fields.next_sequencer() for _ in range(1000)]
    assert made == sorted(made) and len(set(made)) == len(made)
