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
        self.received = []  # (method, full URL, headers, body) of each request
        self.result_calls = 0
        self.result_queries = []
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.requests.append((request.method, request.path, request.headers.get("x-api-key")))
        raw_url = f"{self.url}{environ.get('REQUEST_URI') or environ.get('RAW_URI')}"  # as sent, not re-quoted
        self.received.append((request.method, raw_url, dict(request.headers), request.get_data()))
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


SIGNING_CREDENTIALS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


def _authorization(header: str) -> dict:
    """`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` as a dict (and the algorithm)."""
    algorithm, _, rest = header.partition(" ")
    return {"algorithm": algorithm, **dict(part.strip().split("=", 1) for part in rest.split(","))}


def _signature_as_api_gateway_computes_it(method, url, headers, body, credentials, region, signed_headers) -> str:
    """The SigV4 signature of the request as received, computed again from the secret (what IAM authorization does)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    names = [name for name in signed_headers.split(";") if name != "host"]
    received = {name.lower(): value for name, value in headers.items()}
    request = AWSRequest(method=method, url=url, data=body, headers={name: received[name] for name in names})
    request.context["timestamp"] = received["x-amz-date"]
    signer = SigV4Auth(credentials, "execute-api", region)
    return signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)


def test_given_iam_auth_when_calling_the_api_then_each_request_is_signed_for_execute_api_and_storage_is_not(
        api, tmp_path):
    import boto3

    # GIVEN a client signing with a fixed credential in eu-central-1 (an IAM stage: API_AUTH=iam)
    session = boto3.session.Session(region_name="eu-central-1", **SIGNING_CREDENTIALS)
    client = ApiClient(api.url, auth="iam", session=session)
    photo = tmp_path / "P-1.jpg"
    photo.write_bytes(b"\xff\xd8 jpeg bytes")
    # WHEN it asks for two upload URLs (different bodies), uploads one photo and reads results with a query
    client.request_upload("P-1", "image/jpeg")
    client.upload(photo, "P-2")
    api.result_calls = 3  # past the throttling and the pending answer
    client.wait_for_result("P-1", "uploads/P-1/c.jpg", timeout=10, retry_interval=0.01)
    by_path = {}
    for method, url, headers, body in api.received:
        by_path.setdefault(url.split("?")[0].rsplit("/", 2)[-1] if "/results/" in url else url.rsplit("/", 1)[-1],
                           []).append((method, url, headers, body))
    # THEN every request to the API carries a SigV4 Authorization for execute-api in the session's region
    credentials = session.get_credentials().get_frozen_credentials()
    signatures = []
    for method, url, headers, body in by_path["uploads"] + by_path["P-1"]:
        fields = _authorization(headers["Authorization"])
        assert fields["algorithm"] == "AWS4-HMAC-SHA256"
        key_id, date, region, service, terminator = fields["Credential"].split("/")
        assert (key_id, region, service, terminator) == ("AKIDEXAMPLE", "eu-central-1", "execute-api", "aws4_request")
        assert headers["X-Amz-Date"].startswith(date)
        assert {"host", "x-amz-date"} <= set(fields["SignedHeaders"].split(";"))
        # ... and the signature is the one API Gateway computes from the secret: for this method, URL and body
        assert fields["Signature"] == _signature_as_api_gateway_computes_it(
            method, url, headers, body, credentials, "eu-central-1", fields["SignedHeaders"])
        signatures.append(fields["Signature"])
    assert "wait=" in by_path["P-1"][0][1]  # the query is part of what was signed
    # the two upload requests differ only in their bodies, and so do their signatures
    (_, _, _, first), (_, _, _, second) = by_path["uploads"]
    assert first != second and signatures[0] != signatures[1]
    # the pre-signed POST to storage is not signed again, and no API key is sent
    [(_, _, storage_headers, _)] = by_path["bucket"]
    assert "Authorization" not in storage_headers
    assert all(key is None for _, _, key in api.requests)


def test_given_api_key_auth_when_calling_the_api_then_no_signature_only_the_key(api):
    ApiClient(api.url, api_key="secret-key").request_upload("P-1", "image/jpeg")
    [(_, _, headers, _)] = api.received
    assert headers.get("X-Api-Key") == "secret-key"
    assert "Authorization" not in headers and "X-Amz-Date" not in headers


def test_given_iam_auth_without_credentials_when_the_client_is_made_then_it_says_how_to_give_them(monkeypatch):
    import boto3

    from inspection_app.errors import UserError

    session = boto3.session.Session(region_name="eu-central-1")
    monkeypatch.setattr(session, "get_credentials", lambda: None)
    with pytest.raises(UserError, match="--auth iam signs requests with AWS credentials, and none were found"):
        ApiClient("https://abc123.execute-api.eu-central-1.amazonaws.com/api", auth="iam", session=session)


def test_the_region_comes_from_an_api_gateway_url():
    from inspection_app.client import api_region

    assert api_region("https://abc123.execute-api.ap-southeast-2.amazonaws.com/api/") == "ap-southeast-2"
    assert api_region("http://127.0.0.1:8000") is None


def test_given_the_cli_with_auth_iam_when_results_are_read_then_the_request_is_signed(api, monkeypatch, capsys):
    from inspection_app.cli.main import main

    # GIVEN credentials in the environment (the standard chain) and INSPECTION_API_AUTH=iam
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
                        "AWS_DEFAULT_REGION": "eu-west-1", "INSPECTION_API_AUTH": "iam"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    api.legacy, api.result_calls = True, 3  # answers the product's history
    # WHEN `inspection-app results` reads a product (the option beats the variable: --auth api_key would not sign)
    assert main(["results", "P-1", "--api", api.url]) == 0
    assert main(["results", "P-1", "--api", api.url, "--auth", "api_key", "--api-key", "k"]) == 0
    # THEN the first request is signed for execute-api in the session's region, the second carries the key only
    signed, keyed = [headers for _, _, headers, _ in api.received]
    assert "/eu-west-1/execute-api/aws4_request" in signed["Authorization"]
    assert "Authorization" not in keyed and keyed["X-Api-Key"] == "k"
    capsys.readouterr()
