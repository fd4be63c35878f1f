"""Benchmark: latency and throughput of the whole pipeline on the embedded stack.

    .venv/bin/python benchmarks/pipeline.py [--model-dir DIR] [--images 40] [--concurrency 1 4 8]

Uploads ELPV photos through the REST API (pre-signed POST → S3 → SQS → starter → Step Functions →
classify → DynamoDB) and prints, per concurrency level: images/s, latency p50/p95/max from upload start
to stored result, and the process's peak memory. Figures, not pass/fail: compare them across changes.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspection_app import paths  # noqa: E402
from inspection_app.local_pipeline import load_predictor, running_stack  # noqa: E402
from inspection_app.client import ApiClient  # noqa: E402
from inspection_app.inspections import inspect_files, percentile  # noqa: E402

ELPV_IMAGES = Path(__import__("elpv_dataset").__file__).parent / "data" / "images"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=paths.default_model_dir())
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    photos = sorted(ELPV_IMAGES.glob("*.png"))[: args.images]

    with running_stack(load_predictor(args.model_dir), 0, quiet=True) as (info, _):
        client = ApiClient(info.api_url)
        list(inspect_files(client, photos[:2], concurrency=1))  # warm-up: first calls load code paths
        print(f"model {info.model_id}; {len(photos)} photos of 300x300 per run")
        print(f"{'concurrency':>11} {'images/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'failed':>6}")
        for concurrency in args.concurrency:
            started = time.perf_counter()
            reports = list(inspect_files(client, photos, concurrency=concurrency))
            elapsed = time.perf_counter() - started
            latencies = [r["latency_ms"] for r in reports if r["latency_ms"] is not None]
            failed = sum(r["verdict"] is None for r in reports)
            print(f"{concurrency:>11} {len(reports) / elapsed:>9.1f} {percentile(latencies, 50):>8.0f} "
                  f"{percentile(latencies, 95):>8.0f} {max(latencies):>8.0f} {failed:>6}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the stack's process: {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
