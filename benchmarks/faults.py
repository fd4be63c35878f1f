"""Benchmark: outages of minutes on the embedded stack, while photos keep arriving. Nothing may be lost.

    .venv/bin/python benchmarks/faults.py [--model-dir DIR] [--outage 600] [--interval 10]
                                          [--services model dynamodb s3 sns] [--beyond]
                                          [--retry-window SECONDS]

Each scenario runs on its own embedded stack (`inspection-app up`, in a subprocess), all scenarios at once:
ELPV photos are uploaded through the REST API one every `--interval` s; 30 s in, `inspection-app fault`'s
control API fails one service for `--outage` s (model endpoint: 503; DynamoDB: 500; S3 object reads: 503;
SNS: 503). When the fault is over and every execution has ended, the runbook's recovery runs
(`redrive` for parked verdicts, `reinspect` for `error` verdicts) and the table counts, per scenario:
photos uploaded, photos with a stored result, lost (no result), duplicated (more than one result for an
upload), `error` results, alerts received and alerts due (one per defective and one per error result),
verdicts parked and redriven, photos reinspected, and seconds from the end of the fault until the last
result was stored.

With the state machine's own retries (about 12 minutes) a 10-minute outage of any one service must end
with 0 lost, 0 duplicated and 0 errors. `--beyond` adds model and DynamoDB outages longer than the retries
(by 3 minutes): those end with `error` results and not-inspected alerts (reinspected) or parked
verdicts (redriven), still with nothing lost. `--retry-window` shortens the retries for a quick run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspection_app import paths  # noqa: E402
from inspection_app.chalice_stage import STATE_MACHINE_DEFINITION, retry_wait_seconds  # noqa: E402
from inspection_app.stack.outage_drill import Drill, DrillResult, table_header  # noqa: E402
from inspection_app.stack.access import read_ready_file  # noqa: E402

ELPV_IMAGES = Path(__import__("elpv_dataset").__file__).parent / "data" / "images"
PROJECT_DIR = Path(__file__).resolve().parent.parent
FAULT_AFTER_SECONDS = 30
SERVICES = ("model", "dynamodb", "s3", "sns")


def definition_retry_seconds() -> float:
    """The longest outage the state machine's retries ride out, as written in the definition."""
    states = json.loads(STATE_MACHINE_DEFINITION.read_text())["States"].values()
    return min(retry_wait_seconds(r) for state in states for r in state.get("Retry", []))


class StackProcess:
    """`inspection-app up` in a subprocess with its own home, until stopped."""

    def __init__(self, model_dir: Path, retry_window: int | None):
        self.home = Path(tempfile.mkdtemp(prefix="faults-bench-"))
        ready = self.home / "ready.json"
        command = [sys.executable, "-m", "inspection_app", "up", "--model-dir", str(model_dir), "--port", "0",
                   "--ready-file", str(ready)]
        if retry_window:
            command += ["--retry-window", str(retry_window)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["INSPECTION_APP_HOME"] = str(self.home)
        with open(self.home / "stack-output.txt", "w") as output:
            self.process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stack did not start: {(self.home / 'stack-output.txt').read_text()[-2000:]}")
            time.sleep(0.2)
        self.info = read_ready_file(ready)

    def stop(self, keep: bool = False) -> None:
        """Stop the stack; its home (logs) is removed unless `keep`."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if keep:
            print(f"stack logs kept in {self.home}", file=sys.stderr)
        else:
            shutil.rmtree(self.home, ignore_errors=True)


def run_scenario(name: str, service: str, outage: float, args, photos: list[Path], results: dict) -> None:
    stack = StackProcess(args.model_dir, args.retry_window)
    failed = True
    try:
        count = int((FAULT_AFTER_SECONDS + outage + FAULT_AFTER_SECONDS) / args.interval)
        results[name] = Drill(stack.info).run(name, service, outage, (photos * (count // len(photos) + 1))[:count],
                                              interval=args.interval, fault_after=FAULT_AFTER_SECONDS,
                                              timeout=args.drain_timeout, alert_wait=10)
        failed = bool(results[name].lost or results[name].duplicated)
    except Exception as error:  # noqa: BLE001 - one failed scenario is reported in its row, the others go on
        results[name] = error
    finally:
        stack.stop(keep=failed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=paths.default_model_dir())
    parser.add_argument("--outage", type=float, default=600, help="seconds each service is down (default 600)")
    parser.add_argument("--interval", type=float, default=10, help="seconds between photos (default 10)")
    parser.add_argument("--services", nargs="+", choices=SERVICES, default=list(SERVICES))
    parser.add_argument("--beyond", action="store_true",
                        help="also model and DynamoDB outages longer than the retries (by 3 minutes, or by the retry window if shorter)")
    parser.add_argument("--retry-window", type=int, help="shorten the retries to this many seconds (quick runs)")
    parser.add_argument("--drain-timeout", type=float, default=300,
                        help="seconds to wait for results after the fault before counting the rest as lost")
    args = parser.parse_args()
    if not (args.model_dir / "model.json").exists():
        print(f"error: no model in {args.model_dir}; run `make demo` first or pass --model-dir", file=sys.stderr)
        return 2
    photos = sorted(ELPV_IMAGES.glob("*.png"))[:200]
    window = args.retry_window or definition_retry_seconds()

    scenarios = [(f"{service} down {args.outage:.0f}s", service, args.outage) for service in args.services]
    if args.beyond:
        beyond = window + min(180, window)
        scenarios += [(f"{service} down {beyond:.0f}s (beyond)", service, beyond) for service in ("model", "dynamodb")]
    print(f"retries ride out {window:.0f} s; {len(scenarios)} scenarios at once, one photo every {args.interval:g} s, "
          f"fault {FAULT_AFTER_SECONDS} s in", flush=True)
    started = time.monotonic()
    results: dict[str, DrillResult | Exception] = {}
    threads = [threading.Thread(target=run_scenario, args=(*scenario, args, photos, results)) for scenario in scenarios]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    print(table_header())
    failed = False
    for name, _, _ in scenarios:
        result = results.get(name)
        if isinstance(result, DrillResult):
            print(result.row())
            failed |= bool(not result.photos or result.lost or result.duplicated or result.alerts != result.due)
        else:
            print(f"{name:<28} failed: {result}")
            failed = True
    print(f"wall time {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
