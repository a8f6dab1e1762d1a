"""docs/openapi.yaml as JSON Schema validators, so tests check answers against the published description."""
from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAPI = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())
_REGISTRY = Registry().with_resource("urn:agentcom:openapi", Resource.from_contents(OPENAPI, DRAFT202012))


def validator(schema: str) -> jsonschema.Draft202012Validator:
    """A validator for components/schemas/NAME."""
    return jsonschema.Draft202012Validator({"$ref": f"urn:agentcom:openapi#/components/schemas/{schema}"},
                                           registry=_REGISTRY)


STATE = validator("State")
