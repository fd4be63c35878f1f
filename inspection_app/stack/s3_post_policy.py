"""S3's checks on browser-style POST uploads, in front of moto, which checks none of them.

A multipart/form-data POST to a bucket (`/<bucket>`, path style as the local stack presigns) is refused here
as S3 refuses it: the file must come last, the policy must be signed with the stack's credentials, not
expired, and every condition and every form field must agree. S3's error code, status and message come back
as S3's XML; an accepted form goes on to moto byte for byte, so moto stores the object and sends the event.
docs/security.md lists each check and what is left out.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import re
import time
import uuid
from datetime import datetime, timezone
from xml.sax.saxutils import escape

from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from .access import LOCAL_CREDENTIALS

_BUCKET_PATH = re.compile(r"^/(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/?$")
# Fields S3 does not ask a condition for (S3's POST Object docs, "POST Policy": conditions).
_UNCOVERED = ("file", "policy", "x-amz-signature", "signature", "awsaccesskeyid")
_ORDER_HINT = "Bucket POST must contain a field named '{}'.  If it is specified, please check the order of the fields."
_EXPIRATION = ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ")


class PostRefused(Exception):
    """What S3 answers instead of storing the upload: its error code, HTTP status, message and extra elements."""

    def __init__(self, code: str, status: int, message: str, **details):
        super().__init__(message)
        self.code, self.status, self.message, self.details = code, status, message, details

    def xml(self, request_id: str) -> bytes:
        extra = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in self.details.items())
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{self.code}</Code>'
                f"<Message>{escape(self.message)}</Message>{extra}<RequestId>{request_id}</RequestId>"
                f"<HostId>{request_id}</HostId></Error>").encode()


def _denied(message: str) -> PostRefused:
    return PostRefused("AccessDenied", 403, f"Invalid according to Policy: {message}")


def _invalid_policy(message: str) -> PostRefused:
    return PostRefused("InvalidPolicyDocument", 400, f"Invalid Policy: {message}")


# ---- the form -----------------------------------------------------------------------------------

def read_form(body: bytes, content_type: str) -> tuple[list[tuple[str, str]], bytes | None, bool]:
    """The text fields before the file, in order; the file's bytes (None without one); whether parts follow it.

    S3 reads nothing after the file part, so a field sent after it does not exist for S3."""
    parts = _parts(body, parse_options_header(content_type)[1].get("boundary", "").encode())
    if parts is None:
        raise PostRefused("MalformedPOSTRequest", 400,
                          "The body of your POST request is not well-formed multipart/form-data.")
    names = [name.lower() for name, _ in parts]
    at = names.index("file") if "file" in names else len(parts)
    fields = [(name, bytes(value).decode("utf-8", "replace")) for name, value in parts[:at]]
    file = bytes(parts[at][1]) if at < len(parts) else None
    return fields, file, at < len(parts) - 1


def _parts(body: bytes, boundary: bytes) -> list[tuple[str, bytearray]] | None:
    """Every part's name and bytes in the order sent (werkzeug's decoder: its MultiDict loses the order)."""
    if not boundary:
        return None
    decoder = MultipartDecoder(boundary)
    decoder.receive_data(body)
    decoder.receive_data(None)
    parts: list[tuple[str, bytearray]] = []
    try:
        while not isinstance(event := decoder.next_event(), (Epilogue, NeedData)):
            if isinstance(event, (Field, File)):
                parts.append((event.name, bytearray()))
            elif isinstance(event, Data):
                parts[-1][1].extend(event.data)
    except ValueError:  # werkzeug's word for a body that breaks the multipart grammar
        return None
    return parts if isinstance(event, Epilogue) else None


# ---- the policy and its signature ---------------------------------------------------------------

def decode_policy(encoded: str) -> dict:
    """The policy document; InvalidPolicyDocument for anything that is not base64 JSON with both elements."""
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise _invalid_policy("Invalid JSON.") from None
    if not isinstance(policy, dict):
        raise _invalid_policy("Invalid JSON.")
    if "expiration" not in policy:
        raise _invalid_policy("Policy missing expiration.")
    if not isinstance(policy.get("conditions"), list):
        raise _invalid_policy("Policy missing conditions.")
    return policy


def _expiration(value) -> float:
    for layout in _EXPIRATION:
        try:
            return datetime.strptime(str(value), layout).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise _invalid_policy(f"Invalid 'expiration' value: '{value}'")


def _signing_key(secret: str, scope: list[str]) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in scope:  # date, region, service, "aws4_request"
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def check_signature(form: dict[str, str], credentials: dict) -> None:
    """SigV4 (x-amz-*) or, as S3 still accepts, SigV2 (AWSAccessKeyId, signature) over the base64 policy."""
    policy = form["policy"]
    if "x-amz-signature" in form or "x-amz-credential" in form or "x-amz-algorithm" in form:
        for name in ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"):
            if name not in form:
                raise PostRefused("InvalidArgument", 400, _ORDER_HINT.format(name), ArgumentName=name)
        if form["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
            raise PostRefused("InvalidArgument", 400, 'x-amz-algorithm only supports "AWS4-HMAC-SHA256"',
                              ArgumentName="x-amz-algorithm", ArgumentValue=form["x-amz-algorithm"])
        access_key, *scope = form["x-amz-credential"].split("/")
        if len(scope) != 4 or scope[2:] != ["s3", "aws4_request"]:
            raise PostRefused("InvalidArgument", 400, "Error parsing the X-Amz-Credential parameter",
                              ArgumentName="x-amz-credential", ArgumentValue=form["x-amz-credential"])
        secret = _secret_of(access_key, credentials)
        expected = hmac.new(_signing_key(secret, scope), policy.encode(), hashlib.sha256).hexdigest()
        given = form["x-amz-signature"]
    else:
        if "awsaccesskeyid" not in form:
            raise PostRefused("InvalidArgument", 400, _ORDER_HINT.format("AWSAccessKeyId"),
                              ArgumentName="AWSAccessKeyId")
        if "signature" not in form:
            raise PostRefused("InvalidArgument", 400, _ORDER_HINT.format("Signature"), ArgumentName="Signature")
        secret = _secret_of(form["awsaccesskeyid"], credentials)
        expected = base64.b64encode(hmac.new(secret.encode(), policy.encode(), hashlib.sha1).digest()).decode()
        given = form["signature"]
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise PostRefused("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the "
                          "signature you provided. Check your key and signing method.")
    token = form.get("x-amz-security-token")
    if token is not None and token != credentials.get("aws_session_token"):
        raise PostRefused("InvalidToken", 400, "The provided token is malformed or otherwise invalid.")


def _secret_of(access_key: str, credentials: dict) -> str:
    if access_key != credentials["aws_access_key_id"]:
        raise PostRefused("InvalidAccessKeyId", 403,
                          "The AWS Access Key Id you provided does not exist in our records.",
                          AWSAccessKeyId=access_key)
    return credentials["aws_secret_access_key"]


# ---- the conditions -----------------------------------------------------------------------------

def _as_rule(condition) -> tuple[str, str, object]:
    """A condition as (operator, field, operand): {"f": v} and ["eq", "$f", v] are both ("eq", "f", v)."""
    if isinstance(condition, dict):
        if len(condition) != 1:
            raise _invalid_policy("Invalid Simple-Condition: Simple-Conditions must have exactly one property "
                                  "specified.")
        (field, value), = condition.items()
        return "eq", field.lower(), value
    if isinstance(condition, list) and len(condition) == 3 and isinstance(condition[0], str):
        operator = condition[0].lower()
        if operator == "content-length-range":
            try:
                low, high = (int(bound) for bound in condition[1:])
            except (TypeError, ValueError):
                low, high = -1, -1
            if not 0 <= low <= high:
                raise _invalid_policy(f"Invalid content-length-range condition: {json.dumps(condition)}")
            return operator, "", (low, high)
        if operator in ("eq", "starts-with") and isinstance(condition[1], str) and condition[1].startswith("$"):
            return operator, condition[1][1:].lower(), condition[2]
    raise _invalid_policy(f"Invalid Condition: {json.dumps(condition)}")


def _holds(operator: str, actual: str, operand) -> bool:
    if operator == "eq":
        return actual == str(operand)
    if operator == "starts-with":
        # S3 reads a Content-Type starts-with as a comma-separated list: every type must match.
        return all(value.strip().startswith(str(operand)) for value in actual.split(","))
    return False


def check_conditions(policy: dict, form: dict[str, str], bucket: str, size: int) -> None:
    """Every condition holds and every form field has one; otherwise S3's AccessDenied or Entity* error."""
    values = {**form, "bucket": bucket}
    covered = set()
    for condition in policy["conditions"]:
        operator, field, operand = _as_rule(condition)
        if operator == "content-length-range":
            low, high = operand
            if size < low:
                raise PostRefused("EntityTooSmall", 400, "Your proposed upload is smaller than the minimum "
                                  "allowed size", ProposedSize=size, MinSizeAllowed=low)
            if size > high:
                raise PostRefused("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size",
                                  ProposedSize=size, MaxSizeAllowed=high)
            continue
        covered.add(field)
        if not _holds(operator, values.get(field, ""), operand):
            name = condition[1] if isinstance(condition, list) else f"${next(iter(condition))}"
            raise _denied(f"Policy Condition failed: {json.dumps([operator, name, operand])}")
    extra = [name for name in form if name not in covered and name not in _UNCOVERED
             and not name.startswith("x-ignore-")]
    if extra:
        raise _denied(f"Extra input fields: {', '.join(extra)}")


# ---- the whole request --------------------------------------------------------------------------

def check_post(fields: list[tuple[str, str]], file: bytes | None, after_file: bool, bucket: str,
               credentials: dict, now: float) -> None:
    """Raise PostRefused with S3's answer unless S3 would store this upload."""
    form = {name.lower(): value for name, value in fields}  # S3 reads field names case-insensitively
    if file is None:
        raise PostRefused("InvalidArgument", 400, "POST requires exactly one file upload per request.",
                          ArgumentName="file", ArgumentValue=0)
    if "key" not in form:
        raise PostRefused("InvalidArgument", 400, _ORDER_HINT.format("key"), ArgumentName="key", ArgumentValue="")
    if after_file:
        # S3 silently drops what follows the file, moto would not: refuse, so the form is fixed before AWS.
        raise PostRefused("InvalidArgument", 400, "POST requires exactly one file upload per request, "
                          "as the form's last field; fields after the file are ignored by S3.",
                          ArgumentName="file")
    if "policy" not in form:
        # No policy: an anonymous upload, and the stack's buckets grant anonymous callers nothing.
        raise PostRefused("AccessDenied", 403, "Access Denied")
    policy = decode_policy(form["policy"])
    check_signature(form, credentials)
    if _expiration(policy["expiration"]) < now:
        raise _denied("Policy expired.")
    check_conditions(policy, form, bucket, len(file))


def _post_object_bucket(environ) -> str | None:
    """The bucket of a POST Object request (multipart form to `/<bucket>`), None for every other request."""
    # Any query string too: a multipart body to a bucket is always POST Object, and moto would store it.
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    if not environ.get("CONTENT_TYPE", "").lower().startswith("multipart/form-data"):
        return None
    match = _BUCKET_PATH.match(environ.get("PATH_INFO", ""))
    return match and match["bucket"]


def _read_body(environ) -> bytes:
    length = environ.get("CONTENT_LENGTH")
    if length:
        return environ["wsgi.input"].read(int(length))
    return environ["wsgi.input"].read() if environ.get("wsgi.input_terminated") else b""


def post_policy_middleware(wsgi_app, credentials: dict = LOCAL_CREDENTIALS, clock=time.time):
    """WSGI app: POST Object uploads S3 would refuse get S3's error; the rest (and accepted uploads) go on."""

    def application(environ, start_response):
        bucket = _post_object_bucket(environ)
        if not bucket:
            return wsgi_app(environ, start_response)
        body = _read_body(environ)
        try:
            check_post(*read_form(body, environ["CONTENT_TYPE"]), bucket, credentials, clock())
        except PostRefused as refused:
            request_id = uuid.uuid4().hex[:16].upper()
            payload = refused.xml(request_id)
            start_response(f"{refused.status} {_REASONS[refused.status]}", [
                ("Content-Type", "application/xml"), ("Content-Length", str(len(payload))),
                ("x-amz-request-id", request_id)])
            return [payload]
        # moto reads the same bytes again, from a fresh stream.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return wsgi_app(environ, start_response)

    return application


_REASONS = {400: "Bad Request", 403: "Forbidden"}
