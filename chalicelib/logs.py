"""Structured (JSON) logs, one object per line, as CloudWatch Logs Insights expects."""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

_LOGGER = logging.getLogger("inspection")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "event": record.getMessage(),
            "logger": record.name,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(stream=None) -> logging.Logger:
    """Send the JSON lines to `stream` (stdout, which Lambda ships to CloudWatch, unless told otherwise)."""
    for handler in list(_LOGGER.handlers):
        _LOGGER.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    _LOGGER.addHandler(handler)
    _LOGGER.setLevel(logging.INFO)
    _LOGGER.propagate = False
    return _LOGGER


def _configure() -> logging.Logger:
    return _LOGGER if _LOGGER.handlers else configure()


def log(event: str, level: int = logging.INFO, **fields) -> None:
    """Log `event` with `fields` as one JSON object."""
    _configure().log(level, event, extra={"fields": fields})
