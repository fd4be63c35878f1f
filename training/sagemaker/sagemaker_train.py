"""Entry script of the script-mode SageMaker training job: the same `training.train.train` that
`inspection-app train` runs, on the `train` channel (a class-folder dataset), writing the model
directory that SageMaker uploads as model.tar.gz. It adds `code/` (the serving code), so the
job's model.tar.gz deploys as it is.

SageMaker runs it as `python sagemaker_train.py --epochs 5 ...` (hyperparameters become options, the
same as `inspection-app train`'s: training/options.py) from a source directory holding a copy of the
`training` package (see package.write_training_source).
"""

import argparse
import os
from pathlib import Path

from training.options import add_training_options, given_training_options
from training.sagemaker.package import CODE_DIR, write_serving_code
from training.train import train

DEFAULT_DATASET_DIR = "/opt/ml/input/data/train"
DEFAULT_MODEL_DIR = "/opt/ml/model"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_options(parser)
    args = parser.parse_args(argv)
    dataset_dir = os.environ.get("SM_CHANNEL_TRAIN", DEFAULT_DATASET_DIR)
    model_dir = Path(os.environ.get("SM_MODEL_DIR", DEFAULT_MODEL_DIR))
    # train() prints its messages flushed: the job's CloudWatch log shows each epoch as it ends.
    train(dataset_dir, model_dir, **given_training_options(args))
    write_serving_code(model_dir / CODE_DIR)


if __name__ == "__main__":
    main()
