"""Reaching a running embedded stack from another process: its ready file and its local AWS clients.

`inspection-app up --ready-file FILE` writes the stack's URLs and resource names to FILE as JSON; the
`fault` and `redrive` commands, the outage drills and the tests read it back here.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError

LOCAL_REGION = "us-east-1"
# Dummy credentials: requests are signed, nothing checks them, and no real account is reachable.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "aws_session_token": "local"}


class ReadyFileError(InputError):
    """The ready file is missing or is not one `inspection-app up --ready-file` wrote; the message says so."""


def read_ready_file(ready_file) -> dict:
    """The stack description in `ready_file`, or ReadyFileError saying how to get one."""
    try:
        info = json.loads(Path(ready_file).read_text())
    except FileNotFoundError:
        raise ReadyFileError(f"{ready_file} does not exist; start the stack with "
                             f"`inspection-app up --ready-file {ready_file}`") from None
    except (OSError, ValueError) as error:
        raise ReadyFileError(f"cannot read {ready_file} as the stack's ready file: {error}") from None
    if not isinstance(info, dict) or not isinstance(info.get("aws_url"), str):
        raise ReadyFileError(f"{ready_file} has no aws_url; is it the file `inspection-app up --ready-file` wrote?")
    return info


def local_client(aws_url: str, service: str):
    """A boto3 client of `service` on the stack's local AWS endpoint."""
    import boto3  # noqa: PLC0415 - the `fault` command needs no boto3

    return boto3.session.Session(region_name=LOCAL_REGION, **LOCAL_CREDENTIALS).client(service, endpoint_url=aws_url)
