"""Outage drills on a running embedded stack: photos keep arriving while one service fails.

A drill uploads photos through the REST API at a steady pace, injects a fault (`inspection-app fault`'s
control API) for a while, waits until every upload has a stored result, recovers what the runbook says to
recover (`redrive` for parked verdicts, `reinspect` for `error` verdicts), and counts: results stored, lost,
duplicated, `error` verdicts, alerts against the alerts due, and the time to drain after the fault.

Used by `benchmarks/faults.py` (10-minute outages) and by tests/e2e (seconds-long ones).
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from ..client import ApiClient
from .faults import CONTROL_PATH
from ..redrive import redrive_parked
from .access import local_client

TABLE_COLUMNS = ("scenario", "photos", "stored", "lost", "duplicated", "error", "alerts", "due", "parked",
                 "reinspected", "drain_s")


@dataclass
class DrillResult:
    scenario: str
    photos: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    error: int = 0
    alerts: int = 0
    due: int = 0
    parked: int = 0
    reinspected: int = 0
    drain_s: float = 0.0
    verdicts: dict = field(default_factory=dict)

    def row(self) -> str:
        figures = " ".join(f"{getattr(self, name)!s:>11}" for name in TABLE_COLUMNS[1:])
        return f"{self.scenario:<28}{figures}"

    def as_json(self) -> str:
        return json.dumps(asdict(self))


def table_header() -> str:
    return f"{TABLE_COLUMNS[0]:<28}" + " ".join(f"{name:>11}" for name in TABLE_COLUMNS[1:])


class Drill:
    """Drives one running stack (`info`: the JSON `inspection-app up --ready-file` writes)."""

    def __init__(self, info: dict):
        self.info = info
        self.api = ApiClient(info["api_url"])
        self._client = lambda name: local_client(info["aws_url"], name)
        self.sqs = self._client("sqs")
        self.dynamodb = self._client("dynamodb")
        self.stepfunctions = self._client("stepfunctions")
        self._executions = 0  # started on this stack by earlier drills
        self._alert_queue = self._subscribe_alert_reader()

    def _subscribe_alert_reader(self) -> str:
        url = self.sqs.create_queue(QueueName=f"drill-alert-reader-{int(time.time() * 1000)}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._client("sns").subscribe(TopicArn=self.info["topic_arn"], Protocol="sqs", Endpoint=arn)
        return url

    def fault(self, service: str, seconds: float) -> None:
        response = requests.post(f"{self.info['aws_url']}{CONTROL_PATH}", json={"service": service, "seconds": seconds},
                                 timeout=10)
        response.raise_for_status()

    def _upload_steadily(self, photos: list[Path], prefix: str, interval: float, uploaded: list, failures: list) -> None:
        try:
            for index, photo in enumerate(photos):
                started = time.monotonic()
                product_id = f"{prefix}-{index:04d}"
                upload = self.api.upload(photo, product_id)
                uploaded.append((product_id, upload["key"]))
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
        except Exception as error:  # noqa: BLE001 - re-raised by run() once the thread is joined
            failures.append(error)

    def _results(self, product_ids: set[str]) -> list[dict]:
        """Every stored result of these products (a Scan: a drill's products are few), or [] while the
        results store is down."""
        items, start = [], None
        try:
            while True:
                page = self.dynamodb.scan(TableName=self.info["results_table"],
                                          **({"ExclusiveStartKey": start} if start else {}))
                items += [item for item in page["Items"] if item["product_id"]["S"] in product_ids]
                start = page.get("LastEvaluatedKey")
                if not start:
                    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]
        except Exception:  # noqa: BLE001 - the results store may be the service that is down
            return []

    def _executions_settled(self, expected: int) -> bool:
        """At least `expected` executions were started and none is still running (stored, or parked)."""
        pages = self.stepfunctions.get_paginator("list_executions").paginate(stateMachineArn=self.info["state_machine_arn"])
        executions = [e for page in pages for e in page["executions"]]
        return len(executions) >= expected and not any(e["status"] == "RUNNING" for e in executions)

    def _wait_for_results(self, uploaded: list, timeout: float, *, executions: int, reinspections: int = 0) -> list[dict]:
        """Results once every upload has one (and `reinspections` reinspections are stored), or once all
        `executions` have ended without that (a verdict parked)."""
        products = {product_id for product_id, _ in uploaded}
        deadline = time.monotonic() + timeout
        while True:
            results = self._results(products)
            originals = {r["key"] for r in results if "reinspection_of" not in r}
            again = sum("reinspection_of" in r for r in results)
            if all(key in originals for _, key in uploaded) and again >= reinspections:
                return results
            if self._executions_settled(executions) or time.monotonic() > deadline:
                return self._results(products)
            time.sleep(1)

    def _alerts(self, wait: float) -> list[dict]:
        alerts, deadline = [], time.monotonic() + wait
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=self._alert_queue, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=1).get("Messages", [])
            for message in messages:
                alerts.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self._alert_queue, ReceiptHandle=message["ReceiptHandle"])
        return alerts

    def run(self, scenario: str, service: str | None, outage_seconds: float, photos: list[Path], *,
            interval: float, fault_after: float, timeout: float, recover: bool = True,
            alert_wait: float = 5.0) -> DrillResult:
        """Upload `photos` one every `interval` s; `fault_after` s in, fail `service` for `outage_seconds`."""
        uploaded: list = []
        failures: list = []
        product_prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", scenario).strip("-")
        uploader = threading.Thread(target=self._upload_steadily,
                                    args=(photos, product_prefix, interval, uploaded, failures))
        uploader.start()
        time.sleep(fault_after)
        if service:
            self.fault(service, outage_seconds)
        fault_ends = time.monotonic() + (outage_seconds if service else 0)
        time.sleep(max(0.0, fault_ends - time.monotonic()))
        # Drained: every photo that arrived during the fault has its result (or has ended parked).
        backlog = list(uploaded)
        self._wait_for_results(backlog, timeout, executions=self._executions + len(backlog))
        result = DrillResult(scenario=scenario, drain_s=round(time.monotonic() - fault_ends, 1))
        uploader.join()
        if failures:
            raise RuntimeError(f"uploading the drill's photos failed: {failures[0]}") from failures[0]
        self._executions += len(uploaded)
        results = self._wait_for_results(uploaded, timeout, executions=self._executions)
        result.photos = len(uploaded)
        if recover:
            result.parked = redrive_parked(self.sqs, self.stepfunctions, self.info["parked_verdict_queue_url"],
                                           self.info["state_machine_arn"])["redriven"]
            if any(r["verdict"] == "error" for r in results):
                result.reinspected = self.api.reinspect("error", since="2000-01-01T00:00:00Z")["count"]
            if result.parked or result.reinspected:
                self._executions += result.parked + result.reinspected
                results = self._wait_for_results(uploaded, timeout, executions=self._executions,
                                                 reinspections=result.reinspected)
        return self._count(result, uploaded, results, alert_wait)

    def _count(self, result: DrillResult, uploaded: list, results: list[dict], alert_wait: float) -> DrillResult:
        originals = Counter(r["key"] for r in results if "reinspection_of" not in r)
        keys = [key for _, key in uploaded]
        result.stored = sum(key in originals for key in keys)
        result.lost = len(keys) - result.stored
        result.duplicated = sum(count - 1 for count in originals.values())
        result.error = sum(r["verdict"] == "error" for r in results)
        result.verdicts = dict(Counter(r["verdict"] for r in results))
        # One defect alert per defective result and one not-inspected alert per error result.
        result.due = sum(r["verdict"] in ("defective", "error") for r in results)
        # Read until the alerts stop coming: more than are due would be duplicates.
        alerts = self._alerts(alert_wait)
        while more := self._alerts(alert_wait):
            alerts += more
        result.alerts = len(alerts)
        return result
