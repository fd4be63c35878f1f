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
        later and that were not yet reinspected, oldest first."""
        condition = "attribute_not_exists(reinspected_by)"
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
