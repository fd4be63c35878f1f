"""`inspection-app train`, `evaluate` and `prepare-elpv`: models from class-folder datasets, and how good they are.

torch, onnxruntime and matplotlib load inside the commands, so `inspection-app --help` stays fast.
"""
from __future__ import annotations

import json
from pathlib import Path

from training.options import (
    ANOMALY_TRAINING_OPTIONS,
    DEFAULT_FALSE_ALARM_RATE,
    DEFAULT_TARGET_RECALL,
    ELPV_HOLDOUT_PER_CLASS,
    add_training_options,
    given_training_options,
    option_flag,
)

from ..terminal import console, table, training_progress


def cmd_train(args) -> int:
    from training.evaluate import evaluate  # noqa: PLC0415 - torch loads only when training

    out = console()
    options = given_training_options(args)
    with training_progress(out) as progress:
        if args.mode == "anomaly":
            from training.anomaly import train_anomaly  # noqa: PLC0415

            misplaced = sorted(set(options) - set(ANOMALY_TRAINING_OPTIONS))
            if misplaced:
                raise SystemExit(f"--{option_flag(misplaced[0])} does not apply to --mode anomaly (it trains no "
                                 f"network); its options: {', '.join('--' + option_flag(n) for n in ANOMALY_TRAINING_OPTIONS)}")
            metadata = train_anomaly(args.dataset, args.model_dir, progress=progress,
                                     false_alarm_rate=args.false_alarm_rate, **options)
        else:
            from training.train import train  # noqa: PLC0415

            metadata = train(args.dataset, args.model_dir, progress=progress, **options)
    # The training has reported the model it wrote; the figures of its test split follow (an anomaly model
    # learnt from good photos alone has them only when the dataset also holds defective ones).
    if metadata.get("metrics"):
        print_evaluation(evaluate(args.dataset, args.model_dir, split="test"), out)
    return 0


def cmd_evaluate(args) -> int:
    from training.evaluate import evaluate  # noqa: PLC0415

    metrics = evaluate(args.dataset, args.model_dir, target_recall=args.target_recall, split=args.split)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print_evaluation(metrics, console())
    return 0


def cmd_prepare_elpv(args) -> int:
    from training.elpv import prepare_elpv  # noqa: PLC0415

    train_dir, holdout_dir = prepare_elpv(args.dest_dir, holdout_per_class=args.holdout_per_class)
    print(f"train: {train_dir}\nholdout: {holdout_dir}")
    return 0


def print_evaluation(metrics: dict, out) -> None:
    """The figures worth a glance as a table, the confusion matrix, then any warning and where the report is."""
    from training.metrics import figure_text  # noqa: PLC0415 - numpy, after an evaluation loaded it anyway

    out.print(f"{metrics['images']} images ({metrics['split']} of {metrics['dataset']}), model {metrics['model_id']}",
              soft_wrap=True)
    figures = table("figure", "value", numbers=("value",))
    figures.add_row("accuracy", f"{metrics['accuracy']:.3f}")
    figures.add_row("defective precision", f"{metrics['defective_precision']:.3f}")
    figures.add_row("defective recall", f"{metrics['defective_recall']:.3f}")
    figures.add_row("ROC AUC", f"{metrics['roc_auc']:.3f}")
    figures.add_row(f"defective recall within {metrics['false_alarm_budget']:.0%} false alarms",
                    f"{metrics['defective_recall_within_false_alarm_budget']:.3f}")
    figures.add_row(f"needs review below {metrics['review_threshold']}", f"{metrics['needs_review_fraction']:.1%}")
    point = metrics["operating_point"]
    if point.get("threshold") is not None:
        chosen_on = ("the validation split" if point["chosen_on"] == "validation" else "these images")
        figures.add_row(f"flag p(defective) >= this to catch {point['target_recall']:.0%} of defects "
                        f"(chosen on {chosen_on}, {point['chosen_on_images']} images)", f"{point['threshold']:.4f}")
        figures.add_row("defective recall at that point", figure_text(point["recall"]))
        figures.add_row("false alarms at that point",
                        f"{figure_text(point['false_alarm_rate'], '.1%')} ({point['false_alarms']}/{point['negatives']})")
        figures.add_row("pipeline CONFIDENCE_THRESHOLD for it", str(point["recommended_confidence_threshold"]))
    out.print(figures)
    classes = list(metrics["confusion_matrix"])
    confusion = table("true \\ predicted", *classes, numbers=tuple(classes))
    for truth, row in metrics["confusion_matrix"].items():
        confusion.add_row(truth, *(str(row[guess]) for guess in classes))
    out.print(confusion)
    if metrics.get("warning"):
        out.print(f"WARNING: {metrics['warning']}", style="yellow", soft_wrap=True)
    if metrics.get("report"):
        out.print(f"report: {metrics['report']}", soft_wrap=True)


def add_model_commands(commands) -> None:
    train = commands.add_parser("train", help="train a classifier from defect_free/ and defective/ folders, or "
                                              "an anomaly model from defect_free/ alone (--mode anomaly)")
    train.add_argument("--dataset", type=Path, required=True,
                       help="folder with defect_free/ and defective/ (--mode anomaly: defective/ optional, "
                            "used only to evaluate)")
    train.add_argument("--model-dir", type=Path, required=True, help="where to write the model")
    train.add_argument("--mode", choices=["supervised", "anomaly"], default="supervised",
                       help="supervised: a classifier of both folders (default); anomaly: a memory of good "
                            "patches, learnt from defect_free/ alone (docs/anomaly.md)")
    train.add_argument("--false-alarm-rate", type=float, default=DEFAULT_FALSE_ALARM_RATE, metavar="RATE",
                       help="--mode anomaly: the share of held-out good photos flagged at the threshold "
                            "(default %(default)s)")
    add_training_options(train)
    train.set_defaults(func=cmd_train)

    evaluate = commands.add_parser("evaluate", help="figures and a report (ROC, precision-recall, mistakes) for a model")
    evaluate.add_argument("--dataset", type=Path, required=True, help="folder with defect_free/ and defective/")
    evaluate.add_argument("--model-dir", type=Path, required=True)
    evaluate.add_argument("--target-recall", type=float, default=DEFAULT_TARGET_RECALL,
                          help="defective recall the recommended threshold must reach (default %(default)s)")
    evaluate.add_argument("--split", choices=["auto", "all", "test"], default="auto",
                          help="auto: the test split if this is the model's training dataset, else all images")
    evaluate.add_argument("--json", action="store_true", help="print all figures as JSON")
    evaluate.set_defaults(func=cmd_evaluate)

    prepare = commands.add_parser("prepare-elpv", help="write class-folder datasets from the installed ELPV "
                                                       "solar-cell photos (CC BY-NC-SA 4.0): train/ and holdout/")
    prepare.add_argument("dest_dir", type=Path, metavar="DEST_DIR")
    prepare.add_argument("--holdout-per-class", type=int, default=ELPV_HOLDOUT_PER_CLASS,
                         help="photos per class kept out of train/ for the holdout (default %(default)s)")
    prepare.set_defaults(func=cmd_prepare_elpv)
