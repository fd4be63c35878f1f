"""Training and serving the defect classifier on Amazon SageMaker (SDK 3.x).

Modules:
- `inference` — the PyTorch serving handler (`model_fn`, `input_fn`, `predict_fn`, `output_fn`);
  shipped as `code/inference.py` inside model.tar.gz.
- `package` — what goes to SageMaker: the serving code (`code/`), `model.tar.gz` from a model
  directory, and the source directory of a script-mode training job.
- `manifests` — the `.lst` manifests of the built-in image-classification algorithm.
- `builtin` — the built-in algorithm's input: separate train and validation folders of squared images, and its
  hyperparameters.
- `errors` — `LauncherError`, and the SDK's role refusals turned into one.
- `sagemaker_train` — the entry script of a script-mode training job (calls `training.train.train`).
- `launcher` — `train_job` and `deploy_endpoint` with `ModelTrainer` and `ModelBuilder`.
- `defaults` — the launcher's defaults, light enough for `inspection-app sagemaker --help`.

The commands (`inspection-app sagemaker train | deploy | package`) are in inspection_app/cli/sagemaker_commands.py.

Only `launcher` and `errors.role_errors` need the SageMaker SDK (`pip install -e '.[sagemaker]'`), and they
import it inside their functions, so the rest works with the default install.
"""
