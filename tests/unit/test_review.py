"""Review routes (chalicelib/review.py through app.py, chalice.test on moto) and the store's review additions.

tests/deploy/test_policy_matches_calls.py also runs this module to record the API handler's AWS calls.
"""
import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.stub import Stubber
import requests

import app as app_module
from chalicelib import review, webapp
from chalicelib.results import DynamoDbResultsStore

from .helpers import LOCAL_BUCKET, LOCAL_STAGE_RESOURCES, LOCAL_TABLE, stored_record
from .test_app import JSON, client, clients  # noqa: F401 - the app's fixtures

NOW = datetime(2024, 5, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(clients):  # noqa: F811
    return DynamoDbResultsStore(clients.dynamodb, LOCAL_TABLE)


@pytest.fixture
def alerts(clients, boto_session, monkeypatch):  # noqa: F811
    """The alert topic the review publishes to, read through a subscribed queue (as an operator's inbox)."""
    sns, sqs = boto_session.client("sns"), boto_session.client("sqs")
    topic = sns.create_topic(Name=LOCAL_STAGE_RESOURCES["ALERT_TOPIC_ARN"].rsplit(":", 1)[1])["TopicArn"]
    queue = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    clients._clients["sns"] = sns

    def received() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    return received


def needs_review(product_id="PCB-0042", uploaded_at="2024-05-14T09:21:07.532Z", **changes) -> dict:
    fields = {"verdict": "needs_review", "label": "defect_free", "confidence": 0.61, "bucket": LOCAL_BUCKET, **changes}
    return stored_record(product_id, uploaded_at, **fields)


def post_review(client, inspection_id, body):  # noqa: F811
    return client.http.post(f"/inspections/{inspection_id}/review", headers=JSON,
                            body=json.dumps(body).encode() if not isinstance(body, bytes) else body)


# ---- POST /inspections/{inspection_id}/review ------------------------------------------------------------

def test_given_a_needs_review_result_when_reviewed_defective_then_human_verdict_served_model_kept_alert_once(
        client, store, alerts):  # noqa: F811
    # GIVEN a result the model was unsure about
    record = store.put(needs_review())
    # WHEN a person reviews it as defective, with a note
    answer = post_review(client, record["inspection_id"],
                         {"verdict": "defective", "note": "crack at the edge", "reviewer": "Ana QA"})
    # THEN the answer is the result with the human verdict, the model's kept beside it
    assert answer.status_code == 200, answer.body
    body = json.loads(answer.body)
    assert (body["verdict"], body["model_verdict"]) == ("defective", "needs_review")
    assert (body["reviewed_by"], body["review_note"]) == ("Ana QA", "crack at the edge")
    # AND the stored record keeps the model's verdict untouched, with the review beside it
    stored = store.find(record["inspection_id"])
    assert stored["verdict"] == "needs_review" and stored["reviewed_verdict"] == "defective"
    assert stored["reviewed_at"].endswith("Z") and stored["confidence"] == 0.61
    # AND GET /results answers the human verdict as the product's
    latest = json.loads(client.http.get("/results/PCB-0042").body)["latest"]
    assert (latest["verdict"], latest["model_verdict"]) == ("defective", "needs_review")
    # AND exactly one defect alert was published, naming the reviewer and the model's verdict
    sent = alerts()
    assert [a["Subject"] for a in sent] == ["Defect confirmed by review: PCB-0042"]
    body = json.loads(sent[0]["Message"])  # a queue gets the JSON body; its `text` is what e-mail gets
    assert "Reviewed by: Ana QA" in body["text"] and "Model verdict: needs_review, confidence 0.6100" in body["text"]
    assert "Note: crack at the edge" in body["text"]
    assert (body["alert"], body["reviewed_by"], body["model_verdict"]) == ("defect_confirmed_by_review", "Ana QA", "needs_review")
    assert {name: value["Value"] for name, value in sent[0]["MessageAttributes"].items()} == {
        "verdict": "defective", "product_id": "PCB-0042", "model_id": record["model_id"]}
    # WHEN it is reviewed defective again (or after a change of mind)
    post_review(client, record["inspection_id"], {"verdict": "defect_free"})
    again = post_review(client, record["inspection_id"], {"verdict": "defective"})
    # THEN the latest review counts, and no second alert is raised
    assert again.status_code == 200 and json.loads(again.body)["reviewed_by"] == "anonymous"
    assert alerts() == []


@pytest.mark.parametrize("model_verdict, human, alerted", [
    ("needs_review", "defect_free", False),
    ("defective", "defective", False),  # the state machine alerted it already
    ("error", "defective", True),
    ("defect_free", "defective", True),
])
def test_given_a_model_verdict_when_reviewed_then_only_a_newly_found_defect_alerts(
        client, store, alerts, model_verdict, human, alerted):  # noqa: F811
    record = store.put(needs_review(verdict=model_verdict))
    answer = post_review(client, record["inspection_id"], {"verdict": human})
    assert answer.status_code == 200
    assert len(alerts()) == (1 if alerted else 0)


def test_given_the_alert_topic_failing_when_reviewed_defective_then_503_and_the_next_review_alerts(
        client, store, alerts):  # noqa: F811
    record = store.put(needs_review())
    sns = app_module.clients.sns
    with Stubber(sns) as down:  # SNS fails once
        down.add_client_error("publish", "InternalError", "no route to SNS", 500)
        answer = post_review(client, record["inspection_id"], {"verdict": "defective"})
    assert answer.status_code == 503 and json.loads(answer.body)["error"] == "AlertUnavailable"
    assert "review_alerted_at" not in store.find(record["inspection_id"])
    assert post_review(client, record["inspection_id"], {"verdict": "defective"}).status_code == 200
    assert len(alerts()) == 1


@pytest.mark.parametrize("body, message", [
    ({"verdict": "maybe"}, "verdict must be one of: defective, defect_free"),
    ({"verdict": "needs_review"}, "verdict must be one of"),
    ({}, "verdict must be one of"),
    ({"verdict": "defective", "note": "x" * 1001}, "note must be text of at most 1000 characters"),
    ({"verdict": "defective", "note": 5}, "note must be text"),
    ({"verdict": "defective", "by": "me"}, "Unknown field(s) by"),
    (["defective"], "Send a JSON object"),
    (b"not json", "Send a JSON object"),
])
def test_given_a_bad_review_when_posted_then_400_in_the_apps_shape(client, store, body, message):  # noqa: F811
    record = store.put(needs_review())
    answer = post_review(client, record["inspection_id"], body)
    assert answer.status_code == 400
    error = json.loads(answer.body)
    assert error["error"] == "InvalidReviewRequest" and message in error["message"]
    assert "reviewed_verdict" not in store.find(record["inspection_id"])


def test_given_an_unknown_or_malformed_id_when_reviewed_or_photo_asked_then_404_or_400(client, store):  # noqa: F811
    unknown = post_review(client, "PCB-0042-0123456789abcdef", {"verdict": "defective"})
    assert unknown.status_code == 404 and json.loads(unknown.body)["error"] == "InspectionNotFound"
    malformed = client.http.get("/inspections/" + "a" * 81 + "/image")
    assert malformed.status_code == 400 and json.loads(malformed.body)["error"] == "InvalidReviewRequest"
    assert client.http.get("/inspections/nope/image").status_code == 404


# ---- GET /inspections ----------------------------------------------------------------------------------

def test_given_many_results_when_listed_by_verdict_then_newest_first_in_pages_with_an_opaque_token(client, store):  # noqa: F811
    # GIVEN five needs_review results of two products, one defective, and one reviewed
    times = [f"2024-05-14T09:0{minute}:00.000Z" for minute in range(6)]
    for index, uploaded_at in enumerate(times[:5]):
        store.put(needs_review(f"PCB-{index % 2}", uploaded_at))
    store.put(needs_review("PCB-9", times[5], verdict="defective"))
    reviewed = store.put(needs_review("PCB-7", "2024-05-14T08:00:00.000Z"))
    post_review(client, reviewed["inspection_id"], {"verdict": "defect_free"})
    # WHEN the unreviewed needs_review ones are read two at a time
    seen, token, pages = [], None, 0
    while True:
        query = "verdict=needs_review&since=2024-05-14T00:00:00Z&limit=2&reviewed=false" + (f"&next={token}" if token else "")
        answer = client.http.get(f"/inspections?{query}")
        assert answer.status_code == 200, answer.body
        page = json.loads(answer.body)
        seen += [item["uploaded_at"] for item in page["items"]]
        pages, token = pages + 1, page["next"]
        if not token:
            break
    # THEN all five come once, newest first, in three pages
    assert seen == times[:5][::-1] and pages == 3
    # AND without the filter the reviewed one comes too, as the product's (human) verdict
    everything = json.loads(client.http.get("/inspections?verdict=needs_review&since=2024-05-14T00:00:00Z").body)
    assert everything["count"] == 6 and everything["next"] is None
    assert (everything["items"][-1]["verdict"], everything["items"][-1]["model_verdict"]) == ("defect_free", "needs_review")
    only_reviewed = json.loads(client.http.get("/inspections?verdict=needs_review&since=2024-05-14&reviewed=true").body)
    assert [item["product_id"] for item in only_reviewed["items"]] == ["PCB-7"]


@pytest.mark.parametrize("query, message", [
    ("", "verdict must be one of"),
    ("verdict=broken", "verdict must be one of"),
    ("verdict=error&limit=0", "limit must be a whole number from 1 to 100"),
    ("verdict=error&limit=101", "limit must be a whole number"),
    ("verdict=error&since=yesterday", "since 'yesterday' is not an ISO 8601 time"),
    ("verdict=error&reviewed=maybe", "reviewed must be true or false"),
    ("verdict=error&next=garbage", "next must be the `next` value"),
    ("verdict=error&page=2", "Unknown parameter(s) page"),
])
def test_given_a_bad_listing_when_asked_then_400_in_the_apps_shape(client, query, message):  # noqa: F811
    answer = client.http.get(f"/inspections?{query}")
    assert answer.status_code == 400
    error = json.loads(answer.body)
    assert error["error"] == "InvalidInspectionsRequest" and message in error["message"], error


def test_given_a_token_from_before_since_when_listed_then_400(client):  # noqa: F811
    token = review.next_token({"product_id": "PCB-1", "inspection_key": "2020-01-01T00:00:00Z#x"})
    answer = client.http.get(f"/inspections?verdict=error&since=2024-01-01T00:00:00Z&next={token}")
    assert answer.status_code == 400


def test_given_pages_of_filtered_out_results_when_listed_then_the_page_ends_early_with_a_token(store):
    # GIVEN three reviewed results and one unreviewed, oldest
    for minute in range(4):
        store.put(needs_review(uploaded_at=f"2024-05-14T09:0{minute}:00.000Z"))
    for record in store.history("PCB-0042")[:3]:
        store.record_review(record, {"reviewed_verdict": "defect_free"})
    # WHEN at most one index page is read per call
    items, start = store.newest_with_verdict("needs_review", "2024-05-14", 1, reviewed=False, max_pages=1)
    # THEN the call ends without the item, and the token leads on to it
    assert items == [] and start is not None
    items, start = store.newest_with_verdict("needs_review", "2024-05-14", 10, start, reviewed=False)
    assert [item["uploaded_at"] for item in items] == ["2024-05-14T09:00:00.000Z"] and start is None


# ---- GET /inspections/{inspection_id}/image --------------------------------------------------------------

@pytest.mark.parametrize("versioned", [False, True])
def test_given_a_stored_photo_when_its_image_asked_then_a_300_s_url_of_that_exact_object(
        client, clients, store, versioned):  # noqa: F811
    # GIVEN a photo in the upload bucket (the exact version inspected, where the bucket keeps versions)
    record = needs_review()
    if versioned:
        clients.s3.put_bucket_versioning(Bucket=LOCAL_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    put = clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=record["key"], Body=b"the inspected photo")
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=record["key"], Body=b"a later upload to the same key")
    if versioned:
        record["version_id"] = put["VersionId"]
    store.put(record)
    # WHEN its image is asked for
    answer = client.http.get(f"/inspections/{record['inspection_id']}/image")
    # THEN a pre-signed URL valid 300 s answers that photo
    assert answer.status_code == 200, answer.body
    body = json.loads(answer.body)
    assert body["expires_in"] == 300 and body["inspection_id"] == record["inspection_id"]
    query = parse_qs(urlsplit(body["url"]).query)
    assert query["X-Amz-Expires"] == ["300"]
    expected = b"the inspected photo" if versioned else b"a later upload to the same key"
    assert requests.get(body["url"], timeout=10).content == expected


def test_given_a_result_with_a_heat_map_when_its_heatmap_asked_then_a_url_of_the_overlay_not_the_photo(
        client, clients, store):  # noqa: F811
    # GIVEN a result whose classify step stored a heat-map overlay beside the photo
    record = needs_review(heatmap_key="heatmaps/PCB-0042/photo.png.PCB-0042-x.png")
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=record["key"], Body=b"the photo")
    clients.s3.put_object(Bucket=LOCAL_BUCKET, Key=record["heatmap_key"], Body=b"the overlay")
    store.put(record)
    # WHEN its heat map is asked for
    answer = client.http.get(f"/inspections/{record['inspection_id']}/image?kind=heatmap")
    # THEN a 300 s URL answers the overlay; without kind, still the photo
    assert answer.status_code == 200, answer.body
    body = json.loads(answer.body)
    assert body["kind"] == "heatmap" and body["expires_in"] == 300
    assert requests.get(body["url"], timeout=10).content == b"the overlay"
    photo = json.loads(client.http.get(f"/inspections/{record['inspection_id']}/image").body)
    assert photo["kind"] == "photo" and requests.get(photo["url"], timeout=10).content == b"the photo"


def test_given_a_result_without_a_heat_map_when_its_heatmap_asked_then_404_heatmap_not_found(
        client, store):  # noqa: F811
    record = needs_review()
    store.put(record)
    answer = client.http.get(f"/inspections/{record['inspection_id']}/image?kind=heatmap")
    assert answer.status_code == 404
    assert json.loads(answer.body)["error"] == "HeatmapNotFound"


def test_given_an_unknown_image_kind_when_asked_then_400_naming_the_kinds(client, store):  # noqa: F811
    record = needs_review()
    store.put(record)
    answer = client.http.get(f"/inspections/{record['inspection_id']}/image?kind=mask")
    assert answer.status_code == 400
    assert json.loads(answer.body)["error"] == "InvalidReviewRequest" and "photo, heatmap" in json.loads(answer.body)["message"]


# ---- GET / ----------------------------------------------------------------------------------------------

def test_given_the_web_app_when_its_page_asked_without_a_key_then_html_with_a_strict_policy(client):  # noqa: F811
    answer = client.http.get("/")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    page = answer.body.decode()
    assert "<script>" in page and "Review queue" in page and 'src="app.js"' not in page
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy
    assert webapp.page()[1] == policy


@pytest.mark.parametrize("reviewer, caller, recorded", [
    ("Ana QA", "arn:aws:iam::123456789012:user/ana", "Ana QA"),  # the name given wins
    (None, "arn:aws:sts::123456789012:assumed-role/qa-lead/ana", "arn:aws:sts::123456789012:assumed-role/qa-lead/ana"),
    (None, "k7x2abcd1e", "API key k7x2abcd1e"),
    (None, None, "anonymous"),
])
def test_given_a_caller_when_a_review_names_no_reviewer_then_the_signer_or_key_is_recorded(reviewer, caller, recorded):
    # GIVEN who API Gateway says called (an IAM stage's signer, or an API key's id) WHEN the reviewer is recorded
    # THEN a named reviewer is kept, else the IAM identity as it is, else the key
    assert review.reviewer_of(reviewer, caller) == recorded
