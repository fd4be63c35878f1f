"""Run a model archive's code/inference.py the way the SageMaker PyTorch container does.

    PYTHONPATH=<archive>/code python handler_runner.py <archive> <content type> IMAGE...

The container puts code/ on PYTHONPATH, imports `inference` and calls model_fn with the extracted
archive, then input_fn -> predict_fn -> output_fn per request. Prints one JSON object: the
(body, content type) per image, where each module came from, and the torch version.
"""

import importlib
import json
import sys
from pathlib import Path


def main() -> None:
    model_dir, content_type, *images = sys.argv[1:]
    inference = importlib.import_module("inference")
    model = inference.model_fn(model_dir)
    outputs = []
    for image in images:
        data = inference.input_fn(Path(image).read_bytes(), content_type)
        body, response_type = inference.output_fn(inference.predict_fn(data, model), "application/json")
        outputs.append({"body": body, "content_type": response_type})
    modules = {name: sys.modules[name].__file__
               for name in ("inference", "training.preprocess", "chalicelib.imaging", "efficientnet_lite_pytorch")}
    print(json.dumps({"outputs": outputs, "modules": modules, "torch": sys.modules["torch"].__version__}))


if __name__ == "__main__":
    main()
