"""The options of a training run, defined once: their defaults, and their command-line form; and the defaults
of the other commands that run training code (evaluation, the ELPV data), for their help.

`train()` takes its options as keyword arguments. `inspection-app train`, `inspection-app sagemaker train` and the
SageMaker job's entry script (which ships with this package alone, so the definition must live here) add them
with `add_training_options`; the help is written from the defaults, so it cannot disagree with them.
Imports no torch: `inspection-app --help` stays fast.
"""

DEFAULT_INPUT_SIZE = 192  # cracks and scratches are fine structures; 192 px still trains on 2 CPU cores
DEFAULT_BATCH_SIZE = 32
DEFAULT_SEED = 0
TRAINING_IMAGES_SEEN = 7500  # default epochs = this / training images, within the bounds below
MIN_EPOCHS, MAX_EPOCHS = 3, 10

# Anomaly mode (training/anomaly.py): learnt from good photos alone.
DEFAULT_FALSE_ALARM_RATE = 0.01  # of held-out good photos flagged at the threshold
ANOMALY_TRAINING_OPTIONS = ("input_size", "seed")  # of TRAINING_OPTIONS, those anomaly mode takes

DEFAULT_TARGET_RECALL = 0.99  # evaluation: the defective recall the recommended threshold must reach
ELPV_HOLDOUT_PER_CLASS = 20  # 40 ELPV photos the model never sees: both verdicts, quick to push through a pipeline

# train()'s keyword argument -> help; every option is a whole number.
TRAINING_OPTIONS = {
    "epochs": f"most epochs to train; early stopping may end sooner (default: {TRAINING_IMAGES_SEEN} / the "
              f"number of training images, between {MIN_EPOCHS} and {MAX_EPOCHS})",
    "input_size": f"model input size in pixels (default {DEFAULT_INPUT_SIZE})",
    "batch_size": f"images per training step (default {DEFAULT_BATCH_SIZE})",
    "seed": f"seed of the dataset split, the augmentation and the training order (default {DEFAULT_SEED})",
}


def option_flag(name: str) -> str:
    """The command-line name of a training option: input_size -> input-size (also its SageMaker hyperparameter)."""
    return name.replace("_", "-")


def add_training_options(parser) -> None:
    """Add --epochs, --input-size, --batch-size and --seed to an argparse parser. An option not given stays
    None, so `given_training_options` leaves it out and train()'s own default applies."""
    for name, help_text in TRAINING_OPTIONS.items():
        parser.add_argument(f"--{option_flag(name)}", dest=name, type=int, metavar="N", help=help_text)


def given_training_options(args) -> dict:
    """The training options given on the command line, as train()'s keyword arguments."""
    return {name: getattr(args, name) for name in TRAINING_OPTIONS if getattr(args, name) is not None}
