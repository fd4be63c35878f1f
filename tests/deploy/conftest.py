"""Offline checks of the AWS deployment: templates, policies, `chalice package`, and the deploy script on moto.

Nothing here reaches AWS, and nothing writes into the project: every test that packages or deploys works on
a copy of the project in a temporary directory.
"""
from __future__ import annotations

import json
import os

import pytest
from deploy_helpers import ALLOWED_ORIGIN, PLACEHOLDER_ENVIRONMENT, REGION, copy_project, run_chalice


@pytest.fixture(scope="session")
def packaged(tmp_path_factory) -> dict:
    """`chalice package --stage dev` with and without the merge template, once per session.

    With the real requirements.txt, so that deployment.zip holds what Lambda would load (tests/deploy/
    test_deploy_bundle.py opens it); the second package reuses the first one's zip (Chalice caches it).
    """
    project = copy_project(tmp_path_factory.mktemp("package") / "project", requirements=True)
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    # With a browser origin allowed, so that the template shows how CORS is answered (none by default).
    config["stages"]["dev"]["environment_variables"].update(PLACEHOLDER_ENVIRONMENT, ALLOWED_ORIGINS=ALLOWED_ORIGIN)
    config_path.write_text(json.dumps(config, indent=2))

    plain = run_chalice(project, "package", "--stage", "dev", "plain/")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    merged = run_chalice(project, "package", "--stage", "dev", "--merge-template",
                         "statemachine/chalice-merge.json", "out/")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    return {
        "project": project,
        "plain_path": project / "plain" / "sam.json",
        "plain_zip": project / "plain" / "deployment.zip",
        "merged_path": project / "out" / "sam.json",
        "plain": json.loads((project / "plain" / "sam.json").read_text()),
        "merged": json.loads((project / "out" / "sam.json").read_text()),
    }


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials, and no endpoint overrides left over from the embedded stack."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
