"""The resource template (`statemachine/resources.yaml`): read, with the state machine definition inlined.

The one description of the resources Chalice does not create, for the cloud (`inspection-app deploy`) and the
embedded stack alike.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from .chalice_stage import PROJECT_DIR, shorten_retries


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, !GetAtt ...), read as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node):
    name = "Ref" if tag_suffix == "Ref" else ("Condition" if tag_suffix == "Condition" else f"Fn::{tag_suffix}")
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict:
    return yaml.load(Path(path).read_text(), Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass


def resource_template(project_dir: Path = PROJECT_DIR, *, retry_window_seconds: int | None = None) -> dict:
    """The resource stack with the state machine definition inlined, ready for CreateStack/UpdateStack.

    `retry_window_seconds` shortens the definition's retries (`shorten_retries`; the embedded stack's rehearsals)."""
    statemachine_dir = Path(project_dir) / "statemachine"
    template = load_template(statemachine_dir / "resources.yaml")
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::StepFunctions::StateMachine" and isinstance(
            properties.get("DefinitionS3Location"), str
        ):
            definition_file = statemachine_dir / properties.pop("DefinitionS3Location")
            properties["DefinitionString"] = shorten_retries(definition_file.read_text(), retry_window_seconds)
    return template
