"""The embedded stack's HTTP server (inspection_app/stack/background.py: KeepAliveServer on waitress)."""
from __future__ import annotations

import re
import socket
import threading
import time

import pytest
import urllib3

from inspection_app.stack.background import BackgroundServer, KeepAliveServer


def echo_length(environ, start_response):
    body = environ["wsgi.input"].read()
    answer = str(len(body)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]


@pytest.fixture()
def server():
    running = BackgroundServer(KeepAliveServer("127.0.0.1", 0, echo_length), "test-server").start()
    yield running
    running.stop()


def raw_request(url: str, request: bytes, body: bytes = b"", *, seconds: float = 2) -> bytes:
    """Send `request` (headers); send `body` once the server answers 100 Continue; return the final answer."""
    host, port = url.removeprefix("http://").split(":")
    continue_line = b"HTTP/1.1 100 Continue\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=seconds) as connection:
        connection.sendall(request)
        answer = b""
        while True:
            answer += connection.recv(4096)
            if answer.startswith(continue_line):
                answer = answer[len(continue_line):]
                connection.sendall(body)
            head, _, rest = answer.partition(b"\r\n\r\n")
            length = re.search(rb"Content-Length: (\d+)", head)
            if length and len(rest) >= int(length[1]):
                return answer


def test_requests_share_one_kept_alive_connection(server):
    pool = urllib3.connection_from_url(server.url, maxsize=1)
    answers = [pool.urlopen("POST", "/", body=b"abc").data for _ in range(5)]
    assert answers == [b"3"] * 5
    assert pool.num_connections == 1


def test_an_empty_request_asking_for_100_continue_is_answered_at_once(server):
    # GIVEN botocore's empty PutObject: Expect: 100-continue with Content-Length: 0
    request = b"PUT /bucket/key HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n"
    # WHEN sent THEN the final answer comes without a 100 Continue (waitress alone never answers)
    answer = raw_request(server.url, request)
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\n0")


def test_a_request_with_a_body_still_gets_100_continue_first(server):
    request = b"PUT /bucket/key HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"
    answer = raw_request(server.url, request, b"x")
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\n1")


def test_stop_closes_kept_alive_connections_and_returns_at_once():
    running = BackgroundServer(KeepAliveServer("127.0.0.1", 0, echo_length), "test-server").start()
    pool = urllib3.connection_from_url(running.url, maxsize=2)
    assert pool.urlopen("GET", "/").status == 200  # a connection left open
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(urllib3.exceptions.HTTPError):
        pool.urlopen("GET", "/", retries=False)


def test_a_second_stop_does_nothing():
    # GIVEN a stopped server (its trigger pipe closed with every other socket)
    running = BackgroundServer(KeepAliveServer("127.0.0.1", 0, echo_length), "test-server").start()
    running.stop()
    # WHEN it is stopped again (a clean-up path that also stops it) THEN nothing is written to a closed descriptor
    running.stop()


def test_stop_while_the_serving_thread_wakes_for_a_request_thread_writes_before_the_pipe_closes(monkeypatch):
    # GIVEN a running server whose serving thread is woken (a request thread's answer) just as stop queues
    # the closing work: the wake-up runs the queued work at once, before stop's own byte is written
    server = KeepAliveServer("127.0.0.1", 0, echo_length)
    running = BackgroundServer(server, "test-server").start()
    trigger = server._server.trigger
    write_byte = trigger._physical_pull

    def woken_before_writing():
        write_byte()  # a request thread's wake-up, already in the pipe
        waking = threading.Thread(target=trigger.handle_read)  # what the serving thread does when woken
        waking.start()
        waking.join(timeout=0.5)  # it ran the queued work if nothing held it back
        write_byte()

    monkeypatch.setattr(trigger, "_physical_pull", woken_before_writing)
    # WHEN it is stopped THEN the byte reaches the still-open pipe (no EBADF) and the server stops
    running.stop()
    assert trigger._closed
    assert not running._thread.is_alive()
