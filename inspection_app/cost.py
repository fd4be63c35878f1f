"""What the pipeline costs in the cloud per photo: each billable request counted, times its us-east-1 list price.

`inspection-app cost --photos-per-day N` prints it. The SageMaker endpoint is left out (billed per instance-hour,
whatever the volume; docs/deploy.md). Free tiers are left out. Counts per photo follow the code: one pre-signed
POST, one S3 event through SQS, one execution (ClassifyImage, RecordVerdict, HasAlert, PublishAlert for a defect),
one result put, and the client's two API requests (the upload URL and one waiting GET /results, whose reads
are counted with chalicelib.result_wait's own pauses).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from chalicelib.result_wait import reads_until

from .chalice_stage import stage_config

PRICES_CHECKED = "2026-12-01"
SECONDS_PER_DAY = 86_400
PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    dollars: float  # per `per` units
    per: float
    unit: str
    source: str

    def of(self, units: float) -> float:
        return units * self.dollars / self.per


# us-east-1 list prices, looked up on PRICES_CHECKED (first tiers; no free tier).
PRICES = {
    "s3_post": Price(0.005, 1_000, "PUT/COPY/POST/LIST request", "aws.amazon.com/s3/pricing (S3 Standard)"),
    "s3_get": Price(0.0004, 1_000, "GET request", "aws.amazon.com/s3/pricing (S3 Standard)"),
    "sqs": Price(0.40, PER_MILLION, "request (64 KB chunk)", "aws.amazon.com/sqs/pricing (standard queue)"),
    "lambda_request": Price(0.20, PER_MILLION, "request", "aws.amazon.com/lambda/pricing"),
    "lambda_gb_s": Price(0.0000166667, 1, "GB-second (x86)", "aws.amazon.com/lambda/pricing"),
    "sfn_transition": Price(0.025, 1_000, "state transition", "aws.amazon.com/step-functions/pricing (Standard)"),
    "sfn_express_request": Price(1.00, PER_MILLION, "request", "aws.amazon.com/step-functions/pricing (Express)"),
    "sfn_express_gb_s": Price(0.00001667, 1, "GB-second (first 1,000 GB-hours)",
                              "aws.amazon.com/step-functions/pricing (Express duration)"),
    "dynamodb_write": Price(0.625, PER_MILLION, "write request unit",
                            "aws.amazon.com/dynamodb/pricing/on-demand (since Nov 2024)"),
    "dynamodb_read": Price(0.125, PER_MILLION, "read request unit",
                           "aws.amazon.com/dynamodb/pricing/on-demand (since Nov 2024)"),
    "sns_publish": Price(0.50, PER_MILLION, "publish", "aws.amazon.com/sns/pricing"),
    "sns_email": Price(2.00, 100_000, "e-mail delivery", "aws.amazon.com/sns/pricing"),
    "api_rest": Price(3.50, PER_MILLION, "REST API request (first 333 M)", "aws.amazon.com/api-gateway/pricing"),
    "api_http": Price(1.00, PER_MILLION, "HTTP API request (first 300 M)", "aws.amazon.com/api-gateway/pricing"),
    "logs": Price(0.50, 1, "GB ingested", "aws.amazon.com/cloudwatch/pricing (Standard logs)"),
    "xray": Price(5.00, PER_MILLION, "trace recorded", "aws.amazon.com/xray/pricing"),
}

# The functions as Lambda bills them: name -> (invocations per photo, seconds per invocation). Memory comes from
# .chalice/config.json (the dev stage) unless overridden. Durations: the API handler answers an upload URL in
# ~50 ms and then waits for the verdict (`pipeline_seconds`); the starter and the record task do one AWS call
# each (~100 ms); the classify task reads the photo, checks and resizes it, and waits for the endpoint (the
# local endpoint's measured EndpointLatency p50 is 20 ms, p95 80 ms; a real one over the network is slower):
# 300 ms.
FUNCTIONS = ("api_handler", "start_inspections", "classify_image", "record_verdict")
WORKFLOWS = ("standard", "express")
APIS = ("rest", "http")
# Memory that does the same work for less (docs/deploy.md): the API handler mostly waits on DynamoDB, the
# classify task on the endpoint (Pillow needs ~3 bytes per pixel of the largest allowed photo: 40 MP ≈ 120 MB).
RIGHT_SIZED_MB = {"api_handler": 128, "start_inspections": 256, "classify_image": 512, "record_verdict": 256}


@dataclass(frozen=True)
class Assumptions:
    photos_per_day: float
    workflow: str = "standard"  # or "express"
    api: str = "rest"  # or "http" (API Gateway's HTTP API: no usage plans or API keys, and Chalice deploys REST)
    defect_rate: float = 0.05
    memory_mb: dict = field(default_factory=dict)  # function -> MB; missing: as configured
    trace_fraction: float | None = None  # photos traced by X-Ray; None: the default sampling rule
    upload_url_seconds: float = 0.05
    pipeline_seconds: float = 1.5  # upload done -> result stored: what the waiting GET /results waits
    starter_seconds: float = 0.1
    classify_seconds: float = 0.3
    record_seconds: float = 0.1
    result_bytes: int = 700  # one stored result (a 1 KB write unit; the verdict index copies it: ProjectionType ALL)
    log_bytes: int = 2_200 + 5 * 300  # app log lines measured (var/logs/lambda.jsonl) + START/END/REPORT lines
    express_seconds: float = 0.5  # an execution: classify + record + transitions
    express_memory_mb: int = 64  # definition + payload, billed in 64 MB chunks


def configured_memory(stage: str = "dev") -> dict:
    config = stage_config(stage)
    return {name: config.scope(stage, name).lambda_memory_size for name in FUNCTIONS}


@dataclass(frozen=True)
class Item:
    service: str
    usage: str  # per photo, in words
    per_photo: float  # units per photo
    price: Price

    @property
    def dollars_per_million(self) -> float:
        return self.price.of(self.per_photo) * PER_MILLION


def _sampled_per_second(rate: float) -> float:
    """X-Ray's default rule: the first request each second, and 5% of the rest."""
    return rate if rate <= 1 else 1 + 0.05 * (rate - 1)


def _traces_per_photo(a: Assumptions) -> float:
    """Traces recorded per photo: each API request, each starter invocation and each execution starts one."""
    if a.trace_fraction is not None:
        return 4 * a.trace_fraction
    photos_per_second = a.photos_per_day / SECONDS_PER_DAY
    traces = 0.0
    for requests_per_photo in (2, 1, 1):  # api_handler, start_inspections, the execution
        rate = photos_per_second * requests_per_photo
        traces += _sampled_per_second(rate) / photos_per_second if rate else 0
    return traces


def items(a: Assumptions, memory: dict | None = None) -> list[Item]:
    """Every billable item per photo."""
    memory = {**(memory or configured_memory()), **a.memory_mb}
    seconds = {"api_handler": a.upload_url_seconds + a.pipeline_seconds, "start_inspections": a.starter_seconds,
               "classify_image": a.classify_seconds, "record_verdict": a.record_seconds}
    invocations = {"api_handler": 2, "start_inspections": 1, "classify_image": 1, "record_verdict": 1}
    lines = [
        Item("S3", "1 POST (the upload)", 1, PRICES["s3_post"]),
        Item("S3", "1 GET (the classify task)", 1, PRICES["s3_get"]),
        Item("SQS", "send (S3) + receive + delete", 3, PRICES["sqs"]),
        Item("Lambda requests", "upload URL, wait, starter, classify, record", sum(invocations.values()),
             PRICES["lambda_request"]),
    ]
    for name in FUNCTIONS:
        gb_s = memory[name] / 1024 * seconds[name]
        lines.append(Item(f"Lambda {name}", f"{memory[name]} MB x {seconds[name]:g} s", gb_s, PRICES["lambda_gb_s"]))
    if a.workflow == "standard":
        transitions = 5 + a.defect_rate  # Choice, ClassifyImage, RecordVerdict, HasAlert, Inspected (+PublishAlert)
        lines.append(Item("Step Functions Standard", f"{transitions:g} state transitions", transitions,
                          PRICES["sfn_transition"]))
    else:
        billed_seconds = math.ceil(a.express_seconds * 10) / 10
        gb = math.ceil(a.express_memory_mb / 64) * 64 / 1024
        lines += [Item("Step Functions Express", "1 request", 1, PRICES["sfn_express_request"]),
                  Item("Step Functions Express", f"{a.express_memory_mb} MB x {billed_seconds:g} s",
                       gb * billed_seconds, PRICES["sfn_express_gb_s"])]
    write_units = math.ceil(a.result_bytes / 1024) * 2
    reads = reads_until(a.pipeline_seconds)
    lines += [
        Item("DynamoDB", f"1 put, + the verdict index: {write_units} write units", write_units, PRICES["dynamodb_write"]),
        Item("DynamoDB", f"{reads} consistent reads while the client waits", reads, PRICES["dynamodb_read"]),
        Item("SNS", f"{a.defect_rate:.0%} of photos: publish", a.defect_rate, PRICES["sns_publish"]),
        Item("SNS", f"{a.defect_rate:.0%} of photos: e-mail", a.defect_rate, PRICES["sns_email"]),
        Item(f"API Gateway ({a.api.upper()})", "2 requests (upload URL, one waiting GET /results)", 2,
             PRICES[f"api_{a.api}"]),
        Item("CloudWatch Logs", f"{a.log_bytes / 1000:g} KB", a.log_bytes / 1e9, PRICES["logs"]),
    ]
    traces = _traces_per_photo(a)
    lines.append(Item("X-Ray", f"{traces:.2f} traces" + (" (default sampling)" if a.trace_fraction is None else ""),
                      traces, PRICES["xray"]))
    return lines


@dataclass(frozen=True)
class Estimate:
    assumptions: Assumptions
    items: list[Item]

    @property
    def per_million(self) -> float:
        return sum(item.dollars_per_million for item in self.items)

    @property
    def per_day(self) -> float:
        return self.per_million * self.assumptions.photos_per_day / PER_MILLION

    def as_dict(self) -> dict:
        a = self.assumptions
        return {
            "photos_per_day": a.photos_per_day, "workflow": a.workflow, "defect_rate": a.defect_rate,
            "prices_checked": PRICES_CHECKED, "region": "us-east-1",
            "items": [{"service": i.service, "usage_per_photo": i.usage, "units_per_photo": i.per_photo,
                       "unit": i.price.unit, "price": i.price.dollars, "price_per": i.price.per,
                       "source": i.price.source, "dollars_per_million": round(i.dollars_per_million, 4)}
                      for i in self.items],
            "dollars_per_million": round(self.per_million, 2),
            "dollars_per_day": round(self.per_day, 2),
            "dollars_per_30_days": round(self.per_day * 30, 2),
        }


def estimate(a: Assumptions, memory: dict | None = None) -> Estimate:
    if a.workflow not in WORKFLOWS or a.api not in APIS:
        raise ValueError(f"workflow must be one of {WORKFLOWS} and api one of {APIS}")
    return Estimate(a, items(a, memory))
