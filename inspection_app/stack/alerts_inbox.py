"""A local subscriber to the alert topic, so the user sees the alerts an operator would get by e-mail."""
from __future__ import annotations

import json
import threading
from typing import Callable


class AlertInbox:
    """Collects SNS notifications delivered to an SQS queue subscribed to the alert topic."""

    def __init__(self, on_alert: Callable[[dict], None] | None = None):
        self._alerts: list[dict] = []
        self._lock = threading.Lock()
        self._on_alert = on_alert

    def process(self, messages: list[dict]) -> list[dict]:
        for message in messages:
            envelope = json.loads(message["Body"])
            body = json.loads(envelope["Message"])  # an SQS subscriber gets the alert's JSON body (chalicelib/alerts.py)
            alert = {"subject": envelope.get("Subject"), "message": body["text"], "body": body,
                     "sent_at": envelope.get("Timestamp")}
            with self._lock:
                self._alerts.append(alert)
            if self._on_alert:
                self._on_alert(alert)
        return messages

    @property
    def alerts(self) -> list[dict]:
        with self._lock:
            return list(self._alerts)
