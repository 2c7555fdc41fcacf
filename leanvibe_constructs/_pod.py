"""Pod-level building blocks every workload shares.

Security contexts meet the Pod Security "restricted" profile; scheduling
helpers spread replicas across zones and nodes. Kept in one module so that a
fix to, say, the seccomp profile reaches every workload at once.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ._props import HttpPath, Props

ZONE_KEY = "topology.kubernetes.io/zone"
HOSTNAME_KEY = "kubernetes.io/hostname"

_IMAGE = re.compile(
    r"^(?P<repository>[a-z0-9]+([._/-][a-z0-9]+|:[0-9]+/)*)"
    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
    r"(@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def _check_image(value: str) -> str:
    match = _IMAGE.match(value)
    if not match:
        raise ValueError(
            "must be 'repository:tag' or 'repository:tag@sha256:<64 hex>'; "
            "an image without a tag is not allowed, so every rollout is reproducible"
        )
    if match.group("tag") == "latest":
        raise ValueError("the tag 'latest' is not allowed: pin a version tag (and optionally a digest)")
    return value


Image = Annotated[str, AfterValidator(_check_image)]
"""A container image pinned by tag, optionally by digest: ``repo:1.2.3[@sha256:...]``."""


def image_tag(image: str) -> str:
    """The tag of a validated image reference; used as ``app.kubernetes.io/version``."""
    match = _IMAGE.match(image)
    assert match, image
    return match.group("tag")


def image_checkov_skips(image: str) -> dict[str, str]:
    """checkov exceptions a workload needs for an image pinned by tag but not by digest.

    With a digest both checks pass and nothing is skipped. Pass the result
    through ``_k8s.checkov_skips`` into the workload's annotations.
    """
    if "@sha256:" in image:
        return {}
    return {
        "CKV_K8S_43": "pinned by version tag ('latest' is refused); give the image as repo:tag@sha256:<digest> "
        "to pin the digest too",
        "CKV_K8S_15": "IfNotPresent with a pinned tag: restarting a pod must not depend on the registry being up",
    }


def restricted_pod_security_context(user_id: int, fs_group: int | None = None) -> dict[str, Any]:
    """Pod securityContext for the Pod Security "restricted" profile."""
    context: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": user_id,
        "runAsGroup": user_id,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if fs_group is not None:
        context["fsGroup"] = fs_group
        # Skip the recursive chown of large data volumes on every start.
        context["fsGroupChangePolicy"] = "OnRootMismatch"
    return context


def restricted_container_security_context(read_only_root: bool = True) -> dict[str, Any]:
    """Container securityContext for the Pod Security "restricted" profile."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


class ProbeSettings(Props):
    """Timing of one probe; the defaults differ per probe kind (see each construct)."""

    path: HttpPath = Field(description="HTTP path probed; must be absolute. Required.")
    period_seconds: int = Field(10, ge=1, le=300, description="Seconds between probes. Default: 10.")
    timeout_seconds: int = Field(2, ge=1, le=60, description="Seconds before a probe times out. Default: 2.")
    failure_threshold: int = Field(
        3, ge=1, le=1000, description="Consecutive failures before acting. Default: 3."
    )
    initial_delay_seconds: int = Field(0, ge=0, le=3600, description="Delay before the first probe. Default: 0.")


def http_probe(settings: ProbeSettings, port: str | int, scheme: str = "HTTP") -> dict[str, Any]:
    probe: dict[str, Any] = {
        "httpGet": {"path": settings.path, "port": port, "scheme": scheme},
        "periodSeconds": settings.period_seconds,
        "timeoutSeconds": settings.timeout_seconds,
        "failureThreshold": settings.failure_threshold,
        "successThreshold": 1,
    }
    if settings.initial_delay_seconds:
        probe["initialDelaySeconds"] = settings.initial_delay_seconds
    return probe


def spread_constraints(selector: dict[str, str], *, zones_required: bool) -> list[dict[str, Any]]:
    """Spread replicas evenly across zones and nodes (maxSkew 1).

    Zone spread is a hard constraint when ``zones_required`` (production: a zone
    outage must never take more than its share); node spread is always soft, so
    that scaling past the node count never leaves pods Pending.
    """
    return [
        {
            "maxSkew": 1,
            "topologyKey": ZONE_KEY,
            "whenUnsatisfiable": "DoNotSchedule" if zones_required else "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
        },
        {
            "maxSkew": 1,
            "topologyKey": HOSTNAME_KEY,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
        },
    ]


def hostname_anti_affinity(selector: dict[str, str], *, required: bool, weight: int = 100) -> dict[str, Any]:
    """Pod anti-affinity on the node hostname.

    Required for quorum members (two database members on one node would turn a
    node failure into a quorum loss); preferred for stateless replicas.
    """
    term = {"labelSelector": {"matchLabels": selector}, "topologyKey": HOSTNAME_KEY}
    if required:
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": weight, "podAffinityTerm": term}
            ]
        }
    }
