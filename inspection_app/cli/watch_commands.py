"""`inspection-app watch DIR --api URL`: a hot folder; every photo a camera drops into DIR is inspected once."""
from __future__ import annotations

from pathlib import Path

from ..hot_folder import HotFolder, Outcome
from .inspection_commands import DEFAULT_API, api_access_options, api_client


def _print_outcome(outcome: Outcome) -> None:
    moved = f"{outcome.moved_to.parent.name}/{outcome.moved_to.name}"
    if outcome.reason:
        print(f"{outcome.file}  FAILED  -> {moved}  ({outcome.reason})", flush=True)
        return
    result = outcome.result
    confidence = "" if result.get("confidence") is None else f"  {float(result['confidence']):.3f}"
    print(f"{outcome.file}  {result['verdict']}{confidence}  {result['product_id']}  {result['inspection_id']}  "
          f"-> {moved}", flush=True)


def cmd_watch(args) -> int:
    folder = HotFolder(api_client(args), args.dir, product_id=args.product_id,
                       timeout=args.timeout, on_outcome=_print_outcome)
    if not args.once:
        print(f"Watching {args.dir} (every {args.interval:g} s; Ctrl-C stops, a restart resumes).", flush=True)
    try:
        folder.run(interval=args.interval, once=args.once)
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
    return 0


def add_watch_commands(commands) -> None:
    watch = commands.add_parser(
        "watch", help="a hot folder: upload each finished photo in DIR once, move it to done/ or failed/, print verdicts")
    watch.add_argument("dir", type=Path, help="the folder the camera writes into")
    watch.add_argument("--api", default=DEFAULT_API)
    api_access_options(watch)
    watch.add_argument("--product-id", help="one product id for every file (default: each file's name without "
                                            "its extension)")
    watch.add_argument("--interval", type=float, default=2.0,
                       help="seconds between scans; a file is finished when unchanged for one interval (default 2)")
    watch.add_argument("--timeout", type=float, default=120, help="seconds to wait for each verdict (default 120)")
    watch.add_argument("--once", action="store_true", help="two scans, process what is finished, then stop")
    watch.set_defaults(func=cmd_watch)
