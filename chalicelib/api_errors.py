"""Every error the REST API answers has one shape: `{"error": "<Code>", "message": "<what to do>"}`.

The views answer their own errors that way (InvalidUploadRequest, ProductNotFound ...). Chalice answers some
itself, as `{"Code": ..., "Message": ...}`: 415 UnsupportedMediaType, 405 for a method a route lacks, 400
BadRequest, a raised ChaliceViewError, and 500 (with a traceback as the body in debug mode). `middleware`
(registered in app.py) rewrites those into the app's shape, answers every 500 with a generic message, and
refuses request bodies that are too large (413) or JSON nested too deep (400) before any view parses them:
Python's json module recurses, and a body nested ~1,000 deep raised RecursionError, a 500.

Unknown routes never reach the app: API Gateway answers them (the gateway responses `inspection-app deploy`
sets, inspection_app/deploy/api_gateway.py), and so does Chalice's local gateway (inspection_app/stack/api_server.py), both in
this shape through `error_body`.
"""
from __future__ import annotations

import json
import logging
from http import HTTPStatus

from chalice import ChaliceUnhandledError, Response

from .logs import log

# Every request the API takes is a small JSON object (an upload request, a reinspection request): 16 KiB is
# far above any of them and far below API Gateway's own 10 MB limit.
MAX_BODY_BYTES = 16 * 1024
# The requests are flat objects (a list inside at most); anything deeper is not a request of this API.
MAX_JSON_DEPTH = 16
INTERNAL_ERROR_MESSAGE = "An internal error occurred; it has been logged. Try again later."


class ApiError(ChaliceUnhandledError):
    """An error answer raised from a view or a check; Chalice lets it through to `middleware`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(code: str, message: str) -> dict:
    return {"error": code, "message": message}


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    headers = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type", "content-length")}
    headers["Content-Type"] = "application/json"
    return Response(body=error_body(code, message), status_code=status, headers=headers)


def default_code(status: int) -> str:
    """`NotFound`, `MethodNotAllowed` ... from the status's reason phrase."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "InternalServerError" if status >= 500 else "BadRequest"
    return "".join(word[:1].upper() + word[1:] for word in phrase.replace("-", " ").split())


def json_depth(data: bytes, limit: int) -> int:
    """How deep the arrays and objects in `data` nest, counting up to `limit + 1` at most (a linear scan that
    skips strings; quotes and backslashes never occur inside a multi-byte UTF-8 character)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def check_body(request) -> None:
    """ApiError 413 for a body over MAX_BODY_BYTES, 400 for JSON nested deeper than MAX_JSON_DEPTH."""
    body = request.raw_body if request is not None else None
    if not body:
        return
    if isinstance(body, str):
        body = body.encode("utf-8")
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "RequestTooLarge",
                       f"The request body has {len(body)} bytes; this API accepts at most {MAX_BODY_BYTES}.")
    if "json" in request.headers.get("content-type", "") and json_depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ApiError(400, "InvalidRequestBody",
                       f"The JSON body nests arrays or objects more than {MAX_JSON_DEPTH} levels deep.")


def in_app_shape(response: Response, request=None) -> Response:
    """`response` unchanged unless it is an error in another shape: then in the app's (a 500 always generic)."""
    status = response.status_code
    if status < 400:
        return response
    body = response.body
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            pass
    if isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("message"), str):
        if not any(name.lower() == "content-type" for name in response.headers):  # a view's own answer
            response.headers["Content-Type"] = "application/json"
        return response
    if status >= 500:  # Chalice's InternalServerError, or its traceback in debug mode
        request_id = (getattr(request, "context", None) or {}).get("requestId")
        message = INTERNAL_ERROR_MESSAGE + (f" Request id: {request_id}." if request_id else "")
        return error_response(status, "InternalServerError" if status == 500 else default_code(status), message,
                              response.headers)
    if isinstance(body, dict) and "Code" in body:  # Chalice's own errors, and ChaliceViewErrors raised
        code = str(body["Code"])
        code = code[:-len("Error")] if code.endswith("Error") and len(code) > len("Error") else code
        message = str(body.get("Message", ""))
        if status == 405 and request is not None:
            allowed = response.headers.get("Allow", "")
            message = f"{request.method} is not allowed on {request.path}" + (f"; use {allowed}." if allowed else ".")
        if status == 415:
            message += "; send the body as JSON with Content-Type: application/json."
        return error_response(status, code, message, response.headers)
    text = body if isinstance(body, str) and body.strip() else HTTPStatus(status).phrase
    return error_response(status, default_code(status), text, response.headers)


def _cors_headers(request, routes: dict) -> dict:
    """The CORS headers of the request's route, for answers Chalice does not add them to."""
    context = getattr(request, "context", None) or {}
    entry = routes.get(context.get("resourcePath"), {}).get(getattr(request, "method", None))
    return entry.cors.get_access_control_headers() if entry is not None and entry.cors else {}


def middleware(request, get_response, routes: dict | None = None) -> Response:
    """The `http` middleware of app.py: body limits first, then the app's error shape on every answer.

    `routes` (the app's route table) gives the CORS headers of answers made here, so a browser can read them.
    """
    try:
        check_body(request)
        response = get_response(request)
    except ApiError as error:
        response = error_response(error.status, error.code, error.message, _cors_headers(request, routes or {}))
    except Exception as error:  # noqa: BLE001 - nothing may leave the API as a traceback
        log("unhandled error", logging.ERROR, path=getattr(request, "path", None),
            error=f"{type(error).__name__}: {error}")
        response = error_response(500, "InternalServerError", INTERNAL_ERROR_MESSAGE,
                                  _cors_headers(request, routes or {}))
    return in_app_shape(response, request)
