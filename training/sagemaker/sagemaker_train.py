"""Entry script of the script-mode SageMaker training job: the same `training.train.train` that
`inspection-app train` runs, on the `train` channel (a class-folder dataset), writing the model
directory that SageMaker uploads as model.tar.gz. It adds `code/` (the serving code), so the
job's model.tar.gz deploys as it is.

SageMaker runs it as `python sagemaker_train.py --epochs 5 ...` (hyperparameters become options)
from a source directory holding a copy of the `training` package (see package.write_training_source).
"""

import argparse
import os
from pathlib import Path

from training.sagemaker.package import CODE_DIR, write_serving_code
from training.train import train

DEFAULT_DATASET_DIR = "/opt/ml/input/data/train"
DEFAULT_MODEL_DIR = "/opt/ml/model"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    dataset_dir = os.environ.get("SM_CHANNEL_TRAIN", DEFAULT_DATASET_DIR)
    model_dir = Path(os.environ.get("SM_MODEL_DIR", DEFAULT_MODEL_DIR))
    # print, flushed: the job's CloudWatch log shows each epoch as it ends.
    train(dataset_dir, model_dir, epochs=args.epochs, input_size=args.input_size, batch_size=args.batch_size,
          seed=args.seed, progress=lambda line: print(line, flush=True))
    write_serving_code(model_dir / CODE_DIR)


if __name__ == "__main__":
    main()
