"""Inspecting many files through the API at once, and reporting on them."""
from __future__ import annotations

import json
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

from .client import ApiClient, ApiError, Inspection


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


TABLE_HEADER = f"{'file':<34} {'verdict':<13} {'label':<12} {'confidence':>10} {'latency':>9}"


def table_row(item: dict, truth: str | None = None) -> str:
    name = Path(item["file"]).name if truth is None else f"{truth}/{Path(item['file']).name}"
    confidence = "" if item["confidence"] is None else f"{item['confidence']:.3f}"
    latency = "" if item["latency_ms"] is None else f"{item['latency_ms']:.0f} ms"
    verdict = item["verdict"] or "failed"
    row = f"{name[-34:]:<34} {verdict:<13} {item['label'] or '':<12} {confidence:>10} {latency:>9}"
    detail = item.get("error") or item.get("reason")
    return f"{row}  {detail}" if detail else row


def print_reports(reports: Iterator[dict], *, as_json: bool, out: Callable[[str], None] = print) -> list[dict]:
    """Print each report as it arrives (a table row, or one JSON object per line)."""
    collected = []
    if not as_json:
        out(TABLE_HEADER)
    for item in reports:
        out(json.dumps(item) if as_json else table_row(item))
        collected.append(item)
    return collected


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
