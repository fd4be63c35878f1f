"""chalicelib.api_errors: the app's error shape for what Chalice answers itself, and the body limits."""
import json
import urllib.error
import urllib.request

import pytest
from chalice import Chalice, Response
from chalice.config import Config
from chalice.local import ForbiddenError

from chalicelib.api_errors import ApiError, default_code, in_app_shape, json_depth, middleware
from inspection_app.stack.api_server import LocalApi, gateway_error


@pytest.mark.parametrize(
    ("data", "depth"),
    [(b"", 0), (b"1", 0), (b"{}", 1), (b'{"a": [1, {"b": []}]}', 4), (b'["[[[[", "\\"[["]', 1),
     (b"[" * 50, 17), ("[\"ü[\", [\"€\"]]".encode(), 2)],
)
def test_json_depth_counts_arrays_and_objects_outside_strings_up_to_the_limit(data, depth):
    assert json_depth(data, 16) == depth


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"Code": "BadRequest", "Message": "Request did not specify an Accept header"}, 400, "BadRequest",
         "Request did not specify an Accept header"),
        ({"Code": "UnsupportedMediaType", "Message": "Unsupported media type: text/plain"}, 415,
         "UnsupportedMediaType",
         "Unsupported media type: text/plain; send the body as JSON with Content-Type: application/json."),
        ({"Code": "ForbiddenError", "Message": "no"}, 403, "Forbidden", "no"),
        ({"Code": "TooManyRequestsError", "Message": "slow down"}, 429, "TooManyRequests", "slow down"),
        ("plain text", 409, "Conflict", "plain text"),
        (None, 404, "NotFound", "Not Found"),
    ],
)
def test_chalices_errors_are_rewritten_into_the_app_shape(body, status, code, message):
    response = in_app_shape(Response(body=body, status_code=status, headers={"X-Kept": "1"}))
    assert response.status_code == status
    assert response.body == {"error": code, "message": message}
    assert response.headers == {"X-Kept": "1", "Content-Type": "application/json"}


def test_a_500_is_always_generic_and_names_the_request_id():
    class Request:
        context = {"requestId": "c0ffee"}

    traceback = Response(body="Traceback (most recent call last): ...", status_code=500,
                         headers={"Content-Type": "text/plain"})
    response = in_app_shape(traceback, Request())
    assert response.body["error"] == "InternalServerError"
    assert "Traceback" not in response.body["message"] and "c0ffee" in response.body["message"]
    assert response.headers["Content-Type"] == "application/json"


def test_successes_and_the_apps_own_errors_pass_unchanged():
    success = Response(body={"ok": True})
    assert in_app_shape(success) is success and success.headers == {}
    own = Response(body={"error": "ProductNotFound", "message": "x"}, status_code=404)
    assert in_app_shape(own) is own
    assert own.body == {"error": "ProductNotFound", "message": "x"}
    assert own.headers == {"Content-Type": "application/json"}


def test_default_codes_come_from_the_reason_phrase():
    assert default_code(404) == "NotFound"
    assert default_code(405) == "MethodNotAllowed"
    assert default_code(429) == "TooManyRequests"
    assert default_code(599) == "InternalServerError"


def test_an_api_error_or_an_exception_from_further_in_becomes_an_answer(log_lines):
    def raises(error):
        def get_response(_request):
            raise error
        return get_response

    answered = middleware(None, raises(ApiError(409, "Conflict", "already there")))
    assert (answered.status_code, answered.body) == (409, {"error": "Conflict", "message": "already there"})
    answered = middleware(None, raises(KeyError("secret")))
    assert answered.status_code == 500 and "secret" not in json.dumps(answered.body)
    [entry] = log_lines.named("unhandled error")
    assert entry["level"] == "ERROR" and "KeyError" in entry["error"]


def test_local_gateway_errors_other_than_an_unknown_route_keep_their_status():
    error = ForbiddenError({"x-amzn-ErrorType": "AccessDeniedException"},
                           b'{"Message": "User is not authorized to access this resource"}')
    status, body = gateway_error(error, "GET", "/results/x")
    assert status == 403
    assert json.loads(body) == {"error": "Forbidden", "message": "User is not authorized to access this resource"}


def test_the_embedded_stacks_server_answers_an_unknown_route_with_404_in_the_app_shape():
    probe = Chalice(app_name="probe")

    @probe.route("/known")
    def known():
        return {"ok": True}

    api = LocalApi(probe, Config(), port=0, quiet=True).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{api.url}/unknown", timeout=10)
        assert raised.value.code == 404
        assert raised.value.headers["Content-Type"] == "application/json"
        assert json.loads(raised.value.read()) == {"error": "NotFound", "message": "No route GET /unknown."}
    finally:
        api.stop()
