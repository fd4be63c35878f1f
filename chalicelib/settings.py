"""Run-time settings, read from the environment that the Chalice stage configures.

The same names are set by `chalice deploy` (from `.chalice/config.json`) and by the embedded stack, so
nothing here knows where it runs.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

DEFAULT_CLASSES = ("defect_free", "defective")
# The model backends of the classify task: a SageMaker endpoint (default) or a Rekognition Custom Labels model
# version (docs/rekognition.md).
MODEL_BACKENDS = ("sagemaker", "rekognition")
# MODEL_INPUT_SIZE's range (pixels); `inspection-app deploy` and the SageMaker launcher check models against it.
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 16, 4096


# Below this confidence a verdict is needs_review: the one default of training, the Lambda functions, the
# resource template and the stage configuration (tests/test_review_threshold.py checks the last two).
DEFAULT_CONFIDENCE_THRESHOLD = 0.75


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed: a deployment problem, not a data problem."""


def _required(env: dict, name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"Environment variable {name} is not set; set it in .chalice/config.json for this stage.")
    return value


def _model_input_size(env: dict) -> int:
    raw = env.get("MODEL_INPUT_SIZE", "").strip()
    if not raw:
        raise ConfigurationError(
            "Environment variable MODEL_INPUT_SIZE is not set: it must be the served model's input size "
            "(model.json input_size). `inspection-app deploy` sets it from the model; the embedded stack from the "
            "model it serves."
        )
    if not (raw.isascii() and raw.isdigit()) or not MIN_INPUT_SIZE <= int(raw) <= MAX_INPUT_SIZE:
        raise ConfigurationError(f"MODEL_INPUT_SIZE={raw!r} must be a whole number of pixels between "
                                 f"{MIN_INPUT_SIZE} and {MAX_INPUT_SIZE}.")
    return int(raw)


# What the resource stack sets a variable of the backend the stage does not use to (outputs cannot be empty).
UNUSED = "none"


def unused_as_empty(value: str) -> str:
    value = value.strip()
    return "" if value == UNUSED else value


_PROJECT = r"arn:aws[\w-]*:rekognition:[\w-]+:\d{12}:project/(?P<name>[\w.-]+)"


def model_backend_settings(env: dict) -> tuple[str, str, str, str]:
    """(MODEL_BACKEND, SAGEMAKER_ENDPOINT_NAME, REKOGNITION_PROJECT_VERSION_ARN, REKOGNITION_PROJECT_ARN): the
    backend's own setting is required, the other backend's may be empty; the project ARN is optional (it lets
    the classify task tell a stopped model version from a starting one)."""
    backend = env.get("MODEL_BACKEND", "").strip().lower() or MODEL_BACKENDS[0]
    if backend not in MODEL_BACKENDS:
        raise ConfigurationError(f"MODEL_BACKEND={backend!r} must be one of: {', '.join(MODEL_BACKENDS)}.")
    if backend == "sagemaker":
        return backend, _required(env, "SAGEMAKER_ENDPOINT_NAME"), "", ""
    arn = _required(env, "REKOGNITION_PROJECT_VERSION_ARN")
    version = re.fullmatch(_PROJECT + r"/version/[\w.-]+/\d+", arn)
    if not version:
        raise ConfigurationError(
            f"REKOGNITION_PROJECT_VERSION_ARN={arn!r} is not a Custom Labels model version ARN "
            "(arn:aws:rekognition:REGION:ACCOUNT:project/NAME/version/VERSION/CREATED).")
    project = unused_as_empty(env.get("REKOGNITION_PROJECT_ARN", ""))
    if project and not (re.fullmatch(_PROJECT + r"/\d+", project) and project.startswith(
            arn.split("/version/", 1)[0] + "/")):
        raise ConfigurationError(f"REKOGNITION_PROJECT_ARN={project!r} is not the project of {arn} "
                                 "(arn:aws:rekognition:REGION:ACCOUNT:project/NAME/CREATED).")
    return backend, unused_as_empty(env.get("SAGEMAKER_ENDPOINT_NAME", "")), arn, project


def _number(env: dict, name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number.") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name}={raw!r} must lie between {low} and {high}.")
    return value


@dataclass(frozen=True)
class Settings:
    upload_bucket: str
    state_machine_arn: str
    results_table: str
    alert_topic_arn: str
    endpoint_name: str
    # The side of the square the served model takes (its model.json input_size): photos are resized to it here,
    # once. No default, so it cannot silently disagree with the model: `inspection-app deploy` sets it from
    # the model (its tag on the endpoint, or --model-dir), the embedded stack from the model it serves.
    model_input_size: int
    upload_prefix: str = "uploads/"
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    min_image_side: int = 32
    upload_url_expiry_seconds: int = 300
    # Where the starter puts a message that can never be parsed (at once, instead of after N receives).
    dead_letter_queue_url: str = ""
    model_classes: tuple = field(default=DEFAULT_CLASSES)
    model_backend: str = MODEL_BACKENDS[0]
    rekognition_project_version_arn: str = ""
    rekognition_project_arn: str = ""

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        prefix = env.get("UPLOAD_PREFIX", "uploads/").strip("/")
        if not prefix:
            raise ConfigurationError("UPLOAD_PREFIX must name a folder for uploads, e.g. 'uploads/'.")
        prefix += "/"
        classes = tuple(c.strip() for c in env.get("MODEL_CLASSES", ",".join(DEFAULT_CLASSES)).split(","))
        if sorted(classes) != sorted(DEFAULT_CLASSES):
            raise ConfigurationError(f"MODEL_CLASSES must name {', '.join(DEFAULT_CLASSES)} in the model's index order.")
        backend, endpoint_name, project_version_arn, project_arn = model_backend_settings(env)
        return cls(
            upload_bucket=_required(env, "UPLOAD_BUCKET"),
            state_machine_arn=_required(env, "STATE_MACHINE_ARN"),
            results_table=_required(env, "RESULTS_TABLE"),
            alert_topic_arn=_required(env, "ALERT_TOPIC_ARN"),
            endpoint_name=endpoint_name,
            upload_prefix=prefix,
            confidence_threshold=_number(env, "CONFIDENCE_THRESHOLD", DEFAULT_CONFIDENCE_THRESHOLD, 0.5, 1.0),
            max_upload_bytes=int(_number(env, "MAX_UPLOAD_BYTES", 10 * 1024 * 1024, 1, 5 * 1024**3)),
            # Capped at Pillow's own decompression-bomb guard, which refuses larger images anyway.
            max_image_pixels=int(_number(env, "MAX_IMAGE_PIXELS", 40_000_000, 1, 89_478_485)),
            model_input_size=_model_input_size(env),
            min_image_side=int(_number(env, "MIN_IMAGE_SIDE", 32, 1, 4096)),
            upload_url_expiry_seconds=int(_number(env, "UPLOAD_URL_EXPIRY_SECONDS", 300, 10, 3600)),
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL", "").strip(),
            model_classes=classes,
            model_backend=backend,
            rekognition_project_version_arn=project_version_arn,
            rekognition_project_arn=project_arn,
        )


# Outside the Chalice CLI (unit tests, the embedded stack, which feeds the starter from its own poller) the
# name only labels the trigger, and Chalice requires one.
UNCONFIGURED_QUEUE_NAME = "upload-queue-not-configured"


def upload_queue_name(env: dict) -> str:
    """The SQS queue that triggers the starter: `UPLOAD_QUEUE_NAME` of the stage's configuration.

    Chalice sets the stage's environment variables from `.chalice/config.json` when it loads `app.py` for
    `chalice deploy` and `chalice package`, so the trigger names the stage's own queue however the app is
    deployed. Empty only before the stage's first `inspection-app deploy` (which writes it); deploying then
    would point the trigger at a queue that does not exist, so the Chalice CLI stops with what to do.
    """
    name = env.get("UPLOAD_QUEUE_NAME", "").strip()
    if name:
        return name
    if env.get("AWS_CHALICE_CLI_MODE"):
        raise ConfigurationError(
            "UPLOAD_QUEUE_NAME is not set for this stage in .chalice/config.json, so the starter's SQS trigger "
            "would name no queue. Run `inspection-app deploy --stage STAGE` once: it creates the stage's "
            "resources and writes the queue's name there (see docs/deploy.md)."
        )
    return UNCONFIGURED_QUEUE_NAME



# scheme://host[:port], as a browser sends it in the Origin header: no path, no wildcard.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def cors_origin(env: dict) -> str | None:
    """The browser origin allowed to call the REST API (CORS), from the stage's `ALLOWED_ORIGINS`; None: no CORS.

    Comma-separated origins, but at most one for now: API Gateway answers the browser's preflight (OPTIONS)
    itself, with the one fixed origin Chalice's CORSConfig gives it, and a browser accepts only one origin per
    answer. Never `*`: any web page could then call the API with a key it carries.
    """
    origins = [origin.strip() for origin in env.get("ALLOWED_ORIGINS", "").split(",") if origin.strip()]
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ConfigurationError(
                f"ALLOWED_ORIGINS: {origin!r} is not an origin; give scheme://host[:port] (no path, no '*'), "
                "e.g. https://line7.example.com.")
    if len(origins) > 1:
        raise ConfigurationError(
            f"ALLOWED_ORIGINS names {len(origins)} origins; the REST API can allow one per stage (API Gateway "
            "answers the browser's preflight with one fixed origin). Serve the pages from one origin, or use a "
            "stage per origin.")
    return origins[0] if origins else None


# How API Gateway authenticates callers of the stage's routes: API keys (the quick start) or IAM (SigV4).
API_AUTH_MODES = ("api_key", "iam")


def api_auth(env: dict) -> str:
    """The stage's `API_AUTH`: "api_key" (default) or "iam". Chalice reads the routes' authorizers when it loads
    app.py, so this is chosen when the stage is deployed (`.chalice/config.json`), like the SQS trigger's queue."""
    mode = env.get("API_AUTH", "").strip().lower().replace("-", "_") or API_AUTH_MODES[0]
    if mode not in API_AUTH_MODES:
        raise ConfigurationError(f"API_AUTH={mode!r} must be api_key (callers send an API key) or iam (callers sign "
                                 "requests with SigV4; docs/security.md).")
    return mode
