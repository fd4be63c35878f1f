"""Every command that calls a deployed API honours --auth and --api-key (an IAM stage refuses unsigned requests)."""
from __future__ import annotations

import pytest

from inspection_app.cli import inspection_commands, main
from inspection_app.errors import UserError

API = "https://abc123.execute-api.eu-central-1.amazonaws.com/api"


@pytest.mark.parametrize("command", [
    ["inspect", "{photo}", "--api", API],
    ["results", "PCB-1", "--api", API],
    ["reinspect", "--api", API],
    ["review", "export", "{dir}", "--api", API],
    ["watch", "{dir}", "--api", API, "--once"],
])
@pytest.mark.parametrize("options, expected", [
    (["--auth", "iam"], {"api_key": None, "auth": "iam"}),
    (["--api-key", "k-123"], {"api_key": "k-123", "auth": "api_key"}),
])
def test_given_auth_options_when_a_command_calls_the_api_then_its_client_uses_them(
        monkeypatch, tmp_path, capsys, command, options, expected):
    # GIVEN a client that records how it was made (and stops the command there)
    monkeypatch.delenv("INSPECTION_API_AUTH", raising=False)
    monkeypatch.delenv("INSPECTION_API_KEY", raising=False)
    made = []

    def recording_client(base_url, **kwargs):
        made.append((base_url, kwargs))
        raise UserError("stopped after the client was made")

    monkeypatch.setattr(inspection_commands, "ApiClient", recording_client)
    photo = tmp_path / "PCB-1.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    argv = [part.format(photo=photo, dir=tmp_path) for part in command] + options
    # WHEN the command runs
    assert main(argv) == 1
    # THEN its one client went to the API with the options given
    assert made == [(API, expected)]
    assert "stopped after the client was made" in capsys.readouterr().err
