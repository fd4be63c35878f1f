"""People review inspections: the queue, the photo, and the human verdict (docs/webapp.md).

- `POST /inspections/{inspection_id}/review` `{"verdict": "defective"|"defect_free", "note": "...",
  "reviewer": "..."}` stores the decision *beside* the model's: `reviewed_verdict`, `reviewed_by`,
  `reviewed_at`, `review_note` are set on the stored result; its `verdict` (the model's) is never changed. A
  later review replaces the earlier one.
- From then on the human decision is the product's verdict: every answer about results (`GET /results/...`,
  `GET /inspections`) shows a reviewed result with `verdict` = the human one and `model_verdict` = the
  model's (`present`). Unreviewed results are answered exactly as before (no `model_verdict`).
- A human `defective` on a result the model did not call defective raises the usual defect alert, once: the
  same conditional write that stores the review sets `review_alerted_at` only if it is not set yet, and only
  the review that set it publishes (a second `defective` review, or two at the same moment, alert nothing).
  A model `defective` was alerted by the state machine already.

Why the id alone in the path: the inspection id is what every answer shows (GET /results, GET /inspections,
the alert text), so a QA lead's page and an MES both have it at hand; the product id cannot be derived from
it (workflow.name_for shortens and replaces characters). A small keys-only index on `inspection_id` finds
the record (results.INSPECTION_INDEX).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timedelta, timezone

from .alerts import publish_parameters, reviewed_defect_alert
from .reinspection import InvalidReinspectionRequest, _since
from .verdicts import DEFECT_FREE, DEFECTIVE, VERDICTS

REVIEW_VERDICTS = (DEFECTIVE, DEFECT_FREE)
MAX_NOTE_CHARACTERS = 1000
MAX_REVIEWER_CHARACTERS = 100
# The review stored on the result; `review_alerted_at` marks the one alert a human `defective` raises.
ALERT_MARK = "review_alerted_at"
# Pre-signed photo URLs live this long: enough to show the photo, too short to pass around.
IMAGE_URL_SECONDS = 300
IMAGE_KINDS = ("photo", "heatmap")  # GET /inspections/{id}/image?kind=...
DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT = 50, 100
DEFAULT_LOOKBACK = timedelta(days=30)
# Execution names (workflow.name_for): letters, digits, '_' and '-', at most 80.
_INSPECTION_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


class InvalidReviewRequest(ValueError):
    pass


class InvalidInspectionsRequest(ValueError):
    pass


class InspectionNotFound(LookupError):
    pass


class HeatmapNotFound(InspectionNotFound):
    """The inspection exists but has no heat map (its model gave none, or the photo was not classified)."""


class AlertUnavailable(RuntimeError):
    """The review is stored but its alert could not be sent; reviewing again sends it."""


def present(record: dict) -> dict:
    """A result as clients see it: a reviewed one with the human `verdict` and the model's as `model_verdict`."""
    if not record.get("reviewed_verdict"):
        return record
    return {**record, "verdict": record["reviewed_verdict"], "model_verdict": record["verdict"]}


def present_answer(body: dict) -> dict:
    """An answer of GET /results (the product's `latest` and `history`, or one upload's `result`), presented."""
    body = dict(body)
    for name in ("latest", "result"):
        if isinstance(body.get(name), dict):
            body[name] = present(body[name])
    if isinstance(body.get("history"), list):
        body["history"] = [present(record) for record in body["history"]]
    return body


def check_inspection_id(inspection_id: str) -> str:
    if not isinstance(inspection_id, str) or not _INSPECTION_ID.fullmatch(inspection_id):
        raise InvalidReviewRequest(
            f"{str(inspection_id)[:90]!r} is not an inspection id (1 to 80 letters, digits, '_' and '-', as "
            "GET /results and GET /inspections answer it in `inspection_id`).")
    return inspection_id


def find(store, inspection_id: str) -> dict:
    record = store.find(check_inspection_id(inspection_id))
    if record is None:
        raise InspectionNotFound(f"No inspection {inspection_id!r}: use an `inspection_id` from GET /results or "
                                 "GET /inspections.")
    return record


def _text(body: dict, name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value.strip()) > limit:
        raise InvalidReviewRequest(f"{name} must be text of at most {limit} characters.")
    return value.strip() or None


def read_review(body) -> tuple[str, str | None, str | None]:
    """(verdict, note, reviewer) of a review request, checked."""
    if not isinstance(body, dict):
        raise InvalidReviewRequest('Send a JSON object like {"verdict": "defective", "note": "scratch on the lid"}.')
    unknown = sorted(set(body) - {"verdict", "note", "reviewer"})
    if unknown:
        raise InvalidReviewRequest(f"Unknown field(s) {', '.join(unknown)}: send verdict, note and reviewer only.")
    verdict = body.get("verdict")
    if verdict not in REVIEW_VERDICTS:
        raise InvalidReviewRequest(f"verdict must be one of: {', '.join(REVIEW_VERDICTS)} (not {verdict!r}).")
    return verdict, _text(body, "note", MAX_NOTE_CHARACTERS), _text(body, "reviewer", MAX_REVIEWER_CHARACTERS)


def reviewer_of(reviewer: str | None, caller: str | None) -> str:
    """Who reviewed: the name the reviewer gave, else the caller API Gateway names (chalicelib.access.caller_identity:
    the IAM ARN that signed the request, or the API key's id)."""
    if reviewer:
        return reviewer
    if not caller:
        return "anonymous"
    return caller if caller.startswith("arn:") else f"API key {caller}"


class AlertTopic:
    """Publishes the review alerts to the stage's alert topic."""

    def __init__(self, client):
        self._client = client

    def publish(self, topic_arn: str, alert: dict) -> None:
        self._client.publish(**publish_parameters(topic_arn, alert))


def review(inspection_id: str, body, store, alerts: AlertTopic, topic_arn: str, *, caller: str | None = None,
           now: datetime | None = None) -> dict:
    """Store a person's verdict on an inspection; alert a newly found defect once. Returns the presented result."""
    verdict, note, reviewer = read_review(body)
    record = find(store, inspection_id)
    reviewed_at = (now or datetime.now(timezone.utc)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    decision = {"reviewed_verdict": verdict, "reviewed_by": reviewer_of(reviewer, caller),
                "reviewed_at": reviewed_at, "review_note": note or ""}
    # Only a defect the model did not report raises an alert (the state machine alerted the model's own).
    alerting = verdict == DEFECTIVE and record["verdict"] != DEFECTIVE
    before = store.record_review(record, decision, ALERT_MARK if alerting else None)
    reviewed = {**before, **decision}
    if alerting and not before.get(ALERT_MARK):
        reviewed[ALERT_MARK] = reviewed_at
        try:
            alerts.publish(topic_arn, reviewed_defect_alert(reviewed))
        except Exception as error:  # noqa: BLE001 - any failure: take the mark back, so reviewing again alerts
            try:
                store.unmark(record, ALERT_MARK, reviewed_at)
            except Exception:  # noqa: BLE001 - the mark stays: the alert is then owed, and said so below
                pass
            raise AlertUnavailable(f"The review is stored, but its defect alert could not be sent ({type(error).__name__}); "
                                   "send the same review again in a moment to send it.") from None
    return present(reviewed)


def _limit(value) -> int:
    if value is None:
        return DEFAULT_LIST_LIMIT
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_LIST_LIMIT:
        raise InvalidInspectionsRequest(f"limit must be a whole number from 1 to {MAX_LIST_LIMIT}, not {value!r}.")
    return int(value)


def _reviewed(value) -> bool | None:
    choices = {None: None, "true": True, "false": False}
    if value not in choices:
        raise InvalidInspectionsRequest(f"reviewed must be true or false, not {value!r}.")
    return choices[value]


def next_token(start: dict | None) -> str | None:
    if start is None:
        return None
    raw = json.dumps([start["product_id"], start["inspection_key"]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _start(token: str | None, since: str) -> dict | None:
    """Where a page starts: the `next` token of the page before (opaque to clients)."""
    if token is None:
        return None
    try:
        product_id, key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        valid = isinstance(product_id, str) and isinstance(key, str) and key >= since
    except (ValueError, TypeError, binascii.Error):
        valid = False
    if not valid:
        raise InvalidInspectionsRequest("next must be the `next` value of the page before, with the same verdict and since.")
    return {"product_id": product_id, "inspection_key": key}


def list_inspections(query: dict | None, store, now: datetime | None = None) -> dict:
    """GET /inspections?verdict=...&since=...&limit=...&reviewed=...&next=...: one page, newest first."""
    query = query or {}
    unknown = sorted(set(query) - {"verdict", "since", "limit", "reviewed", "next"})
    if unknown:
        raise InvalidInspectionsRequest(f"Unknown parameter(s) {', '.join(unknown)}: use verdict, since, limit, "
                                        "reviewed and next.")
    verdict = query.get("verdict")
    if verdict not in VERDICTS:
        raise InvalidInspectionsRequest(f"verdict must be one of: {', '.join(VERDICTS)} (the model's verdict).")
    now = now or datetime.now(timezone.utc)
    try:
        since = _since(query.get("since") or (now - DEFAULT_LOOKBACK).isoformat(), now)
    except InvalidReinspectionRequest as error:
        raise InvalidInspectionsRequest(str(error)) from None
    limit, reviewed = _limit(query.get("limit")), _reviewed(query.get("reviewed"))
    items, start = store.newest_with_verdict(verdict, since, limit, _start(query.get("next"), since), reviewed)
    return {"verdict": verdict, "since": since, "count": len(items), "items": [present(item) for item in items],
            "next": next_token(start)}


def image_url(inspection_id: str, store, s3, expires_in: int = IMAGE_URL_SECONDS, query: dict | None = None) -> dict:
    """A short-lived pre-signed GET URL of the inspected photo (that exact S3 version, where the bucket keeps one),
    or with `?kind=heatmap` of its heat-map overlay (chalicelib/heatmaps.py; HeatmapNotFound when it has none)."""
    kind = (query or {}).get("kind") or "photo"
    if kind not in IMAGE_KINDS:
        raise InvalidReviewRequest(f"kind must be one of: {', '.join(IMAGE_KINDS)} (photo when left out).")
    record = find(store, inspection_id)
    if kind == "heatmap":
        if not record.get("heatmap_key"):
            raise HeatmapNotFound(f"Inspection {inspection_id} has no heat map: its model gave none, or the photo "
                                  "was not classified.")
        params = {"Bucket": record["bucket"], "Key": record["heatmap_key"]}
    else:
        params = {"Bucket": record["bucket"], "Key": record["key"]}
        if record.get("version_id"):
            params["VersionId"] = record["version_id"]
    url = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
    return {"inspection_id": inspection_id, "kind": kind, "url": url, "expires_in": expires_in}

