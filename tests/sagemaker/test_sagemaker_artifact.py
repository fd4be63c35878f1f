"""The SageMaker artifact: model.tar.gz from a model directory, and its code/inference.py giving the
same probabilities as the ONNX predictor and the local model endpoint for the same image bytes."""

import ast
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import boto3
import numpy as np
import pytest
from PIL import Image

import chalicelib.imaging
import training.preprocess
from chalicelib.endpoint import parse_probabilities
from inspection_app.cli import main as cli_main
from inspection_app.stack.model_server import ACCEPTED_CONTENT_TYPES, LocalModelEndpoint
from training.predictor import OnnxPredictor
from training.sagemaker import inference
from training.sagemaker.package import ModelArchiveError, build_model_archive

HERE = Path(__file__).parent
TOLERANCE = 1e-4
ENDPOINT_NAME = "defect-model"
# A Python with torch 2.6, numpy and Pillow only (like the inference container): optional check, not run by
# `make test`. The registries this project reaches (PyPI) have no CPU build of torch 2.6.0 for Linux x86_64,
# only the CUDA one: torch-2.6.0-cp311-cp311-manylinux1_x86_64.whl is 766.7 MB (measured with
# `pip download torch==2.6.0 --no-deps`), and its metadata requires 13 nvidia-*-cu12 wheels and triton 3.2.0
# on Linux x86_64 (gigabytes more; not downloaded here), all in a second environment beside .venv's torch 2.13
# CPU build. That is over the ~1 GB `make test` may fetch, so the check stays opt-in.
TORCH26_PYTHON = os.environ.get("SAGEMAKER_TEST_TORCH26_PYTHON")
TORCH26_SKIP_REASON = (
    "set SAGEMAKER_TEST_TORCH26_PYTHON to a Python with torch 2.6, numpy, Pillow; not installed by make test: PyPI "
    "has only the CUDA build of torch 2.6.0 (a 766.7 MB wheel requiring nvidia-*-cu12 and triton wheels, "
    "gigabytes more)"
)


def _encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archive(tiny_model_dir, tmp_path_factory):
    """model.tar.gz of the tiny model, and the folder it was extracted to (as SageMaker does)."""
    root = tmp_path_factory.mktemp("archive")
    path = build_model_archive(tiny_model_dir, root / "model.tar.gz")
    with tarfile.open(path) as tar:
        names = tar.getnames()
        tar.extractall(root / "extracted", filter="data")
    return {"path": path, "names": names, "root": root / "extracted"}


@pytest.fixture(scope="module")
def images(synthetic_image, tmp_path_factory):
    """Request bodies that exercise the preprocessing: PNG, greyscale JPEG, a non-square JPEG,
    RGBA PNG, and a JPEG whose EXIF orientation says 'rotate 90 degrees'."""
    rng = np.random.default_rng(11)
    exif = Image.Exif()
    exif[0x0112] = 6
    bodies = [
        _encode(synthetic_image(rng, defective=True, size=(120, 120)), "PNG"),
        _encode(synthetic_image(rng, defective=False, size=(80, 80)).convert("L"), "JPEG"),
        _encode(synthetic_image(rng, defective=True, size=(150, 70)), "JPEG", quality=80),
        _encode(synthetic_image(rng, defective=False, size=(64, 96)).convert("RGBA"), "PNG"),
        _encode(synthetic_image(rng, defective=True, size=(100, 60)), "JPEG", exif=exif),
    ]
    folder = tmp_path_factory.mktemp("requests")
    paths = []
    for index, body in enumerate(bodies):
        paths.append(folder / f"request-{index}")
        paths[-1].write_bytes(body)
    return {"bodies": bodies, "paths": paths}


def _run_handler(python: str, archive_root: Path, image_paths: list[Path]) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(archive_root / "code")}
    completed = subprocess.run(
        [python, str(HERE / "handler_runner.py"), str(archive_root), "application/x-image", *map(str, image_paths)],
        env=environment, cwd=archive_root, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


def _local_endpoint_probabilities(model_dir: Path, bodies: list[bytes]) -> list[list[float]]:
    server = LocalModelEndpoint(OnnxPredictor(model_dir), ENDPOINT_NAME).start()
    try:
        runtime = boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="eu-west-1",
                               aws_access_key_id="x", aws_secret_access_key="x")
        return [
            json.loads(runtime.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType="application/x-image",
                                               Accept="application/json", Body=body)["Body"].read())
            for body in bodies
        ]
    finally:
        server.stop()


def test_given_a_model_dir_when_packaged_then_the_archive_has_the_model_at_the_root_and_the_code_under_code(archive):
    names = set(archive["names"])
    assert {"model.pt", "model.json", "model.onnx"} <= names
    assert {"code/inference.py", "code/requirements.txt", "code/training/__init__.py", "code/training/preprocess.py",
            "code/chalicelib/__init__.py", "code/chalicelib/imaging.py",
            "code/efficientnet_lite_pytorch/__init__.py", "code/efficientnet_lite_pytorch/model.py",
            "code/efficientnet_lite_pytorch/utils.py", "code/efficientnet_lite_pytorch/LICENSE"} <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_given_the_archive_then_its_code_is_this_repository_code_not_a_second_copy(archive):
    code = archive["root"] / "code"
    import efficientnet_lite_pytorch  # noqa: PLC0415

    assert (code / "training" / "preprocess.py").read_bytes() == Path(training.preprocess.__file__).read_bytes()
    assert (code / "chalicelib" / "imaging.py").read_bytes() == Path(chalicelib.imaging.__file__).read_bytes()
    assert sorted(path.name for path in (code / "chalicelib").iterdir()) == ["__init__.py", "imaging.py"]
    assert (code / "inference.py").read_bytes() == Path(inference.__file__).read_bytes()
    vendored = Path(efficientnet_lite_pytorch.__file__).parent
    for module in ("__init__.py", "model.py", "utils.py"):
        assert (code / "efficientnet_lite_pytorch" / module).read_bytes() == (vendored / module).read_bytes()


def test_given_the_archive_then_the_endpoint_installs_nothing_at_start(archive):
    requirements = (archive["root"] / "code" / "requirements.txt").read_text().splitlines()
    assert [line for line in requirements if line.strip() and not line.lstrip().startswith("#")] == []


def test_given_the_archive_then_its_code_imports_only_what_the_inference_container_has_or_the_archive_holds(archive):
    # Imports that run when the modules load (function bodies are skipped: the vendored model
    # code imports onnx_coreml inside a conversion helper nobody calls).
    code = archive["root"] / "code"
    imported = set()
    for path in code.rglob("*.py"):
        pending = [ast.parse(path.read_text())]
        while pending:
            for node in ast.iter_child_nodes(pending.pop()):
                if isinstance(node, ast.Import):
                    imported.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    imported.add(node.module.split(".")[0])
                elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    pending.append(node)
    in_archive = {path.stem if path.is_file() else path.name for path in code.iterdir()}
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != "__future__"}
    assert {"torch", "PIL", "numpy", "training", "chalicelib", "efficientnet_lite_pytorch"} <= third_party
    assert third_party <= {"torch", "PIL", "numpy"} | in_archive


def test_given_the_same_model_dir_when_packaged_twice_then_the_archives_are_identical(tiny_model_dir, archive, tmp_path):
    again = build_model_archive(tiny_model_dir, tmp_path / "again.tar.gz")
    assert again.read_bytes() == archive["path"].read_bytes()


def test_given_image_bytes_then_inference_py_onnx_and_the_local_endpoint_agree(tiny_model_dir, archive, images):
    # GIVEN the archive extracted as SageMaker extracts it, and the same request bodies for all three
    handler = _run_handler(sys.executable, archive["root"], images["paths"])
    predictor = OnnxPredictor(tiny_model_dir)
    # WHEN each of them classifies the bodies
    from_handler = [parse_probabilities(output["body"].encode(), 2) for output in handler["outputs"]]
    from_onnx = [predictor.predict(body) for body in images["bodies"]]
    from_endpoint = _local_endpoint_probabilities(tiny_model_dir, images["bodies"])
    # THEN the handler loaded its code from the archive, answered JSON, and all three agree
    code = (archive["root"] / "code").resolve()
    assert all(Path(path).resolve().is_relative_to(code) for path in handler["modules"].values()), handler["modules"]
    assert {output["content_type"] for output in handler["outputs"]} == {"application/json"}
    np.testing.assert_allclose(from_handler, from_onnx, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(from_endpoint, from_onnx, atol=TOLERANCE, rtol=0)
    # and the images are not all alike to the model (a constant answer would agree trivially)
    assert np.ptp(np.array(from_onnx)[:, 1]) > 1e-3


def test_given_a_16bit_copy_of_a_photo_then_onnx_and_inference_py_answer_as_for_the_8bit_photo(
    tiny_model_dir, synthetic_image
):
    # GIVEN a greyscale photo as 8-bit PNG and as a machine-vision camera's 16-bit PNG (value * 257)
    grey = np.asarray(synthetic_image(np.random.default_rng(12), defective=True, size=(120, 120)).convert("L"))
    sixteen = Image.fromarray(grey.astype(np.uint16) * 257)
    assert sixteen.mode == "I;16"
    eight_bit, sixteen_bit = _encode(Image.fromarray(grey), "PNG"), _encode(sixteen, "PNG")
    # WHEN the ONNX predictor and the SageMaker handler classify both
    predictor = OnnxPredictor(tiny_model_dir)
    model = inference.model_fn(tiny_model_dir)
    handler = [inference.predict_fn(inference.input_fn(body, "image/png"), model) for body in (eight_bit, sixteen_bit)]
    # THEN each answers the same for both (before: the 16-bit photo was read as an all-white image)
    np.testing.assert_allclose(predictor.predict(sixteen_bit), predictor.predict(eight_bit), atol=0.02, rtol=0)
    np.testing.assert_allclose(handler[1], handler[0], atol=0.02, rtol=0)
    # and an all-white image is not answered alike, so the check above can tell the two readings apart
    white = _encode(Image.new("L", (120, 120), 255), "PNG")
    assert abs(predictor.predict(white)[1] - predictor.predict(eight_bit)[1]) > 0.02


@pytest.mark.skipif(not TORCH26_PYTHON, reason=TORCH26_SKIP_REASON)
def test_given_torch_2_6_like_the_inference_container_then_inference_py_agrees_with_onnx(tiny_model_dir, archive, images):
    handler = _run_handler(TORCH26_PYTHON, archive["root"], images["paths"])
    assert handler["torch"].startswith("2.6.")
    from_handler = [json.loads(output["body"]) for output in handler["outputs"]]
    from_onnx = [OnnxPredictor(tiny_model_dir).predict(body) for body in images["bodies"]]
    np.testing.assert_allclose(from_handler, from_onnx, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize(
    "content_type", ["application/x-image", "image/jpeg", "image/png", "image/tiff", "image/bmp", "Image/PNG; charset=binary"]
)
def test_given_an_image_content_type_then_input_fn_decodes_the_body(images, content_type):
    image = inference.input_fn(images["bodies"][0], content_type)
    assert image.mode == "RGB" and image.size == (120, 120)


def test_given_the_local_endpoint_then_it_takes_the_same_content_types_as_input_fn():
    assert ACCEPTED_CONTENT_TYPES == set(inference.IMAGE_CONTENT_TYPES)


def test_given_exif_orientation_then_input_fn_returns_the_upright_image(images):
    assert inference.input_fn(images["bodies"][4], "image/jpeg").size == (60, 100)


@pytest.mark.parametrize("content_type", ["application/json", "text/csv", "", None])
def test_given_another_content_type_then_input_fn_says_what_to_send(images, content_type):
    with pytest.raises(inference.UnsupportedContentType, match="application/x-image"):
        inference.input_fn(images["bodies"][0], content_type)


def test_given_bytes_that_are_no_image_then_input_fn_says_so():
    with pytest.raises(inference.UnreadableImage, match="not a readable image"):
        inference.input_fn(b"not an image", "application/x-image")


@pytest.mark.parametrize("accept", [None, "application/json", "*/*", "text/html, application/json;q=0.9"])
def test_given_a_json_accept_then_output_fn_returns_the_probability_list_as_json(accept):
    assert inference.output_fn([0.25, 0.75], accept) == ("[0.25, 0.75]", "application/json")


def test_given_an_accept_without_json_then_output_fn_refuses():
    with pytest.raises(inference.UnsupportedContentType, match="application/json"):
        inference.output_fn([0.25, 0.75], "text/csv")


def test_given_a_folder_without_model_files_then_packaging_names_what_is_missing(tmp_path):
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(ModelArchiveError, match="model.pt missing"):
        build_model_archive(tmp_path, tmp_path / "model.tar.gz")
    assert not (tmp_path / "model.tar.gz").exists()


def test_given_a_model_dir_when_the_package_command_runs_then_it_writes_the_archive(tiny_model_dir, tmp_path, capsys):
    assert cli_main(["sagemaker", "package", "--model-dir", str(tiny_model_dir), "--out", str(tmp_path / "m.tar.gz")]) == 0
    assert "code/inference.py" in tarfile.open(tmp_path / "m.tar.gz").getnames()
    assert "sagemaker deploy --model-data" in capsys.readouterr().out


def test_given_no_model_dir_when_the_package_command_runs_then_it_exits_2_with_the_reason(tmp_path, capsys):
    assert cli_main(["sagemaker", "package", "--model-dir", str(tmp_path / "none"), "--out", str(tmp_path / "m.tar.gz")]) == 2
    assert "is not a model directory" in capsys.readouterr().err
