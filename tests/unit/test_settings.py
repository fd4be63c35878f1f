"""chalicelib.settings: reading the stage's environment."""
import pytest

from chalicelib.settings import UNCONFIGURED_QUEUE_NAME, ConfigurationError, Settings, cors_origin, upload_queue_name

REQUIRED = {
    "UPLOAD_BUCKET": "qi-uploads",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:qi",
    "RESULTS_TABLE": "qi-results",
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:qi-alerts",
    "SAGEMAKER_ENDPOINT_NAME": "qi-model",
}


# Required too, with its own message: the served model's input size (no default that could disagree with it).
MODEL_INPUT_SIZE = "192"


def env(**extra):
    values = dict(REQUIRED, MODEL_INPUT_SIZE=MODEL_INPUT_SIZE)
    values.update(extra)
    return values


def test_given_only_required_variables_when_read_then_values_and_defaults_are_used():
    settings = Settings.from_env(env())
    assert settings.upload_bucket == "qi-uploads"
    assert settings.state_machine_arn == REQUIRED["STATE_MACHINE_ARN"]
    assert settings.results_table == "qi-results"
    assert settings.alert_topic_arn == REQUIRED["ALERT_TOPIC_ARN"]
    assert settings.endpoint_name == "qi-model"
    assert settings.upload_prefix == "uploads/"
    assert settings.confidence_threshold == 0.75
    assert settings.max_upload_bytes == 10 * 1024 * 1024
    assert settings.max_image_pixels == 40_000_000
    assert settings.model_input_size == 192
    assert settings.upload_url_expiry_seconds == 300
    assert settings.model_classes == ("defect_free", "defective")


def test_given_no_env_argument_when_read_then_os_environ_is_used(monkeypatch):
    for name, value in env(CONFIDENCE_THRESHOLD="0.9").items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert settings.upload_bucket == "qi-uploads"
    assert settings.confidence_threshold == 0.9


@pytest.mark.parametrize("name", sorted(REQUIRED))
@pytest.mark.parametrize("value", [None, "", "   "])
def test_given_a_required_variable_missing_or_blank_when_read_then_the_error_names_it(name, value):
    values = env()
    if value is None:
        del values[name]
    else:
        values[name] = value
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(values)
    assert name in str(raised.value)
    assert ".chalice/config.json" in str(raised.value)


def test_given_surrounding_whitespace_when_read_then_required_values_are_stripped():
    assert Settings.from_env(env(UPLOAD_BUCKET="  qi-uploads \n")).upload_bucket == "qi-uploads"


@pytest.mark.parametrize(
    "name, raw, expected",
    [
        ("CONFIDENCE_THRESHOLD", "0.5", 0.5),
        ("CONFIDENCE_THRESHOLD", "1", 1.0),
        ("CONFIDENCE_THRESHOLD", " 0.8 ", 0.8),
        ("MAX_UPLOAD_BYTES", "2048", 2048),
        ("MAX_IMAGE_PIXELS", "1000000", 1_000_000),
        ("MODEL_INPUT_SIZE", "16", 16),
        ("MODEL_INPUT_SIZE", "4096", 4096),
        ("UPLOAD_URL_EXPIRY_SECONDS", "3600", 3600),
    ],
)
def test_given_numbers_in_range_when_read_then_they_are_used(name, raw, expected):
    attribute = {
        "CONFIDENCE_THRESHOLD": "confidence_threshold",
        "MAX_UPLOAD_BYTES": "max_upload_bytes",
        "MAX_IMAGE_PIXELS": "max_image_pixels",
        "MODEL_INPUT_SIZE": "model_input_size",
        "UPLOAD_URL_EXPIRY_SECONDS": "upload_url_expiry_seconds",
    }[name]
    value = getattr(Settings.from_env(env(**{name: raw})), attribute)
    assert value == expected
    assert type(value) is type(expected)


def test_given_blank_numbers_when_read_then_defaults_are_used():
    settings = Settings.from_env(env(CONFIDENCE_THRESHOLD="", MAX_UPLOAD_BYTES="  "))
    assert settings.confidence_threshold == 0.75
    assert settings.max_upload_bytes == 10 * 1024 * 1024


@pytest.mark.parametrize("value", [None, "", "  "])
def test_given_no_model_input_size_when_read_then_an_error_says_it_comes_from_the_model(value):
    values = env()
    if value is None:
        del values["MODEL_INPUT_SIZE"]
    else:
        values["MODEL_INPUT_SIZE"] = value
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(values)
    assert "MODEL_INPUT_SIZE" in str(raised.value) and "model.json input_size" in str(raised.value)
    assert "inspection-app deploy" in str(raised.value)


@pytest.mark.parametrize(
    "name, raw, hint",
    [
        ("CONFIDENCE_THRESHOLD", "high", "not a number"),
        ("CONFIDENCE_THRESHOLD", "75%", "not a number"),
        ("CONFIDENCE_THRESHOLD", "0.49", "between"),
        ("CONFIDENCE_THRESHOLD", "1.01", "between"),
        ("CONFIDENCE_THRESHOLD", "nan", "between"),
        ("MAX_UPLOAD_BYTES", "0", "between"),
        ("MAX_UPLOAD_BYTES", "-1", "between"),
        ("MAX_UPLOAD_BYTES", "10MB", "not a number"),
        ("MAX_UPLOAD_BYTES", str(5 * 1024**3 + 1), "between"),
        ("MAX_IMAGE_PIXELS", "inf", "between"),
        ("MODEL_INPUT_SIZE", "15", "between"),
        ("MODEL_INPUT_SIZE", "4097", "between"),
        ("MODEL_INPUT_SIZE", "192.5", "whole number"),
        ("MODEL_INPUT_SIZE", "192px", "whole number"),
        ("MODEL_INPUT_SIZE", "\u00b2", "whole number"),
        ("UPLOAD_URL_EXPIRY_SECONDS", "9", "between"),
        ("UPLOAD_URL_EXPIRY_SECONDS", "3601", "between"),
    ],
)
def test_given_a_bad_number_when_read_then_configuration_error_names_variable_and_value(name, raw, hint):
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(env(**{name: raw}))
    message = str(raised.value)
    assert name in message
    assert repr(raw) in message
    assert hint in message


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("uploads/", "uploads/"),
        ("uploads", "uploads/"),
        ("/uploads/", "uploads/"),
        ("//factory/line-3//", "factory/line-3/"),
    ],
)
def test_given_an_upload_prefix_when_read_then_it_ends_with_exactly_one_slash_and_has_no_leading_one(raw, expected):
    assert Settings.from_env(env(UPLOAD_PREFIX=raw)).upload_prefix == expected


@pytest.mark.parametrize("raw", ["", "/"])
def test_given_a_blank_upload_prefix_when_read_then_configuration_error(raw):
    # A lone "/" would make keys like "/PCB-1/<capture>.jpg": an empty top-level "folder" in S3.
    with pytest.raises(ConfigurationError, match="UPLOAD_PREFIX"):
        Settings.from_env(env(UPLOAD_PREFIX=raw))


@pytest.mark.parametrize("raw, expected", [
    ("defect_free,defective", ("defect_free", "defective")),
    ("defective,defect_free", ("defective", "defect_free")),
    (" defect_free , defective ", ("defect_free", "defective")),
])
def test_given_model_classes_in_some_index_order_when_read_then_that_order_is_kept(raw, expected):
    assert Settings.from_env(env(MODEL_CLASSES=raw)).model_classes == expected


@pytest.mark.parametrize("raw", [
    "defective",
    "defect_free,defective,scratch",
    "defective,defective",
    "ok,nok",
    "defect_free,defective,",
    "",
])
def test_given_model_classes_not_exactly_the_two_known_when_read_then_configuration_error(raw):
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(env(MODEL_CLASSES=raw))
    assert "MODEL_CLASSES" in str(raised.value)


def test_given_settings_when_changed_then_refused_because_they_are_frozen():
    settings = Settings.from_env(env())
    with pytest.raises(AttributeError):
        settings.upload_bucket = "other"  # type: ignore[misc]


def test_given_the_stages_queue_name_when_the_app_is_loaded_then_the_trigger_names_it():
    assert upload_queue_name({"UPLOAD_QUEUE_NAME": "quality-inspection-dev-uploads"}) == "quality-inspection-dev-uploads"


def test_given_no_queue_name_outside_the_chalice_cli_when_the_app_is_loaded_then_a_placeholder_labels_the_trigger():
    # Unit tests and the embedded stack import app.py without a stage; Chalice requires some queue name.
    assert upload_queue_name({}) == UNCONFIGURED_QUEUE_NAME


def test_given_no_queue_name_under_the_chalice_cli_when_the_app_is_loaded_then_deploying_stops_with_what_to_do():
    with pytest.raises(ConfigurationError, match=r"inspection-app deploy --stage STAGE"):
        upload_queue_name({"AWS_CHALICE_CLI_MODE": "true", "UPLOAD_QUEUE_NAME": " "})


# --- ALLOWED_ORIGINS: the browser origin the REST API answers CORS for ----------------------------------


@pytest.mark.parametrize("value", [None, "", "  ", " , "])
def test_given_no_allowed_origins_when_read_then_no_cors(value):
    assert cors_origin({} if value is None else {"ALLOWED_ORIGINS": value}) is None


@pytest.mark.parametrize("value, origin", [
    ("https://line7.example.com", "https://line7.example.com"),
    (" http://127.0.0.1:8080 ,", "http://127.0.0.1:8080"),
])
def test_given_one_origin_when_read_then_it_is_the_stages_origin(value, origin):
    assert cors_origin({"ALLOWED_ORIGINS": value}) == origin


@pytest.mark.parametrize("value", ["*", "https://*.example.com", "line7.example.com", "https://line7.example.com/",
                                   "https://line7.example.com/app", "ftp://line7.example.com", "null"])
def test_given_something_that_is_no_origin_when_read_then_the_configuration_is_refused(value):
    with pytest.raises(ConfigurationError, match="is not an origin; give scheme://host"):
        cors_origin({"ALLOWED_ORIGINS": value})


def test_given_two_origins_when_read_then_refused_with_why_one_per_stage():
    with pytest.raises(ConfigurationError, match="names 2 origins.*one per stage"):
        cors_origin({"ALLOWED_ORIGINS": "https://a.example.com,https://b.example.com"})


PROJECT_VERSION = "arn:aws:rekognition:eu-west-1:123456789012:project/pcb-boards/version/pcb-boards.v2/1764500000000"


def test_given_no_model_backend_then_the_sagemaker_endpoint_is_the_backend():
    settings = Settings.from_env(env())
    assert (settings.model_backend, settings.endpoint_name, settings.rekognition_project_version_arn) == (
        "sagemaker", "qi-model", "")


def test_given_the_rekognition_backend_then_its_model_version_is_required_and_no_endpoint():
    settings = Settings.from_env(env(MODEL_BACKEND="Rekognition", SAGEMAKER_ENDPOINT_NAME="",
                                     REKOGNITION_PROJECT_VERSION_ARN=PROJECT_VERSION))
    assert (settings.model_backend, settings.rekognition_project_version_arn) == ("rekognition", PROJECT_VERSION)
    with pytest.raises(ConfigurationError, match="REKOGNITION_PROJECT_VERSION_ARN is not set"):
        Settings.from_env(env(MODEL_BACKEND="rekognition"))


@pytest.mark.parametrize("arn", [
    "pcb-boards", PROJECT_VERSION.split("/version/")[0],
    PROJECT_VERSION.replace(":rekognition:", ":sagemaker:"), PROJECT_VERSION.replace("/1764500000000", ""),
    PROJECT_VERSION.replace("123456789012", "1234"),
])
def test_given_a_malformed_model_version_arn_then_a_configuration_error_shows_the_form(arn):
    with pytest.raises(ConfigurationError, match="project/NAME/version/VERSION/CREATED"):
        Settings.from_env(env(MODEL_BACKEND="rekognition", REKOGNITION_PROJECT_VERSION_ARN=arn))


def test_given_the_project_arn_then_it_must_be_the_model_versions_project():
    project = "arn:aws:rekognition:eu-west-1:123456789012:project/pcb-boards/1764400000000"
    settings = Settings.from_env(env(MODEL_BACKEND="rekognition", REKOGNITION_PROJECT_VERSION_ARN=PROJECT_VERSION,
                                     REKOGNITION_PROJECT_ARN=project))
    assert settings.rekognition_project_arn == project
    for other in (project.replace("pcb-boards", "other"), project.rsplit("/", 1)[0], PROJECT_VERSION):
        with pytest.raises(ConfigurationError, match="is not the project of"):
            Settings.from_env(env(MODEL_BACKEND="rekognition", REKOGNITION_PROJECT_VERSION_ARN=PROJECT_VERSION,
                                  REKOGNITION_PROJECT_ARN=other))


def test_given_an_unknown_model_backend_then_the_choices_are_named():
    with pytest.raises(ConfigurationError, match="must be one of: sagemaker, rekognition"):
        Settings.from_env(env(MODEL_BACKEND="lookout"))
    with pytest.raises(ConfigurationError, match="SAGEMAKER_ENDPOINT_NAME is not set"):
        Settings.from_env(env(MODEL_BACKEND="sagemaker", SAGEMAKER_ENDPOINT_NAME=""))
