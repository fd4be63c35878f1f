"""The API client: API key only to the API, one waiting request per verdict, errors in the API's own words."""
from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from inspection_app.client import ApiClient, ApiError


class FakeApi:
    """POST /uploads points at its own /bucket; GET /results throttles twice, then (with `key` and `wait`, as
    the app does) answers 202 pending once and then the result; `legacy`: an API without the wait, which
    answers 404 until the product has a result, then its history."""

    def __init__(self, legacy: bool = False):
        self.legacy = legacy
        self.requests = []
        self.result_calls = 0
        self.result_queries = []
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
            self.result_queries.append(dict(request.args))
            result = {"key": "uploads/P-1/c.jpg", "verdict": "defect_free"}
            if self.result_calls <= 2:
                response = Response('{"message": "Too Many Requests"}', status=429, content_type="application/json")
            elif self.legacy:
                body = {"history": [result]} if self.result_calls > 3 else {"message": "no result yet"}
                response = Response(json.dumps(body), status=200 if "history" in body else 404,
                                    content_type="application/json")
            elif self.result_calls == 3:
                body = {"product_id": "P-1", "key": request.args["key"], "status": "pending"}
                response = Response(json.dumps(body), status=202, content_type="application/json")
            else:
                body = {"product_id": "P-1", "key": request.args["key"], "result": result}
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
    # GIVEN a deployed API that wants a key, throttles the first result requests and answers pending once
    photo = tmp_path / "P-1.jpg"
    photo.write_bytes(b"\xff\xd8 jpeg bytes")
    client = ApiClient(api.url, api_key="secret-key")
    # WHEN a photo is inspected
    inspection = client.wait_for_result("P-1", client.upload(photo, "P-1")["key"], timeout=10, retry_interval=0.01)
    # THEN the verdict arrives after the 429s and the pending answer, each request waiting for that upload
    assert inspection["verdict"] == "defect_free"
    assert api.result_calls == 4
    assert api.result_queries[-1]["key"] == "uploads/P-1/c.jpg"
    assert 0 < int(api.result_queries[-1]["wait"]) <= 10  # never past the client's own timeout
    keys = {path: key for _, path, key in api.requests}
    assert keys["/uploads"] == "secret-key" and keys["/results/P-1"] == "secret-key"
    assert keys["/bucket"] is None


def test_inspect_waits_with_one_request_per_verdict(tmp_path):
    # GIVEN an API that answers the waiting request with the result
    api = FakeApi()
    api.result_calls = 3  # past the throttling and the pending answer
    photo = tmp_path / "P-1.jpg"
    photo.write_bytes(b"\xff\xd8 jpeg bytes")
    try:
        # WHEN a photo is inspected
        inspection = ApiClient(api.url).inspect(photo, timeout=60)
    finally:
        api.stop()
    # THEN one results request, waiting the longest the API allows
    assert inspection.result["verdict"] == "defect_free"
    assert api.result_queries == [{"key": "uploads/P-1/c.jpg", "wait": "20"}]  # timeout=60: the API's 20 s


def test_an_api_without_the_wait_is_polled(tmp_path):
    # GIVEN an API that ignores key and wait: 404 before the first result, then the product's history
    api = FakeApi(legacy=True)
    try:
        # WHEN the client waits for an upload's result
        result = ApiClient(api.url).wait_for_result("P-1", "uploads/P-1/c.jpg", timeout=10, retry_interval=0.01)
    finally:
        api.stop()
    # THEN it finds it in the history
    assert result["verdict"] == "defect_free"
    assert api.result_calls == 4


def test_refusal_raises_with_the_apis_message(api):
    with pytest.raises(ApiError, match="Forbidden") as raised:
        ApiClient(api.url).results("OTHER")
    assert raised.value.status == 403
