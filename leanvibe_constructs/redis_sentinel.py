"""RedisSentinel: Redis with Sentinel failover that survives pod restarts.

Synthesizes two StatefulSets, the Redis data pods (1 master + replicas, AOF
on a PersistentVolumeClaim) and the sentinels, each pod with a redis_exporter
sidecar on the port named "metrics", plus
their headless Services, the Service clients use to reach the sentinels,
PodDisruptionBudgets, ServiceAccounts, one ConfigMap with the generated
configuration (see ``redis_config.py``) and the NetworkPolicies of every flow
between them.

Designed against the known ways Sentinel on Kubernetes breaks:

* stale pod IPs after a restart: everything is addressed by the pods' stable
  DNS names (``replica-announce-ip``, ``sentinel announce-ip``,
  ``resolve-hostnames`` / ``announce-hostnames``);
* a restarted old master coming back as a second master: the start-up script
  asks the sentinels who the master is before redis-server starts, and only
  pod 0 may bootstrap a master, only when nobody knows one;
* acknowledged writes lost on failover: ``min-replicas-to-write`` /
  ``min-replicas-max-lag`` by default, and a restarted master that the
  sentinels still name waits for them to promote a replica instead of
  serving an empty or stale copy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Annotated, Any, Literal

from constructs import Construct
from pydantic import AfterValidator, Field, model_validator

from ._k8s import api_object
from ._labels import Identity
from ._network import Endpoint, Port, connect, endpoint_of
from ._pod import (
    HOSTNAME_KEY,
    Image,
    image_tag,
    restricted_container_security_context,
    restricted_pod_security_context,
    spread_constraints,
)
from ._props import DnsLabel, Props, Quantity, quantity_value
from .redis_config import (
    AUTH_DIR,
    CONFIG_DIR,
    DATA_DIR,
    PASSWORD_FILE,
    RUN_DIR,
    SENTINEL_RUN_DIR,
    Address,
    RedisLayout,
    config_files,
)

REDIS_PORT = 6379
SENTINEL_PORT = 26379
METRICS_PORT = 9121

_MASTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DOMAIN = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _check_master_name(value: str) -> str:
    if not _MASTER_NAME.match(value):
        raise ValueError(
            "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(Sentinel splits its config lines on spaces)"
        )
    return value


def _check_domain(value: str) -> str:
    if not _DOMAIN.match(value):
        raise ValueError("must be a DNS domain such as 'cluster.local'")
    return value


def _check_data_pods(value: int) -> int:
    if value < 1:
        raise ValueError(
            "counts the data pods with the master included (the StatefulSet's replicas), so it must be >= 1; "
            "use 1 for a single pod"
        )
    return value


MasterName = Annotated[str, AfterValidator(_check_master_name)]

MaxmemoryPolicy = Literal[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
]


class RedisSentinelProps(Props):
    """Props of :class:`RedisSentinel`. Every prop has a default; the defaults are the production shape."""

    name: DnsLabel = Field("leanvibe-redis", description="Name prefix of every object. Default: 'leanvibe-redis'.")
    namespace: DnsLabel = Field("leanvibe", description="Namespace. Default: 'leanvibe'.")
    part_of: DnsLabel = Field("leanvibe", description="app.kubernetes.io/part-of label. Default: 'leanvibe'.")
    image: Image = Field(
        "redis:7.2.10-bookworm",
        description="Redis image for data pods and sentinels; the official Debian image runs as any uid "
        "and brings sh, redis-cli, timeout, getent and sha1sum for the start-up scripts. "
        "Default: 'redis:7.2.10-bookworm' (7.2, the last BSD-licensed series).",
    )
    exporter_image: Image = Field(
        "oliver006/redis_exporter:v1.62.0",
        description="redis_exporter sidecar image. Default: 'oliver006/redis_exporter:v1.62.0'.",
    )
    highly_available: bool = Field(
        True,
        description="Production shape: at least 3 sentinels and 2 data pods, required node anti-affinity and "
        "zone spread. False allows the single-node dev shape (1 data pod, 1 sentinel). Default: true.",
    )
    replicas: Annotated[int, AfterValidator(_check_data_pods)] = Field(
        3,
        le=9,
        description="Data pods, the master included (the StatefulSet's replicas). "
        "Default: 3 (1 master + 2 replicas).",
    )
    sentinels: int = Field(3, ge=1, le=9, description="Sentinel pods. Default: 3.")
    quorum: int | None = Field(
        None,
        ge=1,
        description="Sentinels that must agree the master is down before a failover starts. "
        "Default: the majority of sentinels (2 of 3).",
    )
    master_name: MasterName = Field("leanvibe", description="Name clients ask the sentinels for. Default: 'leanvibe'.")
    down_after_milliseconds: int = Field(
        5000,
        ge=1000,
        le=600000,
        description="Unreachable this long, the master is subjectively down. Default: 5000 (failover in ~6 s).",
    )
    failover_timeout_milliseconds: int = Field(
        60000,
        ge=5000,
        le=3600000,
        description="Sentinel failover-timeout: a failed failover is retried after twice this. "
        "Default: 60000 (Redis' own default is 180000).",
    )
    parallel_syncs: int = Field(
        1, ge=1, le=8, description="Replicas re-synced with a new master at once. Default: 1 (the rest keep serving)."
    )
    min_replicas_to_write: int | None = Field(
        None,
        ge=0,
        description="The master refuses writes unless this many replicas are connected and within "
        "min_replicas_max_lag_seconds. Default: 1 when there are replicas, 0 for a single data pod.",
    )
    min_replicas_max_lag_seconds: int = Field(
        10, ge=1, le=300, description="Replica lag counted by min_replicas_to_write. Default: 10."
    )
    auth_secret_name: DnsLabel | None = Field(
        None,
        description="Existing Secret with the password of Redis and Sentinel (requirepass, masterauth, "
        "sentinel auth-pass). Default: '<name>-auth', i.e. 'leanvibe-redis-auth'.",
    )
    auth_secret_key: str = Field(
        "password", min_length=1, max_length=253, description="Key of the password in the Secret. Default: 'password'."
    )
    storage_class_name: DnsLabel = Field(
        "leanvibe-regional-ssd", description="StorageClass of the data volumes. Default: 'leanvibe-regional-ssd'."
    )
    storage_size: Quantity = Field("10Gi", description="Size of each data volume (AOF). Default: '10Gi'.")
    cpu_request: Quantity = Field("500m", description="Redis container CPU request. Default: '500m'.")
    cpu_limit: Quantity = Field(
        "2", description="Redis container CPU limit. Default: '2' (command thread plus AOF rewrite fork)."
    )
    memory_request: Quantity = Field("1Gi", description="Redis container memory request. Default: '1Gi'.")
    memory_limit: Quantity = Field(
        "1Gi", description="Redis container memory limit. Default: '1Gi' (equal to the request: never OOM-killed first)."
    )
    maxmemory_percent: int = Field(
        70,
        ge=10,
        le=90,
        description="Redis maxmemory as a percentage of memory_limit; the rest is headroom for replication "
        "buffers and fork copy-on-write. Default: 70.",
    )
    maxmemory_policy: MaxmemoryPolicy = Field(
        "noeviction",
        description="What Redis does at maxmemory. Default: 'noeviction' (writes fail loudly; nothing acknowledged "
        "is silently evicted). Use 'allkeys-lru' for a pure cache.",
    )
    appendfsync: Literal["always", "everysec", "no"] = Field(
        "everysec", description="AOF fsync policy. Default: 'everysec' (at most ~1 s lost if every copy dies at once)."
    )
    sentinel_cpu_request: Quantity = Field("50m", description="Sentinel CPU request. Default: '50m'.")
    sentinel_cpu_limit: Quantity = Field("250m", description="Sentinel CPU limit. Default: '250m'.")
    sentinel_memory_request: Quantity = Field("64Mi", description="Sentinel memory request. Default: '64Mi'.")
    sentinel_memory_limit: Quantity = Field("64Mi", description="Sentinel memory limit. Default: '64Mi'.")
    run_as_user: int = Field(10001, ge=10000, description="UID, GID and fsGroup of every container. Default: 10001.")
    priority_class_name: DnsLabel | None = Field(
        "leanvibe-critical", description="PriorityClass of the pods. Default: 'leanvibe-critical'."
    )
    min_zones: int = Field(
        3, ge=1, le=10, description="Zones the pods must spread over when highly_available. Default: 3."
    )
    cluster_domain: Annotated[str, AfterValidator(_check_domain)] = Field(
        "cluster.local", description="Cluster DNS domain used in the pods' host names. Default: 'cluster.local'."
    )
    discovery_seconds: int = Field(
        20,
        ge=1,
        le=600,
        description="How long a starting data pod waits for a sentinel to name the master before asking "
        "the other data pods. Default: 20.",
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> RedisSentinelProps:
        if self.quorum is not None and self.quorum > self.sentinels:
            raise ValueError(
                f"quorum ({self.quorum}) must be <= sentinels ({self.sentinels}): "
                "that many sentinels could never agree the master is down"
            )
        if self.highly_available and self.sentinels < 3:
            raise ValueError(
                f"sentinels ({self.sentinels}) must be >= 3 when highly_available is true: with fewer, losing one "
                "sentinel leaves no majority to authorise a failover; use highly_available=False for dev"
            )
        if self.highly_available and self.replicas < 2:
            raise ValueError(
                f"replicas ({self.replicas}) must be >= 2 when highly_available is true: a failover needs a replica "
                "to promote; use highly_available=False for dev"
            )
        replicas_per_master = self.replicas - 1
        if self.min_replicas_to_write is not None and self.min_replicas_to_write > replicas_per_master:
            raise ValueError(
                f"min_replicas_to_write ({self.min_replicas_to_write}) must be <= the replicas of a master "
                f"(replicas - 1 = {replicas_per_master}), or the master refuses every write"
            )
        if replicas_per_master >= 1 and self.parallel_syncs > replicas_per_master:
            raise ValueError(
                f"parallel_syncs ({self.parallel_syncs}) must be <= the replicas of a master "
                f"(replicas - 1 = {replicas_per_master})"
            )
        if self.failover_timeout_milliseconds <= self.down_after_milliseconds:
            raise ValueError(
                f"failover_timeout_milliseconds ({self.failover_timeout_milliseconds}) must be > "
                f"down_after_milliseconds ({self.down_after_milliseconds})"
            )
        for prefix in ("", "sentinel_"):
            for resource in ("cpu", "memory"):
                request = getattr(self, f"{prefix}{resource}_request")
                limit = getattr(self, f"{prefix}{resource}_limit")
                if quantity_value(request) > quantity_value(limit):
                    raise ValueError(
                        f"{prefix}{resource}_request ({request}) must be <= {prefix}{resource}_limit ({limit})"
                    )
        return self

    # values computed from defaults that depend on other props

    @property
    def effective_quorum(self) -> int:
        return self.quorum if self.quorum is not None else self.sentinels // 2 + 1

    @property
    def effective_min_replicas_to_write(self) -> int:
        if self.min_replicas_to_write is not None:
            return self.min_replicas_to_write
        return 1 if self.replicas > 1 else 0

    @property
    def effective_auth_secret_name(self) -> str:
        return self.auth_secret_name or f"{self.name}-auth"


class RedisSentinel(Construct):
    """Redis data pods and Sentinel pods with DNS-based, restart-safe failover.

    Attributes consumers use: ``sentinel_service`` (Service name) and
    ``sentinel_host`` (its DNS name), ``sentinel_port`` (26379),
    ``master_name``, ``auth_secret_name`` / ``auth_secret_key``,
    ``identity`` / ``sentinel_identity``, ``endpoint`` / ``sentinel_endpoint``
    (and ``endpoints``), ``metrics_port``; ``allow_from(peer)`` opens 6379 and
    26379 to a workload, ``allow_from(peer, port="metrics")`` the exporters.
    """

    def __init__(self, scope: Construct, id: str, props: RedisSentinelProps | None = None, **kwargs: Any):
        super().__init__(scope, id)
        self.props = p = RedisSentinelProps.build(props, **kwargs)
        version = image_tag(p.image)
        self.identity = Identity(name="redis", instance=p.name, component="cache", part_of=p.part_of, version=version)
        self.sentinel_identity = Identity(
            name="redis", instance=p.name, component="sentinel", part_of=p.part_of, version=version
        )
        self.namespace = p.namespace
        self.master_name = p.master_name
        self.redis_port = REDIS_PORT
        self.sentinel_port = SENTINEL_PORT
        self.metrics_port = METRICS_PORT
        self.headless_service = f"{p.name}-headless"
        self.sentinel_service = f"{p.name}-sentinel"
        self.sentinel_headless_service = f"{p.name}-sentinel-headless"
        self.sentinel_host = f"{self.sentinel_service}.{p.namespace}.svc.{p.cluster_domain}"
        self.auth_secret_name = p.effective_auth_secret_name
        self.auth_secret_key = p.auth_secret_key
        self.config_map_name = f"{p.name}-config"
        self.layout = layout(p)
        self.config_files = config_files(self.layout)

        self.endpoint = Endpoint.workload(
            self, identity=self.identity, namespace=p.namespace, default_ports=(Port.tcp(REDIS_PORT),)
        )
        # Both workloads share the instance label; the sentinel end gets its own
        # name so their NetworkPolicies do not collide.
        self.sentinel_endpoint = dataclasses.replace(
            Endpoint.workload(
                self, identity=self.sentinel_identity, namespace=p.namespace, default_ports=(Port.tcp(SENTINEL_PORT),)
            ),
            name=self.sentinel_service,
        )
        self.endpoints = (self.endpoint, self.sentinel_endpoint)

        ns = p.namespace
        api_object(
            self, "Config", api_version="v1", kind="ConfigMap", name=self.config_map_name, namespace=ns,
            identity=self.identity, data=self.config_files,
        )
        api_object(
            self, "ServiceAccount", api_version="v1", kind="ServiceAccount", name=p.name, namespace=ns,
            identity=self.identity, automountServiceAccountToken=False,
        )
        self.statefulset = api_object(
            self, "Resource", api_version="apps/v1", kind="StatefulSet", name=p.name, namespace=ns,
            identity=self.identity, spec=redis_statefulset_spec(p, self.identity, self.config_files),
            annotations=_single_pod_exception(p.replicas, "data pod"), checkov_skip=CHECKOV_EXCEPTIONS,
        )
        api_object(
            self, "HeadlessService", api_version="v1", kind="Service", name=self.headless_service, namespace=ns,
            identity=self.identity, spec=headless_service_spec(self.identity, REDIS_PORT, "redis", metrics=True),
        )
        api_object(
            self, "SentinelServiceAccount", api_version="v1", kind="ServiceAccount", name=self.sentinel_service,
            namespace=ns, identity=self.sentinel_identity, automountServiceAccountToken=False,
        )
        self.sentinel_statefulset = api_object(
            self, "SentinelStatefulSet", api_version="apps/v1", kind="StatefulSet", name=self.sentinel_service,
            namespace=ns, identity=self.sentinel_identity,
            spec=sentinel_statefulset_spec(p, self.sentinel_identity, self.identity, self.config_files),
            annotations=_single_pod_exception(p.sentinels, "sentinel"), checkov_skip=CHECKOV_EXCEPTIONS,
        )
        api_object(
            self, "SentinelHeadlessService", api_version="v1", kind="Service", name=self.sentinel_headless_service,
            namespace=ns, identity=self.sentinel_identity,
            spec=headless_service_spec(self.sentinel_identity, SENTINEL_PORT, "sentinel", metrics=True),
        )
        api_object(
            self, "SentinelService", api_version="v1", kind="Service", name=self.sentinel_service, namespace=ns,
            identity=self.sentinel_identity, spec=sentinel_service_spec(self.sentinel_identity),
        )
        for construct_id, identity, count in (
            ("DisruptionBudget", self.identity, p.replicas),
            ("SentinelDisruptionBudget", self.sentinel_identity, p.sentinels),
        ):
            if count > 1:
                api_object(
                    self, construct_id, api_version="policy/v1", kind="PodDisruptionBudget",
                    name=p.name if identity is self.identity else self.sentinel_service, namespace=ns,
                    identity=identity, spec=disruption_budget_spec(identity),
                )

        # The flows the construct itself needs, on exactly their ports:
        # replicas sync from the master; sentinels monitor and reconfigure the
        # data pods; sentinels vote among themselves; a starting data pod asks
        # the sentinels who the master is.
        if p.replicas > 1:
            connect(self.endpoint, self.endpoint, (Port.tcp(REDIS_PORT),))
        connect(self.sentinel_endpoint, self.endpoint, (Port.tcp(REDIS_PORT),))
        if p.sentinels > 1:
            connect(self.sentinel_endpoint, self.sentinel_endpoint, (Port.tcp(SENTINEL_PORT),))
        connect(self.endpoint, self.sentinel_endpoint, (Port.tcp(SENTINEL_PORT),))

    def allow_from(self, client: Endpoint | Any, port: Literal["redis", "metrics"] = "redis") -> None:
        """Let ``client`` (a construct with an ``endpoint``, or an Endpoint) use Redis via Sentinel.

        ``"redis"`` opens 26379 on the sentinels (discovery) and 6379 on the
        data pods (the master they name); ``"metrics"`` opens the exporters'
        metrics port on both.
        """
        peer = endpoint_of(client)
        if port == "metrics":
            connect(peer, self.endpoint, (Port.tcp(METRICS_PORT),))
            connect(peer, self.sentinel_endpoint, (Port.tcp(METRICS_PORT),))
            return
        connect(peer, self.endpoint, (Port.tcp(REDIS_PORT),))
        connect(peer, self.sentinel_endpoint, (Port.tcp(SENTINEL_PORT),))


def _single_pod_exception(count: int, what: str) -> dict[str, str] | None:
    """The `leanvibe validate` exception for the dev shape, with its reason on the object."""
    if count > 1:
        return None
    # Props validation already refuses a single pod when highly_available.
    return {
        "validate.leanvibe.io/skip-replicas": f"dev shape (highly_available=False): one {what} for a "
        "single-node cluster; production runs 3"
    }


# --- plain functions: props in, dicts out ------------------------------------------------


def pod_host(pod: str, service: str, p: RedisSentinelProps) -> str:
    """The stable DNS name of a StatefulSet pod behind its headless Service."""
    return f"{pod}.{service}.{p.namespace}.svc.{p.cluster_domain}"


def layout(p: RedisSentinelProps) -> RedisLayout:
    return RedisLayout(
        master_name=p.master_name,
        nodes=tuple(
            Address(pod_host(f"{p.name}-{i}", f"{p.name}-headless", p), REDIS_PORT) for i in range(p.replicas)
        ),
        sentinels=tuple(
            Address(pod_host(f"{p.name}-sentinel-{i}", f"{p.name}-sentinel-headless", p), SENTINEL_PORT)
            for i in range(p.sentinels)
        ),
        quorum=p.effective_quorum,
        down_after_milliseconds=p.down_after_milliseconds,
        failover_timeout_milliseconds=p.failover_timeout_milliseconds,
        parallel_syncs=p.parallel_syncs,
        min_replicas_to_write=p.effective_min_replicas_to_write,
        min_replicas_max_lag_seconds=p.min_replicas_max_lag_seconds,
        maxmemory_bytes=int(quantity_value(p.memory_limit) * p.maxmemory_percent / 100),
        maxmemory_policy=p.maxmemory_policy,
        appendfsync=p.appendfsync,
        discovery_seconds=p.discovery_seconds,
    )


def config_checksum(files: dict[str, str]) -> str:
    """Changes whenever the generated configuration does, so the pods roll with it."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def _secret_env(name: str, p: RedisSentinelProps) -> dict[str, Any]:
    return {
        "name": name,
        "valueFrom": {"secretKeyRef": {"name": p.effective_auth_secret_name, "key": p.auth_secret_key}},
    }


def _pod_name_env() -> list[dict[str, Any]]:
    # The scripts find their own address by ordinal; the password they read
    # from the mounted Secret file, not from the environment.
    return [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]


def _cli(port: int) -> str:
    """redis-cli for a probe: the password from the Secret file via REDISCLI_AUTH, never an argument."""
    return f'REDISCLI_AUTH="$(cat {PASSWORD_FILE})" redis-cli -p {port}'


def _auth_volume(p: RedisSentinelProps) -> dict[str, Any]:
    return {
        "name": "auth",
        "secret": {
            "secretName": p.effective_auth_secret_name,
            "items": [{"key": p.auth_secret_key, "path": "password"}],
            # Owner root, group fsGroup (the pod's uid): readable by the process only.
            "defaultMode": 0o440,
        },
    }


_AUTH_MOUNT = {"name": "auth", "mountPath": AUTH_DIR, "readOnly": True}

# redis_exporter takes the password from REDIS_PASSWORD or a JSON map file; the
# variable is the simpler and it is confined to the sidecar.
CHECKOV_EXCEPTIONS = {
    "CKV_K8S_35": "only the redis_exporter sidecar reads the password from a variable (REDIS_PASSWORD); "
    "Redis and Sentinel read it from the mounted Secret file",
}


def _exec_probe(script: str, period: int, timeout: int, failures: int) -> dict[str, Any]:
    return {
        "exec": {"command": ["sh", "-c", script]},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
        "successThreshold": 1,
    }


def _template_metadata(identity: Identity, files: dict[str, str]) -> dict[str, Any]:
    return {
        "labels": identity.labels(),
        "annotations": {
            # Stateful and quorum-bearing: the cluster autoscaler must not
            # evict these pods just to remove an under-used node.
            "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
            "leanvibe.dev/config-checksum": config_checksum(files),
        },
    }


def _placement(p: RedisSentinelProps, identity: Identity, avoid: Identity | None = None) -> dict[str, Any]:
    selector = identity.selector()
    term = {"labelSelector": {"matchLabels": selector}, "topologyKey": HOSTNAME_KEY}
    anti_affinity: dict[str, Any] = (
        # Two members on one node would turn a node failure into a lost quorum
        # or a lost master and replica at once.
        {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
        if p.highly_available
        else {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}
    )
    if avoid is not None:
        # A sentinel next to a data pod dies with it: prefer nodes without one.
        anti_affinity.setdefault("preferredDuringSchedulingIgnoredDuringExecution", []).append(
            {
                "weight": 50,
                "podAffinityTerm": {"labelSelector": {"matchLabels": avoid.selector()}, "topologyKey": HOSTNAME_KEY},
            }
        )
    spread = spread_constraints(selector, zones_required=p.highly_available)
    if p.highly_available:
        spread[0]["minDomains"] = p.min_zones
    placement: dict[str, Any] = {"affinity": {"podAntiAffinity": anti_affinity}, "topologySpreadConstraints": spread}
    if p.priority_class_name:
        placement["priorityClassName"] = p.priority_class_name
    return placement


def redis_container(p: RedisSentinelProps) -> dict[str, Any]:
    ping = f"{_cli(REDIS_PORT)} ping"
    return {
        "name": "redis",
        "image": p.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", f"{CONFIG_DIR}/redis-start.sh"],
        "env": _pod_name_env(),
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": p.cpu_request, "memory": p.memory_request},
            "limits": {"cpu": p.cpu_limit, "memory": p.memory_limit},
        },
        # The start-up script may wait for the sentinels (discovery_seconds plus
        # a failover), and a large AOF takes time to load: allow 5 min.
        "startupProbe": _exec_probe(f'{ping} | grep -Eq "^(PONG|LOADING)"', 5, 3, 60),
        "readinessProbe": _exec_probe(f'test "$({ping})" = PONG', 5, 3, 3),
        # LOADING is alive: restarting a pod that is replaying its AOF only starts the replay over.
        "livenessProbe": _exec_probe(f'{ping} | grep -Eq "^(PONG|LOADING)"', 10, 5, 6),
        # A stopping master hands over to a replica first (redis-prestop.sh, at
        # most ~15 s of the 30 s grace period): a rollout costs a second or two
        # of paused writes instead of down-after plus an election.
        "lifecycle": {"preStop": {"exec": {"command": ["sh", f"{CONFIG_DIR}/redis-prestop.sh"]}}},
        "securityContext": restricted_container_security_context(),
        "volumeMounts": [
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            _AUTH_MOUNT,
            {"name": "run", "mountPath": RUN_DIR},
        ],
    }


def exporter_container(p: RedisSentinelProps, port: int = REDIS_PORT) -> dict[str, Any]:
    """redis_exporter next to a data pod or a sentinel (it exports redis_sentinel_* series for the latter)."""
    return {
        "name": "metrics",
        "image": p.exporter_image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "REDIS_ADDR", "value": f"redis://localhost:{port}"},
            _secret_env("REDIS_PASSWORD", p),
        ],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": "25m", "memory": "32Mi"},
            "limits": {"cpu": "200m", "memory": "64Mi"},
        },
        "startupProbe": {"tcpSocket": {"port": "metrics"}, "periodSeconds": 2, "timeoutSeconds": 2,
                         "failureThreshold": 30},
        "readinessProbe": {"tcpSocket": {"port": "metrics"}, "periodSeconds": 10, "timeoutSeconds": 2},
        "livenessProbe": {
            "tcpSocket": {"port": "metrics"},
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "securityContext": restricted_container_security_context(),
    }


def redis_statefulset_spec(p: RedisSentinelProps, identity: Identity, files: dict[str, str]) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "serviceAccountName": p.name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": restricted_pod_security_context(p.run_as_user, fs_group=p.run_as_user),
        # The preStop handover takes at most ~15 s; then redis-server fsyncs its
        # AOF and exits (no RDB save on shutdown: snapshots are off).
        "terminationGracePeriodSeconds": 30,
        "containers": [redis_container(p), exporter_container(p)],
        "volumes": [
            {"name": "config", "configMap": {"name": f"{p.name}-config", "defaultMode": 0o444}},
            _auth_volume(p),
            # Memory-backed: the runtime redis.conf holds the password and never touches a disk.
            {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        ],
        **_placement(p, identity),
    }
    return {
        "serviceName": f"{p.name}-headless",
        "replicas": p.replicas,
        # The start-up script, not pod order, decides who is master: starting
        # all pods at once lets a replica come back while pod 0 is unschedulable.
        "podManagementPolicy": "Parallel",
        "updateStrategy": {"type": "RollingUpdate"},
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": identity.selector()},
        "template": {"metadata": _template_metadata(identity, files), "spec": pod},
        "volumeClaimTemplates": [
            {
                # volumeClaimTemplates are immutable: the selector labels (no
                # version) keep an image upgrade from being refused.
                "metadata": {"name": "data", "labels": identity.selector()},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": p.storage_class_name,
                    "resources": {"requests": {"storage": p.storage_size}},
                },
            }
        ],
    }


def sentinel_container(p: RedisSentinelProps) -> dict[str, Any]:
    cli = _cli(SENTINEL_PORT)
    return {
        "name": "sentinel",
        "image": p.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", f"{CONFIG_DIR}/sentinel-start.sh"],
        "env": _pod_name_env(),
        "ports": [{"name": "sentinel", "containerPort": SENTINEL_PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": p.sentinel_cpu_request, "memory": p.sentinel_memory_request},
            "limits": {"cpu": p.sentinel_cpu_limit, "memory": p.sentinel_memory_limit},
        },
        # The script waits up to 120 s for the master's DNS name.
        "startupProbe": _exec_probe(f'test "$({cli} ping)" = PONG', 5, 3, 30),
        # Ready only when it can tell clients where the master is.
        # (the reply is the host and the port; an error or nil has no port line).
        "readinessProbe": _exec_probe(
            f"{cli} sentinel get-master-addr-by-name {p.master_name} | sed -n 2p | grep -Eq '^[0-9]+$'", 5, 3, 3
        ),
        "livenessProbe": _exec_probe(f'test "$({cli} ping)" = PONG', 10, 5, 6),
        "securityContext": restricted_container_security_context(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            _AUTH_MOUNT,
            {"name": "run", "mountPath": SENTINEL_RUN_DIR},
        ],
    }


def sentinel_statefulset_spec(
    p: RedisSentinelProps, identity: Identity, data_identity: Identity, files: dict[str, str]
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "serviceAccountName": f"{p.name}-sentinel",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": restricted_pod_security_context(p.run_as_user, fs_group=p.run_as_user),
        "terminationGracePeriodSeconds": 10,
        # The sidecar exports what the sentinels see (masters, ok sentinels, ok
        # replicas): the series that page before a failover becomes impossible.
        "containers": [sentinel_container(p), exporter_container(p, SENTINEL_PORT)],
        "volumes": [
            {"name": "config", "configMap": {"name": f"{p.name}-config", "defaultMode": 0o444}},
            _auth_volume(p),
            # Sentinel rewrites its config file with what it learns; it holds
            # the password, so it lives in memory. A restarted pod rebuilds it
            # from its peers (sentinel-start.sh).
            {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        ],
        **_placement(p, identity, avoid=data_identity),
    }
    return {
        "serviceName": f"{p.name}-sentinel-headless",
        "replicas": p.sentinels,
        "podManagementPolicy": "Parallel",
        "updateStrategy": {"type": "RollingUpdate"},
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": identity.selector()},
        "template": {"metadata": _template_metadata(identity, files), "spec": pod},
    }


def headless_service_spec(identity: Identity, port: int, port_name: str, metrics: bool = False) -> dict[str, Any]:
    ports = [{"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}]
    if metrics:
        ports.append({"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"})
    return {
        "clusterIP": "None",
        # DNS names must exist before readiness: a starting replica resolves the
        # master, a starting sentinel resolves the pod it will monitor.
        "publishNotReadyAddresses": True,
        "selector": identity.selector(),
        "ports": ports,
    }


def sentinel_service_spec(identity: Identity) -> dict[str, Any]:
    return {
        "type": "ClusterIP",
        "selector": identity.selector(),
        "ports": [{"name": "sentinel", "port": SENTINEL_PORT, "targetPort": "sentinel", "protocol": "TCP"}],
    }


def disruption_budget_spec(identity: Identity) -> dict[str, Any]:
    return {
        # One member at a time: a drain never takes the master and a replica,
        # or two sentinels of three, at once.
        "maxUnavailable": 1,
        "selector": {"matchLabels": identity.selector()},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
