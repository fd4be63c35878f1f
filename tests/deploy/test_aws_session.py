"""aws_session: where the region comes from, and the one message when there is none."""
from __future__ import annotations

import os

import pytest

from inspection_app.aws_session import NoRegionError, aws_session
from inspection_app.errors import UserError


@pytest.fixture(autouse=True)
def no_aws_configuration(monkeypatch, tmp_path):
    """No AWS_* variables and no ~/.aws files: only what each test sets."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


def test_the_region_given_wins(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert aws_session(region="eu-central-1").region_name == "eu-central-1"


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_the_region_from_the_environment(monkeypatch, variable):
    monkeypatch.setenv(variable, "ap-southeast-2")
    assert aws_session().region_name == "ap-southeast-2"


def test_the_region_of_the_profile(tmp_path):
    (tmp_path / "config").write_text("[profile factory]\nregion = sa-east-1\n")
    assert aws_session(profile="factory").region_name == "sa-east-1"


def test_no_region_is_a_user_error_saying_how_to_set_one():
    with pytest.raises(NoRegionError) as raised:
        aws_session()
    assert isinstance(raised.value, UserError)
    assert str(raised.value) == "No AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile."


def test_a_session_without_a_region_when_none_is_required():
    assert aws_session(required_region=False).region_name is None
