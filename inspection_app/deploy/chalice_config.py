"""The Chalice project's own files in `.chalice/`: the stage's configuration, and what `chalice deploy` recorded."""
from __future__ import annotations

import copy
import json
from pathlib import Path

# Environment variable -> resource stack output.
ENVIRONMENT_FROM_OUTPUTS = {
    "UPLOAD_BUCKET": "UploadBucketName",
    "RESULTS_TABLE": "ResultsTableName",
    "ALERT_TOPIC_ARN": "AlertTopicArn",
    "STATE_MACHINE_ARN": "StateMachineArn",
    "MODEL_BACKEND": "ModelBackend",
    # The other backend's variables are "none" (chalicelib.settings.UNUSED).
    "SAGEMAKER_ENDPOINT_NAME": "EndpointName",
    "REKOGNITION_PROJECT_VERSION_ARN": "RekognitionProjectVersionArn",
    "REKOGNITION_PROJECT_ARN": "RekognitionProjectArn",
    "MODEL_INPUT_SIZE": "ModelInputSize",
    "CONFIDENCE_THRESHOLD": "ConfidenceThreshold",
    "DEAD_LETTER_QUEUE_URL": "DeadLetterQueueUrl",
    # Read by app.py when Chalice loads it for `chalice deploy`/`package`: the starter's SQS trigger.
    "UPLOAD_QUEUE_NAME": "UploadQueueName",
}


def read_config(project_dir: Path) -> dict:
    return json.loads((Path(project_dir) / ".chalice" / "config.json").read_text())


def write_config(project_dir: Path, config: dict) -> None:
    (Path(project_dir) / ".chalice" / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def stage_environment(config: dict, stage: str) -> dict:
    """Top-level environment variables overlaid with the stage's (as Chalice merges them)."""
    return {**config.get("environment_variables", {}), **config.get("stages", {}).get(stage, {}).get("environment_variables", {})}


def configure_stage(config: dict, stage: str, outputs: dict, policy_files: dict[str, str]) -> dict:
    """`config` with the stage's environment set from the stack outputs and a policy file per function."""
    config = copy.deepcopy(config)
    stage_config = config.setdefault("stages", {}).setdefault(stage, {"api_gateway_stage": "api"})
    environment = stage_config.setdefault("environment_variables", {})
    for variable, output in ENVIRONMENT_FROM_OUTPUTS.items():
        environment[variable] = str(outputs[output])
    stage_config["autogen_policy"] = False
    functions = stage_config.setdefault("lambda_functions", {})
    for handler, file_name in policy_files.items():
        functions.setdefault(handler, {})["iam_policy_file"] = file_name
    return config


def clear_stage_outputs(project_dir: Path, stage: str) -> None:
    """Empty the stage's variables that named the resource stack's outputs (the stack is gone)."""
    config = read_config(project_dir)
    environment = config.get("stages", {}).get(stage, {}).get("environment_variables", {})
    for variable in ENVIRONMENT_FROM_OUTPUTS:
        if variable in environment:
            environment[variable] = ""
    write_config(project_dir, config)


def deployed_resources(project_dir: Path, stage: str) -> list[dict]:
    """The resources `chalice deploy` recorded in `.chalice/deployed/<stage>.json` ([] if none)."""
    path = Path(project_dir) / ".chalice" / "deployed" / f"{stage}.json"
    if not path.exists():
        return []
    return json.loads(path.read_text()).get("resources", [])
