"""`inspection-app inspect`, `results` and `reinspect`: photos through the REST API, and the verdicts it stored."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..client import AUTH_MODES, CONTENT_TYPES, ApiClient, image_files
from ..errors import InputError
from ..inspections import inspect_files, verdict_table
from ..local_pipeline import load_predictor, running_stack
from ..terminal import console, tracked

DEFAULT_API = "http://127.0.0.1:8000"


def cmd_inspect(args) -> int:
    files = image_files(args.paths)
    if not files:
        raise InputError(f"no {', '.join(CONTENT_TYPES)} files under the given paths")

    def run(api_url: str) -> list[dict]:
        client = api_client(args, api_url)
        reports = inspect_files(client, files, concurrency=args.concurrency, timeout=args.timeout)
        if args.json:
            return [_print_json_line(item) for item in reports]
        reports = tracked(reports, len(files), "inspecting", console(stderr=True))
        console().print(verdict_table(reports))
        return reports

    if args.api:
        reports = run(args.api)
    else:
        with running_stack(load_predictor(args.model_dir), 0, quiet=True) as (info, _):
            reports = run(info.api_url)
    return 1 if any(item["verdict"] is None for item in reports) else 0


def _print_json_line(item: dict) -> dict:
    print(json.dumps(item))  # as each verdict arrives: one object per line for a pipe to read
    return item


def cmd_results(args) -> int:
    print(json.dumps(api_client(args).results(args.product_id), indent=2))
    return 0


def cmd_reinspect(args) -> int:
    answer = api_client(args).reinspect(args.verdict, args.since, args.product_id)
    for item in answer["started"]:
        print(f"reinspecting {item['product_id']}  {item['key']}  ({item['reinspection_of']} -> {item['inspection_id']})")
    print(f"{answer['count']} photo(s) with verdict {answer['verdict']} since {answer['since']} sent for reinspection.")
    return 0


def api_access_options(parser: argparse.ArgumentParser) -> None:
    """--api-key and --auth: how a command proves who it is to a deployed API (`api_client`)."""
    parser.add_argument("--api-key", default=os.environ.get("INSPECTION_API_KEY"),
                        help="API key of a deployed API (default: $INSPECTION_API_KEY; the local stack needs none)")
    parser.add_argument("--auth", choices=AUTH_MODES, default=os.environ.get("INSPECTION_API_AUTH") or "api_key",
                        help="api_key (default; $INSPECTION_API_AUTH) or iam: sign requests with SigV4 using your AWS "
                             "credentials (AWS_PROFILE, environment, role), for a stage deployed with --auth iam")


def api_client(args, api_url: str | None = None) -> ApiClient:
    """The API client the command's --api, --api-key and --auth describe."""
    return ApiClient(api_url or args.api, api_key=args.api_key, auth=args.auth)


def add_inspection_commands(commands) -> None:
    inspect = commands.add_parser("inspect", help="upload images through the API and wait for their verdicts")
    inspect.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    inspect.add_argument("--model-dir", type=Path, help="model for the embedded stack (default: the demo model)")
    inspect.add_argument("--api", help="use a running API instead of starting an embedded stack")
    api_access_options(inspect)
    inspect.add_argument("--json", action="store_true", help="one JSON object per image per line")
    inspect.add_argument("--concurrency", type=int, default=4)
    inspect.add_argument("--timeout", type=float, default=120, help="seconds to wait for each result")
    inspect.set_defaults(func=cmd_inspect)

    results = commands.add_parser("results", help="the latest verdict and history of a product")
    results.add_argument("product_id")
    results.add_argument("--api", default=DEFAULT_API)
    api_access_options(results)
    results.set_defaults(func=cmd_results)

    reinspect = commands.add_parser("reinspect", help="inspect again the photos whose result was error (or another verdict)")
    reinspect.add_argument("--verdict", default="error", help="which results to re-run (default error)")
    reinspect.add_argument("--since", help="only results from this ISO 8601 time on (default: the last 24 hours)")
    reinspect.add_argument("--product-id", help="only this product's results")
    reinspect.add_argument("--api", default=DEFAULT_API)
    api_access_options(reinspect)
    reinspect.set_defaults(func=cmd_reinspect)
