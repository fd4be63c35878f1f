"""One default for the review threshold (a top probability below it is `needs_review`).

The Python side has one constant: chalicelib.settings.DEFAULT_CONFIDENCE_THRESHOLD, which the
Lambda functions use when CONFIDENCE_THRESHOLD is unset and training writes into model.json. The places that
cannot import it (the resource template, the Chalice config, the deploy command's help) must say the same.
"""
from __future__ import annotations

import argparse
import json

from chalicelib.settings import DEFAULT_CONFIDENCE_THRESHOLD, Settings
from inspection_app.chalice_stage import PROJECT_DIR
from inspection_app.cli.main import build_parser
from inspection_app.resource_template import load_template

DEFAULT_THRESHOLD = DEFAULT_CONFIDENCE_THRESHOLD
REQUIRED_SETTINGS = {"UPLOAD_BUCKET": "b", "STATE_MACHINE_ARN": "s", "RESULTS_TABLE": "r", "ALERT_TOPIC_ARN": "a",
                     "SAGEMAKER_ENDPOINT_NAME": "e", "MODEL_INPUT_SIZE": "192"}


def test_the_lambda_functions_default_is_the_constant():
    assert Settings.from_env(REQUIRED_SETTINGS).confidence_threshold == DEFAULT_THRESHOLD


def test_training_writes_the_constant_into_model_json():
    from training.train import REVIEW_THRESHOLD  # noqa: PLC0415 - torch loads only for this test

    assert REVIEW_THRESHOLD == DEFAULT_THRESHOLD


def test_the_resource_templates_parameter_default_is_the_constant():
    template = load_template(PROJECT_DIR / "statemachine" / "resources.yaml")
    assert float(template["Parameters"]["ConfidenceThreshold"]["Default"]) == DEFAULT_THRESHOLD


def test_the_chalice_configs_threshold_is_the_constant_in_every_stage():
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    assert float(config["environment_variables"]["CONFIDENCE_THRESHOLD"]) == DEFAULT_THRESHOLD
    for name, stage in config["stages"].items():
        overridden = stage.get("environment_variables", {}).get("CONFIDENCE_THRESHOLD")
        assert overridden is None or float(overridden) == DEFAULT_THRESHOLD, name


def test_the_deploy_commands_help_names_the_constant():
    commands = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    option = next(action for action in commands.choices["deploy"]._actions
                  if "--confidence-threshold" in action.option_strings)
    assert f"default {DEFAULT_THRESHOLD}" in option.help
