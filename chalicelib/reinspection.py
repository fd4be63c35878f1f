"""Re-running inspections that ended badly: `POST /reinspections` (and `inspection-app reinspect`).

An `error` verdict means the photo went uninspected (an outage outlasted the retries). Once the cause is
fixed, the same photo (the same S3 version) is inspected again: a new result appended to the product's
history, with the usual alert rules. The original result is marked `reinspected_by`, and the execution
name derives from it, so asking twice starts one reinspection.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .keys import InvalidProductId, validate_product_id
from .results import ResultsStore
from .verdicts import VERDICTS
from .workflow import name_for, start_named

DEFAULT_LOOKBACK = timedelta(days=1)
MAX_REINSPECTIONS = 200


class InvalidReinspectionRequest(ValueError):
    pass


def _since(value, now: datetime) -> str:
    """The `since` bound as the key's time format (ISO 8601, UTC, to the second)."""
    if value is None:
        moment = now - DEFAULT_LOOKBACK
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidReinspectionRequest(
                f"since {value!r} is not an ISO 8601 time; use e.g. 2026-11-30T10:00:00Z."
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _request(request, now: datetime) -> tuple[str, str, str | None, int]:
    if not isinstance(request, dict):
        raise InvalidReinspectionRequest(
            'Send a JSON object like {"verdict": "error", "since": "2026-11-30T10:00:00Z"}.'
        )
    verdict = request.get("verdict", "error")
    if verdict not in VERDICTS:
        raise InvalidReinspectionRequest(f"verdict {verdict!r} is not one of: {', '.join(VERDICTS)}.")
    product_id = request.get("product_id")
    if product_id is not None:
        try:
            validate_product_id(product_id)
        except InvalidProductId as error:
            raise InvalidReinspectionRequest(str(error)) from None
    limit = request.get("limit", MAX_REINSPECTIONS)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_REINSPECTIONS:
        raise InvalidReinspectionRequest(f"limit must be a whole number from 1 to {MAX_REINSPECTIONS}.")
    return verdict, _since(request.get("since"), now), product_id, limit


def reinspection_input(record: dict, inspection_id: str, requested_at: str) -> dict:
    """The execution input that inspects the record's photo (that exact S3 version) again."""
    execution_input = {
        "inspection_id": inspection_id,
        "reinspection_of": record["inspection_id"],
        "requested_at": requested_at,
        **{name: record[name] for name in ("bucket", "key", "product_id", "capture_id", "uploaded_at")},
    }
    if record.get("version_id"):
        execution_input["version_id"] = record["version_id"]
    return execution_input


def reinspect(request, store: ResultsStore, stepfunctions, state_machine_arn: str,
              now: datetime | None = None) -> dict:
    """Start a reinspection of each matching result; returns what was started."""
    now = now or datetime.now(timezone.utc)
    verdict, since, product_id, limit = _request(request, now)
    requested_at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    started = []
    for record in store.with_verdict(verdict, since, limit, product_id):
        name = name_for(record["product_id"], record["inspection_id"], "reinspect")
        start_named(stepfunctions, state_machine_arn, name, reinspection_input(record, name, requested_at))
        store.mark_reinspected(record, name)
        started.append({"product_id": record["product_id"], "key": record["key"], "inspection_id": name,
                        "reinspection_of": record["inspection_id"]})
    return {"verdict": verdict, "since": since, "count": len(started), "started": started}
