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
    """A server (`KeepAliveServer`, or Chalice's local one) answering on its loopback port."""

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


class KeepAliveServer:
    """A WSGI app served by waitress on `host:port` (0: a free port), with `BackgroundServer`'s interface.

    Not werkzeug's development server: it closes every connection after one request, so each request of the
    stack paid a TCP connection and a new thread, and under load their socket calls queued on the GIL (a
    third of the moto process's time). waitress keeps connections open and answers from a pool of threads.
    Like werkzeug, it drops request headers with an underscore in their name (S3 metadata keys such as
    `x-amz-meta-line_no` do not arrive)."""

    def __init__(self, host: str, port: int, app, *, threads: int = 32):
        import waitress  # noqa: PLC0415 - only the embedded stack serves anything

        self._server = waitress.create_server(
            app, host=host, port=port, threads=threads,
            connection_limit=1000,  # every client, poller and execution of a busy stack holds one
            channel_timeout=300,  # longer than any long-poll the stack answers
            ident=None,  # no Server header
        )
        self._server.channel_class = _channel_class()
        self.server_address = (host, self._server.effective_port)
        self.server_port = self._server.effective_port

    def serve_forever(self) -> None:
        self._server.run()  # until its socket map is empty

    def shutdown(self) -> None:
        from waitress import wasyncore  # noqa: PLC0415

        # Closed by the serving thread itself (asyncore is not thread-safe): the listening socket and every
        # kept-alive connection, so `run` returns at once; then the request threads are stopped. A closed
        # trigger means that happened already (a second stop): its pipe's descriptor may now be another file's.
        # Not `pull_trigger(thunk)`: it queues the thunk, lets go of the lock, then writes; a wake-up pulled
        # by a request thread in between runs the thunk first, which closes the pipe we then write to (EBADF,
        # or a byte into whichever file reused the descriptor). Under the lock the thunk waits for our byte.
        trigger = self._server.trigger
        with trigger.lock:
            if not trigger._closed:
                trigger.thunks.append(lambda: wasyncore.close_all(self._server._map))
                trigger._physical_pull()
        self._server.task_dispatcher.shutdown(timeout=5)

    def server_close(self) -> None:
        """Closed by `shutdown` already."""


def _channel_class():
    """waitress's connection, answering a complete request that asked for `100 Continue` without one.

    waitress 3.0 sends `100 Continue` and then waits for a body even when the request is already complete
    (`Expect: 100-continue` with `Content-Length: 0`, as botocore sends an empty PutObject) and never answers.
    HTTP lets a server that has the whole request answer it at once (RFC 9110, 10.1.1); botocore reads that
    answer as the response."""
    from waitress.channel import HTTPChannel  # noqa: PLC0415

    class Channel(HTTPChannel):
        def send_continue(self):
            if self.request.completed:
                self.request.expect_continue = False
                return
            super().send_continue()

    return Channel


def quiet_servers() -> None:
    """The local servers log every request; the pipeline's own JSON logs say what matters."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("waitress").setLevel(logging.ERROR)
