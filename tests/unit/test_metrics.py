"""chalicelib.metrics: CloudWatch metrics as EMF lines, written once per invocation, one line per dimension set."""
import json

import pytest

from chalicelib import metrics

SERVICE = {"service": "quality-inspection"}


def test_given_a_verdict_when_counted_outside_an_invocation_then_one_emf_line_at_once(log_lines):
    metrics.count_verdict("defective")
    [line] = log_lines.entries
    assert isinstance(line["_aws"]["Timestamp"], int)
    assert log_lines.metrics == [{"namespace": "QualityInspection", "name": "Verdicts", "unit": "Count",
                                  "values": [1.0], "dimensions": {**SERVICE, "verdict": "defective"}}]


def test_given_metrics_in_an_invocation_when_it_ends_then_written_once_one_line_per_dimension_set(log_lines):
    # GIVEN an invocation that counts verdicts and times two endpoint calls
    with metrics.collected():
        metrics.count_verdict("defective")
        metrics.count_verdict("rejected")
        with metrics.endpoint_call():
            pass
        with metrics.endpoint_call():
            pass
        # WHEN nothing has ended yet THEN nothing is written
        assert log_lines.entries == []
    # WHEN it ends THEN one line per dimension set: each verdict apart, the latencies together
    assert len(log_lines.entries) == 3
    by_dimensions = {json.dumps(m["dimensions"], sort_keys=True): m for m in log_lines.metrics}
    assert by_dimensions[json.dumps({**SERVICE, "verdict": "defective"}, sort_keys=True)]["values"] == [1.0]
    assert by_dimensions[json.dumps({**SERVICE, "verdict": "rejected"}, sort_keys=True)]["values"] == [1.0]
    latency = by_dimensions[json.dumps(SERVICE, sort_keys=True)]
    assert (latency["name"], latency["unit"], len(latency["values"])) == ("EndpointLatency", "Milliseconds", 2)
    assert all(0 <= value < 1000 for value in latency["values"])


def test_given_an_invocation_failing_when_it_ends_then_its_metrics_are_still_written(log_lines):
    with pytest.raises(TimeoutError), metrics.collected():
        with metrics.endpoint_call():
            raise TimeoutError("read timeout on endpoint quality-inspection-model")
    assert log_lines.metrics == [{"namespace": "QualityInspection", "name": "EndpointErrors", "unit": "Count",
                                  "values": [1.0], "dimensions": SERVICE}]


def test_given_an_invocation_without_metrics_when_it_ends_then_no_line(log_lines):
    with metrics.collected():
        pass
    assert log_lines.entries == []
