"""Helpers the tests share: synthesize constructs, load manifests, find objects."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

import leanvibe_constructs  # noqa: F401  (selects the Node.js runtime before cdk8s loads)
import cdk8s

REPO = Path(__file__).resolve().parent.parent
DIST = REPO / "dist"


def synth_chart(build: Callable[[cdk8s.Chart], Any]) -> list[dict[str, Any]]:
    """Build constructs into a fresh chart and return its synthesized objects."""
    app = cdk8s.App()
    chart = cdk8s.Chart(app, "test", disable_resource_name_hashes=True)
    build(chart)
    return list(cdk8s.Testing.synth(chart))


def load_manifests(paths: Iterable[Path]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in sorted(paths):
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return objects


def dist_objects(environment: str) -> list[dict[str, Any]]:
    return load_manifests((DIST / environment).glob("*.k8s.yaml"))


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def find_all(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod_spec(workload)["containers"] if c["name"] == name)
