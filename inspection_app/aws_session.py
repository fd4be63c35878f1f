"""The boto3 session every command that talks to AWS uses: from a profile and a region, with one rule for the region."""
from __future__ import annotations

import os

import boto3

from .errors import UserError


class NoRegionError(UserError):
    """No region was given and none is configured."""


def aws_session(profile: str | None = None, region: str | None = None, *, required_region: bool = True):
    """A boto3 session for `profile` (default: the standard credential chain) in `region`.

    The region is `region`, else AWS_REGION, else what botocore finds (AWS_DEFAULT_REGION, the profile).
    NoRegionError when there is none and `required_region`."""
    # botocore reads AWS_DEFAULT_REGION; the AWS CLI v2 and other SDKs also AWS_REGION.
    session = boto3.session.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION"))
    if required_region and not session.region_name:
        raise NoRegionError("No AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile.")
    return session
