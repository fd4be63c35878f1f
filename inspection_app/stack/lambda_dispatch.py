"""Lambda invocations, served in-process by the Chalice app's handlers.

moto's own Lambda needs Docker. Its Step Functions interpreter invokes Lambda over HTTP on the moto port,
so this WSGI layer sits in front of moto: Invoke requests for the app's functions run the handler here and
answer as Lambda does (errors as HTTP 200 with `X-Amz-Function-Error`, so Retry/Catch see the error
name); every other request goes to moto.
"""
from __future__ import annotations

import json
import re
import time
import traceback
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that handlers use."""

    function_name: str
    timeout_seconds: int = 60
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = 0.0

    def __post_init__(self):
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _handler_name(function: str, prefix: str, handlers) -> str | None:
    """The handler of a deployed name `<prefix><handler>`, an ARN or partial ARN of it, or a bare handler name."""
    name = function.rsplit(":function:", 1)[-1].split(":")[0]  # drop the qualifier
    name = name[len(prefix):] if name.startswith(prefix) else name
    return name if name in handlers else None


class LambdaDispatcher:
    """Runs `handler_map` entries for deployed names `<prefix><handler>` (or bare handler names)."""

    def __init__(self, handler_map: dict, function_prefix: str):
        self._handlers = handler_map
        self._prefix = function_prefix

    def handler_name(self, function: str) -> str | None:
        return _handler_name(function, self._prefix, self._handlers)

    def invoke(self, handler: str, event) -> tuple[dict, bytes]:
        """Run one invocation; returns (extra headers, payload) as Lambda's Invoke API would."""
        context = LambdaContext(function_name=self._prefix + handler)
        try:
            result = self._handlers[handler](event, context)
            return {}, json.dumps(result).encode()
        except Exception as error:  # noqa: BLE001 - reported to the caller exactly as Lambda does
            payload = {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            return {"X-Amz-Function-Error": "Unhandled"}, json.dumps(payload).encode()


def lambda_middleware(dispatcher: LambdaDispatcher, wsgi_app):
    """WSGI app: Lambda Invoke requests for the app's functions are dispatched, the rest go to `wsgi_app`."""

    def application(environ, start_response):
        match = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        handler = match and dispatcher.handler_name(unquote(match["name"]))
        if environ["REQUEST_METHOD"] != "POST" or not handler:
            return wsgi_app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        event = json.loads(body) if body else {}
        headers, payload = dispatcher.invoke(handler, event)
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *headers.items()],
        )
        return [payload]

    return application


class RemoteLambda:
    """A LambdaDispatcher's interface for handlers served by another process (the `lambda` worker).

    Invocations travel as Lambda's Invoke API over a pool of kept-alive connections; `connect` names the
    runtime once it listens. A runtime that cannot be reached raises ConnectionError: moto's interpreter then
    sees a failed Invoke (retried as Lambda.ServiceException), the SQS poller leaves the batch on the queue."""

    def __init__(self, function_prefix: str, *, pool_size: int = 64, timeout_seconds: float = 120):
        self._prefix = function_prefix
        self._handlers: frozenset[str] = frozenset()
        self._pool = None
        self._pool_size = pool_size
        self._timeout = timeout_seconds

    def connect(self, runtime_url: str, handlers) -> "RemoteLambda":
        import urllib3  # noqa: PLC0415

        self._handlers = frozenset(handlers)
        self._pool = urllib3.connection_from_url(runtime_url, maxsize=self._pool_size, block=False,
                                                 retries=False, timeout=self._timeout)
        return self

    def handler_name(self, function: str) -> str | None:
        return _handler_name(function, self._prefix, self._handlers)

    def invoke(self, handler: str, event) -> tuple[dict, bytes]:
        if self._pool is None:
            raise ConnectionError("the Lambda runtime is not started")
        try:
            response = self._pool.urlopen("POST", f"/2015-03-31/functions/{self._prefix}{handler}/invocations",
                                          body=json.dumps(event).encode(), headers={"Content-Type": "application/json"})
        except Exception as error:  # noqa: BLE001 - urllib3's errors, as the connection failure they are
            raise ConnectionError(f"the Lambda runtime did not answer: {error}") from None
        error_header = response.headers.get("X-Amz-Function-Error")
        return ({"X-Amz-Function-Error": error_header} if error_header else {}), response.data
