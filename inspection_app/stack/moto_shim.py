"""What moto (5.2.x) redoes for every request, done once, from our side: no fork, no patched file.

Measured with py-spy under load (benchmarks/pipeline.py, 16 clients), one moto server spends on
work whose answer never changes while it runs:

- `FastDispatcher`: moto's `DomainDispatcherApplication` works out the backend of every request under one
  lock (it lists moto's package folder with `os.listdir` + `isdir` each time, then matches ~300 URL patterns);
  for a SigV4-signed request the backend depends only on the signing service (and the X-Amz-Target prefix),
  so the answer is remembered per (service, target prefix). Unsigned and SigV2 requests (pre-signed POSTs)
  still take moto's own way.
- `cached_moto_modules`: the folder listing is made once.
- `install_client_cache`: the Step Functions interpreter creates a new boto3 client (and so a new TCP
  connection) for every task (`asl/utils/boto_client.py: boto_client_for`); one client per region and
  service (and moto port) is kept instead, with the same configuration (no retries, the same timeouts) and a connection pool
  big enough for every execution at once. A service can be routed elsewhere (`route_service`): the embedded
  stack sends the interpreter's Lambda invokes straight to its Lambda worker instead of through moto.
- `install_parse_cache`: every execution parses the state machine's ASL again with ANTLR (under load, 45 % of
  the moto process's CPU with our definition's retriers); the syntax tree is kept per definition text, and
  each execution still builds its own evaluation components from it (they hold per-execution state).
- `install_jsonpath_cache`: every InputPath, OutputPath, ResultPath and `.$` parameter of every state parses
  its JSONPath again with a new ply parser (`jsonpath_ng.parse`, which inspects the grammar's functions each
  time): 11 % of the moto process's GIL time at 16 clients. The parsed expression is kept per path text;
  finding and updating with it do not change it.
- `install_method_names_cache`: to find the method of an action, every request lists its handler class's
  functions with `inspect.getmembers` (2.5 % of the GIL time); a class's functions do not change while moto
  runs, so the list is made once per class.
- `install_partition_query`: a query of the table itself (no index) reads one partition, yet moto sorts every
  item of the table and compares each one's hash key (`Table.all_items`): with a thousand verdicts stored, the
  API's waiting GETs were a quarter of the moto process's CPU. The query now sees only that partition, in
  moto's own order; everything else it does (conditions, filters, paging, limits) is moto's.
- The interpreter logs an ERROR for every `IsPresent` check that finds nothing (the Choice of a fresh
  execution); those lines are dropped, every other error is kept.

`install()` applies all of them; it is idempotent. tests/stack/test_moto_shim.py holds each to moto's own
answer.
"""
from __future__ import annotations

import functools
import importlib
import logging
import sys
import threading

from moto import backends
from moto.settings import moto_server_port
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from .faults import signing_service

# Signing services whose backend is the same for every request (S3 only on its path-style object API).
_MEMO_SERVICES = frozenset({"sqs", "sns", "dynamodb", "states", "cloudformation", "s3"})
_INTERPRETER_CLIENTS = "moto.stepfunctions.parser.asl.utils.boto_client"
_INTERPRETER_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"
_POOL_CONNECTIONS = 64
# The interpreter's task modules the state machine uses (Lambda, DynamoDB, SNS, SQS integrations).
_TASK_MODULES = ("lambda_eval_utils", "service.state_task_service_dynamodb", "service.state_task_service_sns",
                 "service.state_task_service_sqs")


class FastDispatcher(DomainDispatcherApplication):
    """moto's host dispatcher, remembering the backend app of each (signing service, target prefix)."""

    def __init__(self, create_app):
        super().__init__(create_app)
        self._memo: dict[tuple, object] = {}

    def get_application(self, environ):
        key = _dispatch_key(environ)
        if key is None:
            return super().get_application(environ)
        app = self._memo.get(key)
        if app is None:
            app = self._memo[key] = super().get_application(environ)
        return app


def _dispatch_key(environ) -> tuple | None:
    """What decides the backend of a SigV4-signed request of the services the stack uses; None: ask moto."""
    path = environ.get("PATH_INFO", "")
    if not environ.get("HTTP_AUTHORIZATION", "").startswith("AWS4-") or path.startswith(("/moto-api", "/v2018")):
        return None
    service = signing_service(environ)
    if service not in _MEMO_SERVICES:
        return None
    return service, environ.get("HTTP_X_AMZ_TARGET", "").split(".", 1)[0]


@functools.lru_cache(maxsize=1)
def _moto_modules() -> tuple[str, ...]:
    return tuple(_original_moto_modules())


_original_moto_modules = backends.list_of_moto_modules


def cached_moto_modules():
    """moto's list of its service packages, listed once (it cannot change while the server runs)."""
    return _moto_modules()


_routes: dict[str, str] = {}  # service -> endpoint URL of the interpreter's clients, instead of moto's


def route_service(service: str, endpoint_url: str | None) -> None:
    """The interpreter's calls of `service` go to `endpoint_url` (None: to moto again), from its next client on."""
    if endpoint_url:
        _routes[service] = endpoint_url
    else:
        _routes.pop(service, None)


def client_cache(create):
    """`create(region, service, state_credentials)` made once per (region, service, moto port, route): boto3
    clients are thread-safe, and the interpreter's own ignore `state_credentials` (always dummy keys). The port
    is part of the key because a later server in the same process (tests) listens on another one."""
    clients: dict[tuple, object] = {}
    lock = threading.Lock()

    def boto_client_for(region, service, state_credentials=None):
        key = (region, service, moto_server_port(), _routes.get(service))
        client = clients.get(key)
        if client is None:
            with lock:  # boto3's default session is not thread-safe while it creates clients
                client = clients.get(key) or _routed(create(region, service, state_credentials), key[3])
                client.meta.config.max_pool_connections = _POOL_CONNECTIONS
                clients[key] = client
        return client

    boto_client_for.original = create
    return boto_client_for


def _routed(client, endpoint_url: str | None):
    """moto's client, or the same client (its configuration, its dummy keys) pointed at `endpoint_url`."""
    if not endpoint_url:
        return client
    import boto3  # noqa: PLC0415

    return boto3.client(client.meta.service_model.service_name, region_name=client.meta.region_name,
                        endpoint_url=endpoint_url, config=client.meta.config,
                        aws_access_key_id="ak", aws_secret_access_key="sk")


def install_client_cache() -> None:
    """Every module of the interpreter that imported `boto_client_for` uses the caching one."""
    module = importlib.import_module(_INTERPRETER_CLIENTS)
    original = getattr(module.boto_client_for, "original", module.boto_client_for)
    cached = module.boto_client_for if hasattr(module.boto_client_for, "original") else client_cache(original)
    module.boto_client_for = cached
    for name, loaded in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions") and getattr(loaded, "boto_client_for", None) is original:
            loaded.boto_client_for = cached


def parse_cache(parse, *, size: int = 16):
    """`parse(definition) -> (program, tree)` with the ANTLR tree kept per definition text: the program (the
    evaluation components, which executions change) is made anew from the kept tree every time."""
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor  # noqa: PLC0415

    @functools.lru_cache(maxsize=size)
    def tree_of(definition: str):
        return parse(definition)[1]  # a definition that does not parse raises, and nothing is kept

    def cached_parse(definition: str):
        tree = tree_of(definition)
        return Preprocessor().visit(tree), tree

    cached_parse.original = parse
    return cached_parse


def install_parse_cache() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser  # noqa: PLC0415

    if not hasattr(AmazonStateLanguageParser.parse, "original"):
        AmazonStateLanguageParser.parse = staticmethod(parse_cache(AmazonStateLanguageParser.parse))


# The interpreter's modules that import a JSONPath parser by name (`from jsonpath_ng[.ext] import parse`).
_JSONPATH_MODULES = ("moto.stepfunctions.parser.asl.utils.json_path",
                     "moto.stepfunctions.parser.asl.component.common.path.result_path")


def remembered(function, *, size: int | None = 512):
    """`function` remembered per argument (one that raises keeps nothing), with `.original` for install checks."""
    cached = functools.lru_cache(maxsize=size)(function)
    cached.original = function
    return cached


def install_jsonpath_cache() -> None:
    for name in _JSONPATH_MODULES:
        module = importlib.import_module(name)
        if not hasattr(module.parse, "original"):
            module.parse = remembered(module.parse)


def install_method_names_cache() -> None:
    from moto.core import responses  # noqa: PLC0415

    if not hasattr(responses.method_names_from_class, "original"):
        # One list per handler class; read, never changed.
        responses.method_names_from_class = remembered(responses.method_names_from_class, size=None)


class _OnePartition:
    """A table as `Table.query` reads it for one hash key: `all_items()` lists that partition only."""

    def __init__(self, table, hash_key):
        self._table = table
        self._hash_key = hash_key

    def __getattr__(self, name):
        return getattr(self._table, name)

    def all_items(self) -> list:
        partition = self._table.items.get(self._hash_key)
        if partition is None:
            return []
        items = list(partition.values()) if self._table.range_key_attr else [partition]
        return sorted(items, key=lambda item: item.range_key) if self._table.range_key_attr else items


def partition_query(query):
    """moto's `Table.query`, given only the partition it reads when it queries the table itself."""

    @functools.wraps(query)
    def query_one_partition(table, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                            scan_index_forward, projection_expressions, index_name=None, *args, **kwargs):
        if index_name is None and hash_key is not None:
            table = _OnePartition(table, hash_key)
        return query(table, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
                     projection_expressions, index_name, *args, **kwargs)

    query_one_partition.original = query
    return query_one_partition


def install_partition_query() -> None:
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    if not hasattr(Table.query, "original"):
        Table.query = partition_query(Table.query)


def _not_a_missing_optional_path(record: logging.LogRecord) -> bool:
    return "NoSuchJsonPathError" not in record.getMessage()


def install() -> None:
    backends.list_of_moto_modules = cached_moto_modules
    for module in _TASK_MODULES:  # they import the client factory by name: loaded first, each one is switched
        importlib.import_module(f"moto.stepfunctions.parser.asl.component.state.exec.state_task.{module}")
    install_client_cache()
    install_parse_cache()
    install_jsonpath_cache()
    install_method_names_cache()
    install_partition_query()
    logger = logging.getLogger(_INTERPRETER_LOGGER)
    if _not_a_missing_optional_path not in logger.filters:
        logger.addFilter(_not_a_missing_optional_path)
