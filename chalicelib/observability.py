"""One Chalice middleware around every entry point (the SQS starter, the task Lambdas, the REST API).

Per invocation: each log line names the Lambda invocation and, for a workflow task, the inspection it works
on (`logs.invocation`); the metrics it adds are written once, at its end, failures included
(`metrics.collected`); a failure that leaves the handler is logged with both before Lambda reports it.
"""
from __future__ import annotations

from chalice.app import LambdaFunctionEvent, Request

from . import logs, metrics


def _lambda_context(event):
    # A REST request's `context` is API Gateway's request context; its Lambda context is `lambda_context`.
    return event.lambda_context if isinstance(event, Request) else event.context


def _inspection_id(event) -> str | None:
    """The inspection a workflow task works on: the Step Functions task input names it."""
    if not isinstance(event, LambdaFunctionEvent):
        return None  # an SQS batch starts several inspections, a REST request none or many
    payload = event.to_dict()
    return payload.get("inspection_id") if isinstance(payload, dict) else None


def observe(event, get_response):
    """Chalice middleware (`@app.middleware("all")`): observe one invocation."""
    with logs.invocation(_lambda_context(event), _inspection_id(event)), metrics.collected():
        try:
            return get_response(event)
        except Exception:
            logs.logger.exception("invocation failed")
            raise
