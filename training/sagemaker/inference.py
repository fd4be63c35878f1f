"""The SageMaker PyTorch serving handler of the defect classifier.

Packaging copies this file into model.tar.gz as `code/inference.py`, next to copies of
`training/preprocess.py`, `chalicelib/imaging.py` and of the `efficientnet_lite_pytorch` model
code, so the imports below resolve the same way here and in the PyTorch 2.6 inference container,
which adds `code/` to the Python path and brings torch, numpy and Pillow. Nothing is installed or
downloaded when the endpoint starts, so it also works without internet access (VPC-only endpoints).

Contract (the built-in image-classification algorithm's): a request body of image bytes
(`application/x-image`, `image/jpeg`, `image/png`, `image/tiff` or `image/bmp`; the app sends a
PNG); the response is the JSON list of class probabilities in class-index order (defect_free=0,
defective=1).

Heat maps (docs/heatmaps.md): a request whose CustomAttributes hold `heatmap=true` is answered
`{"probabilities": [...], "heatmap": [[...], ...]}` instead: the same probabilities and the defective
class's activation map (training/cam.py, copied beside this file) from the same forward pass, rows of
log-odds cells, top row first. The built-in algorithm ignores the attribute and answers the bare list,
so a caller reads a map only where the model provides one. The toolkit hands the request's headers to
`predict_fn` through its optional `context` argument.

Anomaly models (docs/anomaly.md; `"mode": "anomaly"` in model.json) serve through the same contract: model.pt
is then the whole scorer of training/patchcore.py (copied beside this file), whose probabilities come from a
calibrated anomaly score and whose map is in log-odds per 8x8-pixel cell.

Only torch APIs available in torch 2.6 are used here.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from efficientnet_lite_pytorch import EfficientNet

from chalicelib.imaging import ACCEPTED_FORMATS_TEXT
from training.cam import ProbabilitiesAndHeatmap
from training.patchcore import PatchCoreScorer
from training.preprocess import load_image, to_input_array

IMAGE_CONTENT_TYPES = ("application/x-image", "image/jpeg", "image/png", "image/tiff", "image/bmp")
JSON_CONTENT_TYPE = "application/json"
SUPPORTED_ARCHITECTURES = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")  # the copied model code builds each
CUSTOM_ATTRIBUTES_HEADER = "x-amzn-sagemaker-custom-attributes"
HEATMAP_ATTRIBUTE = ("heatmap", "true")  # CustomAttributes `heatmap=true` asks for the map


class UnsupportedContentType(ValueError):
    """The request or the requested response is in a format this endpoint does not speak."""


class UnreadableImage(ValueError):
    """The request body is not a readable image."""


@dataclass(frozen=True)
class LoadedModel:
    network: torch.nn.Module  # answers probabilities (softmax inside): with_heatmap's first output
    with_heatmap: torch.nn.Module  # the same network, answering (probabilities, heatmap)
    input_size: int
    model_id: str
    device: torch.device


def model_fn(model_dir) -> LoadedModel:
    """Load `model.pt` (a state dict) as described by `model.json`, in evaluation mode."""
    model_dir = Path(model_dir)
    metadata = json.loads((model_dir / "model.json").read_text())
    architecture = metadata["architecture"]
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise ValueError(
            f"{model_dir}/model.json: architecture {architecture!r} is not one of {SUPPORTED_ARCHITECTURES}")
    # The same network as training.model.build_model(pretrained=False): ImageNet weights are not
    # needed here, every parameter comes from model.pt.
    network = EfficientNet.from_name(
        architecture, num_classes=len(metadata["classes"]), image_size=metadata["input_size"]
    )
    state = torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if metadata.get("mode") == "anomaly":
        # model.pt is the whole anomaly scorer (backbone, memory, calibration): training/patchcore.py.
        with_heatmap = PatchCoreScorer.from_state_dict(network, state).to(device).eval()
    else:
        network.load_state_dict(state)
        # The model as it was evaluated and exported: averaged over mirrored views when it was trained so.
        with_heatmap = ProbabilitiesAndHeatmap(network.to(device).eval(),
                                               flips=bool(metadata.get("training", {}).get("test_time_flips"))).eval()
    model = LoadedModel(network=FirstOutput(with_heatmap), with_heatmap=with_heatmap, input_size=int(metadata["input_size"]),
                        model_id=metadata.get("model_id", "unknown"), device=device)
    # The container logs stdout to CloudWatch: say which model this endpoint serves.
    print(f"model {model.model_id} ({metadata.get('mode', 'supervised')}) loaded on {device.type}: classes "
          f"{metadata['classes']}, {model.input_size} px input", flush=True)
    return model


class FirstOutput(torch.nn.Module):
    """The probabilities alone of a module answering (probabilities, heatmap)."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, inputs):
        return self.module(inputs)[0]


def input_fn(request_body, content_type):
    """Image bytes -> an upright 8-bit RGB image (decoded exactly as training decodes)."""
    mimetype = (content_type or "").split(";")[0].strip().lower()
    if mimetype not in IMAGE_CONTENT_TYPES:
        raise UnsupportedContentType(
            f"ContentType {content_type!r} is not supported: send image bytes ({ACCEPTED_FORMATS_TEXT}) as "
            f"{', '.join(IMAGE_CONTENT_TYPES)}."
        )
    try:
        return load_image(bytes(request_body))
    except (OSError, SyntaxError, ValueError) as error:  # what Pillow raises on bad bytes
        raise UnreadableImage(f"The request body is not a readable image ({ACCEPTED_FORMATS_TEXT}): {error}") from None


def predict_fn(image, model: LoadedModel, context=None):
    """An RGB image -> class probabilities in class-index order; with the heatmap too (a dict) when the
    request's custom attributes ask for it."""
    inputs = torch.from_numpy(to_input_array(image, model.input_size)).unsqueeze(0).to(model.device)
    with torch.inference_mode():
        if not asks_for_heatmap(context):
            return model.network(inputs)[0].cpu().tolist()
        probabilities, heatmap = model.with_heatmap(inputs)
    return {"probabilities": probabilities[0].cpu().tolist(), "heatmap": heatmap[0].cpu().tolist()}


def asks_for_heatmap(context) -> bool:
    """True when the request's CustomAttributes (a comma-separated `name=value` list) hold `heatmap=true`.
    `context`: the toolkit's request context (None outside the container, or in an older toolkit)."""
    try:
        headers = context.request_processor[0].get_request_properties()
    except (AttributeError, IndexError, KeyError, TypeError):
        return False
    attributes = next((value for name, value in headers.items() if name.lower() == CUSTOM_ATTRIBUTES_HEADER), "")
    if isinstance(attributes, bytes):
        attributes = attributes.decode("ascii", "replace")
    return HEATMAP_ATTRIBUTE in {tuple(part.strip().split("=", 1)) for part in str(attributes).split(",")}


def output_fn(prediction, accept):
    """Probabilities (or probabilities + heatmap) -> (JSON text, content type); the toolkit sends the tuple's
    type as is."""
    accepted = {part.split(";")[0].strip().lower() for part in (accept or JSON_CONTENT_TYPE).split(",")}
    if not accepted & {JSON_CONTENT_TYPE, "application/*", "*/*"}:
        raise UnsupportedContentType(f"Accept {accept!r} is not supported: this endpoint answers {JSON_CONTENT_TYPE}.")
    if isinstance(prediction, dict):
        return json.dumps({"probabilities": [float(p) for p in prediction["probabilities"]],
                           "heatmap": [[float(v) for v in row] for row in prediction["heatmap"]]}), JSON_CONTENT_TYPE
    return json.dumps([float(p) for p in prediction]), JSON_CONTENT_TYPE
