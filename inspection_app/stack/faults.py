"""Fault injection for the embedded stack: rehearse an outage of one service, as AWS FIS does in the cloud.

A `FaultTable` says which services fail until when. WSGI layers in front of moto and of the model endpoint
answer the requests of a failing service the way AWS answers during an outage, so botocore raises the same
errors as in the cloud and the unchanged app (and moto's Step Functions interpreter, which publishes to
SNS over HTTP on the moto port) sees a real outage:

- `dynamodb`: HTTP 500 `InternalServerError` (JSON, as DynamoDB sends it);
- `sns`: HTTP 503 `ServiceUnavailable` (query-protocol XML, `Receiver` fault);
- `s3`: HTTP 503 `ServiceUnavailable` for object reads (GET/HEAD of an object) only: uploads keep arriving;
- `model`: HTTP 503 `ServiceUnavailable` from the SageMaker runtime API.

With mode `close` the connection is dropped without an answer instead (botocore: ConnectionClosedError).
moto requests are told apart by the service in their SigV4 credential scope; Lambda invocations, SQS and
Step Functions are never faulted. `/_inspection/faults` on the moto port controls the table.
"""
from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

from chalicelib.logs import log

from ..errors import InputError

SERVICES = ("model", "dynamodb", "s3", "sns")
MODES = ("error", "close")
MAX_SECONDS = 3600
CONTROL_PATH = "/_inspection/faults"

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"^[^/]+/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request$")
_VIRTUAL_HOST_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]*\.(s3[.-]|localhost$)")

# What each service answers while it fails (mode "error"), in words; the answers are built below.
ERRORS = {
    "dynamodb": "HTTP 500 InternalServerError",
    "sns": "HTTP 503 ServiceUnavailable",
    "s3": "HTTP 503 ServiceUnavailable on object reads (uploads still work)",
    "model": "HTTP 503 ServiceUnavailable",
}


class FaultError(InputError, ValueError):
    """A fault request that cannot be honoured; the message is one line for the user."""


@dataclass(frozen=True)
class Fault:
    service: str
    mode: str
    seconds: float
    until: float  # on the table's clock
    ends_at: datetime  # wall-clock time, UTC

    def as_json(self) -> dict:
        return {
            "service": self.service,
            "mode": self.mode,
            "seconds": self.seconds,
            "until": self.ends_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }


def validate(service, seconds, mode="error") -> tuple[str, float, str]:
    """The checked (service, seconds, mode) of a fault request; FaultError says what is wrong."""
    if service not in SERVICES:
        raise FaultError(f"unknown service {service!r}; choose one of {', '.join(SERVICES)}")
    if mode not in MODES:
        raise FaultError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if isinstance(seconds, bool):
        raise FaultError(f"seconds must be a number, not {seconds!r}")
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        raise FaultError(f"seconds must be a number, not {seconds!r}") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
        raise FaultError(f"seconds must be more than 0 and at most {MAX_SECONDS}, not {seconds:g}")
    return service, seconds, mode


class FaultTable:
    """Which services fail until when; thread-safe. `clock` is monotonic seconds (injectable for tests)."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self._timers: dict[str, threading.Timer] = {}

    def start(self, service: str, seconds: float, mode: str = "error") -> Fault:
        """Fail `service` for `seconds` from now (replacing a fault it already has)."""
        service, seconds, mode = validate(service, seconds, mode)
        fault = Fault(service, mode, seconds, self._clock() + seconds,
                      datetime.now(timezone.utc) + timedelta(seconds=seconds))
        # The end is logged when the window elapses, even if no request comes to notice it.
        timer = threading.Timer(seconds, self._expire)
        timer.daemon = True
        with self._lock:
            self._faults[service] = fault
            previous = self._timers.pop(service, None)
            self._timers[service] = timer
        if previous:
            previous.cancel()
        timer.start()
        log("fault started", service=service, mode=mode, seconds=seconds, until=fault.as_json()["until"],
            error=ERRORS[service] if mode == "error" else "connection closed")
        return fault

    def active(self, service: str | None) -> Fault | None:
        """The fault `service` has now, if any."""
        if service not in SERVICES:
            return None
        with self._lock:
            fault = self._faults.get(service)
        if fault and self._clock() >= fault.until:
            self._expire()
            return None
        return fault

    def faults(self) -> list[Fault]:
        self._expire()
        with self._lock:
            return sorted(self._faults.values(), key=lambda fault: fault.service)

    def clear(self, service: str | None = None) -> list[Fault]:
        """End the fault of `service` (all faults if None) now; returns those it ended."""
        with self._lock:
            names = [service] if service else list(self._faults)
            ended = [self._faults.pop(name) for name in names if name in self._faults]
            timers = [self._timers.pop(name) for name in names if name in self._timers]
        for timer in timers:
            timer.cancel()
        for fault in ended:
            log("fault ended", service=fault.service, mode=fault.mode, reason="cleared")
        return ended

    def _expire(self) -> None:
        now = self._clock()
        with self._lock:
            ended = [fault for fault in self._faults.values() if now >= fault.until]
            for fault in ended:
                del self._faults[fault.service]
                self._timers.pop(fault.service, None)
        for fault in ended:
            log("fault ended", service=fault.service, mode=fault.mode, reason="elapsed")


# ---- which service a request is for -------------------------------------------------------------

def signing_service(environ) -> str | None:
    """The service in the request's SigV4 credential scope (Authorization header or pre-signed URL).

    S3's SigV2 signatures (`Authorization: AWS key:signature`, or a pre-signed URL with `AWSAccessKeyId` and
    `Signature`, which boto3 still makes for S3) name no service; the query APIs' own SigV2 carries a
    `SignatureVersion` parameter, so the rest is S3.
    """
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    match = _CREDENTIAL_SCOPE.search(authorization)
    if match:
        return match["service"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    credential = query.get("X-Amz-Credential")
    match = credential and _QUERY_SCOPE.match(credential[0])
    if match:
        return match["service"]
    if authorization.startswith("AWS ") or (
        "AWSAccessKeyId" in query and "Signature" in query and "SignatureVersion" not in query  # not SQS/SNS V2
    ):
        return "s3"
    return None


def _is_object_read(environ) -> bool:
    """GET or HEAD of an object (path-style `/bucket/key`, or `/key` on a virtual-hosted bucket)."""
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return False
    path = environ.get("PATH_INFO", "").lstrip("/")
    host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0].lower()
    if _VIRTUAL_HOST_BUCKET.match(host):
        return bool(path)
    bucket, _, key = path.partition("/")
    return bool(bucket and key)


def aws_service(environ) -> str | None:
    """The faultable service of a request to moto: DynamoDB, SNS, and S3 object reads; None for the rest."""
    service = signing_service(environ)
    if service == "s3":
        return "s3" if _is_object_read(environ) else None
    return service if service in ("dynamodb", "sns") else None


# ---- what a failing service answers -------------------------------------------------------------

# Per service: HTTP status, content type, extra headers and body ({id} is the request id), as AWS answers.
_OUTAGE_ANSWERS = {
    "dynamodb": ("500 Internal Server Error", "application/x-amz-json-1.0", [("x-amzn-RequestId", "{id}")],
                 '{"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", '
                 '"message": "Internal server error (injected fault)"}'),
    "sns": ("503 Service Unavailable", "text/xml", [("x-amzn-RequestId", "{id}")],
            '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Receiver</Type>'
            "<Code>ServiceUnavailable</Code><Message>Service is unavailable (injected fault)</Message></Error>"
            "<RequestId>{id}</RequestId></ErrorResponse>"),
    "s3": ("503 Service Unavailable", "application/xml", [("x-amz-request-id", "{id}")],
           '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
           "<Message>Service is unable to handle request (injected fault)</Message>"
           "<RequestId>{id}</RequestId><HostId>local</HostId></Error>"),
    # The SageMaker runtime (rest-json): botocore reads the code from x-amzn-ErrorType.
    "model": ("503 Service Unavailable", "application/json",
              [("x-amzn-ErrorType", "ServiceUnavailable"), ("x-amzn-RequestId", "{id}")],
              '{"__type": "ServiceUnavailable", "message": "The endpoint is unavailable (injected fault)"}'),
}


def _error_response(service: str, method: str) -> tuple[str, list[tuple[str, str]], bytes]:
    status, content_type, headers, body = _OUTAGE_ANSWERS[service]
    request_id = uuid.uuid4().hex[:16].upper()
    headers = [(name, value.replace("{id}", request_id)) for name, value in headers]
    # A HEAD answer has no body: botocore's error code is then the status, e.g. "503".
    payload = b"" if method == "HEAD" else body.replace("{id}", request_id).encode()
    return status, [("Content-Type", content_type), ("Content-Length", str(len(payload))), *headers], payload


def _drop_connection(environ, start_response):
    """Close the connection without answering, as a crashed or unreachable endpoint would look."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    # waitress (the stack's server) gives the app no socket; its channel, behind this environ entry, holds it.
    channel = getattr(environ.get("waitress.client_disconnected"), "__self__", None)
    connection = getattr(channel, "socket", None)
    if connection is not None:
        try:
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    # The server's write fails on the closed socket, which it treats as a dropped connection.
    start_response("503 Service Unavailable", [("Content-Length", "0"), ("Connection", "close")])
    return [b""]


def fault_middleware(table: FaultTable, wsgi_app, service_of):
    """WSGI app: requests whose `service_of(environ)` is failing get the outage's answer; others `wsgi_app`."""

    def application(environ, start_response):
        fault = table.active(service_of(environ))
        if not fault:
            return wsgi_app(environ, start_response)
        if fault.mode == "close":
            return _drop_connection(environ, start_response)
        status, headers, body = _error_response(fault.service, environ.get("REQUEST_METHOD", ""))
        start_response(status, headers)
        return [body]

    return application


# ---- the control endpoint ------------------------------------------------------------------------

def _json(start_response, status: str, value) -> list[bytes]:
    body = json.dumps(value).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def control_middleware(table: FaultTable, wsgi_app):
    """WSGI app: `POST|GET|DELETE /_inspection/faults` manage the table; everything else goes to `wsgi_app`.

    POST `{"service": "dynamodb", "seconds": 45, "mode": "error"}` -> the fault with its `until` (UTC);
    GET -> `{"faults": [...]}` (the active ones); DELETE [`?service=s3`] -> `{"cleared": [...]}`.
    """

    def application(environ, start_response):
        if environ.get("PATH_INFO", "").rstrip("/") != CONTROL_PATH:
            return wsgi_app(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        if method == "GET":
            return _json(start_response, "200 OK", {"faults": [fault.as_json() for fault in table.faults()]})
        if method == "DELETE":
            service = parse_qs(environ.get("QUERY_STRING", "")).get("service", [None])[0]
            if service is not None and service not in SERVICES:
                return _json(start_response, "400 Bad Request",
                             {"message": f"unknown service {service!r}; choose one of {', '.join(SERVICES)}"})
            return _json(start_response, "200 OK", {"cleared": [fault.as_json() for fault in table.clear(service)]})
        if method != "POST":
            return _json(start_response, "405 Method Not Allowed", {"message": "use GET, POST or DELETE"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            request = json.loads(environ["wsgi.input"].read(length) if length else b"")
            if not isinstance(request, dict):
                raise FaultError('send a JSON object: {"service": ..., "seconds": ...}')
            fault = table.start(request.get("service"), request.get("seconds"), request.get("mode", "error"))
        except (ValueError, UnicodeDecodeError) as error:  # FaultError, bad JSON
            message = str(error) if isinstance(error, FaultError) else f"the body is not JSON: {error}"
            return _json(start_response, "400 Bad Request", {"message": message})
        return _json(start_response, "200 OK", fault.as_json())

    return application
