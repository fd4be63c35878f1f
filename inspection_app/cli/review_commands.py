"""`inspection-app review export`: the photos people reviewed, as a dataset for `inspection-app train`."""
from __future__ import annotations

from pathlib import Path

from ..review_export import CLASSES, Exported, export_reviewed
from .inspection_commands import DEFAULT_API, api_access_options, api_client

_WORDS = {"added": "added", "moved": "moved", "present": "already there", "duplicate": "duplicate"}


def _print_item(item: Exported) -> None:
    line = f"{_WORDS[item.outcome]:<13} {item.label}/{item.path.name}"
    if item.outcome == "moved":
        line += f"  (was in {item.existing.parent.name}/: reviewed again)"
    elif item.outcome == "duplicate":
        line += f"  (not written: same photo as {item.existing.parent.name}/{item.existing.name})"
    print(line, flush=True)


def cmd_review_export(args) -> int:
    report = export_reviewed(api_client(args), args.dir, args.since, _print_item)
    added = ", ".join(f"{report.count('added', label)} {label}" for label in CLASSES)
    print(f"{report.count('added')} photo(s) added to {args.dir} ({added}), {report.count('moved')} moved, "
          f"{report.count('present')} already there, {report.count('duplicate')} duplicate(s) of photos in the "
          f"dataset skipped. Train with: inspection-app train --dataset {args.dir} --model-dir MODEL_DIR")
    return 0


def add_review_commands(commands) -> None:
    review = commands.add_parser("review", help="what people decided about inspections")
    actions = review.add_subparsers(dest="review_command", required=True)
    export = actions.add_parser(
        "export", help="write reviewed photos into DIR/defect_free and DIR/defective (merged, no duplicates)")
    export.add_argument("dir", type=Path, help="the dataset folder (created, or merged into)")
    export.add_argument("--api", default=DEFAULT_API)
    export.add_argument("--since", help="only photos uploaded at this ISO 8601 time or later (default: all)")
    api_access_options(export)
    export.set_defaults(func=cmd_review_export)
