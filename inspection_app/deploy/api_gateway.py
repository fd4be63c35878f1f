"""What the REST API needs beyond Chalice's: a usage plan with an API key, and error answers in the app's shape."""
from __future__ import annotations

import json

from .names import Names

# Per API key: steady rate and burst (requests per second), and a monthly quota that caps a runaway client.
API_THROTTLE = {"rateLimit": 50.0, "burstLimit": 100}
API_QUOTA = {"limit": 1_000_000, "period": "MONTH"}
API_KEY_HEADER = "x-api-key"

# API Gateway answers some requests without the app; these gateway responses give those answers the app's
# error shape (chalicelib/api_errors.py). Response type -> (status, or None for API Gateway's own; error code;
# message, or None for API Gateway's). A path or method no route has is 404 NotFound, as in the embedded stack.
# The refusals of who calls (401/403) say what to do: an API key stage answers INVALID_API_KEY, an IAM stage
# (API_AUTH=iam) ACCESS_DENIED, INVALID_SIGNATURE, EXPIRED_TOKEN and, for an unsigned request,
# MISSING_AUTHENTICATION_TOKEN (IAM_GATEWAY_RESPONSES); UNAUTHORIZED is for authorizers neither mode uses.
GATEWAY_RESPONSES = {
    "MISSING_AUTHENTICATION_TOKEN": ("404", "NotFound", "No route matches this method and path."),
    "INVALID_API_KEY": ("403", "InvalidApiKey", "Send a valid API key of this stage in the x-api-key header "
                                                "(its operator gives one per client; docs/security.md)."),
    "ACCESS_DENIED": ("403", "AccessDenied", "Your IAM identity may not call this method and path: its policy must "
                                             "allow execute-api:Invoke on it (docs/security.md has example "
                                             "policies per kind of client)."),
    "INVALID_SIGNATURE": ("403", "InvalidSignature", "The SigV4 signature does not match: sign with service "
                                                     "execute-api in the API's region, over the request exactly as "
                                                     "sent, with a clock in sync (`inspection-app --auth iam` and "
                                                     "ApiClient(auth='iam') sign for you)."),
    "EXPIRED_TOKEN": ("403", "ExpiredToken", "The credentials that signed the request have expired: refresh them "
                                             "and sign again."),
    "UNAUTHORIZED": ("401", "Unauthorized", "The request is not authenticated: send this stage's credentials (an "
                                            "API key in x-api-key, or a SigV4 signature on an IAM stage)."),
    "THROTTLED": (None, "TooManyRequests", None),
    "QUOTA_EXCEEDED": (None, "QuotaExceeded", None),
    "REQUEST_TOO_LARGE": (None, "RequestTooLarge", None),
    "DEFAULT_4XX": (None, "$context.error.responseType", None),
    "DEFAULT_5XX": (None, "InternalServerError", "An internal error occurred. Try again later."),
}


# On an IAM stage API Gateway answers an unsigned request as it answers an unknown route: one response type.
IAM_GATEWAY_RESPONSES = {
    **GATEWAY_RESPONSES,
    "MISSING_AUTHENTICATION_TOKEN": (
        "403", "MissingAuthenticationToken",
        "The request is not signed, or no route matches this method and path. On this stage every route but GET / "
        "and GET /openapi.json needs a SigV4 signature (service execute-api, the API's region) from an IAM identity "
        "allowed to call it: `inspection-app --auth iam`, ApiClient(auth='iam'); docs/security.md."),
}


def gateway_responses(api_auth: str = "api_key") -> dict:
    """The gateway responses of a stage whose API_AUTH is `api_auth` (chalicelib.settings.api_auth)."""
    return IAM_GATEWAY_RESPONSES if api_auth == "iam" else GATEWAY_RESPONSES


def gateway_response_template(code: str, message: str | None) -> str:
    """The JSON body of a gateway response (a mapping template: $context variables are filled in)."""
    text = json.dumps(message) if message is not None else "$context.error.messageString"  # already quoted
    return '{"error": "%s", "message": %s}' % (code, text)


def gateway_responses_sam() -> dict:
    """GATEWAY_RESPONSES as the GatewayResponses property of SAM's AWS::Serverless::Api.

    Without CORS headers: the merge template serves every stage, and a stage's allowed origin (ALLOWED_ORIGINS)
    is known only when it is deployed. A browser page then sees API Gateway's own refusals (bad key, throttling)
    as CORS failures on the one-stack path; `inspection-app deploy` adds the stage's origin to them."""
    responses = {}
    for response_type, (status, code, message) in GATEWAY_RESPONSES.items():
        response = {"ResponseTemplates": {"application/json": gateway_response_template(code, message)}}
        if status:
            response["StatusCode"] = status
        responses[response_type] = response
    return responses


def ensure_gateway_responses(apigateway, rest_api_id: str, api_stage: str, origin: str | None = None,
                             api_auth: str = "api_key") -> None:
    """Put the stage's gateway responses (`gateway_responses(api_auth)`) on the REST API and redeploy its stage (they apply from the next deployment).

    `origin`: the stage's allowed browser origin (chalicelib.settings.cors_origin), so a page there can read
    why it was refused; None: no CORS header, as on the app's own answers. Each put replaces the response, so a
    header an earlier deployment set goes when the origin does.
    Run after every `chalice deploy`: it rewrites the API from its swagger, which has none of them."""
    cors = {"responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": f"'{origin}'"}} if origin else {}
    for response_type, (status, code, message) in gateway_responses(api_auth).items():
        apigateway.put_gateway_response(
            restApiId=rest_api_id, responseType=response_type, **({"statusCode": status} if status else {}), **cors,
            responseTemplates={"application/json": gateway_response_template(code, message)},
        )
    apigateway.create_deployment(restApiId=rest_api_id, stageName=api_stage,
                                 description="inspection-app deploy: gateway responses in the app's error shape")


def _all_pages(call, **kwargs) -> list[dict]:
    items, position = [], None
    while True:
        page = call(**kwargs, **({"position": position} if position else {}))
        items.extend(page.get("items", []))
        position = page.get("position")
        if not position:
            return items


def ensure_api_key(apigateway, rest_api_id: str, api_stage: str, names: Names) -> dict:
    """A usage plan on the REST API's stage and a default API key in it; returns their ids."""
    plans = [plan for plan in _all_pages(apigateway.get_usage_plans, limit=500) if plan["name"] == names.usage_plan_name()]
    if plans:
        plan = plans[0]
        stages = plan.get("apiStages", [])
        operations = [
            {"op": "remove", "path": "/apiStages", "value": f"{item['apiId']}:{item['stage']}"}
            for item in stages if item["apiId"] != rest_api_id  # a REST API that `chalice delete` removed
        ]
        if not any(item["apiId"] == rest_api_id and item["stage"] == api_stage for item in stages):
            operations.append({"op": "add", "path": "/apiStages", "value": f"{rest_api_id}:{api_stage}"})
        if operations:
            apigateway.update_usage_plan(usagePlanId=plan["id"], patchOperations=operations)
    else:
        plan = apigateway.create_usage_plan(
            name=names.usage_plan_name(),
            description=f"Clients of the {names.app_name} {names.stage} inspection API (one API key per client).",
            apiStages=[{"apiId": rest_api_id, "stage": api_stage}],
            throttle=API_THROTTLE,
            quota=API_QUOTA,
        )
    keys = [key for key in _all_pages(apigateway.get_api_keys, nameQuery=names.api_key_name(), limit=500)
            if key["name"] == names.api_key_name()]
    key = keys[0] if keys else apigateway.create_api_key(
        name=names.api_key_name(), description="Default key made by inspection-app deploy", enabled=True
    )
    in_plan = {item["id"] for item in _all_pages(apigateway.get_usage_plan_keys, usagePlanId=plan["id"], limit=500)}
    if key["id"] not in in_plan:
        apigateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    return {"usage_plan_id": plan["id"], "api_key_id": key["id"]}


def remove_api_key(apigateway, names: Names) -> None:
    """Delete the stage's usage plan and default key (before the REST API goes: a plan pins its stage)."""
    for plan in _all_pages(apigateway.get_usage_plans, limit=500):
        if plan["name"] != names.usage_plan_name():
            continue
        operations = [{"op": "remove", "path": "/apiStages", "value": f"{item['apiId']}:{item['stage']}"}
                      for item in plan.get("apiStages", [])]
        if operations:
            apigateway.update_usage_plan(usagePlanId=plan["id"], patchOperations=operations)
        apigateway.delete_usage_plan(usagePlanId=plan["id"])
    for key in _all_pages(apigateway.get_api_keys, nameQuery=names.api_key_name(), limit=500):
        if key["name"] == names.api_key_name():
            apigateway.delete_api_key(apiKey=key["id"])
