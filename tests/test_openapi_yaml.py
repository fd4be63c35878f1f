"""docs/openapi.yaml is generated from chalicelib/openapi.json (the document GET /openapi.json serves): one
source, and a test that the two agree."""
from __future__ import annotations

import json

import yaml

from inspection_app.chalice_stage import PROJECT_DIR
from inspection_app.openapi_yaml import OPENAPI_YAML_COMMAND, main, openapi_yaml_text


def test_given_the_served_document_then_docs_openapi_yaml_says_the_same():
    served = json.loads((PROJECT_DIR / "chalicelib" / "openapi.json").read_text())
    written = (PROJECT_DIR / "docs" / "openapi.yaml").read_text()
    assert yaml.safe_load(written) == served, f"docs/openapi.yaml is out of date; run `{OPENAPI_YAML_COMMAND}`"
    assert written == openapi_yaml_text(), f"docs/openapi.yaml is out of date; run `{OPENAPI_YAML_COMMAND}`"
    assert written.startswith("# Generated from chalicelib/openapi.json") and served["openapi"].startswith("3.1")


def test_given_a_changed_source_when_checked_then_it_says_which_command_brings_it_up_to_date(tmp_path, monkeypatch,
                                                                                            capsys):
    from inspection_app import openapi_yaml

    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "chalicelib" / "openapi.json").write_text(json.dumps({"openapi": "3.1.0", "paths": {"/a": {}}}))
    monkeypatch.setattr(openapi_yaml, "PROJECT_DIR", tmp_path)
    assert main(["--check"]) == 1 and OPENAPI_YAML_COMMAND in capsys.readouterr().err
    assert main([]) == 0 and main(["--check"]) == 0
    assert yaml.safe_load((tmp_path / "docs" / "openapi.yaml").read_text()) == {"openapi": "3.1.0", "paths": {"/a": {}}}
