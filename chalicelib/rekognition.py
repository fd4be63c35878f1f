"""The second model backend: an Amazon Rekognition Custom Labels model version, asked about the S3 object.

`DetectCustomLabels` reads the uploaded photo where it lies (`Image.S3Object`, the exact version), so the
classify task sends Rekognition no bytes; the image is still read and checked first (formats, sizes, blank
photos are rejected before any model is asked), as for the SageMaker endpoint.

Mapping to the endpoint contract (one probability per class, in the stage's class order):
- the call asks with `MinConfidence=0`, so a classification model returns every label it knows with its
  confidence (0-100); each class's probability is its label's confidence / 100;
- a class whose label is missing anyway (a model that cuts below its own threshold) gets what the others
  leave: 1 - their sum (a two-class model answering only `defective` 83 % means `defect_free` 17 %);
- labels are matched to classes by name, ignoring case; a label that is no class, or no label of ours at
  all, breaks the contract (ModelEndpointError: train the project with folders named like the classes);
- the probabilities are normalised to sum to 1 (Rekognition rounds each confidence on its own).

Errors, as the SageMaker adapter's: throttling, service errors and a model version still starting
(`ResourceNotReadyException` while it is STARTING) are ModelEndpointUnavailable, retried by the state
machine; a missing, stopped or failed model version is ModelEndpointError, recorded as an `error` verdict
whose reason says how to start it.
"""
from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from . import metrics
from .endpoint import ModelEndpointError, ModelEndpointUnavailable, Prediction

_TRANSIENT_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError",
    "ServiceUnavailableException", "LimitExceededException",
})
_STARTING = frozenset({"STARTING", "TRAINING_IN_PROGRESS", "COPYING_IN_PROGRESS"})


def version_name(project_version_arn: str) -> str:
    """`<version>` of a project version ARN (the name DescribeProjectVersions filters by)."""
    return project_version_arn.split("/version/", 1)[1].split("/", 1)[0]


def probabilities_from_labels(labels: list[dict], classes: tuple[str, ...]) -> list[float]:
    """Per class, in order: the confidence of its label / 100; a missing one gets what the others leave."""
    by_class = {name.lower(): None for name in classes}
    for label in labels:
        name = str(label.get("Name", "")).lower()
        if name not in by_class:
            raise ModelEndpointError(
                f"the model answered label {label.get('Name')!r}, which is none of the classes {list(classes)}: "
                "train the Custom Labels project on folders named like the classes.")
        by_class[name] = max(0.0, min(100.0, float(label.get("Confidence", 0.0)))) / 100
    known = [value for value in by_class.values() if value is not None]
    if not known:
        raise ModelEndpointError(f"the model answered none of the labels {list(classes)}: is it a "
                                 "classification project trained on folders named like the classes?")
    missing = len(by_class) - len(known)
    share = max(0.0, 1.0 - sum(known)) / missing if missing else 0.0
    values = [share if value is None else value for value in by_class.values()]
    total = sum(values)
    if total <= 0:
        raise ModelEndpointError(f"the model gave every class a confidence of 0: {labels}")
    return [value / total for value in values]


class RekognitionCustomLabels:
    """ModelEndpoint backed by `rekognition:DetectCustomLabels` on the task's S3 object."""

    def __init__(self, client, project_version_arn: str, classes: tuple[str, ...], *, bucket: str, key: str,
                 version_id: str = "", project_arn: str = ""):
        self._client = client
        self._arn = project_version_arn
        # The project's own ARN (`.../project/<name>/<created>`) cannot be read off the version's: deploy
        # looks it up; without it the version's status is unknown and a not-ready version is retried.
        self._project_arn = project_arn
        self._classes = classes
        self._image = {"S3Object": {"Bucket": bucket, "Name": key, **({"Version": version_id} if version_id else {})}}

    def predict(self, body: bytes, content_type: str) -> Prediction:
        """The model's probabilities for the task's S3 object (`body` is the checked image, not sent)."""
        with metrics.endpoint_call():
            labels = self._detect()
        return Prediction(probabilities=probabilities_from_labels(labels, self._classes), model_id=self._arn)

    def _detect(self) -> list[dict]:
        try:
            response = self._client.detect_custom_labels(ProjectVersionArn=self._arn, Image=self._image,
                                                         MinConfidence=0)
        except ClientError as error:
            raise self._failure(error) from None
        except BotoCoreError as error:  # connection refused, timeouts
            raise ModelEndpointUnavailable(f"model version {self._arn}: {error}") from None
        return response.get("CustomLabels", [])

    def _failure(self, error: ClientError) -> Exception:
        code = error.response.get("Error", {}).get("Code", "")
        message = f"model version {self._arn}: {code}: {error.response.get('Error', {}).get('Message', '')}"
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _TRANSIENT_CODES or status in (500, 502, 503, 504):
            return ModelEndpointUnavailable(message)
        if code == "ResourceNotReadyException":
            state = self._status()
            start = (f"start it with `aws rekognition start-project-version --project-version-arn {self._arn} "
                     "--min-inference-units 1`, then reinspect the error verdicts")
            if state in _STARTING or not state:  # starting, or unknown: retried (and caught as `error` at the end)
                return ModelEndpointUnavailable(f"{message} (status {state or 'unknown'}; if it is stopped, {start})")
            return ModelEndpointError(f"{message} (status {state}): {start}.")
        if code == "ResourceNotFoundException":
            return ModelEndpointError(f"{message}: no such model version; check REKOGNITION_PROJECT_VERSION_ARN.")
        return ModelEndpointError(message)

    def _status(self) -> str:
        """The model version's status (RUNNING, STARTING, STOPPED, FAILED...), or '' when it cannot be read."""
        if not self._project_arn:
            return ""
        try:
            response = self._client.describe_project_versions(ProjectArn=self._project_arn,
                                                              VersionNames=[version_name(self._arn)])
        except (ClientError, BotoCoreError):
            return ""
        versions = response.get("ProjectVersionDescriptions", [])
        return versions[0].get("Status", "") if versions else ""
