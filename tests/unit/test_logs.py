"""chalicelib.logs: Powertools' Logger, one JSON object per line, the invocation's keys on every line."""
import io
import json
import logging
import threading
from datetime import datetime, timezone
from decimal import Decimal

from chalicelib import logs

from .helpers import FakeLambdaContext

INSPECTION_ID = "PCB-0042-4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"


def test_given_fields_when_logged_then_one_json_line_with_message_level_service_and_fields(log_lines):
    logs.log("inspection started", message_id="msg-1", key="uploads/PCB-1/a.jpg", started=True)
    [entry] = log_lines.entries
    stamped = datetime.fromisoformat(entry.pop("timestamp"))
    assert stamped.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - stamped).total_seconds()) < 60
    assert entry.pop("location").startswith("test_given_fields_when_logged")  # the caller, not logs.log
    assert entry == {
        "level": "INFO",
        "message": "inspection started",
        "service": "quality-inspection",
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


def test_given_an_exception_when_logged_with_its_traceback_then_it_is_in_the_same_line(log_lines):
    try:
        raise ValueError("bad probabilities")
    except ValueError:
        logs.logger.exception("classify failed", key="uploads/PCB-1/a.jpg")
    [entry] = log_lines.entries
    assert entry["exception_name"] == "ValueError"
    assert "ValueError: bad probabilities" in entry["exception"]
    assert entry["key"] == "uploads/PCB-1/a.jpg"


def test_given_configure_called_twice_when_logging_then_each_line_is_written_once():
    stream = io.StringIO()
    logs.configure(io.StringIO())
    logs.configure(stream)
    logs.log("once")
    assert len(stream.getvalue().splitlines()) == 1


def test_given_log_level_warning_when_configured_then_info_is_left_out_and_warnings_written(monkeypatch, log_lines):
    # GIVEN LOG_LEVEL=WARNING in the function's environment
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    stream = io.StringIO()
    logs.configure(stream)
    # WHEN an info and a warning are logged
    logs.log("image classified", key="uploads/PCB-1/a.jpg")
    logs.log("time running out; records left for redelivery", logging.WARNING, left=2)
    # THEN only the warning is written
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
        "time running out; records left for redelivery"]


def test_given_no_log_level_when_configured_then_info_is_written(monkeypatch, log_lines):
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.delenv("POWERTOOLS_LOG_LEVEL", raising=False)
    logs.configure(io.StringIO())
    assert logs.logger.getEffectiveLevel() == logging.INFO


def test_given_an_invocation_when_logging_inside_then_each_line_names_it_and_the_inspection(log_lines):
    # GIVEN Lambda's context for a RecordVerdict invocation
    context = FakeLambdaContext()
    # WHEN two lines are logged inside it, without passing any of its keys, and one after it
    with logs.invocation(context, inspection_id=INSPECTION_ID):
        logs.log("verdict recorded", verdict="defective")
        logs.log("alert prepared")
    logs.log("outside")
    # THEN both lines inside carry the request id, cold start flag, function and inspection id
    inside, also_inside, outside = log_lines.entries
    for entry in (inside, also_inside):
        assert entry["function_request_id"] == "52fdfc07-2182-154f-163f-5f0f9a621d72"
        assert entry["function_name"] == "quality-inspection-dev-record_verdict"
        assert entry["function_arn"] == context.invoked_function_arn
        assert entry["function_memory_size"] == 512
        assert isinstance(entry["cold_start"], bool)
        assert entry["inspection_id"] == INSPECTION_ID
    assert inside["verdict"] == "defective"
    # AND the line after it names none of them
    assert not {"function_request_id", "cold_start", "inspection_id"} & set(outside)


def test_given_a_fresh_environment_when_invoked_twice_then_only_the_first_is_a_cold_start(monkeypatch, log_lines):
    monkeypatch.setattr(logs, "_cold_start", True)  # as after Lambda imported the module
    for request_id in ("request-1", "request-2"):
        with logs.invocation(FakeLambdaContext(aws_request_id=request_id)):
            logs.log("verdict recorded")
    assert [entry["cold_start"] for entry in log_lines.entries] == [True, False]


def test_given_an_invocation_without_an_inspection_when_logging_then_no_inspection_id(log_lines):
    with logs.invocation(FakeLambdaContext(function_name="quality-inspection-dev-start_inspections")):
        logs.log("inspection started", inspection_id="PCB-1-aaaa")  # a batch names each of its inspections
        logs.log("upload skipped")
    started, skipped = log_lines.entries
    assert started["inspection_id"] == "PCB-1-aaaa"
    assert "inspection_id" not in skipped


def test_given_invocations_at_once_in_threads_when_logging_then_each_line_names_its_own(log_lines):
    # GIVEN two invocations running at the same time, as the embedded stack runs them (threads of one process)
    both_inside = threading.Barrier(2)

    def invoke(request_id: str, inspection_id: str):
        with logs.invocation(FakeLambdaContext(aws_request_id=request_id), inspection_id):
            both_inside.wait(timeout=5)  # WHEN each logs while the other's keys are set
            logs.log("verdict recorded")
            both_inside.wait(timeout=5)

    threads = [threading.Thread(target=invoke, args=(f"request-{n}", f"inspection-{n}")) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN each line names its own invocation and inspection
    assert sorted((e["function_request_id"], e["inspection_id"]) for e in log_lines.entries) == [
        ("request-1", "inspection-1"), ("request-2", "inspection-2")]


def test_given_a_document_when_written_as_a_line_then_it_is_written_as_is_whatever_the_level(monkeypatch, log_lines):
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    stream = io.StringIO()
    logs.configure(stream)
    logs.write_json_line({"_aws": {"Timestamp": 1715678468000}, "Verdicts": [1.0]})
    assert json.loads(stream.getvalue()) == {"_aws": {"Timestamp": 1715678468000}, "Verdicts": [1.0]}
