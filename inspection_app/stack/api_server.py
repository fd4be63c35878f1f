"""The app's REST API on localhost, served by Chalice's own local server."""
from __future__ import annotations

import functools
import json

from chalice.local import ChaliceRequestHandler, LocalGatewayException, create_local_server

from chalicelib.api_errors import default_code, error_body

from .background import BackgroundServer


def gateway_error(error: LocalGatewayException, method: str, path: str) -> tuple[int, bytes]:
    """What Chalice's local gateway answers itself, in the app's error shape.

    It answers a path no route matches with API Gateway's 403 "Missing Authentication Token"; that is 404
    NotFound here, as it is in the cloud with the gateway responses `inspection-app deploy` sets.
    """
    if error.CODE == 403 and (error.headers or {}).get("x-amzn-ErrorType") == "UnauthorizedException":
        return 404, json.dumps(error_body("NotFound", f"No route {method} {path.split('?')[0]}.")).encode()
    try:
        answer = json.loads(error.body or b"{}")
        message = str(answer.get("message") or answer.get("Message") or "")
    except (ValueError, AttributeError):
        message = ""
    code = default_code(error.CODE)
    return error.CODE, json.dumps(error_body(code, message or code)).encode()


class _RequestHandler(ChaliceRequestHandler):
    # The handler writes the headers and the body separately; with Nagle's algorithm on a kept-alive
    # connection the body then waits for the client's delayed ACK: 40 ms added to every answer.
    disable_nagle_algorithm = True

    def _send_error_response(self, error: LocalGatewayException) -> None:
        status, body = gateway_error(error, self.command, self.path)
        headers = {k: v for k, v in (error.headers or {}).items() if k.lower() != "content-type"}
        self._send_http_response(status, {**headers, "Content-Type": "application/json"}, body)


class _QuietRequestHandler(_RequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class LocalApi(BackgroundServer):
    def __init__(self, chalice_app, config, host: str = "127.0.0.1", port: int = 8000, *, quiet: bool = False):
        local = create_local_server(chalice_app, config, host, port)
        # Errors of the local gateway in the app's shape; with `quiet`, no access log line per request (e.g.
        # while a demo prints its own table).
        local.server.RequestHandlerClass = functools.partial(
            _QuietRequestHandler if quiet else _RequestHandler, app_object=local.app_object, config=config
        )
        super().__init__(local.server, "local-api")
