"""Every error the user has to fix reaches the terminal as one line, `error: <message>`, with an exit status."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from inspection_app.cli import inspection_commands, main
from inspection_app.errors import InputError, UserError
from inspection_app.stack.access import ReadyFileError
from training.dataset import DatasetError


def _results_raising(monkeypatch, error: Exception) -> None:
    def cmd_results(args):
        raise error

    monkeypatch.setattr(inspection_commands, "cmd_results", cmd_results)


@pytest.mark.parametrize(("error", "message", "status"), [
    (UserError("the API said no"), "the API said no", 1),
    (InputError("no such folder"), "no such folder", 2),
    (DatasetError("Dataset folder x does not exist"), "Dataset folder x does not exist", 2),
    (ReadyFileError("ready.json does not exist"), "ready.json does not exist", 2),
    (NoCredentialsError(), "no AWS credentials found: run `aws configure`", 1),
    (NoRegionError(), "no AWS region: pass --region", 1),
    (ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "DescribeStacks"),
     "An error occurred (AccessDenied) when calling the DescribeStacks operation: not allowed; check that --profile", 1),
    (EndpointConnectionError(endpoint_url="https://example.invalid"), "AWS: Could not connect", 1),
])
def test_an_error_for_the_user_is_one_line_and_an_exit_status(monkeypatch, capsys, error, message, status):
    _results_raising(monkeypatch, error)
    assert main(["results", "PCB-1"]) == status
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_a_bug_is_not_dressed_up_as_a_user_error(monkeypatch):
    _results_raising(monkeypatch, KeyError("verdict"))
    with pytest.raises(KeyError):
        main(["results", "PCB-1"])


def test_inspect_of_a_folder_without_photos_exits_2(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no photo")
    assert main(["inspect", str(tmp_path), "--api", "http://127.0.0.1:9"]) == 2
    assert capsys.readouterr().err.startswith("error: no .jpg, .jpeg, .png")


def test_results_from_an_api_that_does_not_answer_says_so(capsys):
    assert main(["results", "PCB-1", "--api", "http://127.0.0.1:9"]) == 1
    assert "error: no answer from the API at http://127.0.0.1:9" in capsys.readouterr().err


def test_redrive_with_a_ready_file_of_something_else_says_so(tmp_path, capsys):
    ready = tmp_path / "ready.json"
    ready.write_text('{"aws_url": "http://127.0.0.1:9"}')
    assert main(["redrive", "--ready-file", str(ready)]) == 2
    assert "has no parked_verdict_queue_url or state_machine_arn" in capsys.readouterr().err



@pytest.mark.parametrize("printer", ["plain", "rich"])
def test_given_a_reader_that_leaves_when_the_cli_prints_then_it_stops_quietly(printer):
    # GIVEN a command printing more than a pipe holds (plain print: inspect --json; rich: tables), whose reader has
    # left (`inspection-app ... | head` after head ended)
    import subprocess
    import sys
    command = {"plain": "[print('x' * 99) for _ in range(10_000)]",
               "rich": "[terminal.console().print('x' * 99) for _ in range(10_000)]"}[printer]
    script = ("import sys\nfrom inspection_app import terminal\nfrom inspection_app.cli import inspection_commands, main\n"
              f"inspection_commands.cmd_results = lambda args: {command} and 0\n"
              "sys.exit(main(['results', 'PCB-1']))")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    # WHEN it prints THEN it ends with status 1 and says nothing: no traceback
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1, stderr
    assert stderr == ""
