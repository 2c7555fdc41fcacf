"""Emit Kubernetes objects from plain dicts.

Every construct builds its objects as plain Python dicts (easy to read, test
and keep deterministic) and hands them to cdk8s here. Each object is a cdk8s
``ApiObject`` whose ``to_json`` returns that dict, so building one costs a
single jsii round trip plus one at synth time. Measured on the benchmark
machine: a Deployment through cdk8s-plus-27's typed L1 classes costs about
7 ms of jsii round trips; an ApiObject plus a JSON patch about 3.5 ms; this
about 1.6 ms.

Escape hatch: the dict is ``obj.manifest``; change it before synthesis.
cdk8s JSON patches are not applied to these objects (``add_json_patch``
raises rather than silently doing nothing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import cdk8s
from constructs import Construct

from ._labels import Identity
from ._pod import image_checkov_skips

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "PriorityClass",
        "StorageClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
    }
)


class ManifestObject(cdk8s.ApiObject):
    """An ApiObject rendered from the plain dict ``manifest``."""

    def __init__(self, scope: Construct, id: str, manifest: dict[str, Any]):
        super().__init__(
            scope,
            id,
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=cdk8s.ApiObjectMetadata(name=manifest["metadata"]["name"]),
        )
        self.manifest = manifest

    def to_json(self) -> Any:
        return self.manifest

    def add_json_patch(self, *ops: cdk8s.JsonPatch) -> None:
        raise NotImplementedError(
            f"{self.manifest['kind']}/{self.manifest['metadata']['name']}: leanvibe-constructs objects "
            "are plain dicts; change `.manifest` instead of adding a JSON patch"
        )


def api_object(
    scope: Construct,
    id: str,
    *,
    api_version: str,
    kind: str,
    name: str,
    identity: Identity | None = None,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    checkov_skip: Mapping[str, str] | None = None,
    **body: Any,
) -> ManifestObject:
    """Create one Kubernetes object; ``body`` holds its top-level fields (spec, data, rules...).

    ``checkov_skip`` maps check ids to the one-line reason the object is an
    exception (``{"CKV_K8S_38": "Patroni keeps its leader lock in the API"}``).
    """
    metadata: dict[str, Any] = {"name": name}
    if namespace and kind not in CLUSTER_SCOPED_KINDS:
        metadata["namespace"] = namespace
    all_labels = {**(identity.labels() if identity else {}), **(labels or {})}
    if all_labels:
        metadata["labels"] = all_labels
    annotations = dict(annotations or {})
    if checkov_skip:
        annotations = _merge_skips(annotations, checkov_skip)
    if kind in POD_WORKLOAD_KINDS and isinstance(body.get("spec"), dict):
        annotations = _with_image_skips(annotations, body["spec"])
    if annotations:
        metadata["annotations"] = annotations
    manifest = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    manifest.update((key, value) for key, value in body.items() if value is not None)
    return ManifestObject(scope, id, manifest)


POD_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Rollout"})


def _with_image_skips(annotations: dict[str, str], spec: dict[str, Any]) -> dict[str, str]:
    """Add the image-pinning exceptions a workload needs, once, next to its own skips.

    The project pins every image by tag and refuses 'latest'; a digest is
    optional (``image='repo:tag@sha256:...'``). Where a container has none,
    checkov's digest and pull-policy checks are skipped with that reason, on
    the workload itself, so the exception is visible where it applies.
    """
    pod = spec.get("template", {}).get("spec", {})
    images = [c["image"] for key in ("initContainers", "containers") for c in pod.get(key, []) if "image" in c]
    undigested = [image for image in images if "@sha256:" not in image]
    if not undigested:
        return annotations
    return _merge_skips(annotations, image_checkov_skips(undigested[0]))


def _merge_skips(annotations: dict[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """Re-number the ``checkov.io/skip<N>`` annotations with ``extra`` added (existing reasons win)."""
    skips = {
        value.split("=", 1)[0]: value.split("=", 1)[1]
        for key, value in annotations.items()
        if key.startswith("checkov.io/skip")
    }
    for check, reason in extra.items():
        skips.setdefault(check, reason)
    kept = {key: value for key, value in annotations.items() if not key.startswith("checkov.io/skip")}
    return {**kept, **checkov_skips(skips)}


_CHECKOV_ID = re.compile(r"^CKV2?_K8S_[0-9]+$")


def checkov_skips(skips: Mapping[str, str]) -> dict[str, str]:
    """Annotations that skip checkov checks on one object: ``{"CKV_K8S_38": "why"}``.

    A skipped check is an exception written on the object it excuses, with
    its reason, where a reviewer reads it; checkov reads
    ``checkov.io/skip<N>: <check>=<reason>`` from the object's metadata.
    Pass the result as ``annotations=`` to :func:`api_object`.
    """
    annotations = {}
    for index, (check, reason) in enumerate(sorted(skips.items()), start=1):
        if not _CHECKOV_ID.match(check):
            raise ValueError(f"checkov skip: {check!r} is not a Kubernetes check id such as 'CKV_K8S_38'")
        if "\n" in reason or "=" in reason or not 20 <= len(reason) <= 300:
            # checkov splits the annotation value on '=': a second one crashes it.
            raise ValueError(f"checkov skip {check}: the reason must be one line of 20 to 300 characters, without '='")
        annotations[f"checkov.io/skip{index}"] = f"{check}={reason}"
    return annotations
