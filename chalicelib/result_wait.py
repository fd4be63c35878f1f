"""GET /results/{product_id}?key=...&wait=N: one request that waits for the verdict of one upload.

Instead of a client polling the API every fraction of a second, the API handler polls the one product's
results itself (consistent reads, only that upload's key, short pauses) until the result for `key` is stored,
for at most `wait` seconds (0..20: API Gateway cuts a request at 29 s, and the handler's Lambda timeout of
30 s leaves room to answer). Found: 200 `{product_id, key, result}`. Not yet: 202 `{product_id, key, status:
"pending", waited_ms, message}`, and the client asks again with the same request.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from .keys import UploadedImage, read_upload_key
from .results import ResultsStore

MAX_WAIT_SECONDS = 20
# Kept back from the Lambda's remaining time: enough to answer before the function's timeout.
ANSWER_MARGIN_SECONDS = 2.0
# Pauses between reads: quick at first (the embedded stack stores a verdict within 50 ms of the upload; a
# first pause of 0.1 s added 100 ms to what a station waits), doubling to at most 1 s: a verdict stored
# after 1.5 s costs 8 reads, one more than pauses from 0.1 s growing by half.
FIRST_PAUSE_SECONDS = 0.02
PAUSE_GROWTH = 2.0
LONGEST_PAUSE_SECONDS = 1.0
# The capture id's time is when the upload URL was issued; the result is stored after the upload, so only
# results from a little before it are read (the slack covers clocks that disagree).
CLOCK_SLACK = timedelta(minutes=5)
MAX_KEY_LENGTH = 1024  # S3's limit


class InvalidResultsRequest(ValueError):
    pass


@dataclass(frozen=True)
class WaitRequest:
    key: str
    wait: float
    not_before: str | None  # the earliest inspection_key that can hold this upload's result


def read_wait_request(query: dict | None, product_id: str, upload_prefix: str) -> WaitRequest | None:
    """The `key` and `wait` query parameters, checked; None when there is no `key` (the plain product query)."""
    query = query or {}
    key = query.get("key")
    if key is None:
        if "wait" in query:
            raise InvalidResultsRequest("wait needs key: GET /results/{product_id}?key=<the upload's key>&wait=20.")
        return None
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidResultsRequest(f"key must be the upload's key (1 to {MAX_KEY_LENGTH} characters), as POST "
                                    "/uploads answered it.")
    upload = read_upload_key(upload_prefix, key)
    if upload is None or upload.product_id != product_id:
        raise InvalidResultsRequest(
            f"key {key[:80]!r} is not an upload of product {product_id!r}: use the key POST /uploads answered "
            f"for this product ({upload_prefix}{product_id}/<capture_id>.<ext>)."
        )
    return WaitRequest(key, _wait_seconds(query.get("wait")), _not_before(upload))


def _wait_seconds(value: str | None) -> float:
    if value is None:
        return 0.0
    try:
        wait = float(value)
    except ValueError:
        wait = -1.0
    if not 0 <= wait <= MAX_WAIT_SECONDS:  # also refuses nan and inf
        raise InvalidResultsRequest(f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS}, not {value!r}.")
    return wait


def _not_before(upload) -> str | None:
    """The capture time of a key made by POST /uploads, less the slack, in the inspection keys' time format."""
    if not isinstance(upload, UploadedImage):
        return None
    try:
        captured = datetime.strptime(upload.capture_id[:22], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=timezone.utc)
    except ValueError:  # a camera's own file name
        return None
    return (captured - CLOCK_SLACK).strftime("%Y-%m-%dT%H:%M:%S")


def pauses() -> Iterator[float]:
    """The pauses between reads: 0.02, 0.04, 0.08 ... up to 1 s each."""
    pause = FIRST_PAUSE_SECONDS
    while True:
        yield pause
        pause = min(pause * PAUSE_GROWTH, LONGEST_PAUSE_SECONDS)


def reads_until(seconds: float) -> int:
    """How many reads a wait makes until a result stored `seconds` after it began is found (cost model)."""
    reads, elapsed = 1, 0.0
    for pause in pauses():
        if elapsed >= seconds:
            return reads
        elapsed += pause
        reads += 1


def wait_for_result(store: ResultsStore, product_id: str, request: WaitRequest, *,
                    seconds_left: Callable[[], float] | None = None,
                    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> dict:
    """The answer to a wait: 200 with the result once stored, 202 pending when `wait` (or the Lambda) runs out."""
    started = clock()
    budget = request.wait
    if seconds_left is not None:
        budget = min(budget, max(0.0, seconds_left() - ANSWER_MARGIN_SECONDS))
    deadline = started + budget
    for pause in pauses():
        result = store.result_for_key(product_id, request.key, request.not_before)
        if result is not None:
            return {"status_code": 200, "body": {"product_id": product_id, "key": request.key, "result": result}}
        left = deadline - clock()
        if left <= 0:
            break
        sleep(min(pause, left))
    waited_ms = round((clock() - started) * 1000)
    return {"status_code": 202, "body": {
        "product_id": product_id, "key": request.key, "status": "pending", "waited_ms": waited_ms,
        "message": "No result for this upload yet; ask again with the same request (it is usually there within "
                   "seconds; an upload that never reached the bucket never gets one).",
    }}
