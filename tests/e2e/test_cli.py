"""The `inspection-app` commands a user runs against the pipeline."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROJECT_DIR

ELPV_IMAGES = Path(__import__("elpv_dataset").__file__).parent / "data" / "images"
REQUIRED_FIELDS = {"file", "product_id", "verdict", "label", "confidence", "latency_ms"}


def run_cli(*args: str, home: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    # No AWS settings of this machine, and no forced colour: output as a pipe or a log gets it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "FORCE_COLOR"}
    env["INSPECTION_APP_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "inspection_app", *args], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=timeout)


def copy_photos(destination: Path, names: list[str]) -> Path:
    destination.mkdir(parents=True)
    for name in names:
        shutil.copyfile(ELPV_IMAGES / name, destination / name)
    return destination


def test_inspect_json_prints_one_object_per_image_and_results_answers(stack, tmp_path):
    photos = copy_photos(tmp_path / "photos", ["cell0002.png", "cell0005.png", "cell0006.png"])
    (photos / "README.txt").write_text("not an image: ignored by extension")

    inspected = run_cli("inspect", str(photos), "--api", stack.api_url, "--json", home=tmp_path)

    assert inspected.returncode == 0, inspected.stderr
    lines = [json.loads(line) for line in inspected.stdout.splitlines()]
    assert sorted(line["product_id"] for line in lines) == ["cell0002", "cell0005", "cell0006"]
    for line in lines:
        assert REQUIRED_FIELDS <= line.keys()
        assert line["verdict"] in {"defective", "defect_free", "needs_review"}
        assert 0.5 <= line["confidence"] <= 1 and line["latency_ms"] > 0

    looked_up = run_cli("results", "cell0005", "--api", stack.api_url, home=tmp_path)
    assert looked_up.returncode == 0, looked_up.stderr
    answer = json.loads(looked_up.stdout)
    key = next(line for line in lines if line["product_id"] == "cell0005")["key"]
    assert key in [item["key"] for item in answer["history"]]


def test_inspect_prints_a_plain_table_of_the_verdicts_when_captured(stack, tmp_path):
    photos = copy_photos(tmp_path / "photos", ["cell0003.png", "cell0007.png"])

    inspected = run_cli("inspect", str(photos), "--api", stack.api_url, home=tmp_path)

    assert inspected.returncode == 0, inspected.stderr
    assert "\x1b" not in inspected.stdout + inspected.stderr  # no colour, no progress bar
    header, rule, *rows = inspected.stdout.splitlines()
    assert header.split() == ["file", "verdict", "label", "confidence", "latency"] and set(rule) == {"─"}
    assert sorted(row.split()[0] for row in rows) == ["cell0003.png", "cell0007.png"]
    assert all(row.split()[1] in {"defective", "defect_free", "needs_review"} for row in rows)


def test_results_of_unknown_product_fails_with_the_apis_message(stack, tmp_path):
    looked_up = run_cli("results", "NO-SUCH-PART", "--api", stack.api_url, home=tmp_path)
    assert looked_up.returncode == 1
    assert "No inspection results for product 'NO-SUCH-PART'" in looked_up.stderr


SEED_PCB = PROJECT_DIR.parent / "shared" / "datasets" / "seed-pcb"


def test_inspect_without_api_starts_and_stops_its_own_stack(model_dir, tmp_path):
    # The reference project's circuit-board photos when present beside the checkout, else solar cells.
    photos = SEED_PCB if SEED_PCB.is_dir() else copy_photos(tmp_path / "photos", ["cell0001.png", "cell0004.png"])
    expected = sorted(p for p in photos.rglob("*") if p.suffix.lower() in {".jpg", ".png"})

    inspected = run_cli("inspect", str(photos), "--model-dir", str(model_dir), "--json", home=tmp_path)

    assert inspected.returncode == 0, inspected.stderr
    lines = [json.loads(line) for line in inspected.stdout.splitlines()]
    assert sorted(Path(line["file"]) for line in lines) == expected
    assert all(line["verdict"] in {"defective", "defect_free", "needs_review"} for line in lines)
    assert (tmp_path / "logs" / "lambda.jsonl").stat().st_size > 0


def test_inspect_of_a_missing_path_says_so_without_a_traceback(tmp_path):
    inspected = run_cli("inspect", str(tmp_path / "no-such-photo.jpg"), home=tmp_path)
    assert inspected.returncode == 2
    assert "no-such-photo.jpg does not exist" in inspected.stderr and "Traceback" not in inspected.stderr


def test_inspect_with_a_missing_model_says_how_to_get_one(tmp_path):
    inspected = run_cli("inspect", str(ELPV_IMAGES / "cell0001.png"), "--model-dir", str(tmp_path / "none"), home=tmp_path)
    assert inspected.returncode != 0
    assert "inspection-app train" in inspected.stderr


def test_up_on_a_busy_port_says_so_and_exits_2(model_dir, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = run_cli("up", "--model-dir", str(model_dir), "--port", str(port), home=tmp_path, timeout=60)
    assert started.returncode == 2
    assert f"port {port} is already in use" in started.stderr and "Traceback" not in started.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_up_started_as_a_background_job_stops_cleanly_on_ctrl_c_or_sigterm(model_dir, tmp_path, stop_signal):
    # GIVEN `inspection-app up` started as a shell's background job starts it: SIGINT ignored
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["INSPECTION_APP_HOME"] = str(tmp_path)
    ready, output = tmp_path / "ready.json", tmp_path / "up.txt"
    with open(output, "w") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "inspection_app", "up", "--model-dir", str(model_dir), "--port", "0",
             "--ready-file", str(ready)], cwd=PROJECT_DIR, env=env, stdout=stdout, stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 90
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline, output.read_text()
        time.sleep(0.2)
    workers = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 2  # the Lambda and API workers
    # WHEN it is told to stop
    process.send_signal(stop_signal)
    # THEN it stops the stack and exits 0, its workers with it
    try:
        assert process.wait(timeout=30) == 0, output.read_text()
    finally:
        process.kill()
    assert output.read_text().rstrip().endswith("Stopping.")
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
