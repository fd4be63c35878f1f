"""chalicelib.aws: lazily made, cached, replaceable clients."""
import threading

from chalicelib.aws import AwsClients


def test_given_a_client_asked_twice_when_created_then_the_same_one_is_reused(boto_session):
    clients = AwsClients(boto_session)
    assert clients.s3 is clients.s3
    assert clients.dynamodb is clients.dynamodb
    assert clients.s3 is not clients.dynamodb


def test_given_each_property_when_used_then_the_right_service(boto_session):
    clients = AwsClients(boto_session)
    assert clients.s3.meta.service_model.service_name == "s3"
    assert clients.stepfunctions.meta.service_model.service_name == "stepfunctions"
    assert clients.dynamodb.meta.service_model.service_name == "dynamodb"
    assert clients.sagemaker_runtime.meta.service_model.service_name == "sagemaker-runtime"


def test_given_the_s3_client_when_made_then_it_signs_with_sigv4_and_retries_briefly(boto_session):
    s3 = AwsClients(boto_session).s3
    assert s3.meta.config.signature_version == "s3v4"
    # botocore's "max_attempts: 3" means 3 retries: 4 attempts in all.
    assert s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert s3.meta.config.read_timeout == 30


def test_given_service_endpoint_variables_when_clients_made_then_they_point_at_local_services(monkeypatch):
    # The embedded stack relies on the standard boto3 variables; nothing in the code should override them.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:8089")
    clients = AwsClients()
    assert clients.dynamodb.meta.endpoint_url == "http://127.0.0.1:5999"
    assert clients.sagemaker_runtime.meta.endpoint_url == "http://127.0.0.1:8089"


def test_given_no_endpoint_variables_when_clients_made_then_the_real_regional_endpoints(boto_session):
    assert AwsClients(boto_session).dynamodb.meta.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"


def test_given_many_threads_when_they_ask_at_once_then_one_client_is_made(boto_session):
    clients = AwsClients(boto_session)
    seen, start = [], threading.Barrier(8)

    def ask():
        start.wait()
        seen.append(clients.stepfunctions)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8
    assert len({id(client) for client in seen}) == 1
