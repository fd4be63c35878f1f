"""S3 event notifications from the local server carry `versionId` and `sequencer`, as AWS's do.

moto's notifications (`moto.s3.notifications._get_s3_event`, checked on moto 5.2.5) leave both out. The app
reads exactly the version an event names and tells repeated uploads to one key apart by version and
sequencer, so the local events must carry them:
- `versionId`: the created object's version, when the bucket is versioned (left out otherwise, as AWS does);
- `sequencer`: a fixed-width upper-case hex string that increases with every object created in this process,
  so it increases per key as AWS's does. It belongs to the created object, so every destination of one event
  gets the same value.

`install()` wraps moto's event builder once per process; the stack calls it when its local server starts.
"""
from __future__ import annotations

import threading
import time

from moto.s3 import notifications

_SEQUENCER_DIGITS = 18  # like AWS's, e.g. "0066433B1F7D9A5C21"
_lock = threading.RLock()
_last = 0


def next_sequencer() -> str:
    """A hex string greater than every one returned before in this process."""
    global _last
    with _lock:
        _last = max(time.time_ns(), _last + 1)
        return f"{_last:0{_SEQUENCER_DIGITS}X}"


def _sequencer_of(key) -> str:
    with _lock:
        sequencer = key.__dict__.get("_inspection_event_sequencer")
        if sequencer is None:
            sequencer = key.__dict__["_inspection_event_sequencer"] = next_sequencer()
        return sequencer


def with_version_and_sequencer(build):
    """Wrap moto's `_get_s3_event(event_name, bucket, key, notification_id)`."""

    def build_event(event_name, bucket, key, notification_id):
        event = build(event_name, bucket, key, notification_id)
        version_id = getattr(key, "version_id", None)
        for record in event.get("Records", []):
            obj = record["s3"]["object"]
            if version_id and version_id != "null":
                obj.setdefault("versionId", version_id)
            obj.setdefault("sequencer", _sequencer_of(key))
        return event

    build_event.adds_version_and_sequencer = True
    return build_event


def install() -> None:
    """Make moto's S3 notifications (in this process) carry versionId and sequencer; idempotent."""
    with _lock:
        if not getattr(notifications._get_s3_event, "adds_version_and_sequencer", False):
            notifications._get_s3_event = with_version_and_sequencer(notifications._get_s3_event)
