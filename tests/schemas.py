"""Strict schema validation for built-in kinds and for custom resources.

Built-in kinds are checked by kubernetes-validate (strict: unknown fields are
errors). Custom resources are checked against the openAPIV3Schema of the CRD
file in crds/ they were imported from, made strict the same way: wherever a
schema lists properties and does not preserve unknown fields, others are
rejected (the API server would silently prune them).
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from .manifests import REPO

CRD_DIR = REPO / "crds"


def validate_object(obj: dict[str, Any], kubernetes_version: str) -> str | None:
    """None when valid; otherwise the first error, as one line."""
    schema = crd_schema(obj["apiVersion"], obj["kind"])
    if schema is not None:
        error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(schema).iter_errors(obj))
        return None if error is None else f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
    except SchemaNotFoundError:
        return f"no schema for {obj['apiVersion']} {obj['kind']} in Kubernetes {kubernetes_version} or crds/"
    return None


@cache
def _crd_index() -> dict[tuple[str, str], dict[str, Any]]:
    index: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                api_version = f"{spec['group']}/{version['name']}"
                schema = version.get("schema", {}).get("openAPIV3Schema", {})
                index[(api_version, spec["names"]["kind"])] = _strict(schema)
    return index


def crd_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    return _crd_index().get((api_version, kind))


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                "properties" in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
                and "additionalProperties" not in node
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    # apiVersion/kind/metadata are validated by the API server, not the CRD schema.
    schema.setdefault("properties", {}).update(
        {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}
    )
    return schema
