"""docs/openapi.yaml: the OpenAPI document as YAML, generated from the one source, chalicelib/openapi.json
(which the API serves as GET /openapi.json).

`python -m inspection_app.openapi_yaml` writes it; `--check` only says whether it is up to date
(tests/test_openapi_yaml.py checks the same).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from .chalice_stage import PROJECT_DIR

OPENAPI_YAML_COMMAND = "python -m inspection_app.openapi_yaml"
SOURCE = Path("chalicelib") / "openapi.json"
TARGET = Path("docs") / "openapi.yaml"
HEADER = (f"# Generated from {SOURCE.as_posix()} (served as GET /openapi.json) by `{OPENAPI_YAML_COMMAND}`.\n"
          "# Edit that file, not this one.\n")


def openapi_yaml_text(project_dir: Path | None = None) -> str:
    document = json.loads(((project_dir or PROJECT_DIR) / SOURCE).read_text())
    return HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/openapi.yaml is out of date")
    args = parser.parse_args(argv)
    text, target = openapi_yaml_text(), PROJECT_DIR / TARGET
    if args.check:
        current = target.read_text() if target.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date; run `{OPENAPI_YAML_COMMAND}`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
