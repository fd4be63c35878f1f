"""The app's REST API on localhost, served by Chalice's own local server."""
from __future__ import annotations

import functools
import threading

from chalice.local import ChaliceRequestHandler, create_local_server


class _QuietRequestHandler(ChaliceRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class LocalApi:
    def __init__(self, chalice_app, config, host: str = "127.0.0.1", port: int = 8000, *, quiet: bool = False):
        self._server = create_local_server(chalice_app, config, host, port)
        if quiet:  # no access log line per request, e.g. while a demo prints its own table
            self._server.server.RequestHandlerClass = functools.partial(
                _QuietRequestHandler, app_object=self._server.app_object, config=config
            )
        self._thread = threading.Thread(target=self._server.server.serve_forever, name="local-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalApi":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.server.shutdown()
        self._server.server.server_close()
        self._thread.join(timeout=10)
