"""Structured logs through AWS Lambda Powertools' Logger: one JSON object per line, as CloudWatch Logs Insights
reads them.

Every line has `level`, `location`, `message`, `timestamp` (UTC), `service`, the caller's fields, and in
Lambda `xray_trace_id`. Inside `invocation(...)` it also names the invocation: `function_request_id`,
`cold_start`, `function_name`, `function_arn`, `function_memory_size` (Powertools' own key names, so its
queries and dashboards apply) and `inspection_id`, so no call has to pass them again.

The level is `LOG_LEVEL` (or `POWERTOOLS_LOG_LEVEL`; Lambda's own log-level control wins over both), INFO
when none is set.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager

from aws_lambda_powertools import Logger

SERVICE = "quality-inspection"

# serialize_stacktrace=False: a failure's traceback once per line (`exception`), not twice (and a structured copy).
logger = Logger(service=SERVICE, utc=True, use_rfc3339=True, serialize_stacktrace=False)
# Its own stream only, never a second copy through a handler on the root logger (Powertools filters only the
# root handlers that exist when it starts).
logging.getLogger(SERVICE).propagate = False

# The first invocation after an import is the cold one, unless provisioned concurrency initialised the
# environment ahead of any request (Lambda says so in this variable).
_cold_start = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency"


def configure(stream=None) -> None:
    """Write the lines to `stream` (stdout, which Lambda ships to CloudWatch, unless told otherwise), at the
    level the environment names now."""
    logger.logger_handler.setStream(stream or sys.stdout)
    logger.setLevel(None)  # None: from the environment, as at import


def log(event: str, level: int = logging.INFO, **fields) -> None:
    """Log `event` (the line's `message`) with `fields` as one JSON object."""
    logger.log(level, event, extra=fields, stacklevel=2)  # location: the caller, not this function


def write_json_line(document: dict) -> None:
    """`document` as a line of its own in the log stream, whatever the level (metrics in the embedded metric
    format must be a top-level object, not the message of a log entry)."""
    handler = logger.logger_handler
    line = json.dumps(document, separators=(",", ":"), default=str)
    handler.acquire()  # the handler's lock: a line from another thread never lands inside this one
    try:
        handler.stream.write(line + "\n")
        handler.flush()
    finally:
        handler.release()


@contextmanager
def invocation(context, inspection_id: str | None = None):
    """Every line logged inside names this Lambda invocation (`context`) and the inspection it works on.

    Powertools' `inject_lambda_context` would set the same keys, but for the whole process: the embedded stack
    runs several invocations at once, in threads of one process, so the keys here are per thread (context
    variables) and each line names its own invocation.
    """
    global _cold_start
    cold_start, _cold_start = _cold_start, False
    keys = {
        "cold_start": cold_start,
        "function_name": context.function_name,
        "function_memory_size": context.memory_limit_in_mb,
        "function_arn": context.invoked_function_arn,
        "function_request_id": context.aws_request_id,
    }
    if inspection_id:
        keys["inspection_id"] = inspection_id
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_clear_keys()
