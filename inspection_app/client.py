"""A client of the REST API: request a pre-signed POST, upload, wait for the stored verdict."""
from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from chalicelib.result_wait import MAX_WAIT_SECONDS

from .aws_session import aws_session
from .errors import InputError, UserError

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".tif": "image/tiff",
                 ".tiff": "image/tiff", ".bmp": "image/bmp"}


class ApiError(UserError):
    """The API refused a request; the message is the API's own explanation."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Inspection:
    file: str
    product_id: str
    key: str
    result: dict
    latency_ms: float


def image_files(paths: list[Path]) -> list[Path]:
    """Every image file (by extension) under `paths`, in a stable order; InputError for a path that does not exist."""
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CONTENT_TYPES))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path} does not exist")
    return files


# How the client proves who it is: an API key (x-api-key), or a SigV4 signature on a stage deployed with
# API_AUTH=iam (chalicelib/settings.py).
AUTH_MODES = ("api_key", "iam")
_API_GATEWAY_HOST = re.compile(r"[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?")


class SigV4Signer(requests.auth.AuthBase):
    """Signs each request to the API with AWS Signature Version 4 for API Gateway (service `execute-api`), as
    IAM authorization checks it: method, path, query, the headers sent and a hash of the body. Credentials are
    read at each request, so refreshed ones (a role's) are used."""

    def __init__(self, credentials, region: str):
        self._credentials, self._region = credentials, region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        signed = AWSRequest(method=request.method, url=request.url, data=body or b"",
                            headers={name: value for name, value in request.headers.items()
                                     if name.lower() in ("content-type", "x-api-key")})
        credentials = self._credentials.get_frozen_credentials() if hasattr(
            self._credentials, "get_frozen_credentials") else self._credentials
        SigV4Auth(credentials, "execute-api", self._region).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        return request


def api_region(base_url: str) -> str | None:
    """The region in an API Gateway URL (https://ID.execute-api.REGION.amazonaws.com/STAGE), else None."""
    host = requests.utils.urlparse(base_url).hostname or ""
    match = _API_GATEWAY_HOST.fullmatch(host)
    return match.group(1) if match else None


def sigv4_signer(base_url: str, session=None) -> SigV4Signer:
    """A signer with the AWS credentials of `session` (default: the standard chain: environment, profile, role),
    in the API's region (from its URL, else the session's); UserError when there are none."""
    session = session or aws_session(required_region=False)
    credentials = session.get_credentials()
    if credentials is None:
        raise UserError("--auth iam signs requests with AWS credentials, and none were found: set AWS_PROFILE, "
                        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a role provides them.")
    region = api_region(base_url) or session.region_name
    if not region:
        raise UserError(f"--auth iam needs the API's region, which {base_url} does not name: set AWS_REGION.")
    return SigV4Signer(credentials, region)


# Answers worth asking again after a pause: throttling (API Gateway usage plans) and server hiccups.
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiClient:
    def __init__(self, base_url: str, *, api_key: str | None = None, auth: str = "api_key", session=None,
                 timeout: float = 30):
        """`auth`: "api_key" (send `api_key`, if any, as x-api-key) or "iam" (sign every request to the API with
        SigV4, with the credentials of the boto3 `session`, default the standard chain)."""
        if auth not in AUTH_MODES:
            raise InputError(f"auth {auth!r} must be one of {', '.join(AUTH_MODES)}")
        self._base = base_url.rstrip("/")
        self._http = requests.Session()
        if api_key:  # API Gateway's usage-plan key; sent to the API only, never to S3
            self._http.headers["x-api-key"] = api_key
        if auth == "iam":  # signs what goes through self._http: the API's requests, not the S3 uploads
            self._http.auth = sigv4_signer(self._base, session)
        self._timeout = timeout

    def _call(self, method: str, path: str, **kwargs) -> dict:
        """The API's JSON answer; ApiError with its message when it refuses, or when nothing answers."""
        kwargs.setdefault("timeout", self._timeout)
        try:
            response = self._http.request(method, f"{self._base}{path}", **kwargs)
        except requests.RequestException as error:
            raise ApiError(0, f"no answer from the API at {self._base} ({type(error).__name__}); is it running, "
                              "and is --api its URL?") from None
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:200]}
        if response.status_code >= 400:
            raise ApiError(response.status_code, body.get("message") or body.get("Message") or str(body))
        return body

    def request_upload(self, product_id: str, content_type: str) -> dict:
        return self._call("POST", "/uploads", json={"product_id": product_id, "content_type": content_type})

    def results(self, product_id: str) -> dict:
        return self._call("GET", f"/results/{product_id}")

    def reinspect(self, verdict: str, since: str | None = None, product_id: str | None = None) -> dict:
        """Inspect again the photos whose result is `verdict` (since `since`); returns what was started."""
        request = {"verdict": verdict, "since": since, "product_id": product_id}
        return self._call("POST", "/reinspections", json={k: v for k, v in request.items() if v})

    def inspections(self, verdict: str, *, since: str | None = None, reviewed: bool | None = None,
                    limit: int = 100) -> Iterator[dict]:
        """Every result whose model verdict is `verdict` (since `since`), newest first: GET /inspections, page
        after page; `reviewed` True/False keeps only the reviewed/unreviewed ones."""
        query = {"verdict": verdict, "since": since, "limit": limit,
                 "reviewed": None if reviewed is None else str(reviewed).lower()}
        query = {name: value for name, value in query.items() if value is not None}
        while True:
            page = self._call("GET", "/inspections", params=query)
            yield from page["items"]
            if not page.get("next"):
                return
            query["next"] = page["next"]

    def image(self, inspection_id: str) -> bytes:
        """The inspected photo's bytes, through its short-lived URL (GET /inspections/{id}/image)."""
        url = self._call("GET", f"/inspections/{inspection_id}/image")["url"]
        try:
            response = requests.get(url, timeout=self._timeout)
        except requests.RequestException as error:
            raise ApiError(0, f"the photo of {inspection_id} could not be read ({type(error).__name__})") from None
        if response.status_code != 200:
            raise ApiError(response.status_code,
                           f"the photo of {inspection_id} could not be read: {_storage_error(response)}")
        return response.content

    def upload(self, path: Path, product_id: str) -> dict:
        """Upload one file through a pre-signed POST; returns the upload description (key, ...)."""
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type is None:
            raise ApiError(0, f"{path.name}: only {', '.join(CONTENT_TYPES)} files can be uploaded")
        upload = self.request_upload(product_id, content_type)
        with open(path, "rb") as body:
            response = requests.post(
                upload["url"], data=upload["fields"], files={"file": (path.name, body, content_type)},
                timeout=self._timeout,
            )
        if response.status_code not in (200, 201, 204):
            raise ApiError(response.status_code, f"upload of {path.name} refused by storage: {_storage_error(response)}")
        return upload

    def wait_for_result(self, product_id: str, key: str, *, timeout: float = 120, wait: float = MAX_WAIT_SECONDS,
                        retry_interval: float = 1.0) -> dict:
        """The stored result for the upload `key`: `GET /results/{product_id}?key=...&wait=...` answers it as soon
        as it is stored (one request in the common case); a 202 "pending" after the wait is asked again.

        Throttling and server hiccups are asked again after `retry_interval`. An API without the wait (it answers
        the product's history, or 404 before the first result) is polled at that interval instead."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no result for {key} after {timeout:.0f} s")
            seconds = max(0, min(wait, int(left)))
            try:
                body = self._call("GET", f"/results/{product_id}", params={"key": key, "wait": seconds},
                                  timeout=seconds + self._timeout)
            except ApiError as error:
                if error.status != 404 and error.status not in _RETRIED_STATUSES:
                    raise
                body = {}
            if "result" in body:
                return body["result"]
            found = [result for result in body.get("history", []) if result.get("key") == key]
            if found:
                return found[0]
            if body.get("status") != "pending" or seconds == 0:  # not a long wait: pause before asking again
                time.sleep(min(retry_interval, max(0.0, deadline - time.monotonic())))

    def inspect(self, path: Path, product_id: str | None = None, *, timeout: float = 120) -> Inspection:
        """Upload `path` (product id: the file's stem) and wait until its verdict is stored."""
        product_id = product_id or path.stem
        started = time.perf_counter()
        upload = self.upload(path, product_id)
        result = self.wait_for_result(product_id, upload["key"], timeout=timeout)
        return Inspection(str(path), product_id, upload["key"], result, (time.perf_counter() - started) * 1000)


def _storage_error(response) -> str:
    """S3's `<Error><Code>…</Code><Message>…</Message></Error>` as "Code: Message" (else the start of the body)."""
    try:
        error = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        return response.text[:200]
    code, message = error.findtext("Code"), error.findtext("Message")
    return f"{code}: {message}" if code else response.text[:200]
