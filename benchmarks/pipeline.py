"""Benchmark: latency and throughput of the whole pipeline on the embedded stack.

    .venv/bin/python benchmarks/pipeline.py [--model-dir DIR] [--images 1000] [--concurrency 1 4 16]

Starts `inspection-app up` in a subprocess (as a user runs it, so its CPU and memory are the stack's alone,
not the clients'), then per concurrency level uploads ELPV photos through the REST API (pre-signed POST → S3 →
SQS → starter → Step Functions → classify → DynamoDB) and waits for each stored verdict. It prints:

- photos/s, and lost photos (no stored verdict within the client's timeout);
- latency p50/p95/p99 from the stored timestamps (the S3 event's `uploaded_at` to the record's `inspected_at`)
  and as the client saw it (upload request to verdict read back);
- per stage, p50 ms after the client started the upload: queued (S3 stored the photo and queued its event),
  started (the execution started), classified (ClassifyImage done, from the execution's history), stored;
- CPU-seconds per photo and peak memory of the whole stack (every process of `inspection-app up`, from /proc).

Figures, not pass/fail: compare them across changes, with the machine's load (printed) in mind.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from inspection_app import paths  # noqa: E402
from inspection_app.client import ApiClient, ApiError  # noqa: E402
from inspection_app.inspections import percentile  # noqa: E402
from inspection_app.stack.access import local_client  # noqa: E402

ELPV_IMAGES = Path(__import__("elpv_dataset").__file__).parent / "data" / "images"
STAGES = ("queued", "started", "classified", "stored", "seen")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (Linux /proc)."""
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                pending.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                pass
    return tree


def _proc_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(root: int) -> float:
    """User + system CPU of every process in the tree so far."""
    total = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _CLOCK_TICKS


def peak_memory_mib(root: int) -> tuple[float, int]:
    """(sum of each process's peak resident memory, number of processes): an upper bound of the stack's peak."""
    pids = process_tree(root)
    return sum(_proc_field(pid, "VmHWM") for pid in pids) / 1024, len(pids)


def _timestamp(value) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def stage_times(stepfunctions, state_machine_arn: str, result: dict) -> dict:
    """Wall-clock times of the stages of one stored inspection, from its record and its execution's history."""
    arn = state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + result["inspection_id"]
    started = stepfunctions.describe_execution(executionArn=arn)["startDate"]
    classified = None
    events = stepfunctions.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    for event in events:
        if event["type"] == "TaskStateExited" and event["stateExitedEventDetails"]["name"] == "ClassifyImage":
            classified = event["timestamp"]
    return {"queued": _timestamp(result["uploaded_at"]), "started": _timestamp(started),
            "classified": _timestamp(classified) if classified else None, "stored": _timestamp(result["inspected_at"])}


def run_level(client: ApiClient, photos: list[Path], concurrency: int, tag: str) -> list[dict]:
    def inspect_one(path: Path) -> dict:
        begun = time.time()
        try:
            inspection = client.inspect(path, f"{path.stem}-{tag}", timeout=120)
        except (ApiError, TimeoutError) as error:
            return {"begun": begun, "error": str(error)}
        return {"begun": begun, "seen": time.time(), "result": inspection.result}

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(inspect_one, photos))


def _ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.0f}" if values else "-"


def report_level(concurrency: int, runs: list[dict], elapsed: float, cpu: float, stepfunctions, machine: str) -> str:
    done = [run for run in runs if "result" in run]
    times = [{**stage_times(stepfunctions, machine, run["result"]), "seen": run["seen"], "begun": run["begun"]}
             for run in done]
    stored = [t["stored"] - t["queued"] for t in times]
    seen = [t["seen"] - t["begun"] for t in times]
    stages = " ".join(f"{_ms([t[s] - t['begun'] for t in times if t[s]], 50):>7}" for s in STAGES)
    return (f"{concurrency:>5} {len(done) / elapsed:>8.1f} {len(runs) - len(done):>4} "
            f"{_ms(stored, 50):>6} {_ms(stored, 95):>6} {_ms(stored, 99):>6} "
            f"{_ms(seen, 50):>6} {_ms(seen, 95):>6} {_ms(seen, 99):>6}  {stages}  {cpu / max(1, len(runs)) * 1000:>7.1f}")


def start_stack(model_dir: Path, home: Path) -> tuple[subprocess.Popen, dict, float]:
    ready = home / "ready.json"
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env["INSPECTION_APP_HOME"] = str(home)
    started = time.perf_counter()
    with open(home / "stack-output.txt", "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "inspection_app", "up", "--model-dir", str(model_dir),
                                    "--port", "0", "--ready-file", str(ready)],
                                   cwd=PROJECT_DIR, env=env, stdout=output, stderr=subprocess.STDOUT)
    while not ready.exists():
        if process.poll() is not None or time.perf_counter() - started > 120:
            process.kill()
            raise SystemExit(f"the stack did not start:\n{(home / 'stack-output.txt').read_text()}")
        time.sleep(0.05)
    return process, json.loads(ready.read_text()), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=paths.default_model_dir())
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    photos = sorted(ELPV_IMAGES.glob("*.png"))[: args.images]

    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as home:
        process, info, startup = start_stack(args.model_dir, Path(home))
        try:
            client = ApiClient(info["api_url"])
            stepfunctions = local_client(info["aws_url"], "stepfunctions")
            run_level(client, photos[:4], 2, "warm")  # first calls load code paths
            print(f"model {info['model_id']}; {len(photos)} ELPV photos (300x300 PNG) per run; "
                  f"start-up to ready {startup:.1f} s; load average {os.getloadavg()[0]:.2f} at the start")
            print(f"{'':>5} {'':>8} {'':>4} {'upload->stored ms':^20} {'client-seen ms':^20}  "
                  f"{'p50 ms after the upload began':^39}  {'':>7}")
            print(f"{'conc':>5} {'photos/s':>8} {'lost':>4} {'p50':>6} {'p95':>6} {'p99':>6} {'p50':>6} {'p95':>6} "
                  f"{'p99':>6}  {' '.join(f'{s[:7]:>7}' for s in STAGES)}  {'CPU ms':>7}")
            for concurrency in args.concurrency:
                cpu_before, started = cpu_seconds(process.pid), time.perf_counter()
                runs = run_level(client, photos, concurrency, f"c{concurrency}-{int(time.time())}")
                elapsed, cpu = time.perf_counter() - started, cpu_seconds(process.pid) - cpu_before
                print(report_level(concurrency, runs, elapsed, cpu, stepfunctions, info["state_machine_arn"]),
                      flush=True)
            peak, processes = peak_memory_mib(process.pid)
            print(f"CPU ms: the stack's CPU-seconds per photo (all its processes). Peak memory of the stack: "
                  f"{peak:.0f} MiB over {processes} process(es); load average {os.getloadavg()[0]:.2f} at the end")
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
