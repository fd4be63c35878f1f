"""`make demo`: real solar-cell photos through the real pipeline, on one machine.

Prepares the ELPV demo data (images CC BY-NC-SA 4.0, from the `elpv-dataset` package), trains the demo
model once (cached), starts the embedded stack, inspects the held-out photos the model never saw through
the REST API, and prints the verdicts, the alerts, a results lookup and a summary.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from . import paths
from .client import ApiClient, image_files
from .inspections import inspect_files, percentile, verdict_table
from .local_pipeline import load_predictor, running_stack
from .terminal import console, tracked, training_progress

ALERT_WAIT_SECONDS = 15


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)), flush=True)


def run_demo(*, retrain: bool = False) -> int:
    from training.elpv import prepare_elpv  # noqa: PLC0415 - training pulls in torch

    out = console()
    _section("Demo data: ELPV solar cells (CC BY-NC-SA 4.0)")
    train_dir, holdout_dir = prepare_elpv(paths.demo_dir() / "elpv")
    truths = {path: path.parent.name for path in image_files([holdout_dir])}
    print(f"training images: {train_dir}\nheld-out images the model never sees: {len(truths)} in {holdout_dir}")

    model_dir = paths.default_model_dir()
    cached = not retrain and (model_dir / "model.json").exists()
    if not cached:
        _section("Training the demo model (once; cached afterwards)")
        from training.train import train  # noqa: PLC0415

        with training_progress(out) as progress:
            train(train_dir, model_dir, progress=progress)
    predictor = load_predictor(model_dir)
    print(f"model: {predictor.model_id} ({model_dir})")
    if cached:
        print(f"(cached, trained {predictor.metadata.get('trained_at', 'earlier')}: `inspection-app demo --retrain` "
              "trains it again with this version's defaults)")
    print_model_figures(predictor.metadata)

    _section("Starting the embedded stack")
    with running_stack(predictor, 0, quiet=True) as (info, inbox):
        print(f"REST API {info.api_url} · AWS services {info.aws_url} · model endpoint {info.model_url}")
        client = ApiClient(info.api_url)

        _section(f"Inspecting {len(truths)} held-out photos through POST /uploads")
        reports = tracked(inspect_files(client, list(truths), concurrency=4), len(truths), "inspecting", out)
        out.print(verdict_table(reports, truths))

        defective = sum(item["verdict"] == "defective" for item in reports)
        deadline = time.monotonic() + ALERT_WAIT_SECONDS
        while len(inbox.alerts) < defective and time.monotonic() < deadline:
            time.sleep(0.1)
        _section(f"SNS alerts received: {len(inbox.alerts)} (one per defective verdict: {defective})")
        for alert in inbox.alerts[:3]:
            print(f"[{alert['subject']}]\n{alert['message']}\n")
        if len(inbox.alerts) > 3:
            print(f"... and {len(inbox.alerts) - 3} more")

        looked_up = next((item for item in reports if item["verdict"] == "defective"), reports[0])
        _section(f"GET /results/{looked_up['product_id']}")
        answer = client.results(looked_up["product_id"])
        print(json.dumps({"product_id": answer["product_id"], "count": answer["count"], "latest": answer["latest"]}, indent=2))

    _section("Summary")
    print_summary(reports, truths, alerts=len(inbox.alerts))
    return 0 if all(item["verdict"] for item in reports) and len(inbox.alerts) == defective else 1


def print_model_figures(metadata: dict) -> None:
    """The model's own test figures (model.json: the test split it never trained on) and its training time."""
    metrics, training = metadata.get("metrics"), metadata.get("training", {})
    if not metrics or "roc_auc" not in metrics:
        return
    within_budget = ("" if "false_alarm_budget" not in metrics else  # a model trained before that figure
                     f"; defective recall {metrics['defective_recall_within_false_alarm_budget']:.3f} within "
                     f"{metrics['false_alarm_budget']:.0%} false alarms")
    print(f"test split ({metrics['images']} photos): accuracy {metrics['accuracy']:.3f}, defective recall "
          f"{metrics['defective_recall']:.3f} at precision {metrics['defective_precision']:.3f}, ROC AUC "
          f"{metrics['roc_auc']:.3f}{within_budget}")
    if {"seconds", "device", "epochs", "best_epoch"} <= training.keys():  # a supervised model's training
        print(f"trained in {training['seconds']:.0f} s on {training['device']} ({training['epochs']} epochs, "
              f"best {training['best_epoch']})")


def print_summary(reports: list[dict], truths: dict, *, alerts: int) -> None:
    counts = Counter(item["verdict"] or "failed" for item in reports)
    print("verdicts: " + ", ".join(f"{verdict} {count}" for verdict, count in sorted(counts.items())))
    decided = [item for item in reports if item["verdict"] in ("defective", "defect_free")]
    correct = sum(item["verdict"] == truths[Path(item["file"])] for item in decided)
    labelled = [item for item in reports if item["label"]]
    label_correct = sum(item["label"] == truths[Path(item["file"])] for item in labelled)
    if decided:
        print(f"accuracy of confident verdicts: {correct}/{len(decided)} = {correct / len(decided):.3f}"
              f" ({counts.get('needs_review', 0)} sent to review)")
    if labelled:
        print(f"accuracy of the model's top label on all photos: {label_correct}/{len(labelled)} = "
              f"{label_correct / len(labelled):.3f}")
    latencies = [item["latency_ms"] for item in reports if item["latency_ms"] is not None]
    if latencies:
        print(f"latency upload → result stored: p50 {percentile(latencies, 50):.0f} ms, "
              f"p95 {percentile(latencies, 95):.0f} ms (n={len(latencies)})")
    print(f"alerts: {alerts}")
