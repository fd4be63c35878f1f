"""The moto shim gives moto's own answers, computed once (inspection_app/stack/moto_shim.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from moto import backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from inspection_app.stack import moto_shim


def signed_environ(service: str, path: str = "/", target: str = "") -> dict:
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "HTTP_HOST": "127.0.0.1:5000",
        "CONTENT_TYPE": "application/x-amz-json-1.0", "CONTENT_LENGTH": "0",
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/{service}/aws4_request, "
                              "SignedHeaders=host, Signature=0",
    }
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    return environ


def test_the_fast_dispatcher_picks_the_backend_moto_picks_and_remembers_it():
    moto_own, fast = DomainDispatcherApplication(create_backend_app), moto_shim.FastDispatcher(create_backend_app)
    for environ in (signed_environ("dynamodb", target="DynamoDB_20120810.PutItem"),
                    signed_environ("states", target="AWSStepFunctions.StartExecution"),
                    signed_environ("sqs", target="AmazonSQS.ReceiveMessage"),
                    signed_environ("s3", path="/bucket/key")):
        assert fast.get_application(dict(environ)).service == moto_own.get_application(dict(environ)).service
        assert fast.get_application(dict(environ)) is fast.get_application(dict(environ))
    assert len(fast._memo) == 4


def test_unsigned_and_moto_api_requests_take_motos_own_way():
    fast = moto_shim.FastDispatcher(create_backend_app)
    fast.get_application({"REQUEST_METHOD": "GET", "PATH_INFO": "/moto-api/", "QUERY_STRING": "",
                          "HTTP_HOST": "127.0.0.1"})
    fast.get_application({**signed_environ("s3", "/bucket"), "HTTP_AUTHORIZATION": ""})
    assert fast._memo == {}


def test_the_module_list_is_read_once_and_is_motos_list():
    moto_shim.install()
    assert backends.list_of_moto_modules is moto_shim.cached_moto_modules
    assert list(moto_shim.cached_moto_modules()) == list(moto_shim._original_moto_modules())


def test_the_interpreter_keeps_one_client_per_region_and_service(monkeypatch):
    monkeypatch.setenv("MOTO_PORT", "5999")
    moto_shim.install()
    moto_shim.install()  # idempotent: still one cache
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sns
    from moto.stepfunctions.parser.asl.utils import boto_client

    factory = boto_client.boto_client_for
    assert lambda_eval_utils.boto_client_for is factory and state_task_service_sns.boto_client_for is factory
    client = factory("us-east-1", "sns")
    assert factory("us-east-1", "sns", {"role": "x"}) is client
    assert factory("eu-west-1", "sns") is not client
    assert (client.meta.service_model.service_name, client.meta.endpoint_url) == ("sns", "http://localhost:5999")
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert client.meta.config.max_pool_connections >= 16


def test_the_asl_is_parsed_once_and_every_execution_gets_its_own_program():
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    # GIVEN our definition with its placeholders filled as CloudFormation would
    arn = "arn:aws:lambda:us-east-1:123456789012:function:quality-inspection-local-{}"
    template = (Path(__file__).resolve().parents[2] / "statemachine" / "inspection.asl.json").read_text()
    definition = (template.replace("${ClassifyImageFunctionArn}", arn.format("classify_image"))
                  .replace("${RecordVerdictFunctionArn}", arn.format("record_verdict"))
                  .replace("${AlertTopicArn}", "arn:aws:sns:us-east-1:123456789012:alerts")
                  .replace("${ParkedVerdictQueueUrl}", "http://localhost:5000/123456789012/parked"))
    moto_shim.install()
    parse = AmazonStateLanguageParser.parse
    # WHEN two executions parse it
    first_program, first_tree = parse(definition)
    second_program, second_tree = parse(definition)
    # THEN the syntax tree is shared, the evaluation components are not, and they are what moto builds
    assert second_tree is first_tree
    assert second_program is not first_program
    assert type(second_program) is type(parse.original(definition)[0])
    assert second_program.states.states.keys() == parse.original(definition)[0].states.states.keys()


def _query_answers(dynamodb) -> list:
    """A table with several partitions, queried as the results store does (and a hash-only table)."""
    queries = [
        {"KeyConditionExpression": "p = :p", "ExpressionAttributeValues": {":p": {"S": "P-2"}}},
        {"KeyConditionExpression": "p = :p AND k >= :k", "ScanIndexForward": False,
         "ExpressionAttributeValues": {":p": {"S": "P-1"}, ":k": {"S": "2026-01-03"}}},
        {"KeyConditionExpression": "p = :p", "FilterExpression": "#v = :v", "ExpressionAttributeNames": {"#v": "v"},
         "ExpressionAttributeValues": {":p": {"S": "P-1"}, ":v": {"N": "3"}}, "ConsistentRead": True},
        {"KeyConditionExpression": "p = :p", "Limit": 2, "ExpressionAttributeValues": {":p": {"S": "P-0"}}},
        {"KeyConditionExpression": "p = :p", "ExpressionAttributeValues": {":p": {"S": "no such product"}}},
    ]
    answers = [dynamodb.query(TableName="results", **query) for query in queries]
    page = dynamodb.query(TableName="results", ExclusiveStartKey=answers[3]["LastEvaluatedKey"], **queries[3])
    answers.append(page)
    answers.append(dynamodb.query(TableName="flat", KeyConditionExpression="p = :p",
                                  ExpressionAttributeValues={":p": {"S": "P-1"}}))
    return [{k: v for k, v in answer.items() if k != "ResponseMetadata"} for answer in answers]


def test_a_query_of_the_table_reads_one_partition_and_answers_as_moto_does(monkeypatch):
    import boto3
    from moto import mock_aws
    from moto.dynamodb.models.table import Table

    own_query = getattr(Table.query, "original", Table.query)
    with mock_aws():
        # GIVEN a table of five items in each of three partitions, written out of order
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName="results", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"},
                                                    {"AttributeName": "k", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "p", "KeyType": "HASH"},
                                         {"AttributeName": "k", "KeyType": "RANGE"}])
        dynamodb.create_table(TableName="flat", BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
                              KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}])
        for day in (4, 1, 5, 2, 3):
            for product in (2, 0, 1):
                dynamodb.put_item(TableName="results", Item={
                    "p": {"S": f"P-{product}"}, "k": {"S": f"2026-01-0{day}"}, "v": {"N": str(day)}})
                dynamodb.put_item(TableName="flat", Item={"p": {"S": f"P-{product}"}, "v": {"N": str(day)}})
        # WHEN the same queries run through moto's own query and through the shim's
        monkeypatch.setattr(Table, "query", own_query)
        expected = _query_answers(dynamodb)
        monkeypatch.setattr(Table, "query", moto_shim.partition_query(own_query))
        monkeypatch.setattr(Table, "all_items", lambda table: pytest.fail("the whole table was read"))
        answered = _query_answers(dynamodb)
    # THEN the answers are moto's, item for item and page for page
    assert answered == expected
    assert [item["k"]["S"] for item in expected[1]["Items"]] == ["2026-01-05", "2026-01-04", "2026-01-03"]


def test_a_routed_service_gets_the_same_client_pointed_elsewhere_until_unrouted(monkeypatch):
    monkeypatch.setenv("MOTO_PORT", "5998")
    moto_shim.install()
    from moto.stepfunctions.parser.asl.utils import boto_client

    factory = boto_client.boto_client_for
    to_moto = factory("us-east-1", "lambda")
    try:
        # GIVEN the interpreter's Lambda calls routed to a worker
        moto_shim.route_service("lambda", "http://127.0.0.1:6001")
        routed = factory("us-east-1", "lambda")
        # THEN its client goes there, configured as moto's (one try, its timeouts), and other services stay
        assert routed.meta.endpoint_url == "http://127.0.0.1:6001"
        assert routed.meta.config.retries == to_moto.meta.config.retries
        assert routed.meta.config.read_timeout == to_moto.meta.config.read_timeout
        assert factory("us-east-1", "sns").meta.endpoint_url == "http://localhost:5998"
    finally:
        moto_shim.route_service("lambda", None)
    assert factory("us-east-1", "lambda") is to_moto


@pytest.mark.parametrize("module_name", moto_shim._JSONPATH_MODULES)
def test_the_interpreters_jsonpaths_are_parsed_once_each_and_find_and_update_as_motos_own_parse(module_name):
    # GIVEN the shim installed (install() is idempotent)
    import importlib

    moto_shim.install()
    module = importlib.import_module(module_name)
    original = module.parse.original
    # WHEN a path is parsed twice THEN the second time is the kept expression
    assert module.parse("$.result.alert") is module.parse("$.result.alert")
    # AND the kept expression finds and updates exactly what moto's own parse does, however often it is used
    document = {"result": {"alert": {"subject": "s"}, "verdict": "defective"}, "items": [{"id": 1}, {"id": 2}]}
    for path in ("$.result.alert", "$.result.verdict", "$.items[1].id", "$.missing"):
        for _ in range(2):
            assert ([m.value for m in module.parse(path).find(document)]
                    == [m.value for m in original(path).find(document)])
    updated = module.parse("$.classification").update_or_create({"a": 1}, {"label": "ok"})
    assert updated == original("$.classification").update_or_create({"a": 1}, {"label": "ok"}) == {
        "a": 1, "classification": {"label": "ok"}}
    # AND a path that does not parse still raises as moto's does
    with pytest.raises(Exception) as motos:
        original("$..[")
    with pytest.raises(type(motos.value)):
        module.parse("$..[")


def test_the_action_methods_of_a_handler_class_are_listed_once_as_moto_lists_them():
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    moto_shim.install()
    listed = responses.method_names_from_class
    for handler in (DynamoHandler, SQSResponse):
        assert listed(handler) == listed.original(handler) and "query" in listed(DynamoHandler)
        assert listed(handler) is listed(handler)
    assert listed(DynamoHandler) != listed(SQSResponse)
