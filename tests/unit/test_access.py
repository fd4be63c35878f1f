"""chalicelib.access: which caller may do what, for which products (CLIENT_SCOPES); and API_AUTH."""
import json

import pytest

from chalicelib.access import (
    KINDS,
    AccessDenied,
    ClientScope,
    InvalidClientScopes,
    authorize,
    caller_identity,
    client_scopes,
    parse_client_scopes,
)
from chalicelib.settings import ConfigurationError, api_auth

CAMERA_ARN = "arn:aws:iam::123456789012:user/line-a-camera"
MES_ROLE = "arn:aws:sts::123456789012:assumed-role/mes-reader/session-1"
OPERATOR_KEY = "k7x2abcd1e"
SCOPES = parse_client_scopes(json.dumps([
    {"client": CAMERA_ARN, "kind": "camera", "products": ["line-a-*", "PCB-0042"]},
    {"client": "arn:aws:sts::123456789012:assumed-role/mes-reader/*", "kind": "mes"},
    {"client": OPERATOR_KEY, "kind": "operator"},
]))


def refusal(identity, action, product_id=None, scopes=SCOPES) -> str:
    with pytest.raises(AccessDenied) as refused:
        authorize(scopes, identity, action, product_id)
    return str(refused.value)


def test_given_the_setting_when_parsed_then_entries_keep_their_order_and_products_default_to_every_product():
    assert SCOPES == (
        ClientScope(CAMERA_ARN, "camera", ("line-a-*", "PCB-0042")),
        ClientScope("arn:aws:sts::123456789012:assumed-role/mes-reader/*", "mes", ("*",)),
        ClientScope(OPERATOR_KEY, "operator", ("*",)),
    )


@pytest.mark.parametrize("value", [None, "", "  "])
def test_given_no_client_scopes_when_any_caller_does_anything_then_it_is_allowed(value):
    # GIVEN a stage without CLIENT_SCOPES (today's behaviour: whoever API Gateway lets in)
    scopes = client_scopes({} if value is None else {"CLIENT_SCOPES": value})
    assert scopes == ()
    # WHEN anyone, even without an identity, does any action THEN nothing is refused
    for action in ("upload", "read", "review", "reinspect"):
        assert authorize(scopes, None, action, "any-product") is None
        assert authorize(scopes, "someone", action) is None


def test_given_a_camera_client_when_it_uploads_its_products_then_allowed_and_others_refused_saying_what_to_do():
    assert authorize(SCOPES, CAMERA_ARN, "upload", "line-a-0007") is None
    assert authorize(SCOPES, CAMERA_ARN, "upload", "PCB-0042") is None
    assert authorize(SCOPES, CAMERA_ARN, "read", "line-a-0007") is None
    assert refusal(CAMERA_ARN, "upload", "line-b-0007") == (
        "This client may upload products matching line-a-*, PCB-0042 only, not 'line-b-0007'; use one of those "
        "product ids, or ask the operator to extend its products in CLIENT_SCOPES.")
    # A pattern matches the whole product id; only `*` is a wildcard
    assert "not 'PCB-00420'" in refusal(CAMERA_ARN, "upload", "PCB-00420")
    assert "not 'xline-a-1'" in refusal(CAMERA_ARN, "read", "xline-a-1")


def test_given_a_camera_client_when_it_reviews_or_reinspects_then_refused_naming_what_it_may_do():
    assert refusal(CAMERA_ARN, "review") == (
        "A camera client may not review (it may: read, upload); use a client of a kind that may, or ask the "
        "operator to change this one's kind in CLIENT_SCOPES.")
    assert "may not reinspect" in refusal(CAMERA_ARN, "reinspect")


def test_given_a_product_scoped_client_when_it_reads_across_products_then_refused_pointing_to_per_product_reads():
    assert refusal(CAMERA_ARN, "read") == (
        "This client may read products matching line-a-*, PCB-0042 only, and this request is not about one "
        "product; ask per product (GET /results/{product_id}).")


def test_given_an_mes_role_when_it_reads_then_allowed_and_when_it_uploads_or_reviews_then_refused():
    # GIVEN an assumed-role session of the MES role (the pattern's `*` matches the session name)
    assert authorize(SCOPES, MES_ROLE, "read", "line-b-0001") is None
    assert authorize(SCOPES, MES_ROLE, "read") is None  # every product: may list inspections
    assert refusal(MES_ROLE, "upload", "line-b-0001").startswith("A mes client may not upload (it may: read)")
    assert refusal(MES_ROLE, "review").startswith("A mes client may not review (it may: read)")


def test_given_an_operator_key_when_it_does_anything_then_allowed():
    for action in KINDS["operator"]:
        assert authorize(SCOPES, OPERATOR_KEY, action) is None
        assert authorize(SCOPES, OPERATOR_KEY, action, "line-z-1") is None


@pytest.mark.parametrize("identity, start", [
    ("arn:aws:iam::123456789012:user/line-a-camera-2", "The caller arn:aws:iam::123456789012:user/line-a-camera-2 is"),
    (None, "A request with no caller identity (no API key id, no IAM signature) is"),
])
def test_given_a_caller_not_listed_when_it_does_anything_then_refused_naming_it(identity, start):
    message = refusal(identity, "read", "line-a-1")
    assert message.startswith(start)
    assert message.endswith("not among the stage's clients (CLIENT_SCOPES); ask the operator to add it with its "
                            "kind (camera, mes or operator).")


def test_given_two_matching_entries_when_a_caller_matches_both_then_the_first_decides():
    scopes = parse_client_scopes(json.dumps([{"client": "key-*", "kind": "mes"},
                                             {"client": "key-1", "kind": "operator"}]))
    assert "A mes client may not upload" in refusal("key-1", "upload", "P-1", scopes)


@pytest.mark.parametrize("context, identity", [
    ({"identity": {"userArn": CAMERA_ARN, "apiKeyId": None, "sourceIp": "10.0.0.1"}}, CAMERA_ARN),
    ({"identity": {"apiKeyId": OPERATOR_KEY, "userArn": None}}, OPERATOR_KEY),
    ({"identity": {"sourceIp": "127.0.0.1"}}, None),
    ({}, None),
    (None, None),
])
def test_given_a_request_context_when_the_caller_is_read_then_the_signer_else_the_api_key_id(context, identity):
    assert caller_identity(context) == identity


@pytest.mark.parametrize("value, message", [
    ("{not json", "CLIENT_SCOPES is not JSON"),
    ('{"client": "k", "kind": "mes"}', "must be a JSON list"),
    ('["k"]', "CLIENT_SCOPES entry 1 is not an object"),
    ('[{"client": "k", "kind": "mes"}, {"client": "", "kind": "mes"}]', "entry 2 needs \"client\""),
    ('[{"client": "k", "kind": "admin"}]', "entry 1 (k): kind 'admin' must be one of camera, mes, operator"),
    ('[{"client": "k", "kind": "mes", "product": ["a*"]}]', "unknown field(s) product; use client, kind, products"),
    ('[{"client": "k", "kind": "camera", "products": []}]', "products must be a non-empty list"),
    ('[{"client": "k", "kind": "camera", "products": "line-a-*"}]', "products must be a non-empty list"),
    ('[{"client": "k", "kind": "camera", "products": [" "]}]', "products must be a non-empty list"),
])
def test_given_a_malformed_setting_when_read_then_a_configuration_error_says_what_is_wrong(value, message):
    with pytest.raises(InvalidClientScopes) as refused:
        client_scopes({"CLIENT_SCOPES": value})
    assert message in str(refused.value)
    assert isinstance(refused.value, ConfigurationError)


def test_given_an_unknown_action_when_authorized_then_a_programming_error_not_a_refusal():
    with pytest.raises(ValueError, match="unknown action 'delete'"):
        authorize((), "k", "delete")


@pytest.mark.parametrize("value, mode", [(None, "api_key"), ("", "api_key"), ("IAM", "iam"), ("api-key", "api_key")])
def test_given_api_auth_when_read_then_the_mode(value, mode):
    assert api_auth({} if value is None else {"API_AUTH": value}) == mode


def test_given_an_unknown_api_auth_when_read_then_refused_naming_the_modes():
    with pytest.raises(ConfigurationError, match="API_AUTH='cognito' must be api_key .* or iam"):
        api_auth({"API_AUTH": "cognito"})
