"""chalicelib.rekognition: a Rekognition Custom Labels model version as the model backend.

botocore's Stubber, not moto: moto's DetectCustomLabels answers one canned label ("MyLogo") whatever the
model, so it cannot show the mapping or the errors; the Stubber checks every request and canned answer
against Rekognition's own API model."""
from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.endpoint import ModelEndpointError, ModelEndpointUnavailable
from chalicelib.rekognition import (
    RekognitionCustomLabels,
    probabilities_from_labels,
    version_name,
)

ARN = "arn:aws:rekognition:eu-west-1:123456789012:project/pcb-boards/version/pcb-boards.2026-11-30/1764500000000"
PROJECT_ARN = "arn:aws:rekognition:eu-west-1:123456789012:project/pcb-boards/1764400000000"
CLASSES = ("defect_free", "defective")
S3_IMAGE = {"S3Object": {"Bucket": "uploads-bucket", "Name": "uploads/PCB-1/c.jpg", "Version": "v1"}}


@pytest.fixture()
def rekognition():
    client = boto3.client("rekognition", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def backend(client) -> RekognitionCustomLabels:
    return RekognitionCustomLabels(client, ARN, CLASSES, bucket="uploads-bucket", key="uploads/PCB-1/c.jpg",
                                   version_id="v1", project_arn=PROJECT_ARN)


def detect_request() -> dict:
    return {"ProjectVersionArn": ARN, "Image": S3_IMAGE, "MinConfidence": 0}


def test_given_both_labels_when_detected_then_the_s3_object_is_asked_and_confidences_become_probabilities(rekognition):
    client, stubber = rekognition
    # GIVEN the model answers both labels for the uploaded object's version
    stubber.add_response("detect_custom_labels", {"CustomLabels": [
        {"Name": "defective", "Confidence": 91.5}, {"Name": "defect_free", "Confidence": 8.5}]}, detect_request())
    # WHEN the classify task asks it (the checked bytes are not sent)
    prediction = backend(client).predict(b"not sent", "image/png")
    # THEN class order is the stage's, the model id is the project version
    assert prediction.probabilities == pytest.approx([0.085, 0.915])
    assert prediction.model_id == ARN


@pytest.mark.parametrize("labels, expected", [
    ([{"Name": "defective", "Confidence": 83.0}], [0.17, 0.83]),  # defect_free cut by the model's threshold
    ([{"Name": "DEFECT_FREE", "Confidence": 99.0}], [0.99, 0.01]),  # names match whatever their case
    ([{"Name": "defective", "Confidence": 60.0}, {"Name": "defect_free", "Confidence": 60.0}], [0.5, 0.5]),
    ([{"Name": "defective", "Confidence": 100.0}], [0.0, 1.0]),
])
def test_missing_labels_get_what_the_others_leave_and_the_sum_is_one(labels, expected):
    assert probabilities_from_labels(labels, CLASSES) == pytest.approx(expected)


@pytest.mark.parametrize("labels, message", [
    ([], "none of the labels"),
    ([{"Name": "scratch", "Confidence": 70.0}], "label 'scratch', which is none of the classes"),
    ([{"Name": "defective", "Confidence": 0.0}, {"Name": "defect_free", "Confidence": 0.0}], "confidence of 0"),
])
def test_answers_that_break_the_contract_are_permanent_errors(labels, message):
    with pytest.raises(ModelEndpointError, match=message):
        probabilities_from_labels(labels, CLASSES)


@pytest.mark.parametrize("code, status", [
    ("ThrottlingException", 400), ("ProvisionedThroughputExceededException", 400), ("InternalServerError", 500),
    ("LimitExceededException", 400),
])
def test_throttling_and_service_errors_are_transient(rekognition, code, status):
    client, stubber = rekognition
    stubber.add_client_error("detect_custom_labels", code, "slow down", status, expected_params=detect_request())
    with pytest.raises(ModelEndpointUnavailable, match=code):
        backend(client).predict(b"", "image/png")


def describe_request() -> dict:
    return {"ProjectArn": PROJECT_ARN, "VersionNames": [version_name(ARN)]}


@pytest.mark.parametrize("state, failure", [
    ("STARTING", ModelEndpointUnavailable), ("STOPPED", ModelEndpointError), ("FAILED", ModelEndpointError)])
def test_a_model_version_not_running_is_retried_while_it_starts_and_an_error_saying_how_to_start_it_otherwise(
        rekognition, state, failure):
    client, stubber = rekognition
    # GIVEN the model version is not running
    stubber.add_client_error("detect_custom_labels", "ResourceNotReadyException", "not ready", 400,
                             expected_params=detect_request())
    stubber.add_response("describe_project_versions", {"ProjectVersionDescriptions": [
        {"ProjectVersionArn": ARN, "Status": state}]}, describe_request())
    # WHEN asked THEN starting is retried; stopped or failed is permanent, with the command that starts it
    with pytest.raises(failure) as raised:
        backend(client).predict(b"", "image/png")
    assert f"status {state}" in str(raised.value)
    assert f"aws rekognition start-project-version --project-version-arn {ARN}" in str(raised.value)


def test_a_model_version_whose_status_cannot_be_read_is_retried(rekognition):
    client, stubber = rekognition
    stubber.add_client_error("detect_custom_labels", "ResourceNotReadyException", "not ready", 400,
                             expected_params=detect_request())
    stubber.add_client_error("describe_project_versions", "AccessDeniedException", "denied", 400,
                             expected_params=describe_request())
    with pytest.raises(ModelEndpointUnavailable, match="status unknown"):
        backend(client).predict(b"", "image/png")


def test_a_missing_model_version_is_a_permanent_error_naming_the_setting(rekognition):
    client, stubber = rekognition
    stubber.add_client_error("detect_custom_labels", "ResourceNotFoundException", "no such version", 400,
                             expected_params=detect_request())
    with pytest.raises(ModelEndpointError, match="REKOGNITION_PROJECT_VERSION_ARN"):
        backend(client).predict(b"", "image/png")


def test_an_unversioned_object_is_asked_without_a_version(rekognition):
    client, stubber = rekognition
    stubber.add_response("detect_custom_labels", {"CustomLabels": [{"Name": "defect_free", "Confidence": 97.0}]},
                         {"ProjectVersionArn": ARN, "MinConfidence": 0,
                          "Image": {"S3Object": {"Bucket": "b-1", "Name": "uploads/P/x.png"}}})
    endpoint = RekognitionCustomLabels(client, ARN, CLASSES, bucket="b-1", key="uploads/P/x.png")
    assert endpoint.predict(b"", "image/png").probabilities == pytest.approx([0.97, 0.03])


def test_a_project_version_arn_names_its_version():
    assert version_name(ARN) == "pcb-boards.2026-11-30"


def test_without_the_project_arn_a_version_not_ready_is_retried_without_asking_its_status(rekognition):
    client, stubber = rekognition
    stubber.add_client_error("detect_custom_labels", "ResourceNotReadyException", "not ready", 400,
                             expected_params=detect_request())
    endpoint = RekognitionCustomLabels(client, ARN, CLASSES, bucket="uploads-bucket", key="uploads/PCB-1/c.jpg",
                                       version_id="v1")
    with pytest.raises(ModelEndpointUnavailable, match="status unknown"):
        endpoint.predict(b"", "image/png")
