"""The app's REST API on localhost, served by Chalice's own local server."""
from __future__ import annotations

import threading

from chalice.local import create_local_server


class LocalApi:
    def __init__(self, chalice_app, config, host: str = "127.0.0.1", port: int = 8000):
        self._server = create_local_server(chalice_app, config, host, port)
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
