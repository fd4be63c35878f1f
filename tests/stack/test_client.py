"""The API client: API key only to the API, patient polling, errors in the API's own words."""
from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from inspection_app.client import ApiClient, ApiError


class FakeApi:
    """POST /uploads points at its own /bucket; GET /results throttles twice before answering."""

    def __init__(self):
        self.requests = []
        self.result_calls = 0
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.requests.append((request.method, request.path, request.headers.get("x-api-key")))
        if request.path == "/uploads":
            body = {"url": f"{self.url}/bucket", "fields": {"key": "uploads/P-1/c.jpg"}, "key": "uploads/P-1/c.jpg"}
            response = Response(json.dumps(body), status=201, content_type="application/json")
        elif request.path == "/bucket":
            response = Response("", status=204)
        elif request.path == "/results/P-1":
            self.result_calls += 1
            if self.result_calls <= 2:
                response = Response('{"message": "Too Many Requests"}', status=429, content_type="application/json")
            else:
                body = {"history": [{"key": "uploads/P-1/c.jpg", "verdict": "defect_free"}]}
                response = Response(json.dumps(body), content_type="application/json")
        else:
            response = Response('{"message": "Forbidden"}', status=403, content_type="application/json")
        return response(environ, start_response)

    def stop(self):
        self._server.shutdown()


@pytest.fixture
def api():
    fake = FakeApi()
    yield fake
    fake.stop()


def test_key_goes_to_the_api_not_to_storage_and_throttling_is_waited_out(api, tmp_path):
    # GIVEN a deployed API that wants a key and throttles the first result polls
    photo = tmp_path / "P-1.jpg"
    photo.write_bytes(b"\xff\xd8 jpeg bytes")
    client = ApiClient(api.url, api_key="secret-key")
    # WHEN a photo is inspected
    inspection = client.inspect(photo, timeout=10)
    # THEN the verdict arrives after the 429s, and only API calls carried the key
    assert inspection.result["verdict"] == "defect_free"
    assert api.result_calls == 3
    keys = {path: key for _, path, key in api.requests}
    assert keys["/uploads"] == "secret-key" and keys["/results/P-1"] == "secret-key"
    assert keys["/bucket"] is None


def test_refusal_raises_with_the_apis_message(api):
    with pytest.raises(ApiError, match="Forbidden") as raised:
        ApiClient(api.url).results("OTHER")
    assert raised.value.status == 403
