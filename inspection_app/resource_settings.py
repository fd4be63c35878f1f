"""Resource settings that the cloud template and the embedded stack must agree on."""

# Lambda's guidance: visibility timeout at least six times the consuming function's timeout (30 s).
QUEUE_VISIBILITY_TIMEOUT_SECONDS = 180
# After this many failed receives a message moves to the dead-letter queue instead of being lost.
DLQ_MAX_RECEIVE_COUNT = 5
# Results table keys: latest verdict and history of a product come from one Query.
TABLE_KEYS = (("product_id", "HASH"), ("inspection_key", "RANGE"))
