"""The script-mode training job's source directory and entry script."""

import ast
import filecmp
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import chalicelib.imaging
import chalicelib.settings
import training
from training.sagemaker import sagemaker_train
from training.sagemaker.package import TRAINING_DISTRIBUTIONS, training_requirements, write_training_source


def test_given_the_staged_source_then_it_holds_the_entry_script_this_training_package_and_pinned_requirements(tmp_path):
    source = write_training_source(tmp_path / "source")
    assert (source / "sagemaker_train.py").read_bytes() == Path(sagemaker_train.__file__).read_bytes()
    comparison = filecmp.dircmp(Path(training.__file__).parent, source / "training", ignore=["__pycache__"])
    assert not comparison.left_only and not comparison.diff_files
    # training.preprocess decodes images with chalicelib.imaging, shared with the classify Lambda, and
    # training.train writes chalicelib.settings' default review threshold into model.json
    for module in (chalicelib.imaging, chalicelib.settings):
        assert (source / "chalicelib" / Path(module.__file__).name).read_bytes() == Path(module.__file__).read_bytes()
    assert not list(source.rglob("__pycache__"))
    requirements = (source / "requirements.txt").read_text().split()
    assert requirements == training_requirements()
    assert [line.split("==")[0] for line in requirements] == list(TRAINING_DISTRIBUTIONS)
    assert all("==" in line for line in requirements)  # the versions trained with here


def test_given_the_staged_source_when_python_starts_there_then_it_imports_its_own_training_copy(tmp_path):
    # SageMaker runs the entry script from the source directory: its copy must be complete.
    source = write_training_source(tmp_path / "source")
    # (modules that import torch are located, not imported: a second torch import costs seconds)
    probe = ("import json, importlib.util as u, training.dataset as d, training.sagemaker.package as p; "
             "print(json.dumps([d.__file__, p.__file__] + [u.find_spec(m).origin for m in "
             "('training.train', 'training.sagemaker.sagemaker_train', 'sagemaker_train', 'chalicelib.imaging')]))")
    completed = subprocess.run([sys.executable, "-c", probe], cwd=source, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    for path in json.loads(completed.stdout):
        assert Path(path).resolve().is_relative_to(source.resolve()), path


# What the PyTorch training container already has.
CONTAINER_PACKAGES = {"torch", "numpy", "PIL"}


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _third_party_imports_of_the_training_job(root: Path) -> set[str]:
    """Top-level packages imported (anywhere, also inside functions) by the entry script and every
    module of the training package it reaches."""
    pending, seen, third_party = [root / "sagemaker_train.py"], set(), set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_modules(path):
            top = name.split(".")[0]
            if top in ("training", "chalicelib"):  # copied into the source directory
                module = root.joinpath(*name.split("."))
                pending += [candidate for candidate in (module.with_suffix(".py"), module / "__init__.py")
                            if candidate.is_file()]
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    return third_party


def test_given_the_training_job_then_the_container_or_the_requirements_provide_every_package_it_imports(tmp_path):
    source = write_training_source(tmp_path / "source")
    provided = set(CONTAINER_PACKAGES)
    for top_level, distributions in importlib.metadata.packages_distributions().items():
        if set(distributions) & set(TRAINING_DISTRIBUTIONS):
            provided.add(top_level)
    imported = _third_party_imports_of_the_training_job(source)
    assert {"torch", "efficientnet_lite_pytorch", "onnxruntime"} <= imported  # the walk reaches the training code
    assert imported <= provided, f"add {sorted(imported - provided)} to TRAINING_DISTRIBUTIONS in training/sagemaker/package.py"


def test_given_the_staged_source_then_every_project_module_its_code_imports_is_there(tmp_path):
    # A module of training or chalicelib that the copy lacks would fail the job at its first import.
    source = write_training_source(tmp_path / "source")
    for path in source.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                       else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for module in modules:
                if module.split(".")[0] in ("training", "chalicelib"):
                    location = source.joinpath(*module.split("."))
                    assert location.with_suffix(".py").is_file() or (location / "__init__.py").is_file(), \
                        f"{path.relative_to(source)} imports {module}, which the source directory lacks"


def test_given_sagemaker_channels_when_the_entry_script_runs_then_it_trains_and_adds_the_serving_code(tmp_path, monkeypatch):
    # GIVEN the environment SageMaker sets, and hyperparameters passed as options
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(tmp_path / "data" / "train"))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    calls = []

    def fake_train(dataset_dir, model_dir, **options):
        calls.append((dataset_dir, Path(model_dir), options))
        Path(model_dir).mkdir(parents=True)

    monkeypatch.setattr(sagemaker_train, "train", fake_train)
    # WHEN the entry script runs
    sagemaker_train.main(["--epochs", "4", "--input-size", "160"])
    # THEN the same training code ran on the train channel into the model directory, with the options given ...
    [(dataset_dir, model_dir, options)] = calls
    assert (dataset_dir, model_dir) == (str(tmp_path / "data" / "train"), tmp_path / "model")
    assert options == {"epochs": 4, "input_size": 160}
    # ... and model.tar.gz will carry the serving code, so it deploys as it is
    assert (tmp_path / "model" / "code" / "inference.py").is_file()
    assert (tmp_path / "model" / "code" / "training" / "preprocess.py").is_file()
    assert (tmp_path / "model" / "code" / "chalicelib" / "imaging.py").is_file()


def test_given_no_hyperparameters_then_the_entry_script_keeps_the_training_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.delenv("SM_CHANNEL_TRAIN", raising=False)
    calls = []
    monkeypatch.setattr(sagemaker_train, "train", lambda dataset_dir, model_dir, **options: calls.append((dataset_dir, options)))
    sagemaker_train.main([])
    [(dataset_dir, options)] = calls
    assert dataset_dir == "/opt/ml/input/data/train"
    assert options == {}  # train()'s own defaults
