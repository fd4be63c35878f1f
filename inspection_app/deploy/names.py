"""The names of a stage's resources: all derive from the app name, the stage, the account and the region."""
from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.heatmaps import HEATMAP_PREFIX
from training.sagemaker.defaults import endpoint_name_problem

from ..chalice_stage import function_name
from .errors import DeployError

FUNCTIONS = ("start_inspections", "classify_image", "record_verdict", "api_handler")


@dataclass(frozen=True)
class Names:
    """Every identifier the functions' policies need; all derive from app, stage, account and region.

    The same rules are in statemachine/resources.yaml; tests/deploy compares them with a created stack.
    """

    app_name: str
    stage: str
    partition: str
    region: str
    account: str
    endpoint_name: str
    upload_prefix: str = "uploads/"
    # With the Rekognition backend (MODEL_BACKEND=rekognition): the model version and its project.
    project_version_arn: str = ""
    project_arn: str = ""

    def function_name(self, handler: str) -> str:
        return function_name(self.app_name, self.stage, handler)

    @property
    def bucket(self) -> str:
        return f"{self.app_name}-{self.stage}-{self.account}-{self.region}"

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    @property
    def uploads_arn(self) -> str:
        return f"{self.bucket_arn}/{self.upload_prefix}*"

    @property
    def heatmaps_arn(self) -> str:
        """The classify step's photo + heat-map overlays (chalicelib/heatmaps.py), beside the uploads."""
        return f"{self.bucket_arn}/{HEATMAP_PREFIX}*"

    @property
    def queue_name(self) -> str:
        return f"{self.app_name}-{self.stage}-uploads"

    @property
    def queue_arn(self) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{self.queue_name}"

    @property
    def dead_letter_queue_arn(self) -> str:
        return f"{self.queue_arn}-dlq"

    @property
    def table_name(self) -> str:
        return f"{self.app_name}-{self.stage}-results"

    @property
    def table_arn(self) -> str:
        return f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table/{self.table_name}"

    @property
    def topic_arn(self) -> str:
        return f"arn:{self.partition}:sns:{self.region}:{self.account}:{self.app_name}-{self.stage}-alerts"

    @property
    def state_machine_arn(self) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account}:stateMachine:{self.app_name}-{self.stage}"

    @property
    def endpoint_arn(self) -> str:
        return f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:endpoint/{self.endpoint_name}"

    def log_group_arn(self, handler: str) -> str:
        return (
            f"arn:{self.partition}:logs:{self.region}:{self.account}:"
            f"log-group:/aws/lambda/{self.function_name(handler)}:*"
        )

    def usage_plan_name(self) -> str:
        return f"{self.app_name}-{self.stage}"

    def api_key_name(self) -> str:
        return f"{self.app_name}-{self.stage}-default"


# The same names as CloudFormation substitutions, for the one-stack path (parameters of the merged template).
CLOUDFORMATION_NAMES = Names(
    app_name="${AppName}",
    stage="${Stage}",
    partition="${AWS::Partition}",
    region="${AWS::Region}",
    account="${AWS::AccountId}",
    endpoint_name="${EndpointName}",
    upload_prefix="${UploadPrefix}",
)


def stage_names(app_name: str, stage: str) -> Names:
    """Names for lookups that need only the app and the stage (usage plan, API key)."""
    return Names(app_name=app_name, stage=stage, partition="", region="", account="", endpoint_name="")


def resource_stack_name(app_name: str, stage: str) -> str:
    return f"{app_name}-{stage}-resources"


def validate_stage_and_endpoint(stage: str, endpoint_name: str | None) -> None:
    """DeployError unless the stage and the endpoint name fit every name and ARN built from them."""
    if not re.fullmatch(r"[a-z][a-z0-9]{0,11}", stage):
        raise DeployError(f"Stage {stage!r}: use 1 to 12 lowercase letters and digits, starting with a letter.")
    if endpoint_name is not None and (problem := endpoint_name_problem(endpoint_name)):
        raise DeployError(problem)  # the rule `inspection-app sagemaker deploy` names endpoints by
