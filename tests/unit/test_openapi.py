"""The OpenAPI 3.1 document (chalicelib/openapi.json, served as GET /openapi.json): it validates, it names every
route of app.py and no other, and the app's real answers (chalice.test on moto) match what it declares for
their route and status: the JSON body against the schema (jsonschema), the media type, the headers."""
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

import app as app_module
from chalicelib.api_errors import MAX_BODY_BYTES, MAX_JSON_DEPTH

from .helpers import stored_record
from .test_app import JSON, KEY, client, clients, post_upload  # noqa: F401 - the app's fixtures
from .test_review import needs_review, post_review, store  # noqa: F401 - the review fixtures

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "chalicelib" / "openapi.json"
DOCUMENT = json.loads(DOCUMENT_PATH.read_text())
BASE = "urn:quality-inspection:openapi"
REGISTRY = Registry().with_resource(BASE, DRAFT202012.create_resource(DOCUMENT))
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
SINCE = "2024-01-01T00:00:00Z"  # before the stored records' times
CLASSIFICATION = ("label", "confidence", "probabilities", "model_id", "image")


def operations() -> dict:
    """(path, method) -> operation, for every operation of the document."""
    return {(path, method): operation for path, item in DOCUMENT["paths"].items()
            for method, operation in item.items() if method in HTTP_METHODS}


def schema_errors(instance, pointer: str) -> list[str]:
    """What is wrong with `instance` against the schema at `pointer` in the document (its $refs resolved there)."""
    validator = Draft202012Validator({"$ref": f"{BASE}#{pointer}"}, registry=REGISTRY)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(instance)]


def declared(response: dict) -> dict:
    """A response object of the document, its $ref followed."""
    return REGISTRY.resolver(BASE).lookup(response["$ref"]).contents if "$ref" in response else response


def assert_documented(response, method: str, path: str) -> dict | str:
    """`response` is what the document declares for `method path` at its status; returns the body."""
    status = str(response.status_code)
    responses = DOCUMENT["paths"][path][method]["responses"]
    assert status in responses or (response.status_code >= 400 and "default" in responses), \
        f"{method.upper()} {path} answered {status}, which the document does not declare"
    name = status if status in responses else "default"
    pointer = "/paths/" + path.replace("~", "~0").replace("/", "~1") + f"/{method}/responses/{name}"
    pointer = responses[name].get("$ref", "#" + pointer)[1:]
    answer = declared(responses[name])
    headers = {header.lower(): value for header, value in response.headers.items()}
    # POST /uploads, POST /reinspections and GET /results?key= answer Response(body=dict) without a Content-Type
    # (API Gateway's proxy integration then sends application/json): what is absent counts as that.
    media_type = headers.get("content-type", "application/json").split(";")[0].strip()
    assert media_type in answer["content"], f"{method.upper()} {path} {status} answered {media_type}"
    for header in answer.get("headers", {}):
        assert header.lower() in headers, f"{method.upper()} {path} {status} lacks {header}"
    if media_type != "application/json":
        return response.body.decode()
    body = json.loads(response.body)
    errors = schema_errors(body, f"{pointer}/content/application~1json/schema")
    assert not errors, f"{method.upper()} {path} {status}: {errors}\n{json.dumps(body, indent=1)[:3000]}"
    return body


# ---- the document ------------------------------------------------------------------------------------------

def test_the_document_is_valid_openapi_3_1():
    validate(DOCUMENT)  # openapi-spec-validator: raises on the first problem
    assert DOCUMENT["openapi"].startswith("3.1.")


def test_every_route_of_the_app_is_documented_and_nothing_else():
    routes = {(path, method.lower()): entry for path, methods in app_module.app.routes.items()
              for method, entry in methods.items() if method != "OPTIONS"}
    documented = operations()
    assert sorted(routes) == sorted(documented)
    for (path, method), entry in routes.items():
        operation = documented[(path, method)]
        assert operation["operationId"] == entry.view_name, (path, method)
        # The API key (or, on an API_AUTH=iam stage, a SigV4 signature) exactly where API Gateway asks for it
        security = operation.get("security", DOCUMENT["security"])
        assert bool(security) == bool(entry.api_key_required or entry.authorizer), (path, method)
        assert security in ([], [{"api_key": []}, {"sigv4": []}]), (path, method)
        # ... and every route that asks may refuse the caller: 403 AccessDenied (chalicelib/access.py)
        assert bool(security) == ("403" in operation["responses"]), (path, method)
        parameters = [DOCUMENT["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
                      for p in operation.get("parameters", [])]
        assert [p["name"] for p in parameters if p["in"] == "path"] == entry.view_args, (path, method)


def test_every_error_answer_is_in_the_apps_shape_with_its_codes():
    for (path, method), operation in operations().items():
        for status, response in operation["responses"].items():
            if status == "default" or int(status) >= 400:
                schema = declared(response)["content"]["application/json"]["schema"]
                assert schema["$ref"] == "#/components/schemas/Error", (path, method, status)
                assert status == "default" or {"enum", "const"} & set(schema["properties"]["error"]), (path, method, status)


def test_the_served_document_is_the_file_and_needs_no_key(client):  # noqa: F811
    answer = client.http.get("/openapi.json")
    assert answer.status_code == 200
    assert assert_documented(answer, "get", "/openapi.json") == DOCUMENT


def test_the_web_page_is_documented_as_html(client):  # noqa: F811
    assert "<html" in assert_documented(client.http.get("/"), "get", "/").lower()


# ---- the app's answers against the schemas --------------------------------------------------------------------

def test_an_upload_answer_matches(client):  # noqa: F811
    assert_documented(post_upload(client, {"product_id": "PCB-0042", "content_type": "image/png"}), "post", "/uploads")


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("method, path, url, body, headers, status, code", [
    ("post", "/uploads", "/uploads", {"product_id": "-PCB"}, JSON, 400, "InvalidUploadRequest"),
    ("post", "/uploads", "/uploads", b"not json", JSON, 400, "InvalidUploadRequest"),
    ("post", "/uploads", "/uploads", deep_json(MAX_JSON_DEPTH + 1), JSON, 400, "InvalidRequestBody"),
    ("post", "/uploads", "/uploads", {"p": "x" * MAX_BODY_BYTES}, JSON, 413, "RequestTooLarge"),
    ("post", "/uploads", "/uploads", b"PCB-0042", {"Content-Type": "text/plain"}, 415, "UnsupportedMediaType"),
    ("get", "/results/{product_id}", "/results/-PCB", None, None, 400, "InvalidProductId"),
    ("get", "/results/{product_id}", "/results/PCB-0042?wait=5", None, None, 400, "InvalidResultsRequest"),
    ("get", "/results/{product_id}", f"/results/PCB-0043?key={KEY}", None, None, 400, "InvalidResultsRequest"),
    ("get", "/results/{product_id}", "/results/PCB-9999", None, None, 404, "ProductNotFound"),
    ("post", "/reinspections", "/reinspections", {"verdict": "maybe"}, JSON, 400, "InvalidReinspectionRequest"),
    ("post", "/reinspections", "/reinspections", deep_json(MAX_JSON_DEPTH + 1), JSON, 400, "InvalidRequestBody"),
    ("get", "/inspections", "/inspections?verdict=maybe", None, None, 400, "InvalidInspectionsRequest"),
    ("get", "/inspections", "/inspections?verdict=error&limit=101", None, None, 400, "InvalidInspectionsRequest"),
    ("post", "/inspections/{inspection_id}/review", "/inspections/x/review", {"verdict": "maybe"}, JSON, 400,
     "InvalidReviewRequest"),
    ("post", "/inspections/{inspection_id}/review", "/inspections/nope/review", {"verdict": "defective"}, JSON, 404,
     "InspectionNotFound"),
    ("get", "/inspections/{inspection_id}/image", "/inspections/" + "a" * 81 + "/image", None, None, 400,
     "InvalidReviewRequest"),
    ("get", "/inspections/{inspection_id}/image", "/inspections/nope/image", None, None, 404, "InspectionNotFound"),
])
def test_each_error_answer_matches(client, method, path, url, body, headers, status, code):  # noqa: F811
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    answer = client.http.request(method.upper(), url, headers=headers or {}, body=data or b"")
    assert answer.status_code == status, answer.body
    assert assert_documented(answer, method, path)["error"] == code


def test_answers_outside_the_routes_are_the_documented_error(client):  # noqa: F811
    from chalice.local import LocalGateway, LocalGatewayException

    from inspection_app.chalice_stage import stage_config
    from inspection_app.stack.api_server import gateway_error

    # A method a route lacks (405), and a path no route has (404, as the embedded stack and API Gateway answer it)
    not_allowed = client.http.delete("/uploads")
    assert not_allowed.status_code == 405 and not schema_errors(json.loads(not_allowed.body), "/components/schemas/Error")
    with pytest.raises(LocalGatewayException) as raised:
        LocalGateway(app_module.app, stage_config("local", app_module.app)).handle_request("GET", "/nothing", {}, b"")
    status, body = gateway_error(raised.value, "GET", "/nothing")
    assert status == 404 and not schema_errors(json.loads(body), "/components/schemas/Error")


@pytest.mark.parametrize("method, path, url", [
    ("get", "/results/{product_id}", "/results/PCB-0042"),
    ("get", "/inspections", "/inspections?verdict=needs_review"),
    ("get", "/inspections/{inspection_id}/image", "/inspections/PCB-0042-x/image"),
])
def test_the_store_unavailable_answers_match(client, clients, monkeypatch, method, path, url):  # noqa: F811
    def failing_query(**_):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "Query")

    monkeypatch.setattr(clients.dynamodb, "query", failing_query)
    answer = client.http.get(url)
    assert answer.status_code == 503
    assert assert_documented(answer, method, path)["error"] == "ServiceUnavailable"


def test_a_review_whose_alert_fails_answers_the_documented_503(client, store):  # noqa: F811
    record = store.put(needs_review())
    with Stubber(app_module.clients.sns) as down:
        down.add_client_error("publish", "InternalError", "no route to SNS", 500)
        answer = post_review(client, record["inspection_id"], {"verdict": "defective"})
    assert assert_documented(answer, "post", "/inspections/{inspection_id}/review")["error"] == "AlertUnavailable"


def unclassified(**changes) -> dict:
    """A stored `rejected` or `error` result: no classification."""
    record = stored_record(**changes)
    for name in CLASSIFICATION:
        del record[name]
    return record


def test_results_with_a_reviewed_history_and_a_review_answer_match(client, store):  # noqa: F811
    # GIVEN a product with a model verdict and a result a person reviewed
    reviewed = store.put(needs_review())
    store.put(stored_record(uploaded_at="2024-05-14T10:00:00.000Z", version_id="3HL4kqtJlcpXroDTDmJ"))
    store.put(unclassified(uploaded_at="2024-05-14T11:00:00.000Z", verdict="rejected", reason="blank frame"))
    answer = post_review(client, reviewed["inspection_id"], {"verdict": "defect_free", "note": "dust", "reviewer": "Ana"})
    assert assert_documented(answer, "post", "/inspections/{inspection_id}/review")["model_verdict"] == "needs_review"
    # WHEN its results are asked for, THEN the answer matches, with the review in the history
    body = assert_documented(client.http.get("/results/PCB-0042"), "get", "/results/{product_id}")
    assert body["count"] == 3 and "model_verdict" in body["history"][-1]


def test_waiting_for_an_upload_answers_202_pending_then_200_as_documented(client, store):  # noqa: F811
    pending = client.http.get(f"/results/PCB-0042?key={KEY}&wait=0")
    assert pending.status_code == 202
    assert assert_documented(pending, "get", "/results/{product_id}")["status"] == "pending"
    store.put(stored_record(key=KEY))
    found = client.http.get(f"/results/PCB-0042?key={KEY}&wait=1")
    assert found.status_code == 200
    assert assert_documented(found, "get", "/results/{product_id}")["result"]["key"] == KEY


def test_the_inspections_pages_match(client, store):  # noqa: F811
    for hour in (9, 10):
        store.put(needs_review(uploaded_at=f"2024-05-14T{hour:02}:00:00.000Z"))
    first = assert_documented(client.http.get(f"/inspections?verdict=needs_review&since={SINCE}&limit=1"),
                              "get", "/inspections")
    assert first["count"] == 1 and first["next"]
    last = assert_documented(client.http.get(f"/inspections?verdict=needs_review&since={SINCE}&next={first['next']}"),
                             "get", "/inspections")
    assert last["count"] == 1 and last["next"] is None


def test_the_image_answer_matches(client, store):  # noqa: F811
    record = store.put(needs_review())
    answer = client.http.get(f"/inspections/{record['inspection_id']}/image")
    assert assert_documented(answer, "get", "/inspections/{inspection_id}/image")["expires_in"] == 300


def test_the_heatmap_answers_match(client, store):  # noqa: F811
    record = store.put(needs_review(heatmap_key="heatmaps/PCB-0042/photo.png.x.png"))
    answer = client.http.get(f"/inspections/{record['inspection_id']}/image?kind=heatmap")
    assert assert_documented(answer, "get", "/inspections/{inspection_id}/image")["kind"] == "heatmap"
    assert assert_documented(client.http.get(f"/results/{record['product_id']}"), "get", "/results/{product_id}")[
        "latest"]["heatmap_key"] == record["heatmap_key"]
    without = store.put(needs_review(uploaded_at="2024-05-14T10:00:00.000Z"))
    missing = client.http.get(f"/inspections/{without['inspection_id']}/image?kind=heatmap")
    assert assert_documented(missing, "get", "/inspections/{inspection_id}/image")["error"] == "HeatmapNotFound"


def test_a_reinspection_answer_matches(client, store):  # noqa: F811
    store.put(unclassified(verdict="error", reason="States.Timeout"))
    answer = client.http.post("/reinspections", headers=JSON, body=json.dumps({"verdict": "error", "since": SINCE}).encode())
    assert answer.status_code == 202, answer.body
    assert assert_documented(answer, "post", "/reinspections")["count"] == 1
