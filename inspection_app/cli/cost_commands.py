"""`inspection-app cost`: what the cloud pipeline costs per photo, itemised (inspection_app/cost.py)."""
from __future__ import annotations

import json

from .. import cost
from ..errors import InputError
from ..terminal import console, table


def _memory(value: str) -> tuple[str, int]:
    name, _, megabytes = value.partition("=")
    if name not in cost.FUNCTIONS or not megabytes.isdigit() or not 128 <= int(megabytes) <= 10240:
        raise InputError(f"--memory {value!r}: use FUNCTION=MB, FUNCTION one of {', '.join(cost.FUNCTIONS)}, "
                         "MB from 128 to 10240")
    return name, int(megabytes)


def _price(price: cost.Price) -> str:
    per = {1: "", 1_000_000: "million "}.get(price.per, f"{price.per:,g} ")
    return f"${price.dollars:.10g} per {per}{price.unit}"


def cmd_cost(args) -> int:
    if args.photos_per_day <= 0:
        raise InputError("--photos-per-day must be more than 0")
    if not 0 <= args.defect_rate <= 1:
        raise InputError("--defect-rate is a fraction from 0 to 1, e.g. 0.05")
    if args.trace_fraction is not None and not 0 <= args.trace_fraction <= 1:
        raise InputError("--trace-fraction is a fraction from 0 to 1, e.g. 0.05")
    memory = dict(cost.RIGHT_SIZED_MB) if args.right_sized else {}
    memory.update(_memory(value) for value in args.memory)
    estimate = cost.estimate(cost.Assumptions(
        args.photos_per_day, workflow=args.workflow, api=args.api, defect_rate=args.defect_rate, memory_mb=memory,
        trace_fraction=args.trace_fraction))
    if args.json:
        print(json.dumps(estimate.as_dict(), indent=2))
        return 0
    rows = table("service", "usage per photo", "price", "$ per million photos", numbers=("$ per million photos",))
    for item in estimate.items:
        rows.add_row(item.service, item.usage, _price(item.price),
                     f"{item.dollars_per_million:.2f}")
    rows.add_row("total", "", "", f"{estimate.per_million:.2f}")
    out = console()
    out.print(f"{args.photos_per_day:,g} photos a day, Step Functions {args.workflow}, {args.api.upper()} API, "
              f"{args.defect_rate:.0%} defects; us-east-1 list prices of {cost.PRICES_CHECKED}, no free tiers, "
              "endpoint hours not included")
    out.print(rows)
    out.print(f"${estimate.per_million:.2f} per million photos; ${estimate.per_day:.2f} a day, "
              f"${estimate.per_day * 30:.2f} per 30 days")
    return 0


def add_cost_commands(commands) -> None:
    parser = commands.add_parser("cost", help="what the cloud pipeline costs, itemised (without the endpoint)")
    parser.add_argument("--photos-per-day", type=float, required=True)
    parser.add_argument("--workflow", choices=cost.WORKFLOWS, default="standard",
                        help="Step Functions workflow type (the pipeline runs standard today)")
    parser.add_argument("--api", choices=cost.APIS, default="rest",
                        help="API Gateway REST API (deployed today) or HTTP API")
    parser.add_argument("--defect-rate", type=float, default=0.05, help="fraction of photos defective (alerts)")
    parser.add_argument("--right-sized", action="store_true",
                        help="Lambda memory right-sized: " + ", ".join(f"{k} {v} MB" for k, v in cost.RIGHT_SIZED_MB.items()))
    parser.add_argument("--memory", action="append", default=[], metavar="FUNCTION=MB",
                        help="a function's memory (default: as in .chalice/config.json, stage dev)")
    parser.add_argument("--trace-fraction", type=float,
                        help="fraction of requests X-Ray traces (default: its default rule, 1/s + 5%%)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=cmd_cost)
