"""Inspecting many files through the API at once, and the table of their verdicts."""
from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

from rich.table import Table
from rich.text import Text

from .client import ApiClient, ApiError, Inspection
from .terminal import table


def inspect_files(client: ApiClient, files: list[Path], *, concurrency: int = 4,
                  timeout: float = 120) -> Iterator[dict]:
    """Upload every file and wait for its result; yields one report per file as each completes."""

    def inspect_one(path: Path) -> dict:
        try:
            return report(client.inspect(path, timeout=timeout))
        except (ApiError, TimeoutError) as error:
            return {"file": str(path), "product_id": path.stem, "verdict": None, "label": None,
                    "confidence": None, "latency_ms": None, "error": str(error)}

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        yield from pool.map(inspect_one, files)


def report(inspection: Inspection) -> dict:
    result = inspection.result
    return {
        "file": inspection.file,
        "product_id": inspection.product_id,
        "verdict": result["verdict"],
        "label": result.get("label"),
        "confidence": result.get("confidence"),
        "latency_ms": round(inspection.latency_ms, 1),
        "reason": result.get("reason"),
        "key": inspection.key,
        "inspection_id": result["inspection_id"],
        "model_id": result.get("model_id"),
    }


VERDICT_STYLES = {"defective": "bold red", "defect_free": "green", "needs_review": "yellow", "rejected": "magenta",
                  "error": "red", "failed": "bold red"}


def verdict_table(reports: list[dict], truths: dict[Path, str] | None = None) -> Table:
    """One row per report: file, verdict, label, confidence, latency, and the reason or error if any;
    with `truths` (file -> true class) a first column with the true class."""
    columns = ["file", "verdict", "label", "confidence", "latency"]
    if any(item.get("error") or item.get("reason") for item in reports):
        columns.append("note")
    rows = table(*(["truth"] if truths else []), *columns, numbers=("confidence", "latency"))
    for item in reports:
        verdict = item["verdict"] or "failed"
        cells = [
            Path(item["file"]).name,
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
            item["label"] or "",
            "" if item["confidence"] is None else f"{item['confidence']:.3f}",
            "" if item["latency_ms"] is None else f"{item['latency_ms']:.0f} ms",
        ]
        if "note" in columns:
            cells.append(item.get("error") or item.get("reason") or "")
        rows.add_row(*([truths[Path(item["file"])]] if truths else []), *cells)
    return rows


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
