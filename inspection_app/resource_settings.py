"""Resource settings that tests/deploy compares with the resource template, and the verdict index for deploy's
policies. The embedded stack no longer reads them: it creates its resources from the template itself."""
from chalicelib.results import VERDICT_INDEX  # noqa: F401 - named by the store, created here and in the template

# Lambda's guidance: visibility timeout at least six times the consuming function's timeout (30 s).
QUEUE_VISIBILITY_TIMEOUT_SECONDS = 180
# After this many failed receives a message moves to the dead-letter queue instead of being lost.
DLQ_MAX_RECEIVE_COUNT = 5
# Results table keys: latest verdict and history of a product come from one Query.
TABLE_KEYS = (("product_id", "HASH"), ("inspection_key", "RANGE"))
# Verdicts by kind across products ("every `error` since 10:00"), for `inspection-app reinspect`.
VERDICT_INDEX_KEYS = (("verdict", "HASH"), ("inspection_key", "RANGE"))
# A verdict that could not be stored or alerted waits here for `inspection-app redrive` (SQS's maximum).
PARKED_VERDICT_RETENTION_SECONDS = 14 * 24 * 3600


def results_table_definition(table_name: str) -> dict:
    """`dynamodb.create_table` arguments for the results table, as the resource template defines it."""
    return {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in sorted({n for n, _ in TABLE_KEYS + VERDICT_INDEX_KEYS})
        ],
        "KeySchema": [{"AttributeName": name, "KeyType": key_type} for name, key_type in TABLE_KEYS],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": VERDICT_INDEX,
                "KeySchema": [{"AttributeName": name, "KeyType": key_type} for name, key_type in VERDICT_INDEX_KEYS],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
