"""chalicelib.results: storing verdicts in DynamoDB and reading a product's history."""
import copy
from decimal import Decimal

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber

from chalicelib.results import (
    DynamoDbResultsStore,
    ProductNotFound,
    ResultsStoreUnavailable,
    inspection_key,
    product_results,
)

from .helpers import TABLE, stored_record as record




@pytest.fixture
def store(dynamodb):
    return DynamoDbResultsStore(dynamodb, TABLE)


def test_given_an_inspection_key_when_made_then_upload_time_sorts_first():
    assert inspection_key("2024-05-14T09:21:07.532Z", "PCB-1-abc") == "2024-05-14T09:21:07.532Z#PCB-1-abc"


def test_given_a_new_record_when_put_then_it_is_stored_and_returned(store, dynamodb):
    stored = store.put(record())
    assert stored == record()
    item = dynamodb.get_item(
        TableName=TABLE,
        Key={"product_id": {"S": "PCB-0042"}, "inspection_key": {"S": record()["inspection_key"]}},
    )["Item"]
    assert item["verdict"] == {"S": "defective"}
    assert item["confidence"] == {"N": "0.91834"}  # a DynamoDB number, not a string


def test_given_records_when_read_back_then_numbers_keep_their_python_types(store):
    store.put(record(confidence=0.91834, threshold=0.75))
    [back] = store.history("PCB-0042")
    assert back == record()
    assert type(back["confidence"]) is float
    assert type(back["threshold"]) is float
    assert all(type(value) is float for value in back["probabilities"].values())
    assert type(back["image"]["width"]) is int
    assert not any(isinstance(value, (Decimal, str)) for value in [back["confidence"], back["threshold"]])


@pytest.mark.parametrize("confidence", [1.0, 0.5, 0.1 + 0.2, 1e-05, 0.999999999999])
def test_given_awkward_floats_when_round_tripped_then_the_same_float_comes_back(store, confidence):
    store.put(record(confidence=confidence, probabilities={"defect_free": 1 - confidence, "defective": confidence}))
    [back] = store.history("PCB-0042")
    assert back["confidence"] == confidence
    assert type(back["confidence"]) is float
    assert back["probabilities"]["defect_free"] == 1 - confidence


def test_given_several_inspections_when_history_read_then_newest_first(store):
    times = ["2024-05-14T09:21:07.532Z", "2024-05-14T11:02:00.001Z", "2024-05-13T23:59:59.999Z"]
    for uploaded_at in times:
        store.put(record(uploaded_at=uploaded_at))
    history = store.history("PCB-0042")
    assert [entry["uploaded_at"] for entry in history] == sorted(times, reverse=True)


def test_given_two_products_when_history_read_then_only_that_products_results(store):
    store.put(record(product_id="PCB-0042"))
    store.put(record(product_id="PCB-0043"))
    assert {entry["product_id"] for entry in store.history("PCB-0043")} == {"PCB-0043"}
    assert store.history("PCB-9999") == []


def test_given_a_limit_when_history_read_then_only_the_newest_that_many(store):
    for hour in range(5):
        store.put(record(uploaded_at=f"2024-05-14T0{hour}:00:00.000Z"))
    history = store.history("PCB-0042", limit=2)
    assert [entry["uploaded_at"] for entry in history] == ["2024-05-14T04:00:00.000Z", "2024-05-14T03:00:00.000Z"]


def test_given_the_same_inspection_put_twice_when_stored_then_the_first_record_wins_and_no_duplicate(store):
    first = record(verdict="defective", inspected_at="2024-05-14T09:21:08.101+00:00")
    retry = record(verdict="needs_review", inspected_at="2024-05-14T09:21:39.777+00:00")
    store.put(first)

    returned = store.put(retry)

    assert returned == first
    assert type(returned["confidence"]) is float
    assert len(store.history("PCB-0042")) == 1
    assert store.history("PCB-0042")[0]["verdict"] == "defective"


def test_given_a_record_with_none_values_when_put_then_those_attributes_are_left_out(store):
    store.put(record(model_id=None))
    [back] = store.history("PCB-0042")
    assert "model_id" not in back


def test_given_a_product_with_results_when_asked_then_latest_and_history_newest_first(store):
    store.put(record(uploaded_at="2024-05-14T09:00:00.000Z", verdict="defect_free"))
    store.put(record(uploaded_at="2024-05-14T10:00:00.000Z", verdict="needs_review"))
    answer = product_results(store, "PCB-0042")
    assert answer["product_id"] == "PCB-0042"
    assert answer["count"] == 2
    assert answer["latest"]["verdict"] == "needs_review"
    assert answer["latest"] == answer["history"][0]
    assert [entry["verdict"] for entry in answer["history"]] == ["needs_review", "defect_free"]


def test_given_a_product_without_results_when_asked_then_product_not_found_telling_what_to_do(store):
    with pytest.raises(ProductNotFound) as raised:
        product_results(store, "PCB-9999")
    assert str(raised.value) == (
        "No inspection results for product 'PCB-9999' yet. Upload an image with POST /uploads "
        "and ask again once it has been inspected (usually within seconds).")


# --- DynamoDB failures and the wire format of real DynamoDB, via Stubber --------------------------------


@pytest.fixture
def stubbed(boto_session):
    client = boto_session.client("dynamodb")
    with Stubber(client) as stubber:
        yield DynamoDbResultsStore(client, TABLE), stubber


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException",
                                  "InternalServerError", "ResourceNotFoundException"])
def test_given_dynamodb_refusing_a_put_when_stored_then_results_store_unavailable(stubbed, code):
    store, stubber = stubbed
    stubber.add_client_error("put_item", code, "try again", expected_params={
        "TableName": TABLE, "Item": ANY, "ConditionExpression": "attribute_not_exists(inspection_key)"})
    with pytest.raises(ResultsStoreUnavailable) as raised:
        store.put(record())
    assert "PCB-0042" in str(raised.value)
    assert code in str(raised.value)


def test_given_dynamodb_unreachable_when_stored_then_results_store_unavailable():
    class Unreachable:
        def put_item(self, **kwargs):
            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    with pytest.raises(ResultsStoreUnavailable) as raised:
        DynamoDbResultsStore(Unreachable(), TABLE).put(record())
    assert str(raised.value) == (
        'storing PCB-0042: Could not connect to the endpoint URL: "https://dynamodb.us-east-1.amazonaws.com"')


def item_as_dynamodb_returns_it(stored: dict) -> dict:
    """Real DynamoDB trims trailing zeros of numbers: 1.0 is stored and returned as "1", 0.0 as "0"."""
    return {
        "product_id": {"S": stored["product_id"]},
        "inspection_key": {"S": stored["inspection_key"]},
        "verdict": {"S": stored["verdict"]},
        "confidence": {"N": "1"},
        "threshold": {"N": "0.75"},
        "probabilities": {"M": {"defect_free": {"N": "0"}, "defective": {"N": "1"}}},
    }


def test_given_dynamodb_trimming_a_confidence_of_one_when_read_back_then_still_a_float(stubbed):
    store, stubber = stubbed
    sure = record(confidence=1.0, probabilities={"defect_free": 0.0, "defective": 1.0})
    stubber.add_response("query", {"Items": [item_as_dynamodb_returns_it(sure)], "Count": 1, "ScannedCount": 1})
    [back] = store.history("PCB-0042")
    assert type(back["confidence"]) is float
    assert all(type(value) is float for value in back["probabilities"].values())


def test_given_dynamodb_trimming_a_threshold_of_one_when_read_back_then_still_a_float(stubbed):
    store, stubber = stubbed
    item = item_as_dynamodb_returns_it(record())
    item["threshold"] = {"N": "1"}
    stubber.add_response("query", {"Items": [item], "Count": 1, "ScannedCount": 1})
    [back] = store.history("PCB-0042")
    assert back["threshold"] == 1.0 and type(back["threshold"]) is float


def test_given_a_record_with_a_list_when_round_tripped_then_its_numbers_come_back_as_python_numbers(store):
    store.put(record(regions=[0.25, 3, "scratch", {"x": 0.5}]))
    [back] = store.history("PCB-0042")
    assert back["regions"] == [0.25, 3, "scratch", {"x": 0.5}]
    assert [type(value) for value in back["regions"][:2]] == [float, int]


@pytest.mark.parametrize("read, message", [
    (lambda store: store.history("PCB-0042"), "reading the results of PCB-0042: "),
    (lambda store: store.result_for_key("PCB-0042", "uploads/PCB-0042/a.jpg"),
     "reading the result of uploads/PCB-0042/a.jpg: "),
])
def test_given_dynamodb_failing_a_read_then_unavailable_naming_what_was_read(stubbed, read, message):
    store, stubber = stubbed
    stubber.add_client_error("query", "InternalServerError", "try again")
    with pytest.raises(ResultsStoreUnavailable) as raised:
        read(store)
    assert str(raised.value).startswith(message) and "InternalServerError" in str(raised.value)


def verdict_page(records: list[dict], last_key: dict | None) -> dict:
    items = [{"product_id": {"S": r["product_id"]}, "inspection_key": {"S": r["inspection_key"]},
              "verdict": {"S": r["verdict"]}} for r in records]
    return {"Items": items, "Count": len(items), **({"LastEvaluatedKey": last_key} if last_key else {})}


def test_given_results_on_several_pages_when_listed_by_verdict_then_pages_are_followed_up_to_the_limit(stubbed):
    # GIVEN error results spread over pages (DynamoDB pages by items read, before the filter)
    store, stubber = stubbed
    first, second = (record(verdict="error", uploaded_at=f"2024-05-14T09:0{n}:00.000Z") for n in (1, 2))
    after_first = {"verdict": {"S": "error"}, "inspection_key": {"S": first["inspection_key"]},
                   "product_id": {"S": "PCB-0042"}}
    asked = {"TableName": TABLE, "IndexName": "verdict-index",
             "KeyConditionExpression": "verdict = :v AND inspection_key >= :since",
             "FilterExpression": "attribute_not_exists(reinspected_by) AND attribute_not_exists(reviewed_verdict)",
             "ExpressionAttributeValues": {":v": {"S": "error"}, ":since": {"S": "2024-05-14"}}}
    stubber.add_response("query", verdict_page([first], after_first), expected_params=asked)
    stubber.add_response("query", verdict_page([second], {"verdict": {"S": "error"}}),
                         expected_params={**asked, "ExclusiveStartKey": after_first})
    # WHEN two are asked for, THEN the second page is read, no third though DynamoDB has more, and both come back
    found = store.with_verdict("error", "2024-05-14", limit=2)
    assert [r["inspection_key"] for r in found] == [first["inspection_key"], second["inspection_key"]]
    stubber.assert_no_pending_responses()


def test_given_the_last_page_when_listed_by_verdict_then_no_further_query(stubbed):
    store, stubber = stubbed
    stubber.add_response("query", verdict_page([record(verdict="error")], None))
    assert len(store.with_verdict("error", "2024-05-14", limit=5)) == 1
    stubber.assert_no_pending_responses()


def test_given_dynamodb_numbers_when_read_back_then_fractions_are_floats_not_decimals(stubbed):
    store, stubber = stubbed
    item = item_as_dynamodb_returns_it(record())
    item["confidence"] = {"N": "0.91834"}
    stubber.add_response("query", {"Items": [copy.deepcopy(item)], "Count": 1, "ScannedCount": 1})
    [back] = store.history("PCB-0042")
    assert back["confidence"] == 0.91834
    assert type(back["confidence"]) is float


def test_given_a_retried_put_when_the_first_attempt_stored_it_then_read_back_consistently(stubbed):
    store, stubber = stubbed
    first = record(verdict="defect_free")
    stubber.add_client_error("put_item", "ConditionalCheckFailedException", "exists")
    stubber.add_response("get_item", {"Item": item_as_dynamodb_returns_it(first)}, expected_params={
        "TableName": TABLE, "ConsistentRead": True,
        "Key": {"product_id": {"S": first["product_id"]}, "inspection_key": {"S": first["inspection_key"]}}})
    assert store.put(record(verdict="defective"))["verdict"] == "defect_free"
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "InternalServerError"])
def test_given_the_read_back_failing_after_a_conditional_check_then_results_store_unavailable(stubbed, code):
    store, stubber = stubbed
    stubber.add_client_error("put_item", "ConditionalCheckFailedException", "exists")
    stubber.add_client_error("get_item", code, "try again")
    with pytest.raises(ResultsStoreUnavailable) as raised:
        store.put(record())
    assert str(raised.value).startswith("reading back PCB-0042: ") and code in str(raised.value)


def test_given_an_inspection_id_when_found_then_its_keys_come_from_the_index_and_the_record_is_read_consistently(
        stubbed):
    # GIVEN the inspection index names the record's keys
    store, stubber = stubbed
    stored = record()
    keys = {"product_id": {"S": stored["product_id"]}, "inspection_key": {"S": stored["inspection_key"]}}
    stubber.add_response("query", {"Items": [keys]}, expected_params={
        "TableName": TABLE, "IndexName": "inspection-index", "KeyConditionExpression": "inspection_id = :i",
        "ExpressionAttributeValues": {":i": {"S": stored["inspection_id"]}}, "Limit": 1})
    # THEN the record is read with a consistent read (a review just stored must be seen)
    stubber.add_response("get_item", {"Item": item_as_dynamodb_returns_it(stored)}, expected_params={
        "TableName": TABLE, "Key": keys, "ConsistentRead": True})
    assert store.find(stored["inspection_id"])["inspection_key"] == stored["inspection_key"]
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("act, operation, message", [
    (lambda store: store.find("PCB-0042-abc"), "query", "reading inspection PCB-0042-abc: "),
    (lambda store: store.record_review(record(inspection_id="PCB-0042-abc"), {"reviewed_verdict": "defective"}),
     "update_item", "storing the review of PCB-0042-abc: "),
])
def test_given_dynamodb_failing_a_review_read_or_write_then_unavailable_naming_it(stubbed, act, operation, message):
    store, stubber = stubbed
    stubber.add_client_error(operation, "InternalServerError", "try again")
    with pytest.raises(ResultsStoreUnavailable) as raised:
        act(store)
    assert str(raised.value).startswith(message) and "InternalServerError" in str(raised.value)


def test_given_a_review_when_stored_then_only_an_existing_record_is_updated(stubbed):
    # GIVEN a review of a record WHEN stored THEN the write is conditional on the record existing (no stray item
    # made of review fields alone), with the mark set only if absent
    store, stubber = stubbed
    stored = record()
    stubber.add_response("update_item", {"Attributes": item_as_dynamodb_returns_it(stored)}, expected_params={
        "TableName": TABLE,
        "Key": {"product_id": {"S": stored["product_id"]}, "inspection_key": {"S": stored["inspection_key"]}},
        "UpdateExpression": "SET #0 = :0, #mark = if_not_exists(#mark, :mark)",
        "ConditionExpression": "attribute_exists(inspection_key)",
        "ExpressionAttributeNames": {"#0": "reviewed_at", "#mark": "review_alerted_at"},
        "ExpressionAttributeValues": {":0": {"S": "2024-05-14T10:00:00.000Z"}, ":mark": {"S": "2024-05-14T10:00:00.000Z"}},
        "ReturnValues": "ALL_OLD"})
    before = store.record_review(stored, {"reviewed_at": "2024-05-14T10:00:00.000Z"}, "review_alerted_at")
    assert before["verdict"] == stored["verdict"]
