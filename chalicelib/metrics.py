"""CloudWatch metrics in the embedded metric format (EMF): JSON lines in the function's log that CloudWatch
turns into metrics, with no API call, no extra permission and no latency in the handler.

Namespace `QualityInspection`, dimension `service` on every metric:

- `Verdicts` (Count), dimension `verdict`: each stored verdict, once (so `verdict=rejected` and
  `verdict=error` are the rejected and not-inspected counts);
- `EndpointLatency` (Milliseconds): each answered model-endpoint call, request to parsed answer;
- `EndpointErrors` (Count): each failed model-endpoint call (alarm on it before the retries run out).

Never a product id as a dimension: each distinct dimension value is a metric of its own, billed and kept.

Within `collected()` (one per invocation, see `observability.py`) the metrics are gathered and written once at
its end, one line per dimension set (EMF applies a line's dimensions to all of its metrics). Per thread, as the
log keys are: the embedded stack runs invocations at once in one process. A metric added outside any
invocation (a script, a test) is written at once.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from .logs import SERVICE, write_json_line

NAMESPACE = "QualityInspection"

_collecting: ContextVar[dict | None] = ContextVar("metrics_of_this_invocation", default=None)


@contextmanager
def collected():
    """Gather the metrics added inside; write them when the block ends, however it ends."""
    metric_sets: dict[tuple, AmazonCloudWatchEMFProvider] = {}
    token = _collecting.set(metric_sets)
    try:
        yield
    finally:
        _collecting.reset(token)
        for metric_set in metric_sets.values():
            write_json_line(metric_set.serialize_metric_set())


def add(name: str, unit: MetricUnit, value: float, **dimensions: str) -> None:
    metric_sets = _collecting.get()
    if metric_sets is None:
        with collected():
            add(name, unit, value, **dimensions)
        return
    key = tuple(sorted(dimensions.items()))
    if key not in metric_sets:
        metric_sets[key] = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE,
                                                       default_dimensions=dimensions)
    metric_sets[key].add_metric(name=name, unit=unit, value=value)


def count_verdict(verdict: str) -> None:
    add("Verdicts", MetricUnit.Count, 1, verdict=verdict)


@contextmanager
def endpoint_call():
    """Time a model-endpoint call: its latency when it answers, an error count when it raises."""
    started = time.perf_counter()
    try:
        yield
    except Exception:
        add("EndpointErrors", MetricUnit.Count, 1)
        raise
    add("EndpointLatency", MetricUnit.Milliseconds, (time.perf_counter() - started) * 1000)
