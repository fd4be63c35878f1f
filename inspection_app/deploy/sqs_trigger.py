"""The starter's SQS trigger: partial batch failures, which `chalice deploy` never switches on."""
from __future__ import annotations

import time
from typing import Callable

from botocore.exceptions import ClientError

from .errors import DeployError


def enable_partial_batch_failures(lambda_client, function_name: str, queue_arn: str, *,
                                  sleep: Callable[[float], None] = time.sleep, attempts: int = 12) -> str:
    """Switch on ReportBatchItemFailures on the function's mapping from the queue; returns the mapping's UUID."""
    mappings = [
        mapping
        for mapping in lambda_client.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]
        if mapping["FunctionArn"].split(":")[6] == function_name
    ]
    if not mappings:
        raise DeployError(f"{function_name} has no event source mapping from {queue_arn}; did `chalice deploy` run?")
    uuid = mappings[0]["UUID"]
    if "ReportBatchItemFailures" in (mappings[0].get("FunctionResponseTypes") or []):
        return uuid
    for attempt in range(attempts):
        try:
            lambda_client.update_event_source_mapping(UUID=uuid, FunctionResponseTypes=["ReportBatchItemFailures"])
            return uuid
        except ClientError as error:
            # A mapping that is still being created or updated refuses changes for a few seconds.
            if error.response["Error"]["Code"] != "ResourceInUseException" or attempt == attempts - 1:
                raise
            sleep(5)
    return uuid
