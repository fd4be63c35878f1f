"""chalicelib.logs: one JSON object per line."""
import io
import json
import logging
from datetime import datetime, timezone
from decimal import Decimal

from chalicelib import logs


def test_given_fields_when_logged_then_one_json_line_with_event_level_and_fields(log_lines):
    logs.log("inspection started", message_id="msg-1", key="uploads/PCB-1/a.jpg", started=True)
    [entry] = log_lines.entries
    stamped = datetime.fromisoformat(entry.pop("timestamp"))
    assert stamped.tzinfo is not None and abs((datetime.now(timezone.utc) - stamped).total_seconds()) < 60
    assert entry == {
        "level": "INFO",
        "event": "inspection started",
        "logger": "inspection",
        "message_id": "msg-1",
        "key": "uploads/PCB-1/a.jpg",
        "started": True,
    }


def test_given_values_json_cannot_encode_when_logged_then_they_are_written_as_text(log_lines):
    logs.log("verdict recorded", confidence=Decimal("0.91834"),
             at=datetime(2024, 5, 14, 9, 21, 8, tzinfo=timezone.utc))
    [entry] = log_lines.entries
    assert entry["confidence"] == "0.91834"
    assert entry["at"] == "2024-05-14 09:21:08+00:00"


def test_given_an_error_level_when_logged_then_level_says_error(log_lines):
    logs.log("record failed; left for redelivery", logging.ERROR, error_type="MalformedEvent")
    assert log_lines.entries[0]["level"] == "ERROR"


def test_given_an_exception_when_logged_with_exc_info_then_the_traceback_is_in_the_same_line():
    stream = io.StringIO()
    logger = logs.configure(stream)
    try:
        raise ValueError("bad probabilities")
    except ValueError:
        logger.error("classify failed", exc_info=True, extra={"fields": {"key": "uploads/PCB-1/a.jpg"}})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert "ValueError: bad probabilities" in entry["exception"]
    assert entry["key"] == "uploads/PCB-1/a.jpg"


def test_given_configure_called_twice_when_logging_then_each_line_is_written_once():
    stream = io.StringIO()
    logs.configure(io.StringIO())
    logs.configure(stream)
    logs.log("once")
    assert len(stream.getvalue().splitlines()) == 1
