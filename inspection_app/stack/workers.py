"""The embedded stack's worker processes: the Lambda runtime and the REST API, each in a process of its own.

One Python process is bound by one GIL: moto, the Lambda handlers and Chalice's local server in threads of one
process use one core, however many clients wait. So `inspection-app up` (the parent: moto, the model endpoint,
the SQS pollers) starts two workers running the same `app.py`:

- `lambda`: the Chalice app's handlers behind Lambda's Invoke API (`POST /2015-03-31/functions/{name}/
  invocations`, as `lambda_dispatch` answers it); moto's Step Functions interpreter and the SQS pollers reach
  it through the parent's `RemoteLambda` over kept-alive connections;
- `api`: the REST API on Chalice's local server.

A worker inherits the stage's environment (boto3 pointed at the parent's moto and model endpoint), writes one
JSON line `{"url": ..., "handlers": [...]}` on stdout when it listens, and lives while its stdin is open: it
ignores Ctrl-C (the terminal sends it to the whole process group; the parent stops it), and exits when the
parent closes the pipe or dies, so no worker outlives the stack.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import UserError
from .background import BackgroundServer, KeepAliveServer, quiet_servers

ROLES = ("lambda", "api")
_SETTINGS_VARIABLE = "INSPECTION_STACK_WORKER"  # JSON: role settings (log file, API port, quiet)
_START_SECONDS = 60


class WorkerError(UserError):
    """A worker did not start; the message carries the reason it gave."""


class WorkerProcess:
    """Parent side: start `python -m inspection_app.stack.workers ROLE`, read its address, stop it."""

    def __init__(self, role: str, *, log_file: Path, stage: str, port: int = 0, quiet: bool = True):
        if role not in ROLES:
            raise ValueError(f"unknown worker role {role!r}")
        self.role = role
        self._settings = {"log_file": str(log_file), "stage": stage, "port": port, "quiet": quiet}
        self._process: subprocess.Popen | None = None
        self.url = ""
        self.handlers: list[str] = []

    def start(self) -> "WorkerProcess":
        """Launch the process; `wait_ready()` reads its address (launch several, then wait for each)."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, self.role],
            env={**os.environ, _SETTINGS_VARIABLE: json.dumps(self._settings)},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        return self

    def wait_ready(self) -> "WorkerProcess":
        line = self._read_line(_START_SECONDS)
        try:
            ready = json.loads(line)
        except ValueError:
            ready = {"error": line.strip() or f"no answer within {_START_SECONDS} s"}
        if "error" in ready:
            self.stop()
            reason = f"the {self.role} worker did not start: {ready['error']}"
            if ready.get("errno") == errno.EADDRINUSE:  # the CLI tells the user to pick another port
                raise OSError(errno.EADDRINUSE, reason)
            raise WorkerError(reason)
        self.url, self.handlers = ready["url"], ready.get("handlers", [])
        self._process.stdout.close()
        return self

    def _read_line(self, seconds: float) -> str:
        answer: list[str] = []
        reader = threading.Thread(target=lambda: answer.append(self._process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(seconds)
        return answer[0] if answer else ""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self, seconds: float = 5) -> None:
        if not self._process or self._process.poll() is not None:
            return
        try:
            self._process.stdin.close()  # the worker's signal to exit
        except OSError:
            pass
        try:
            self._process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def start_workers(roles, **settings) -> dict[str, WorkerProcess]:
    """Start the workers of `roles` side by side (each loads app.py in its own process) and wait for all."""
    workers = {role: WorkerProcess(role, **settings.get(role, {})).start() for role in roles}
    try:
        for worker in workers.values():
            worker.wait_ready()
    except Exception:
        stop_workers(workers.values())
        raise
    return workers


def stop_workers(workers) -> None:
    for worker in workers:
        worker.stop()


# ---- worker side ----------------------------------------------------------------------------------------

def _serve_lambda(chalice_app, config, settings: dict):
    from .lambda_dispatch import LambdaDispatcher, lambda_middleware  # noqa: PLC0415

    dispatcher = LambdaDispatcher(chalice_app.handler_map, f"{config.app_name}-{settings['stage']}-")

    def not_an_invocation(environ, start_response):
        body = b'{"Type": "User", "message": "not a Lambda Invoke request"}'
        start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    server = KeepAliveServer("127.0.0.1", settings["port"], lambda_middleware(dispatcher, not_an_invocation))
    return BackgroundServer(server, "lambda-runtime"), sorted(chalice_app.handler_map)


def _serve_api(chalice_app, config, settings: dict):
    from .api_server import LocalApi  # noqa: PLC0415

    return LocalApi(chalice_app, config, port=settings["port"], quiet=settings["quiet"]), []


def main(role: str) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent stops us
    settings = json.loads(os.environ[_SETTINGS_VARIABLE])
    from chalicelib import logs  # noqa: PLC0415

    from ..chalice_stage import load_app_module, stage_config  # noqa: PLC0415

    quiet_servers()
    log_stream = open(settings["log_file"], "a", buffering=1)  # noqa: SIM115 - open while the process lives
    logs.configure(log_stream)
    chalice_app = load_app_module().app
    serve = _serve_lambda if role == "lambda" else _serve_api
    server, handlers = serve(chalice_app, stage_config(settings["stage"], chalice_app), settings)
    server.start()
    sys.stdout.write(json.dumps({"url": server.url, "handlers": handlers}) + "\n")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nobody reads the pipe any more: later prints go to stderr
    sys.stdin.buffer.read()  # until the parent closes the pipe (stop) or dies
    os._exit(0)  # at once: in-flight requests die with the stack, as the parent's own threads do


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1]))
    except Exception as error:  # noqa: BLE001 - the parent shows this line as the reason the worker did not start
        print(json.dumps({"error": f"{type(error).__name__}: {error}", "errno": getattr(error, "errno", None)}),
              flush=True)
        time.sleep(0.1)
        raise SystemExit(1) from None
