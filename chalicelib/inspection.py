"""The record task: decide the verdict of one inspection, store it, and prepare the alert.

Every execution ends here, whatever happened before: a classification, a rejected image, or a failure
caught by the state machine. So every upload ends with a stored result.

A reinspection (see `reinspection.py`) carries `reinspection_of` and `requested_at`: its record is a new
entry in the product's history, sorted by when it was requested, beside the one it re-runs.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from . import metrics
from .alerts import alert_for
from .results import ResultsStore, inspection_key
from .settings import Settings
from .verdicts import ERROR, decide


def failure_reason(failure: dict) -> str:
    """A readable reason from a Step Functions Catch output ({"Error", "Cause"})."""
    error = failure.get("Error", "States.TaskFailed")
    try:
        cause = json.loads(failure.get("Cause") or "{}")
        message = cause.get("errorMessage") or ""
    except (TypeError, ValueError, AttributeError):
        message = str(failure.get("Cause") or "")
    return f"{error}: {message}" if message else error


def build_record(state: dict, threshold: float) -> dict:
    """The result record for one execution's state (its input plus what the tasks added)."""
    record = {
        "product_id": state["product_id"],
        "inspection_key": inspection_key(state.get("requested_at") or state["uploaded_at"], state["inspection_id"]),
        "inspection_id": state["inspection_id"],
        "capture_id": state["capture_id"],
        "bucket": state["bucket"],
        "key": state["key"],
        "uploaded_at": state["uploaded_at"],
        "inspected_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "threshold": threshold,
    }
    # The exact object inspected (a versioned bucket keeps it, whatever is uploaded to the key later).
    for name in ("version_id", "reinspection_of", "requested_at"):
        if state.get(name):
            record[name] = state[name]
    if "failure" in state:
        record.update(verdict=ERROR, reason=failure_reason(state["failure"]))
        return record
    classification = state["classification"]
    record["verdict"] = decide(classification, threshold)
    if classification["status"] == "rejected":
        record["reason"] = classification["reason"]
        return record
    record.update(
        label=classification["label"],
        confidence=classification["confidence"],
        probabilities=classification["probabilities"],
        model_id=classification["model_id"],
        image=classification["image"],
    )
    if classification.get("heatmap_key"):  # the photo + heat-map overlay in the same bucket (chalicelib/heatmaps.py)
        record["heatmap_key"] = classification["heatmap_key"]
    return record


def record_verdict(state: dict, settings: Settings, store: ResultsStore) -> dict:
    """Store the verdict; return it with the alert to publish when the product is defective."""
    record = build_record(state, settings.confidence_threshold)
    stored = store.put(record)
    if stored["inspected_at"] == record["inspected_at"]:  # stored now, not by an earlier attempt: counted once
        metrics.count_verdict(stored["verdict"])
    return {
        "verdict": stored["verdict"],
        "inspection_key": stored["inspection_key"],
        "alert": alert_for(stored),
    }
