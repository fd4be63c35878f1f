"""`chalice package` runs, and its template alone and merged with statemachine/chalice-merge.json lint clean."""
from __future__ import annotations

import json
import re

from deploy_helpers import ALLOWED_ORIGIN, PROJECT_DIR, copy_project, lint_errors, loaded_app

from inspection_app.deploy.api_gateway import GATEWAY_RESPONSES
from inspection_app.deploy.chalice_config import ENVIRONMENT_FROM_OUTPUTS
from inspection_app.deploy.merge_template import (
    FUNCTION_LOGICAL_IDS,
    REST_API_LOGICAL_ID,
    ROLE_LOGICAL_IDS,
    SQS_EVENT_LOGICAL_ID,
    as_cloudformation,
    merge_template,
)
from inspection_app.deploy.names import CLOUDFORMATION_NAMES, FUNCTIONS
from inspection_app.deploy.policies import function_policies
from inspection_app.resource_template import load_template

# Refs that CloudFormation resolves itself.
PSEUDO_PARAMETERS = {"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::StackName", "AWS::StackId",
                     "AWS::URLSuffix", "AWS::NoValue", "AWS::NotificationARNs"}


def test_chalice_package_lints_clean(packaged):
    assert lint_errors(packaged["plain_path"]) == []


def test_merged_template_lints_clean(packaged):
    assert lint_errors(packaged["merged_path"]) == []


def test_generated_logical_ids_are_the_ones_the_merge_template_extends(packaged):
    resources = packaged["plain"]["Resources"]
    for handler, logical_id in FUNCTION_LOGICAL_IDS.items():
        assert resources[logical_id]["Type"] == "AWS::Serverless::Function", handler
        role = ROLE_LOGICAL_IDS[handler]
        assert resources[role]["Type"] == "AWS::IAM::Role", handler
        assert resources[logical_id]["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    assert SQS_EVENT_LOGICAL_ID in resources["StartInspections"]["Properties"]["Events"]
    assert resources[REST_API_LOGICAL_ID]["Type"] == "AWS::Serverless::Api"
    # Every resource the merge template extends (no Type of its own) exists in Chalice's template.
    for name, resource in merge_template(PROJECT_DIR)["Resources"].items():
        if "Type" not in resource:
            assert name in resources, f"the merge template extends {name}, which chalice package does not make"


def test_every_function_has_its_own_role_with_the_stage_policy_file(packaged):
    resources = packaged["plain"]["Resources"]
    roles = {resources[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0] for logical_id in FUNCTION_LOGICAL_IDS.values()}
    assert len(roles) == len(FUNCTIONS)
    assert "DefaultRole" not in resources  # autogen_policy is off


def test_every_function_is_traced_by_lambda_and_may_send_its_traces(packaged):
    # Lambda's active tracing (the stage's "xray": true), not the X-Ray SDK in the bundle; its role may write.
    resources = packaged["plain"]["Resources"]
    for handler, logical_id in FUNCTION_LOGICAL_IDS.items():
        assert resources[logical_id]["Properties"]["Tracing"] == "Active", handler
    for handler, policy in function_policies(CLOUDFORMATION_NAMES).items():
        traces = [statement for statement in policy["Statement"] if statement["Sid"] == "SendTraces"]
        assert traces and set(traces[0]["Action"]) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, handler


def test_routes_require_an_api_key_and_the_cors_preflight_allows_only_the_stages_origin(packaged):
    swagger = packaged["plain"]["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert swagger["securityDefinitions"]["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    preflights = 0
    # Open on purpose: the web app's page (it asks for the key itself) and the API's own description.
    public = {("/", "get"), ("/openapi.json", "get")}
    assert public <= {(path, method) for path, methods in swagger["paths"].items() for method in methods}
    for path, methods in swagger["paths"].items():
        for method, operation in methods.items():
            if (path, method) in public:
                assert "security" not in operation, f"{method.upper()} {path} should need no key"
                continue
            if method == "options":
                # The browser's preflight carries no key: it must stay open, allow the key header, and name
                # the stage's ALLOWED_ORIGINS (the packaged dev stage allows one), never "*".
                assert "security" not in operation
                headers = operation["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
                assert "X-Api-Key" in headers["method.response.header.Access-Control-Allow-Headers"]
                assert headers["method.response.header.Access-Control-Allow-Origin"] == f"'{ALLOWED_ORIGIN}'"
                preflights += 1
            else:
                assert operation["security"] == [{"api_key": []}], f"{method.upper()} {path} is open"
    assert preflights == len(set(swagger["paths"]) - {path for path, _ in public})


def test_given_the_checked_in_dev_stage_when_chalice_loads_the_app_then_no_route_answers_cors(tmp_path):
    # GIVEN the project as committed: no stage sets ALLOWED_ORIGINS
    project = copy_project(tmp_path / "project")
    # WHEN Chalice loads app.py for the dev stage (the local stage is never deployed)
    loaded = loaded_app(project, "dev", "*sorted({str(entry.cors) for methods in app.routes.values() "
                                        "for entry in methods.values()})")
    # THEN no route has a CORS configuration: no CORS headers, no preflight
    assert (loaded.returncode, loaded.stdout.split()) == (0, ["None"]), loaded.stderr


def test_merged_starter_reports_partial_batch_failures_from_the_stack_queue(packaged):
    starter = packaged["merged"]["Resources"]["StartInspections"]["Properties"]
    event = starter["Events"][SQS_EVENT_LOGICAL_ID]
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["Queue"] == {"Fn::Sub": "${InspectionResources.Outputs.UploadQueueArn}"}


def test_merged_functions_have_predictable_names_and_the_stack_environment(packaged):
    resources = packaged["merged"]["Resources"]
    for handler, logical_id in FUNCTION_LOGICAL_IDS.items():
        properties = resources[logical_id]["Properties"]
        assert properties["FunctionName"] == {"Fn::Sub": CLOUDFORMATION_NAMES.function_name(handler)}
        variables = properties["Environment"]["Variables"]
        for variable, output in ENVIRONMENT_FROM_OUTPUTS.items():
            assert variables[variable] == {"Fn::GetAtt": ["InspectionResources", f"Outputs.{output}"]}, variable
        # Settings.from_env requires every one of them; none may be a placeholder left from config.json.
        assert all(value != "" for value in variables.values())


def test_merged_roles_carry_the_generated_policies(packaged):
    resources = packaged["merged"]["Resources"]
    expected = function_policies(CLOUDFORMATION_NAMES)
    for handler, role in ROLE_LOGICAL_IDS.items():
        [policy] = resources[role]["Properties"]["Policies"]
        assert policy["PolicyDocument"] == as_cloudformation(expected[handler])


def test_merged_api_has_a_usage_plan_and_key(packaged):
    resources = packaged["merged"]["Resources"]
    plan = resources["ApiUsagePlan"]["Properties"]
    assert plan["ApiStages"] == [{"ApiId": {"Ref": "RestAPI"}, "Stage": {"Ref": "RestAPI.Stage"}}]
    assert plan["Throttle"]["RateLimit"] > 0 and plan["Quota"]["Limit"] > 0
    key = resources["ApiUsagePlanKey"]["Properties"]
    assert key == {"KeyId": {"Ref": "ApiKey"}, "KeyType": "API_KEY", "UsagePlanId": {"Ref": "ApiUsagePlan"}}


def _references(value, found: list) -> list:
    """Every (kind, target) a template value refers to: Ref, GetAtt and ${...} in Fn::Sub."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            found.append(("Ref", value["Ref"]))
        elif set(value) == {"Fn::GetAtt"}:
            found.append(("GetAtt", tuple(value["Fn::GetAtt"])))
        elif set(value) == {"Fn::Sub"}:
            text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            for name in re.findall(r"\$\{([^}!]+)\}", text):
                if name not in variables:
                    found.append(("Sub", name))
            _references(variables, found)
            return found
        for item in value.values():
            _references(item, found)
    elif isinstance(value, list):
        for item in value:
            _references(item, found)
    return found


def test_merged_template_refers_only_to_what_exists(packaged):
    # cfn-lint does not follow SAM's `RestAPI.Stage` or a nested stack's outputs; this does.
    template = packaged["merged"]
    resources, parameters = template["Resources"], set(template["Parameters"])
    nested_outputs = set(load_template(PROJECT_DIR / "statemachine" / "resources.yaml")["Outputs"])
    serverless_apis = {n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Api"}
    for kind, target in _references({"Resources": resources, "Outputs": template["Outputs"]}, []):
        name = target[0] if kind == "GetAtt" else target.split(".")[0]
        assert name in resources or name in parameters or name in PSEUDO_PARAMETERS, f"{kind} {target}"
        dotted = target[1] if kind == "GetAtt" else (target.split(".", 1)[1] if "." in target else None)
        if dotted and resources.get(name, {}).get("Type") == "AWS::CloudFormation::Stack":
            assert dotted.startswith("Outputs.") and dotted.split(".", 1)[1] in nested_outputs, f"{kind} {target}"
        if kind == "Ref" and "." in target:
            assert name in serverless_apis and dotted in ("Stage", "Deployment"), f"Ref {target}"


def test_nested_stack_template_url_resolves_from_the_output_directory(packaged):
    nested = packaged["merged"]["Resources"]["InspectionResources"]["Properties"]
    path = (packaged["merged_path"].parent / nested["TemplateURL"]).resolve()
    assert path == (packaged["project"] / "statemachine" / "resources.yaml").resolve()
    resources_parameters = load_template(path)["Parameters"]
    assert set(nested["Parameters"]) == set(resources_parameters)


def test_local_server_serves_key_protected_routes_without_a_key():
    """The embedded stack serves app.py with chalice.local, which ignores api_key_required: no key locally."""
    from chalice import Chalice
    from chalice.config import Config
    from chalice.local import LocalGateway

    probe = Chalice(app_name="probe")

    @probe.route("/probe", methods=["GET"], cors=True, api_key_required=True)
    def index():
        return {"ok": True}

    response = LocalGateway(probe, Config()).handle_request("GET", "/probe", {}, b"")
    assert response["statusCode"] == 200


def test_merged_api_answers_its_own_errors_in_the_apps_shape(packaged):
    # API Gateway answers unknown routes, bad keys and throttling itself: the gateway responses give those
    # answers the app's {"error", "message"} shape too (unknown routes as 404 NotFound).
    api = packaged["merged"]["Resources"][REST_API_LOGICAL_ID]["Properties"]
    responses = api["GatewayResponses"]
    assert set(responses) == set(GATEWAY_RESPONSES)
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    # Who-calls refusals (issue 8): 401/403 with a code and what to do, not API Gateway's {"message": "Forbidden"}
    for response_type, status, code, advice in (
            ("INVALID_API_KEY", "403", "InvalidApiKey", "x-api-key header"),
            ("ACCESS_DENIED", "403", "AccessDenied", "allow execute-api:Invoke"),
            ("INVALID_SIGNATURE", "403", "InvalidSignature", "sign with service execute-api"),
            ("EXPIRED_TOKEN", "403", "ExpiredToken", "refresh them"),
            ("UNAUTHORIZED", "401", "Unauthorized", "send this stage's credentials")):
        body = json.loads(responses[response_type]["ResponseTemplates"]["application/json"])
        assert (responses[response_type]["StatusCode"], body["error"]) == (status, code), response_type
        assert advice in body["message"], response_type
    for response in responses.values():
        assert response["ResponseTemplates"]["application/json"].startswith('{"error": ')
        # The merge template serves every stage; a stage's origin is added by `inspection-app deploy` only.
        assert "ResponseParameters" not in response
    assert "DefinitionBody" in api  # Chalice's swagger, which SAM adds them to


def test_merged_functions_get_the_model_input_size_from_the_stack_parameter(packaged):
    template = packaged["merged"]
    assert "Default" not in template["Parameters"]["ModelInputSize"]  # from the model, never a default
    classify = template["Resources"][FUNCTION_LOGICAL_IDS["classify_image"]]["Properties"]
    assert classify["Environment"]["Variables"]["MODEL_INPUT_SIZE"] == {
        "Fn::GetAtt": ["InspectionResources", "Outputs.ModelInputSize"]}
    plain = packaged["plain"]["Resources"][FUNCTION_LOGICAL_IDS["classify_image"]]["Properties"]
    assert "MODEL_INPUT_SIZE" not in plain.get("Environment", {}).get("Variables", {})  # none in config.json


def test_given_an_iam_stage_when_chalice_generates_the_swagger_then_every_protected_route_needs_sigv4(tmp_path):
    # GIVEN the dev stage with API_AUTH=iam (what `inspection-app deploy --auth iam` writes)
    project = copy_project(tmp_path / "project")
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config["stages"]["dev"]["environment_variables"]["API_AUTH"] = "iam"
    config_path.write_text(json.dumps(config))
    # WHEN Chalice loads app.py for the stage and writes the REST API's swagger (as `chalice package` does)
    loaded = loaded_app(project, "dev", "__import__('json').dumps(__import__('chalice.deploy.swagger', "
                                        "fromlist=['_']).CFNSwaggerGenerator().generate_swagger(app))")
    assert loaded.returncode == 0, loaded.stderr
    swagger = json.loads(loaded.stdout)
    # THEN API Gateway checks a SigV4 signature (IAM) on every route but the page and the document, and no key
    assert swagger["securityDefinitions"] == {"sigv4": {
        "in": "header", "type": "apiKey", "name": "Authorization", "x-amazon-apigateway-authtype": "awsSigv4"}}
    public = {("/", "get"), ("/openapi.json", "get")}
    for path, methods in swagger["paths"].items():
        for method, operation in methods.items():
            if (path, method) not in public and method != "options":
                assert operation["security"] == [{"sigv4": []}], f"{method.upper()} {path}"
            else:
                assert "security" not in operation, f"{method.upper()} {path}"
