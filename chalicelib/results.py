"""Where verdicts are stored: a small interface and its DynamoDB adapter.

Table keys: `product_id` (partition) and `inspection_key` = `<uploaded_at>#<inspection_id>` (sort), so one
Query answers "latest verdict and history of product X" in time order, without a scan.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

HISTORY_LIMIT = 100
# Global secondary index (verdict, inspection_key): "every `error` since 10:00" across products.
VERDICT_INDEX = "verdict-index"
# Global secondary index (inspection_id), keys only: one inspection by its id (the review and photo routes).
INSPECTION_INDEX = "inspection-index"


class ResultsStoreUnavailable(RuntimeError):
    """DynamoDB failed transiently; the state machine retries with backoff."""


class ResultsStore(Protocol):
    def put(self, record: dict) -> dict: ...

    def history(self, product_id: str, limit: int = HISTORY_LIMIT) -> list[dict]: ...

    def result_for_key(self, product_id: str, key: str, not_before: str | None = None) -> dict | None: ...

    def with_verdict(self, verdict: str, since: str, limit: int, product_id: str | None = None) -> list[dict]: ...

    def mark_reinspected(self, record: dict, reinspection_id: str) -> None: ...


def inspection_key(uploaded_at: str, inspection_id: str) -> str:
    return f"{uploaded_at}#{inspection_id}"


def _to_dynamodb(value):
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamodb(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_to_dynamodb(v) for v in value]
    return value


def _from_dynamodb(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamodb(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamodb(v) for v in value]
    return value


def _with_fractions_as_floats(record: dict) -> dict:
    """DynamoDB trims trailing zeros (1.0 is stored as 1): probabilities stay floats, whatever their value."""
    for name in ("confidence", "threshold"):
        if name in record:
            record[name] = float(record[name])
    if "probabilities" in record:
        record["probabilities"] = {label: float(p) for label, p in record["probabilities"].items()}
    return record


class DynamoDbResultsStore:
    """ResultsStore on a DynamoDB table (low-level client, so tests can pass a moto-backed one)."""

    def __init__(self, client, table_name: str):
        self._client = client
        self._table = table_name
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    def _item(self, record: dict) -> dict:
        return {k: self._serializer.serialize(v) for k, v in _to_dynamodb(record).items()}

    def _record(self, item: dict) -> dict:
        return _with_fractions_as_floats(_from_dynamodb({k: self._deserializer.deserialize(v) for k, v in item.items()}))

    def put(self, record: dict) -> dict:
        """Store `record` once; a retried put of the same inspection returns what is already stored."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._item(record),
                ConditionExpression="attribute_not_exists(inspection_key)",
            )
            return record
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise ResultsStoreUnavailable(f"storing {record['product_id']}: {error}") from None
        except BotoCoreError as error:
            raise ResultsStoreUnavailable(f"storing {record['product_id']}: {error}") from None
        try:
            existing = self._client.get_item(
                TableName=self._table,
                Key=self._item({"product_id": record["product_id"], "inspection_key": record["inspection_key"]}),
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as error:
            raise ResultsStoreUnavailable(f"reading back {record['product_id']}: {error}") from None
        return self._record(existing["Item"])

    def history(self, product_id: str, limit: int = HISTORY_LIMIT) -> list[dict]:
        """The product's results, newest first."""
        try:
            response = self._client.query(
                TableName=self._table,
                KeyConditionExpression="product_id = :p",
                ExpressionAttributeValues={":p": {"S": product_id}},
                ScanIndexForward=False,
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as error:
            raise ResultsStoreUnavailable(f"reading the results of {product_id}: {error}") from None
        return [self._record(item) for item in response["Items"]]

    def result_for_key(self, product_id: str, key: str, not_before: str | None = None) -> dict | None:
        """The newest result of the upload `key` (a reinspection's, if any), read consistently; None if none yet.

        Only the product's results from `not_before` (an inspection_key prefix) on are read, if given."""
        condition = "product_id = :p" + (" AND inspection_key >= :since" if not_before else "")
        values = {":p": {"S": product_id}, ":key": {"S": key}, **({":since": {"S": not_before}} if not_before else {})}
        start = None
        try:
            while True:
                page = self._client.query(
                    TableName=self._table,
                    KeyConditionExpression=condition,
                    FilterExpression="#key = :key",
                    ExpressionAttributeNames={"#key": "key"},  # a reserved word
                    ExpressionAttributeValues=values,
                    ConsistentRead=True,
                    ScanIndexForward=False,
                    **({"ExclusiveStartKey": start} if start else {}),
                )
                if page["Items"]:
                    return self._record(page["Items"][0])
                start = page.get("LastEvaluatedKey")
                if not start:
                    return None
        except (ClientError, BotoCoreError) as error:
            raise ResultsStoreUnavailable(f"reading the result of {key}: {error}") from None

    def with_verdict(self, verdict: str, since: str, limit: int, product_id: str | None = None) -> list[dict]:
        """Up to `limit` results with `verdict` (of one product, if given) whose key time is `since` or
        later, not yet reinspected and not reviewed (a person's verdict stands), oldest first."""
        condition = "attribute_not_exists(reinspected_by) AND attribute_not_exists(reviewed_verdict)"
        values = {":v": {"S": verdict}, ":since": {"S": since}}
        if product_id:
            condition += " AND product_id = :p"
            values[":p"] = {"S": product_id}
        found, start = [], None
        while len(found) < limit:
            page = self._client.query(
                TableName=self._table,
                IndexName=VERDICT_INDEX,
                KeyConditionExpression="verdict = :v AND inspection_key >= :since",
                FilterExpression=condition,
                ExpressionAttributeValues=values,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            found += [self._record(item) for item in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return found[:limit]

    def mark_reinspected(self, record: dict, reinspection_id: str) -> None:
        """Note on `record` which inspection re-runs it, so it is not picked again."""
        self._client.update_item(
            TableName=self._table,
            Key=self._item({"product_id": record["product_id"], "inspection_key": record["inspection_key"]}),
            UpdateExpression="SET reinspected_by = :r",
            ExpressionAttributeValues={":r": {"S": reinspection_id}},
        )

    # ---- the review routes (chalicelib/review.py) -------------------------------------------------------------

    def find(self, inspection_id: str) -> dict | None:
        """The result of the inspection `inspection_id`, or None: its keys from the inspection index, then the
        record itself, read consistently."""
        try:
            found = self._client.query(
                TableName=self._table,
                IndexName=INSPECTION_INDEX,
                KeyConditionExpression="inspection_id = :i",
                ExpressionAttributeValues={":i": {"S": inspection_id}},
                Limit=1,
            )["Items"]
            if not found:
                return None
            keys = {name: found[0][name] for name in ("product_id", "inspection_key")}
            item = self._client.get_item(TableName=self._table, Key=keys, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as error:
            raise ResultsStoreUnavailable(f"reading inspection {inspection_id}: {error}") from None
        return self._record(item) if item else None

    def record_review(self, record: dict, review: dict, mark: str | None = None) -> dict:
        """Store `review` (attributes, set beside the model's verdict, which stays as it is) on `record`; with
        `mark`, also set that attribute to the review's `reviewed_at` unless it is set already. Returns the
        record as it was before (so the caller sees whether `mark` was already there: one conditional write,
        whatever runs at the same time)."""
        names = {f"#{index}": name for index, name in enumerate(review)}
        values = {f":{index}": value for index, value in enumerate(review.values())}
        assignments = [f"#{index} = :{index}" for index in range(len(review))]
        if mark:
            names["#mark"] = mark
            values[":mark"] = review["reviewed_at"]
            assignments.append("#mark = if_not_exists(#mark, :mark)")
        try:
            old = self._client.update_item(
                TableName=self._table,
                Key=self._item({"product_id": record["product_id"], "inspection_key": record["inspection_key"]}),
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression="attribute_exists(inspection_key)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=self._item(values),
                ReturnValues="ALL_OLD",
            )
        except (ClientError, BotoCoreError) as error:
            raise ResultsStoreUnavailable(f"storing the review of {record['inspection_id']}: {error}") from None
        return self._record(old["Attributes"])

    def unmark(self, record: dict, mark: str, value: str) -> None:
        """Remove `mark` from `record` if it still holds `value` (an alert that could not be sent after all)."""
        self._client.update_item(
            TableName=self._table,
            Key=self._item({"product_id": record["product_id"], "inspection_key": record["inspection_key"]}),
            UpdateExpression="REMOVE #mark",
            ConditionExpression="#mark = :value",
            ExpressionAttributeNames={"#mark": mark},
            ExpressionAttributeValues={":value": {"S": value}},
        )

    def newest_with_verdict(self, verdict: str, since: str, limit: int, start: dict | None = None,
                            reviewed: bool | None = None, max_pages: int = 10) -> tuple[list[dict], dict | None]:
        """Up to `limit` results with the model's `verdict` whose key time is `since` or later, newest first,
        from the verdict index, after `start` ({"product_id", "inspection_key"} of the last one seen); only the
        reviewed (True) or unreviewed (False) ones if asked. Returns them and where the next page starts (None:
        no more). Reads at most `max_pages` index pages per call, so a long run of filtered-out results ends
        a page early rather than late."""
        arguments = {
            "TableName": self._table,
            "IndexName": VERDICT_INDEX,
            "KeyConditionExpression": "verdict = :v AND inspection_key >= :since",
            "ExpressionAttributeValues": {":v": {"S": verdict}, ":since": {"S": since}},
            "ScanIndexForward": False,
        }
        if reviewed is not None:
            arguments["FilterExpression"] = f"attribute_{'' if reviewed else 'not_'}exists(reviewed_verdict)"
        exclusive = self._item({**start, "verdict": verdict}) if start else None
        found: list[dict] = []
        try:
            for _ in range(max_pages):
                page = self._client.query(**arguments, Limit=limit - len(found) + 1,
                                          **({"ExclusiveStartKey": exclusive} if exclusive else {}))
                found += [self._record(item) for item in page["Items"]]
                exclusive = page.get("LastEvaluatedKey")
                if len(found) > limit or not exclusive:
                    break
        except (ClientError, BotoCoreError) as error:
            raise ResultsStoreUnavailable(f"listing {verdict} results: {error}") from None
        if len(found) > limit:  # one more than asked: there is a next page, after the last one returned
            found = found[:limit]
            return found, {name: found[-1][name] for name in ("product_id", "inspection_key")}
        if exclusive:  # the pages ran out first
            return found, {name: self._deserializer.deserialize(exclusive[name]) for name in ("product_id", "inspection_key")}
        return found, None


class ProductNotFound(LookupError):
    pass


def product_results(store: ResultsStore, product_id: str) -> dict:
    """The latest verdict of a product and its history, newest first."""
    history = store.history(product_id)
    if not history:
        raise ProductNotFound(
            f"No inspection results for product {product_id!r} yet. Upload an image with POST /uploads "
            "and ask again once it has been inspected (usually within seconds)."
        )
    return {"product_id": product_id, "latest": history[0], "history": history, "count": len(history)}
