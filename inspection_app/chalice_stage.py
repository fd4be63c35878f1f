"""The Chalice project and one of its stages, read the way `chalice deploy` reads them."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from chalice.config import Config

from .errors import InputError

PROJECT_DIR = Path(__file__).resolve().parent.parent
STATE_MACHINE_DEFINITION = PROJECT_DIR / "statemachine" / "inspection.asl.json"


def load_app_module():
    """The project's `app.py` module (its `app` is the Chalice app)."""
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    import app  # noqa: PLC0415 - the project root is only importable once on sys.path

    return app


def stage_config(stage: str, chalice_app=None) -> Config:
    """Chalice's own view of `.chalice/config.json` for `stage` (environment variables merged)."""
    config_from_disk = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    if stage not in config_from_disk.get("stages", {}):
        raise InputError(f"Stage {stage!r} is not defined in .chalice/config.json; use one of "
                         f"{', '.join(config_from_disk.get('stages', {}))}, or add it there.")
    return Config(
        chalice_stage=stage,
        config_from_disk=config_from_disk,
        user_provided_params={"project_dir": str(PROJECT_DIR), "chalice_app": chalice_app},
    )


def function_name(app_name: str, stage: str, handler: str) -> str:
    """The deployed name of a Chalice Lambda function: predictable, so the state machine can name it.

    Chalice names the REST API's function `<app>-<stage>` and every other one `<app>-<stage>-<handler>`."""
    return f"{app_name}-{stage}" if handler == "api_handler" else f"{app_name}-{stage}-{handler}"


def render_definition(substitutions: dict, retry_window_seconds: int | None = None) -> str:
    """The state machine definition with its `${...}` placeholders filled in (see `shorten_retries`)."""
    return substitute_definition(shorten_retries(STATE_MACHINE_DEFINITION.read_text(), retry_window_seconds),
                                 substitutions)


def substitute_definition(text: str, substitutions: dict) -> str:
    """`text` with every `${name}` replaced by `substitutions[name]`, as a state machine's DefinitionSubstitutions
    are applied; ValueError if a placeholder is left."""
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    if "${" in text:
        missing = text[text.index("${"):].split("}")[0] + "}"
        raise ValueError(f"state machine definition still has a placeholder: {missing}")
    return text


def shorten_retries(text: str, retry_window_seconds: int | None) -> str:
    """The definition `text` with every Retry shortened to one attempt a second for `retry_window_seconds`,
    so a rehearsal (or a test) can outlast the retries in seconds instead of the definition's 12 minutes.

    None keeps the definition's own retries."""
    if retry_window_seconds is None:
        return text
    if retry_window_seconds < 1:
        raise ValueError(f"retry window must be at least 1 second, not {retry_window_seconds}")
    definition = json.loads(text)
    for state in definition["States"].values():
        for retrier in state.get("Retry", []):
            retrier.update(IntervalSeconds=1, BackoffRate=1.0, MaxAttempts=retry_window_seconds)
            retrier.pop("MaxDelaySeconds", None)
    return json.dumps(definition, indent=2)


def retry_wait_seconds(retrier: dict) -> float:
    """How long a Retry waits in all before it gives up: the outage it rides out."""
    interval = retrier.get("IntervalSeconds", 1)
    total = 0.0
    for _ in range(retrier.get("MaxAttempts", 3)):
        total += min(interval, retrier.get("MaxDelaySeconds", float("inf")))
        interval *= retrier.get("BackoffRate", 2.0)
    return total
