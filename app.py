"""Chalice wiring only: each handler hands its event to a `chalicelib` module."""
import functools
import os
from pathlib import Path

from chalice import BadRequestError, Chalice, CORSConfig, IAMAuthorizer, Response

from chalicelib import access, inspection, observability, reinspection, result_wait, review, starter, uploads, webapp
from chalicelib.api_errors import ApiError, error_response, middleware as api_error_middleware
from chalicelib.aws import AwsClients
from chalicelib.classify import classify_upload
from chalicelib.endpoint import ModelEndpoint, SageMakerEndpoint
from chalicelib.keys import UNMATCHED_PRODUCT_ID, InvalidProductId, validate_product_id
from chalicelib.logs import log
from chalicelib.rekognition import RekognitionCustomLabels
from chalicelib.results import DynamoDbResultsStore, ProductNotFound, ResultsStoreUnavailable, product_results
from chalicelib.settings import Settings, api_auth, cors_origin, upload_queue_name

# chalicelib.logs writes every line as JSON on the logger named like the app; Chalice's own plain-text handler
# on that logger would repeat each line wherever the JSON stream is not stdout (the embedded stack's log file).
app = Chalice(app_name="quality-inspection", configure_logs=False)
clients = AwsClients()

# Log keys (request id, cold start, function, inspection id) and metrics per invocation. Registered first, so
# the outermost: the error middleware's lines carry the keys too.
app.register_middleware(observability.observe, "all")


@app.middleware("http")
def answer_errors_in_one_shape(event, get_response):
    """Body limits (413, 400 too deep), and every error as {"error", "message"}: chalicelib/api_errors.py."""
    return api_error_middleware(event, get_response, app.routes)


# The queue S3 sends upload events to (created by the resource stack), from the stage's configuration.
UPLOAD_QUEUE = upload_queue_name(os.environ)
# CORS for the stage's ALLOWED_ORIGINS only (none by default: no CORS headers, no preflight); never "*".
CORS = CORSConfig(allow_origin=origin) if (origin := cors_origin(os.environ)) else False
# Who may call the API's routes, by the stage's API_AUTH: an API key (default), or an IAM identity that signs its
# requests (SigV4). What each caller may then do is the stage's CLIENT_SCOPES (chalicelib/access.py).
PROTECTED = {"authorizer": IAMAuthorizer()} if api_auth(os.environ) == "iam" else {"api_key_required": True}


def _authorize(action: str, product_id: str | None = None) -> None:
    """ApiError 403 AccessDenied unless the caller may do `action` (for `product_id`): chalicelib/access.py."""
    request = app.current_request
    try:
        access.authorize(access.client_scopes(os.environ), access.caller_identity(request.context), action,
                         product_id)
    except access.AccessDenied as error:
        log("access denied", action=action, product_id=product_id, caller=access.caller_identity(request.context))
        raise ApiError(403, "AccessDenied", str(error)) from None


def _results_store(settings: Settings) -> DynamoDbResultsStore:
    return DynamoDbResultsStore(clients.dynamodb, settings.results_table)


def _store_unavailable() -> Response:
    return error_response(503, "ServiceUnavailable", "The results store is unavailable for a moment; "
                          "ask again in a few seconds (no result is lost meanwhile).", {"Retry-After": "5"})


@app.on_sqs_message(queue=UPLOAD_QUEUE, batch_size=10)
def start_inspections(event):
    records = [record.to_dict() for record in event]
    return starter.start_batch(records, Settings.from_env(), clients.stepfunctions, clients.sqs,
                               seconds_left=lambda: event.context.get_remaining_time_in_millis() / 1000)


def _model_endpoint(settings: Settings, task_input: dict) -> ModelEndpoint:
    """The stage's MODEL_BACKEND: its SageMaker endpoint, or its Rekognition model version asked about the upload."""
    if settings.model_backend == "rekognition":
        return RekognitionCustomLabels(clients.rekognition, settings.rekognition_project_version_arn,
                                       settings.model_classes, bucket=task_input.get("bucket", ""),
                                       key=task_input.get("key", ""), version_id=task_input.get("version_id") or "",
                                       project_arn=settings.rekognition_project_arn)
    return SageMakerEndpoint(clients.sagemaker_runtime, settings.endpoint_name, len(settings.model_classes))


@app.lambda_function(name="classify_image")
def classify_image(event, context):
    settings = Settings.from_env()
    result = classify_upload(event, settings, clients.s3, _model_endpoint(settings, event))
    log("image classified", key=event.get("key"), **result)
    return result


@app.lambda_function(name="record_verdict")
def record_verdict(event, context):
    settings = Settings.from_env()
    result = inspection.record_verdict(event, settings, _results_store(settings))
    log("verdict recorded", product_id=event.get("product_id"), verdict=result["verdict"])
    return result


def _json_request():
    """The request's JSON body, or None when it is not JSON (answered like any other malformed request)."""
    try:
        return app.current_request.json_body
    except BadRequestError:
        return None


@app.route("/uploads", methods=["POST"], cors=CORS, **PROTECTED)
def create_upload():
    try:
        body = uploads.create_upload(_json_request(), Settings.from_env(), clients.s3,
                                     authorize=lambda product_id: _authorize("upload", product_id))
    except (InvalidProductId, uploads.InvalidUploadRequest) as error:
        return error_response(400, "InvalidUploadRequest", str(error))
    return Response(body=body, status_code=201)


@app.route("/results/{product_id}", methods=["GET"], cors=CORS, **PROTECTED)
def get_results(product_id):
    try:
        if product_id != UNMATCHED_PRODUCT_ID:  # reserved: uploads whose key names no product
            validate_product_id(product_id)
        _authorize("read", product_id)
        settings = Settings.from_env()
        # ?key=<upload key>&wait=<0..20 s>: wait for that upload's result (chalicelib/result_wait.py)
        wait = result_wait.read_wait_request(app.current_request.query_params, product_id, settings.upload_prefix)
        if wait is None:  # a reviewed result answers with the human verdict (chalicelib/review.py)
            return review.present_answer(product_results(_results_store(settings), product_id))
        answer = result_wait.wait_for_result(
            _results_store(settings), product_id, wait,
            seconds_left=lambda: app.lambda_context.get_remaining_time_in_millis() / 1000)
        return Response(body=review.present_answer(answer["body"]), status_code=answer["status_code"])
    except InvalidProductId as error:
        return error_response(400, "InvalidProductId", str(error))
    except result_wait.InvalidResultsRequest as error:
        return error_response(400, "InvalidResultsRequest", str(error))
    except ProductNotFound as error:
        return error_response(404, "ProductNotFound", str(error))
    except ResultsStoreUnavailable:
        return _store_unavailable()


@app.route("/reinspections", methods=["POST"], cors=CORS, **PROTECTED)
def create_reinspections():
    _authorize("reinspect")
    settings = Settings.from_env()
    try:
        body = reinspection.reinspect(_json_request(), _results_store(settings), clients.stepfunctions,
                                      settings.state_machine_arn)
    except reinspection.InvalidReinspectionRequest as error:
        return error_response(400, "InvalidReinspectionRequest", str(error))
    log("reinspections started", verdict=body["verdict"], since=body["since"], count=body["count"])
    return Response(body=body, status_code=202)


# ---- review (chalicelib/review.py, docs/webapp.md) ---------------------------------------------------------


def _review_errors(call):
    """The review routes' answer: `call()`, or its error in the app's shape."""
    try:
        return call()
    except (review.InvalidReviewRequest, review.InvalidInspectionsRequest) as error:
        return error_response(400, type(error).__name__, str(error))
    except review.InspectionNotFound as error:  # or review.HeatmapNotFound
        return error_response(404, type(error).__name__, str(error))
    except ResultsStoreUnavailable:
        return _store_unavailable()
    except review.AlertUnavailable as error:
        return error_response(503, "AlertUnavailable", str(error), {"Retry-After": "5"})


@app.route("/inspections", methods=["GET"], cors=CORS, **PROTECTED)
def list_inspections():
    _authorize("read")
    settings = Settings.from_env()
    return _review_errors(lambda: review.list_inspections(app.current_request.query_params, _results_store(settings)))


@app.route("/inspections/{inspection_id}/review", methods=["POST"], cors=CORS, **PROTECTED)
def review_inspection(inspection_id):
    _authorize("review")
    settings = Settings.from_env()
    answer = _review_errors(lambda: review.review(inspection_id, _json_request(), _results_store(settings),
                                                  review.AlertTopic(clients.sns), settings.alert_topic_arn,
                                                  caller=access.caller_identity(app.current_request.context)))
    if isinstance(answer, dict):
        log("inspection reviewed", inspection_id=inspection_id, verdict=answer["verdict"],
            model_verdict=answer["model_verdict"])
    return answer


@app.route("/inspections/{inspection_id}/image", methods=["GET"], cors=CORS, **PROTECTED)
def inspection_image(inspection_id):
    _authorize("read")
    settings = Settings.from_env()
    return _review_errors(lambda: review.image_url(inspection_id, _results_store(settings), clients.s3,
                                                   query=app.current_request.query_params))


# The web app (chalicelib/webapp/): public, like any page; it asks for the API key and sends it itself.
@app.route("/", methods=["GET"])
def web_app():
    return webapp.page_response()


# The API's OpenAPI 3.1 document (chalicelib/openapi.json, read once): public, like the page.
@functools.lru_cache(maxsize=1)
def _openapi_text() -> str:
    return (Path(__file__).resolve().parent / "chalicelib" / "openapi.json").read_text(encoding="utf-8")


@app.route("/openapi.json", methods=["GET"])
def openapi_document():
    return Response(body=_openapi_text(), status_code=200,
                    headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
