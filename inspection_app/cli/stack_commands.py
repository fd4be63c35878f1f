"""`inspection-app demo`, `up`, `fault` and `redrive`: the pipeline on this machine, its outages rehearsed, and
the verdicts parked by an outage."""
from __future__ import annotations

import errno
import json
import signal
import threading
from pathlib import Path

from ..errors import InputError, UserError
from ..local_pipeline import load_predictor, running_stack
from ..stack.access import local_client, read_ready_file
from ..stack.faults import CONTROL_PATH, ERRORS, MAX_SECONDS, SERVICES, validate


def cmd_demo(args) -> int:
    from ..demo import run_demo  # noqa: PLC0415 - training and the stack load only for the demo

    return run_demo(retrain=args.retrain)


def cmd_up(args) -> int:
    try:
        return _serve(args)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        raise InputError(f"port {args.port} is already in use; choose another with --port "
                         "(0 picks a free one)") from None


def _serve(args) -> int:
    def show_alert(alert):
        print(f"\nALERT  {alert['subject']}\n{alert['message']}\n", flush=True)

    with running_stack(load_predictor(args.model_dir), args.port, on_alert=show_alert,
                       retry_window_seconds=args.retry_window) as (info, _):
        print(f"Embedded stack running (model {info.model_id}). Ctrl-C stops it.")
        print(f"  Web app           {info.api_url}/   (inspect, product history, review; any API key works locally)")
        print(f"  REST API          {info.api_url}   (POST /uploads, GET /results/{{product_id}})")
        print(f"  AWS services      {info.aws_url}   (moto: S3, SQS, SNS, DynamoDB, Step Functions)")
        print(f"  model endpoint    {info.model_url}/endpoints/{info.endpoint_name}/invocations")
        print(f"  upload bucket     s3://{info.upload_bucket}")
        print(f"  Lambda logs       {info.log_file}")
        print(f"Try: inspection-app inspect IMAGE.jpg --api {info.api_url}", flush=True)
        if args.ready_file:
            Path(args.ready_file).write_text(json.dumps(vars(info)))
        _wait_for_stop_signal()
        print("Stopping.", flush=True)
    return 0


def _wait_for_stop_signal() -> None:
    """Until Ctrl-C (SIGINT) or SIGTERM (kill, systemd, a supervisor). Both are set here: a shell starts a
    background job with SIGINT ignored, and SIGTERM would otherwise end the process without stopping the stack."""
    stop = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda number, frame: stop.set())
    stop.wait()


def cmd_redrive(args) -> int:
    from ..redrive import redrive_parked  # noqa: PLC0415

    counts = redrive_parked(*_parked_queue(args))
    print(f"{counts['redriven']} parked verdict(s) sent to be stored, {counts['already_redriven']} already redriven, "
          f"{counts['unreadable']} unreadable (left on the queue).")
    return 1 if counts["unreadable"] else 0


def _parked_queue(args):
    """(SQS client, Step Functions client, parked-verdicts queue URL, state machine ARN) of a local stack
    or a deployed stage."""
    if args.ready_file:
        info = read_ready_file(args.ready_file)
        missing = [key for key in ("parked_verdict_queue_url", "state_machine_arn")
                   if not isinstance(info.get(key), str)]
        if missing:
            raise InputError(f"{args.ready_file} has no {' or '.join(missing)}; is it the file "
                             "`inspection-app up --ready-file` wrote?")
        return (local_client(info["aws_url"], "sqs"), local_client(info["aws_url"], "stepfunctions"),
                info["parked_verdict_queue_url"], info["state_machine_arn"])
    from ..deploy.cloudformation import deployed_outputs  # noqa: PLC0415 - the deploy code only for --stage

    session, outputs = deployed_outputs(args.stage, profile=args.profile, region=args.region)
    return (session.client("sqs"), session.client("stepfunctions"), outputs["ParkedVerdictQueueUrl"],
            outputs["StateMachineArn"])


def cmd_fault(args) -> int:
    import requests  # noqa: PLC0415 - only the command needs it

    service, seconds, mode = validate(args.service, args.seconds, args.mode)
    aws_url = read_ready_file(args.ready_file)["aws_url"]
    try:
        response = requests.post(f"{aws_url}{CONTROL_PATH}", json={"service": service, "seconds": seconds,
                                                                    "mode": mode}, timeout=10)
        fault = response.json() if response.headers.get("Content-Type") == "application/json" else {}
    except requests.RequestException as error:
        reason = "connection refused" if isinstance(error, requests.ConnectionError) else type(error).__name__
        raise UserError(f"no embedded stack answers at {aws_url} ({reason}); is `inspection-app up "
                        f"--ready-file {args.ready_file}` still running?") from None
    if response.status_code != 200 or "until" not in fault:
        raise UserError(f"{aws_url} refused the fault: {fault.get('message') or response.status_code}")
    answer = ERRORS[service] if mode == "error" else "connections closed without an answer"
    print(f"{service} fails for {seconds:g} s ({answer}) until {fault['until']}")
    return 0


def _add_fault_command(commands) -> None:
    fault = commands.add_parser("fault", help="make one service of a running embedded stack fail for a while")
    fault.add_argument("service", metavar="SERVICE", help=f"the service that fails: {', '.join(SERVICES)}")
    fault.add_argument("--seconds", required=True, metavar="N", help=f"how long it fails (at most {MAX_SECONDS})")
    fault.add_argument("--ready-file", required=True, metavar="FILE",
                       help="the file `inspection-app up --ready-file FILE` wrote")
    fault.add_argument("--mode", default="error", metavar="error|close",
                       help="error (default): the service's AWS outage error; close: drop connections unanswered")
    fault.set_defaults(func=cmd_fault)


def add_stack_commands(commands) -> None:
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

    _add_fault_command(commands)

    redrive = commands.add_parser("redrive", help="store the verdicts parked while the results store was down")
    where = redrive.add_mutually_exclusive_group(required=True)
    where.add_argument("--ready-file", help="the embedded stack's ready file (inspection-app up --ready-file)")
    where.add_argument("--stage", help="a deployed stage (its resource stack's parked-verdicts queue)")
    redrive.add_argument("--profile", help="AWS profile for --stage")
    redrive.add_argument("--region", help="AWS region for --stage")
    redrive.set_defaults(func=cmd_redrive)
