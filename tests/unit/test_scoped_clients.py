"""Scoped clients through app.py (chalice.test on moto): the stage's CLIENT_SCOPES decide, per caller identity
(API Gateway's requestContext.identity), what the routes answer; refusals are 403 AccessDenied in the app's shape."""
import json

import chalice.local
import pytest

from .test_app import JSON, client, clients, post_upload  # noqa: F401 - the app's fixtures
from .test_openapi import assert_documented

CAMERA_KEY = "camera-key-id"
MES_ARN = "arn:aws:sts::123456789012:assumed-role/mes-reader/mes-1"
OPERATOR_ARN = "arn:aws:iam::123456789012:user/operator"
SCOPES = [
    {"client": CAMERA_KEY, "kind": "camera", "products": ["line-a-*"]},
    {"client": "arn:aws:sts::123456789012:assumed-role/mes-reader/*", "kind": "mes"},
    {"client": OPERATOR_ARN, "kind": "operator"},
]


@pytest.fixture
def caller(monkeypatch):
    """`caller(apiKeyId=...)` or `caller(userArn=...)`: who API Gateway says each following request comes from."""
    identity = {}
    create = chalice.local.LambdaEventConverter.create_lambda_event

    def with_identity(self, *args, **kwargs):
        event = create(self, *args, **kwargs)
        event["requestContext"]["identity"].update(identity)
        return event

    monkeypatch.setattr(chalice.local.LambdaEventConverter, "create_lambda_event", with_identity)
    return lambda **who: identity.clear() or identity.update(who)


@pytest.fixture
def scoped(monkeypatch):
    monkeypatch.setenv("CLIENT_SCOPES", json.dumps(SCOPES))


def refused(answer, method: str, path: str) -> str:
    assert answer.status_code == 403, answer.body
    body = assert_documented(answer, method, path)  # the documented 403, in the app's shape
    assert body["error"] == "AccessDenied"
    return body["message"]


def test_given_a_camera_key_when_it_asks_for_its_products_upload_url_then_201_and_for_another_product_403(
        client, caller, scoped):  # noqa: F811
    # GIVEN the camera's API key, allowed line-a-* products
    caller(apiKeyId=CAMERA_KEY)
    # WHEN it asks for an upload URL for one of them THEN it gets one
    allowed = post_upload(client, {"product_id": "line-a-0007", "content_type": "image/jpeg"})
    assert allowed.status_code == 201 and json.loads(allowed.body)["key"].startswith("uploads/line-a-0007/")
    # WHEN it asks for another line's product THEN 403, saying what it may do
    message = refused(post_upload(client, {"product_id": "line-b-0007", "content_type": "image/jpeg"}),
                      "post", "/uploads")
    assert message.startswith("This client may upload products matching line-a-* only, not 'line-b-0007'")
    # A malformed request is still a 400 first: the product id must be valid before its scope is checked
    assert post_upload(client, {"product_id": "-bad"}).status_code == 400


def test_given_a_camera_key_when_it_reads_then_its_products_only_and_no_listing_review_or_reinspection(
        client, caller, scoped):  # noqa: F811
    caller(apiKeyId=CAMERA_KEY)
    assert client.http.get("/results/line-a-0007").status_code == 404  # let through: no result yet
    assert "not 'line-b-0007'" in refused(client.http.get("/results/line-b-0007"), "get", "/results/{product_id}")
    assert "not about one product" in refused(client.http.get("/inspections?verdict=error"), "get", "/inspections")
    assert "not about one product" in refused(client.http.get("/inspections/x/image"),
                                              "get", "/inspections/{inspection_id}/image")
    assert "A camera client may not review" in refused(
        client.http.post("/inspections/x/review", headers=JSON, body=b'{"verdict": "defective"}'),
        "post", "/inspections/{inspection_id}/review")
    assert "A camera client may not reinspect" in refused(
        client.http.post("/reinspections", headers=JSON, body=b"{}"), "post", "/reinspections")


def test_given_an_mes_role_when_it_uploads_or_reviews_then_403_and_reads_are_answered(client, caller, scoped):  # noqa: F811
    # GIVEN an MES system signing as an assumed-role session (IAM stage: requestContext.identity.userArn)
    caller(userArn=MES_ARN)
    message = refused(post_upload(client, {"product_id": "line-b-0001", "content_type": "image/jpeg"}),
                      "post", "/uploads")
    assert message.startswith("A mes client may not upload (it may: read)")
    assert "A mes client may not review" in refused(
        client.http.post("/inspections/x/review", headers=JSON, body=b'{"verdict": "defective"}'),
        "post", "/inspections/{inspection_id}/review")
    assert client.http.get("/results/line-b-0001").status_code == 404
    assert client.http.get("/inspections?verdict=error").status_code == 200


def test_given_an_operator_when_it_reviews_then_the_review_route_answers(client, caller, scoped):  # noqa: F811
    caller(userArn=OPERATOR_ARN)
    answer = client.http.post("/inspections/nope/review", headers=JSON, body=b'{"verdict": "defective"}')
    assert (answer.status_code, json.loads(answer.body)["error"]) == (404, "InspectionNotFound")


def test_given_scopes_when_a_caller_not_listed_asks_then_403_naming_it(client, caller, scoped):  # noqa: F811
    caller(apiKeyId="stolen-or-new-key")
    message = refused(client.http.get("/results/line-a-0007"), "get", "/results/{product_id}")
    assert message.startswith("The caller stolen-or-new-key is not among the stage's clients (CLIENT_SCOPES)")


def test_given_no_scopes_when_any_caller_asks_then_everything_as_before(client, caller):  # noqa: F811
    caller(userArn=MES_ARN)
    assert post_upload(client, {"product_id": "line-b-0001", "content_type": "image/jpeg"}).status_code == 201


def test_given_malformed_scopes_when_a_request_comes_then_a_generic_500_and_the_reason_logged(
        client, caller, monkeypatch, caplog):  # noqa: F811
    monkeypatch.setenv("CLIENT_SCOPES", '[{"client": "k", "kind": "admin"}]')
    caller(apiKeyId="k")
    answer = client.http.get("/results/line-a-0007")
    assert answer.status_code == 500 and json.loads(answer.body)["error"] == "InternalServerError"
    assert "kind 'admin' must be one of camera, mes, operator" not in answer.body.decode()
    assert "kind 'admin' must be one of camera, mes, operator" in caplog.text  # Chalice logs the traceback
