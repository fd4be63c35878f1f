"""inspection_app/deploy/model_version.py: the Rekognition model version looked up at deploy time.

botocore's Stubber: moto keeps no Custom Labels projects."""
from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from inspection_app.deploy.errors import DeployError
from inspection_app.deploy.model_version import checked_version_arn, find_model_version

VERSION = "arn:aws:rekognition:eu-west-1:123456789012:project/pcb/version/pcb.v1/1764500000000"
PROJECT = "arn:aws:rekognition:eu-west-1:123456789012:project/pcb/1764400000000"


class StubbedSession:
    region_name = "eu-west-1"

    def __init__(self):
        self.rekognition = boto3.client("rekognition", region_name="eu-west-1", aws_access_key_id="k",
                                        aws_secret_access_key="s")
        self.stubber = Stubber(self.rekognition)

    def client(self, service):
        assert service == "rekognition"
        return self.rekognition


@pytest.fixture()
def session():
    stubbed = StubbedSession()
    with stubbed.stubber:
        yield stubbed
        stubbed.stubber.assert_no_pending_responses()


def project_found(session, status: str | None):
    session.stubber.add_response("describe_projects", {"ProjectDescriptions": [{"ProjectArn": PROJECT}]},
                                 {"ProjectNames": ["pcb"]})
    versions = [{"ProjectVersionArn": VERSION, "Status": status}] if status else []
    session.stubber.add_response("describe_project_versions", {"ProjectVersionDescriptions": versions},
                                 {"ProjectArn": PROJECT, "VersionNames": ["pcb.v1"]})


def test_a_running_version_gives_its_project_and_no_warning(session):
    project_found(session, "RUNNING")
    printed = []
    assert find_model_version(session, VERSION, printed.append) == PROJECT
    assert printed == []


def test_a_stopped_version_is_deployed_with_a_warning_saying_how_to_start_it(session):
    project_found(session, "STOPPED")
    printed = []
    assert find_model_version(session, VERSION, printed.append) == PROJECT
    assert printed and "is STOPPED, not RUNNING" in printed[0]
    assert f"aws rekognition start-project-version --project-version-arn {VERSION}" in printed[0]


def test_a_missing_version_warns_that_images_will_be_errors(session):
    project_found(session, None)
    printed = []
    find_model_version(session, VERSION, printed.append)
    assert "no model version" in printed[0] and "recorded as errors" in printed[0]


def test_a_project_that_cannot_be_read_leaves_the_status_check_off(session):
    session.stubber.add_client_error("describe_projects", "AccessDeniedException", "denied", 400)
    printed = []
    assert find_model_version(session, VERSION, printed.append) == ""
    assert "could not read Rekognition project 'pcb'" in printed[0]


def test_the_version_arn_is_checked_before_anything_is_made():
    assert checked_version_arn(VERSION) == VERSION
    with pytest.raises(DeployError, match="not a Custom Labels model version ARN"):
        checked_version_arn(PROJECT)
