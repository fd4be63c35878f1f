"""The Rekognition backend at deploy time: the model version's project ARN and status, read with the
deployer's credentials (the classify function then reads the status only when a call finds the model not
ready)."""
from __future__ import annotations

from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.rekognition import version_name
from chalicelib.settings import ConfigurationError, model_backend_settings

from .errors import DeployError

# Photos are still checked, and resized for nothing, before Rekognition reads the upload from S3: any size the
# settings accept will do.
REKOGNITION_INPUT_SIZE = 224


def checked_version_arn(arn: str) -> str:
    try:
        model_backend_settings({"MODEL_BACKEND": "rekognition", "REKOGNITION_PROJECT_VERSION_ARN": arn})
    except ConfigurationError as error:
        raise DeployError(f"--project-version-arn: {error}") from None
    return arn


def find_model_version(session, arn: str, out: Callable[[str], None]) -> str:
    """The project ARN of model version `arn` ('' when it cannot be read: a warning says why); warns when
    the version is not RUNNING, with the command that starts it."""
    project_name = arn.split(":project/", 1)[1].split("/", 1)[0]
    rekognition = session.client("rekognition")
    try:
        projects = rekognition.describe_projects(ProjectNames=[project_name])["ProjectDescriptions"]
        project_arn = projects[0]["ProjectArn"] if projects else ""
        versions = rekognition.describe_project_versions(
            ProjectArn=project_arn, VersionNames=[version_name(arn)])["ProjectVersionDescriptions"] if project_arn else []
    except (ClientError, BotoCoreError) as error:
        out(f"warning: could not read Rekognition project {project_name!r} ({error}); the classify function will "
            "retry a model version that is not running instead of telling stopped from starting.")
        return ""
    if not versions:
        out(f"warning: no model version {arn} in {session.region_name}; images will be recorded as errors until it "
            "exists and runs.")
        return project_arn
    status = versions[0].get("Status", "")
    if status != "RUNNING":
        out(f"warning: model version {version_name(arn)} is {status}, not RUNNING: start it with "
            f"`aws rekognition start-project-version --project-version-arn {arn} --min-inference-units 1` "
            "(it is billed per inference-unit hour while it runs).")
    return project_arn
