"""Work the embedded stack runs in a daemon thread from `start()` until `stop()`: its servers and its pollers."""
from __future__ import annotations

import logging
import threading


class BackgroundThread:
    """A daemon thread running `_run` until `stop()` calls `_halt` (which makes `_run` return) and joins it.

    Daemon, so a stack that is never stopped (Ctrl-C, a failing test) does not keep the process alive."""

    def __init__(self, name: str, *, join_seconds: float = 10):
        self._join_seconds = join_seconds
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def _halt(self) -> None:
        raise NotImplementedError

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._halt()
        self._thread.join(timeout=self._join_seconds)


class BackgroundServer(BackgroundThread):
    """A socket server (werkzeug's, or Chalice's local one) answering on its loopback port."""

    def __init__(self, server, name: str):
        self._server = server
        super().__init__(name)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _run(self) -> None:
        self._server.serve_forever()

    def _halt(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def quiet_servers() -> None:
    """The local servers log every request; the pipeline's own JSON logs say what matters."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
