"""Helpers of the deployment checks (a module of its own: several test folders have a conftest.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
# The browser origin the packaged dev stage allows (tests/deploy/conftest.py).
ALLOWED_ORIGIN = "https://line7.example.com"
# What the stage's environment looks like once `inspection-app deploy` has written the stack's outputs.
PLACEHOLDER_ENVIRONMENT = {
    "UPLOAD_BUCKET": "quality-inspection-dev-123456789012-us-east-1",
    "RESULTS_TABLE": "quality-inspection-dev-results",
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:quality-inspection-dev-alerts",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:quality-inspection-dev",
    "SAGEMAKER_ENDPOINT_NAME": "quality-inspection-model",
    "UPLOAD_QUEUE_NAME": "quality-inspection-dev-uploads",
}


def copy_project(target: Path, *, requirements: bool = False) -> Path:
    """The files `chalice package` and `inspection-app deploy` read, copied to `target`.

    requirements.txt is left empty unless `requirements`: the templates do not depend on the vendored wheels.
    With it, `chalice package` downloads the pinned wheels (seconds, and network) into deployment.zip.
    """
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROJECT_DIR / "app.py", target / "app.py")
    shutil.copytree(PROJECT_DIR / "chalicelib", target / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PROJECT_DIR / "statemachine", target / "statemachine")
    chalice_dir = target / ".chalice"
    chalice_dir.mkdir()
    shutil.copy2(PROJECT_DIR / ".chalice" / "config.json", chalice_dir / "config.json")
    for policy in (PROJECT_DIR / ".chalice").glob("policy-*.json"):
        shutil.copy2(policy, chalice_dir / policy.name)
    if requirements:
        shutil.copy2(PROJECT_DIR / "requirements.txt", target / "requirements.txt")
    else:
        (target / "requirements.txt").write_text("")
    return target


def chalice_executable() -> str:
    beside = Path(sys.executable).with_name("chalice")
    return str(beside) if beside.exists() else shutil.which("chalice")


def run_chalice(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update({"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    return subprocess.run([chalice_executable(), *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=120)


def loaded_app(project: Path, stage: str, expression: str) -> subprocess.CompletedProcess:
    """Print `expression` (of `app`) as `chalice deploy --stage STAGE` loads the app: Chalice's loader as its CLI
    calls it, with the stage's environment from its config.json (a process of its own: `app` is imported once)."""
    script = ("import os, sys; from chalice.cli.factory import CLIFactory; "
              "app = CLIFactory(sys.argv[1], environ=os.environ).create_config_obj(sys.argv[2]).chalice_app; "
              f"print({expression})")
    env = {key: value for key, value in os.environ.items()
           if key not in ("UPLOAD_QUEUE_NAME", "ALLOWED_ORIGINS", "API_AUTH", "CLIENT_SCOPES", "PYTHONPATH")}
    env["AWS_CHALICE_CLI_MODE"] = "true"  # what the `chalice` command sets
    return subprocess.run([sys.executable, "-c", script, str(project), stage], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)


def trigger_queue(project: Path, stage: str) -> subprocess.CompletedProcess:
    """The starter's SQS queue as `chalice deploy --stage STAGE` sees it."""
    return loaded_app(project, stage, "*[source.queue for source in app.event_sources]")


def lint_errors(path: Path) -> list[str]:
    """cfn-lint's errors (not warnings or informational findings) for a template file."""
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(Path(path), ManualArgs(regions=[REGION, "eu-central-1"]))
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches if m.rule.id.startswith("E")]
