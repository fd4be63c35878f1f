"""Where the embedded stack keeps its data: `$INSPECTION_APP_HOME`, else `var/` in the project."""
from __future__ import annotations

import os
from pathlib import Path

from .chalice_stage import PROJECT_DIR


def home() -> Path:
    return Path(os.environ.get("INSPECTION_APP_HOME") or PROJECT_DIR / "var")


def demo_dir() -> Path:
    return home() / "demo"


def default_model_dir() -> Path:
    """The model `make demo` trains; used when no --model-dir is given."""
    return demo_dir() / "model"


def log_file() -> Path:
    return home() / "logs" / "lambda.jsonl"
