"""The moto shim gives moto's own answers, computed once (inspection_app/stack/moto_shim.py)."""
from __future__ import annotations

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
