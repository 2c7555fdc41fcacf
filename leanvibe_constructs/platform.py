"""The LeanVibe Agent Hive platform, composed from the library's constructs.

``main.py`` synthesizes it for two environments. Each chart becomes one file;
the numeric prefixes order them for ``kubectl apply -f dist/<env>/`` (the
namespace and cluster-wide objects first). Every network flow the platform
needs is declared here, in one place, as a connection between constructs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cdk8s
from pydantic import Field

from ._pod import Image
from ._props import DnsLabel, Props
from .autoscaling import SmartAutoscaler, VerticalScaling
from .baseline import PlatformBaseline, PlatformBaselineProps, StorageClassSettings
from .delivery.pipeline import PipelineProps, write_workflow
from .delivery.runners import GitHubRunners
from .ha_api_deployment import HAApiDeployment, HAApiDeploymentProps, IngressSettings, SecretKeyRef
from .monitoring import MonitoringStack, MonitoringStackProps
from .patroni_config import PATRONI_PORT
from .postgres_ha import BackupSettings, PostgresHA, PostgresHAProps
from .redis_sentinel import RedisSentinel, RedisSentinelProps
from .zero_trust import ZeroTrustPolicies

ENVIRONMENTS = ("production", "dev")
CRITICAL = "leanvibe-critical"


class PlatformSettings(Props):
    """What differs between environments. Everything else is a construct default."""

    environment: Literal["production", "dev"] = Field(description="Environment name; also the dist/ folder.")
    highly_available: bool = Field(
        description="Production shape (replicas, hard zone spread, anti-affinity) or a single-node laptop shape."
    )
    namespace: DnsLabel = Field("leanvibe", description="Namespace of every workload. Default: 'leanvibe'.")
    api_image: Image = Field(
        "ghcr.io/leanvibe/agent-hive-api:2.4.1", description="The API image. Default: the released 2.4.1."
    )
    api_host: str | None = Field(None, description="Public host of the API Ingress. Default: no Ingress.")
    storage: StorageClassSettings = Field(description="The StorageClass preset of the cluster's cloud.")
    kubernetes_api_cidrs: tuple[str, ...] = Field(
        description="Addresses of the Kubernetes API server endpoints (Patroni, Prometheus and "
        "kube-state-metrics talk to it)."
    )
    node_cidrs: tuple[str, ...] = Field(description="Node addresses (Prometheus scrapes kubelet volume stats).")
    github_config_url: str | None = Field(
        None, description="Repository or organisation the in-cluster runners serve. Default: no runners."
    )
    runner_image: Image = Field(
        "ghcr.io/leanvibe/ci-runner:2.321.0",
        description="Runner image with git, make, python3 and kubectl. Default: the team's runner image.",
    )


def production() -> PlatformSettings:
    return PlatformSettings(
        environment="production",
        highly_available=True,
        api_host="api.leanvibe.example",
        storage=StorageClassSettings.gke(),
        # A GKE private cluster's control-plane range and its node subnet: set your own.
        kubernetes_api_cidrs=("172.16.0.0/28",),
        node_cidrs=("10.128.0.0/20",),
        github_config_url="https://github.com/leanvibe/agent-hive",
    )


def dev() -> PlatformSettings:
    return PlatformSettings(
        environment="dev",
        highly_available=False,
        storage=StorageClassSettings.local_path(),
        # kind's default Docker network holds both the API server and the node.
        kubernetes_api_cidrs=("172.18.0.0/16",),
        node_cidrs=("172.18.0.0/16",),
    )


def settings_for(environment: str) -> PlatformSettings:
    presets = {"production": production, "dev": dev}
    if environment not in presets:
        raise ValueError(f"unknown environment {environment!r}; expected one of {sorted(presets)}")
    return presets[environment]()


@dataclass
class Platform:
    """The constructs of one environment, for tests and for wiring connections."""

    baseline: PlatformBaseline
    zero_trust: ZeroTrustPolicies
    postgres: PostgresHA
    redis: RedisSentinel
    api: HAApiDeployment
    autoscaler: SmartAutoscaler | None
    monitoring: MonitoringStack
    runners: GitHubRunners | None


def build_platform(app: cdk8s.App, settings: PlatformSettings) -> Platform:
    def chart(id: str) -> cdk8s.Chart:
        return cdk8s.Chart(app, id, disable_resource_name_hashes=True)

    ns = settings.namespace
    platform_chart = chart("00-platform")
    baseline = PlatformBaseline(platform_chart, "Baseline", baseline_props(settings))
    zero_trust = ZeroTrustPolicies(
        platform_chart, "ZeroTrust", namespace=ns, kubernetes_api_cidrs=settings.kubernetes_api_cidrs
    )
    postgres = PostgresHA(chart("10-postgres"), "Postgres", postgres_props(settings))
    redis = RedisSentinel(chart("10-redis"), "Redis", redis_props(settings))

    api_chart = chart("20-api")
    api = HAApiDeployment(api_chart, "Api", api_props(settings, postgres, redis))
    autoscaler = None
    if settings.highly_available:
        autoscaler = SmartAutoscaler(
            api_chart, "Autoscaler", target=api,
            requests_per_second_metric="http_requests_per_second",
            vertical=VerticalScaling.recommendation_only(),
            # Covers the whole 5 -> 25 step: new API pods preempt these instead of
            # waiting minutes for a node (benchmarks/scaling_scenarios.py).
            capacity_reserve_pods=20,
        )

    monitoring = MonitoringStack(
        chart("30-monitoring"), "Monitoring",
        MonitoringStackProps.for_environment(
            settings.environment, namespace=ns, priority_class_name=CRITICAL,
            kubernetes_api_cidrs=settings.kubernetes_api_cidrs, node_cidrs=settings.node_cidrs,
        ),
    )

    # The declared flows; everything else is denied by ZeroTrustPolicies.
    zero_trust.allow(zero_trust.ingress_controller, api)
    zero_trust.allow(api, postgres)
    zero_trust.allow(api, redis)
    monitoring.scrape(api)
    monitoring.scrape(postgres, ports=(postgres.metrics_port, PATRONI_PORT))
    monitoring.scrape(redis)
    monitoring.scrape(redis.sentinel_endpoint, ports=redis.metrics_port)

    runners = None
    if settings.github_config_url:
        runners = GitHubRunners(
            chart("40-ci-runners"), "DeployRunners",
            github_config_url=settings.github_config_url, image=settings.runner_image, deploy_namespace=ns,
            kubernetes_api_cidrs=settings.kubernetes_api_cidrs,
        )
        runners.allow_to(api)  # smoke tests through the preview/live Service
    return Platform(baseline, zero_trust, postgres, redis, api, autoscaler, monitoring, runners)


def baseline_props(settings: PlatformSettings) -> PlatformBaselineProps:
    if settings.highly_available:
        return PlatformBaselineProps.build(
            namespace=settings.namespace,
            storage=settings.storage,
            # 25 API pods plus a 25% rollout surge, the 20-pod capacity reserve
            # (its replacement pods count while pending), databases and monitoring.
            quota_requests_cpu="96",
            quota_limits_cpu="192",
            quota_requests_memory="160Gi",
            quota_limits_memory="224Gi",
            quota_pods=120,
        )
    return PlatformBaselineProps.build(
        namespace=settings.namespace,
        storage=settings.storage,
        storage_reclaim_policy="Delete",
        quota_requests_cpu="8",
        quota_limits_cpu="16",
        quota_requests_memory="16Gi",
        quota_limits_memory="24Gi",
        quota_requests_storage="200Gi",
        quota_pods=40,
        max_container_cpu="4",
        max_container_memory="8Gi",
        max_volume_size="100Gi",
    )


def postgres_props(settings: PlatformSettings) -> PostgresHAProps:
    common = dict(
        namespace=settings.namespace,
        api_server_cidrs=settings.kubernetes_api_cidrs,
        priority_class_name=CRITICAL,
    )
    if settings.highly_available:
        # WAL archiving and daily base backups to object storage (WAL-G).
        backup = BackupSettings(bucket="leanvibe-prod-pg-backups", credentials_secret_name="leanvibe-postgres-backup")
        return PostgresHAProps.build(**common, backup=backup)
    return PostgresHAProps.build(
        **common,
        members=1,
        synchronous_mode=False,
        zone_spread="preferred",
        node_anti_affinity="preferred",
        storage_size="5Gi",
        cpu_request="250m",
        memory_request="512Mi",
        memory_limit="1Gi",
    )


def redis_props(settings: PlatformSettings) -> RedisSentinelProps:
    if settings.highly_available:
        return RedisSentinelProps.build(namespace=settings.namespace, priority_class_name=CRITICAL)
    return RedisSentinelProps.build(
        namespace=settings.namespace,
        priority_class_name=CRITICAL,
        highly_available=False,
        replicas=1,
        sentinels=1,
        storage_size="1Gi",
        cpu_request="100m",
        memory_request="256Mi",
        memory_limit="256Mi",
    )


def api_props(settings: PlatformSettings, postgres: PostgresHA, redis: RedisSentinel) -> HAApiDeploymentProps:
    ingress = (
        IngressSettings(host=settings.api_host, tls_secret_name="leanvibe-api-tls") if settings.api_host else None
    )
    ns = settings.namespace
    common = dict(
        image=settings.api_image,
        namespace=ns,
        ingress=ingress,
        priority_class_name=CRITICAL,
        env={
            "DATABASE_HOST": f"{postgres.primary_service}.{ns}.svc",
            "DATABASE_READ_HOST": f"{postgres.replica_service}.{ns}.svc",
            "DATABASE_PORT": str(postgres.port),
            "DATABASE_NAME": postgres.props.app_database,
            "DATABASE_USER": postgres.props.app_username,
            "REDIS_SENTINEL_HOST": redis.sentinel_host,
            "REDIS_SENTINEL_PORT": str(redis.sentinel_port),
            "REDIS_MASTER_NAME": redis.master_name,
        },
        secret_env={
            "DATABASE_PASSWORD": SecretKeyRef(
                secret_name=postgres.credentials_secret_name, key=postgres.props.app_password_key
            ),
            "REDIS_PASSWORD": SecretKeyRef(secret_name=redis.auth_secret_name, key=redis.auth_secret_key),
        },
    )
    if settings.highly_available:
        return HAApiDeploymentProps.build(**common)
    return HAApiDeploymentProps.build(
        **common,
        replicas=1,
        zone_spread="preferred",
        cpu_request="100m",
        cpu_limit="1",
        memory_request="256Mi",
        memory_limit="512Mi",
    )


def synth(outdir: str | Path = "dist", environments: tuple[str, ...] = ENVIRONMENTS) -> list[Path]:
    """Synthesize each environment into ``outdir/<environment>/``; returns the folders written.

    Also writes the delivery workflow the platform's repository uses to
    ``outdir/ci/deploy.yml``.
    """
    written = []
    for environment in environments:
        folder = Path(outdir) / environment
        app = cdk8s.App(outdir=str(folder), output_file_extension=".k8s.yaml")
        build_platform(app, settings_for(environment))
        _clear_manifests(folder)
        app.synth()
        written.append(folder)
    write_workflow(Path(outdir) / "ci" / "deploy.yml", PipelineProps())
    return written


def _clear_manifests(folder: Path) -> None:
    # A chart that was removed must not leave its old file behind.
    if folder.is_dir():
        for stale in folder.glob("*.k8s.yaml"):
            stale.unlink()
