"""`inspection-app`: try the pipeline on one machine, train models, inspect images, read results."""
from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from training.sagemaker.cli import add_sagemaker_commands

from .. import paths
from ..client import CONTENT_TYPES, ApiClient, ApiError, image_files
from .deploy_commands import add_deploy_commands
from ..stack.faults import add_fault_command
from ..inspections import inspect_files, print_reports
from ..stack.access import local_client, read_ready_file

DEFAULT_API = "http://127.0.0.1:8000"


def load_predictor(model_dir: Path | None):
    """The ONNX model in `model_dir` (default: the demo's), or a message saying how to get one."""
    from training.predictor import ModelDirError, OnnxPredictor  # noqa: PLC0415 - keeps `results` light

    model_dir = model_dir or paths.default_model_dir()
    try:
        return OnnxPredictor(model_dir)
    except ModelDirError as error:
        raise _no_model(model_dir, error) from None


def _no_model(model_dir: Path, error: Exception) -> SystemExit:
    return SystemExit(
        f"{error}\nTrain one with `inspection-app train --dataset DIR --model-dir {model_dir}` "
        "or run `make demo`, which trains the demo model."
    )


@contextmanager
def running_stack(predictor, port: int, on_alert=None, quiet: bool = False, retry_window_seconds: int | None = None):
    """The embedded stack serving `predictor` (see `load_predictor`), its API on `port`."""
    from ..stack.embedded import embedded_stack  # noqa: PLC0415 - moto is heavy; only the stack needs it

    with embedded_stack(predictor, api_port=port, log_file=paths.log_file(), on_alert=on_alert, quiet=quiet,
                        retry_window_seconds=retry_window_seconds) as running:
        yield running


def cmd_up(args) -> int:
    try:
        return _serve(args)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        print(f"error: port {args.port} is already in use; choose another with --port (0 picks a free one)",
              file=sys.stderr)
        return 2


def _serve(args) -> int:
    def show_alert(alert):
        print(f"\nALERT  {alert['subject']}\n{alert['message']}\n", flush=True)

    with running_stack(load_predictor(args.model_dir), args.port, on_alert=show_alert,
                       retry_window_seconds=args.retry_window) as (info, _):
        print(f"Embedded stack running (model {info.model_id}). Ctrl-C stops it.")
        print(f"  REST API          {info.api_url}   (POST /uploads, GET /results/{{product_id}})")
        print(f"  AWS services      {info.aws_url}   (moto: S3, SQS, SNS, DynamoDB, Step Functions)")
        print(f"  model endpoint    {info.model_url}/endpoints/{info.endpoint_name}/invocations")
        print(f"  upload bucket     s3://{info.upload_bucket}")
        print(f"  Lambda logs       {info.log_file}")
        print(f"Try: inspection-app inspect IMAGE.jpg --api {info.api_url}", flush=True)
        if args.ready_file:
            Path(args.ready_file).write_text(json.dumps(vars(info)))
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("Stopping.")
    return 0


def cmd_train(args) -> int:
    from training.dataset import DatasetError  # noqa: PLC0415 - torch loads only when training
    from training.evaluate import evaluate
    from training.train import train

    try:
        train(args.dataset, args.model_dir, epochs=args.epochs, input_size=args.input_size, seed=args.seed)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # train() has reported the model it wrote; the report of its test split follows.
    return _print_evaluation(evaluate(args.dataset, args.model_dir, split="test"), as_json=False)


def cmd_evaluate(args) -> int:
    from training.dataset import DatasetError  # noqa: PLC0415
    from training.evaluate import evaluate  # noqa: PLC0415
    from training.predictor import ModelDirError  # noqa: PLC0415

    try:
        metrics = evaluate(args.dataset, args.model_dir, target_recall=args.target_recall, split=args.split)
    except ModelDirError as error:
        raise _no_model(args.model_dir, error) from None
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return _print_evaluation(metrics, as_json=args.json)


def _print_evaluation(metrics: dict, *, as_json: bool) -> int:
    from training.evaluate import as_json as metrics_json, headline  # noqa: PLC0415

    print(metrics_json(metrics) if as_json else headline(metrics))
    return 0


def cmd_inspect(args) -> int:
    try:
        files = image_files(args.paths)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not files:
        print(f"error: no {', '.join(CONTENT_TYPES)} files under the given paths", file=sys.stderr)
        return 2

    def run(api_url: str) -> list[dict]:
        client = ApiClient(api_url, api_key=args.api_key)
        reports = inspect_files(client, files, concurrency=args.concurrency, timeout=args.timeout)
        return print_reports(reports, as_json=args.json)

    if args.api:
        reports = run(args.api)
    else:
        with running_stack(load_predictor(args.model_dir), 0, quiet=True) as (info, _):
            reports = run(info.api_url)
    return 1 if any(item["verdict"] is None for item in reports) else 0


def cmd_results(args) -> int:
    try:
        print(json.dumps(ApiClient(args.api, api_key=args.api_key).results(args.product_id), indent=2))
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_reinspect(args) -> int:
    try:
        answer = ApiClient(args.api, api_key=args.api_key).reinspect(args.verdict, args.since, args.product_id)
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for item in answer["started"]:
        print(f"reinspecting {item['product_id']}  {item['key']}  ({item['reinspection_of']} -> {item['inspection_id']})")
    print(f"{answer['count']} photo(s) with verdict {answer['verdict']} since {answer['since']} sent for reinspection.")
    return 0


def cmd_redrive(args) -> int:
    from ..redrive import redrive_parked  # noqa: PLC0415

    try:
        sqs, stepfunctions, queue_url, state_machine_arn = _parked_queue(args)
        counts = redrive_parked(sqs, stepfunctions, queue_url, state_machine_arn)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - botocore's errors: no credentials, queue missing, service down
        print(f"error: redrive failed: {error}", file=sys.stderr)
        return 1
    print(f"{counts['redriven']} parked verdict(s) sent to be stored, {counts['already_redriven']} already redriven, "
          f"{counts['unreadable']} unreadable (left on the queue).")
    return 1 if counts["unreadable"] else 0


def _parked_queue(args):
    """(SQS client, Step Functions client, parked-verdicts queue URL, state machine ARN) of a local stack
    or a deployed stage."""
    if args.ready_file:
        info = read_ready_file(args.ready_file)
        return (local_client(info["aws_url"], "sqs"), local_client(info["aws_url"], "stepfunctions"),
                info["parked_verdict_queue_url"], info["state_machine_arn"])
    from ..deploy import DeployError, deployed_outputs  # noqa: PLC0415

    try:
        session, outputs = deployed_outputs(args.stage, profile=args.profile, region=args.region)
    except DeployError as error:
        raise ValueError(str(error)) from None
    return (session.client("sqs"), session.client("stepfunctions"), outputs["ParkedVerdictQueueUrl"],
            outputs["StateMachineArn"])


def cmd_demo(args) -> int:
    from ..demo import run_demo  # noqa: PLC0415

    return run_demo(retrain=args.retrain)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inspection-app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train the demo model if needed, run the pipeline on held-out photos")
    demo.add_argument("--retrain", action="store_true", help="train the demo model again even if one is cached")
    demo.set_defaults(func=cmd_demo)

    up = commands.add_parser("up", help="run the embedded stack in the foreground")
    up.add_argument("--model-dir", type=Path, help="model to serve (default: the demo model)")
    up.add_argument("--port", type=int, default=8000, help="REST API port (default 8000; 0 picks a free one)")
    up.add_argument("--ready-file", help="write the stack's URLs as JSON to this file once it is up")
    up.add_argument("--retry-window", type=int, metavar="SECONDS",
                    help="retry failed tasks once a second for this long instead of the state machine's "
                         "12 minutes (to rehearse long outages quickly with `inspection-app fault`)")
    up.set_defaults(func=cmd_up)

    train = commands.add_parser("train", help="train a classifier from defect_free/ and defective/ folders")
    train.add_argument("--dataset", type=Path, required=True)
    train.add_argument("--model-dir", type=Path, required=True)
    train.add_argument("--epochs", type=int, help="maximum epochs (default: chosen from the dataset size)")
    train.add_argument("--input-size", type=int, help="model input size in pixels (default 160)")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=cmd_train)

    evaluate = commands.add_parser("evaluate", help="figures and a report (ROC, precision-recall, mistakes) for a model")
    evaluate.add_argument("--dataset", type=Path, required=True, help="folder with defect_free/ and defective/")
    evaluate.add_argument("--model-dir", type=Path, required=True)
    evaluate.add_argument("--target-recall", type=float, default=0.99,
                          help="defective recall the recommended threshold must reach (default 0.99)")
    evaluate.add_argument("--split", choices=["auto", "all", "test"], default="auto",
                          help="auto: the test split if this is the model's training dataset, else all images")
    evaluate.add_argument("--json", action="store_true", help="print all figures as JSON")
    evaluate.set_defaults(func=cmd_evaluate)

    inspect = commands.add_parser("inspect", help="upload images through the API and wait for their verdicts")
    inspect.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    inspect.add_argument("--model-dir", type=Path, help="model for the embedded stack (default: the demo model)")
    inspect.add_argument("--api", help="use a running API instead of starting an embedded stack")
    _api_key_option(inspect)
    inspect.add_argument("--json", action="store_true", help="one JSON object per image per line")
    inspect.add_argument("--concurrency", type=int, default=4)
    inspect.add_argument("--timeout", type=float, default=120, help="seconds to wait for each result")
    inspect.set_defaults(func=cmd_inspect)

    results = commands.add_parser("results", help="the latest verdict and history of a product")
    results.add_argument("product_id")
    results.add_argument("--api", default=DEFAULT_API)
    _api_key_option(results)
    results.set_defaults(func=cmd_results)

    reinspect = commands.add_parser("reinspect", help="inspect again the photos whose result was error (or another verdict)")
    reinspect.add_argument("--verdict", default="error", help="which results to re-run (default error)")
    reinspect.add_argument("--since", help="only results from this ISO 8601 time on (default: the last 24 hours)")
    reinspect.add_argument("--product-id", help="only this product's results")
    reinspect.add_argument("--api", default=DEFAULT_API)
    _api_key_option(reinspect)
    reinspect.set_defaults(func=cmd_reinspect)

    redrive = commands.add_parser("redrive", help="store the verdicts parked while the results store was down")
    where = redrive.add_mutually_exclusive_group(required=True)
    where.add_argument("--ready-file", help="the embedded stack's ready file (inspection-app up --ready-file)")
    where.add_argument("--stage", help="a deployed stage (its resource stack's parked-verdicts queue)")
    redrive.add_argument("--profile", help="AWS profile for --stage")
    redrive.add_argument("--region", help="AWS region for --stage")
    redrive.set_defaults(func=cmd_redrive)

    add_fault_command(commands)
    add_deploy_commands(commands)
    add_sagemaker_commands(commands)
    return parser


def _api_key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default=os.environ.get("INSPECTION_API_KEY"),
                        help="API key of a deployed API (default: $INSPECTION_API_KEY; the local stack needs none)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
