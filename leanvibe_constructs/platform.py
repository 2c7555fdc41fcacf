"""The LeanVibe Agent Hive platform, composed from the library's constructs.

``main.py`` synthesizes it for two environments. Each chart becomes one file;
the numeric prefixes order them for ``kubectl apply -f dist/<env>/`` (the
namespace and cluster-wide objects first).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cdk8s
from pydantic import Field

from ._k8s import api_object
from ._labels import Identity
from ._props import DnsLabel, Props
from ._pod import Image
from .ha_api_deployment import HAApiDeployment, HAApiDeploymentProps, IngressSettings

ENVIRONMENTS = ("production", "dev")


class PlatformSettings(Props):
    """What differs between environments. Everything else is a construct default."""

    environment: Literal["production", "dev"] = Field(description="Environment name; also the dist/ folder.")
    namespace: DnsLabel = Field("leanvibe", description="Namespace of every workload. Default: 'leanvibe'.")
    api_image: Image = Field(
        "ghcr.io/leanvibe/agent-hive-api:2.4.1", description="The API image. Default: the released 2.4.1."
    )
    highly_available: bool = Field(
        description="Production shape (replicas, hard zone spread, anti-affinity) or a single-node laptop shape."
    )
    api_host: str | None = Field(None, description="Public host of the API Ingress. Default: no Ingress.")


def production() -> PlatformSettings:
    return PlatformSettings(environment="production", highly_available=True, api_host="api.leanvibe.example")


def dev() -> PlatformSettings:
    return PlatformSettings(environment="dev", highly_available=False)


def settings_for(environment: str) -> PlatformSettings:
    presets = {"production": production, "dev": dev}
    if environment not in presets:
        raise ValueError(f"unknown environment {environment!r}; expected one of {sorted(presets)}")
    return presets[environment]()


@dataclass
class Platform:
    """The constructs of one environment, for tests and for wiring connections."""

    api: HAApiDeployment


def build_platform(app: cdk8s.App, settings: PlatformSettings) -> Platform:
    ns = settings.namespace
    baseline = cdk8s.Chart(app, "00-platform", disable_resource_name_hashes=True)
    api_object(
        baseline, "Namespace", api_version="v1", kind="Namespace", name=ns,
        identity=Identity(name="leanvibe-platform", instance=ns, component="namespace", part_of="leanvibe",
                          version="1"),
    )

    api_chart = cdk8s.Chart(app, "20-api", disable_resource_name_hashes=True)
    api = HAApiDeployment(api_chart, "Api", api_props(settings))
    return Platform(api=api)


def api_props(settings: PlatformSettings) -> HAApiDeploymentProps:
    ingress = (
        IngressSettings(host=settings.api_host, tls_secret_name="leanvibe-api-tls") if settings.api_host else None
    )
    if settings.highly_available:
        return HAApiDeploymentProps(image=settings.api_image, namespace=settings.namespace, ingress=ingress)
    return HAApiDeploymentProps(
        image=settings.api_image,
        namespace=settings.namespace,
        ingress=ingress,
        replicas=1,
        zone_spread="preferred",
        cpu_request="100m",
        cpu_limit="1",
        memory_request="256Mi",
        memory_limit="512Mi",
    )


def synth(outdir: str | Path = "dist", environments: tuple[str, ...] = ENVIRONMENTS) -> list[Path]:
    """Synthesize each environment into ``outdir/<environment>/``; returns the folders written."""
    written = []
    for environment in environments:
        folder = Path(outdir) / environment
        app = cdk8s.App(outdir=str(folder), output_file_extension=".k8s.yaml")
        build_platform(app, settings_for(environment))
        _clear_manifests(folder)
        app.synth()
        written.append(folder)
    return written


def _clear_manifests(folder: Path) -> None:
    # A chart that was removed must not leave its old file behind.
    if folder.is_dir():
        for stale in folder.glob("*.k8s.yaml"):
            stale.unlink()
