"""PostgresHA: PostgreSQL that fails over on its own, managed by Patroni, as plain manifests.

Synthesizes a StatefulSet of Patroni members (PostgreSQL with streaming
replication, synchronous by default), the ConfigMap holding the generated
``patroni.yml`` (see :mod:`leanvibe_constructs.patroni_config`), Services for
the primary, the replicas and the members, the ServiceAccount and the
namespace-scoped Role Patroni needs to use Kubernetes as its configuration
store, a PodDisruptionBudget and the NetworkPolicies between members and to
the Kubernetes API. No operator is needed.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from constructs import Construct
from pydantic import Field, field_validator, model_validator

from . import patroni_config as pc
from ._k8s import api_object
from ._labels import Identity
from ._network import KUBERNETES_API_PORTS, Endpoint, IpBlockCidrs, Port, connect, endpoint_of
from ._pod import (
    Image,
    ProbeSettings,
    hostname_anti_affinity,
    http_probe,
    image_tag,
    restricted_container_security_context,
    restricted_pod_security_context,
    spread_constraints,
)
from ._props import DnsLabel, Props, Quantity, quantity_value

_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"


class BackupSettings(Props):
    """WAL archiving and daily base backups to S3-compatible object storage with WAL-G."""

    bucket: str = Field(description="Bucket name. Required.", pattern=_BUCKET)
    credentials_secret_name: DnsLabel = Field(
        description="Existing Secret whose keys become environment variables of the postgres and backup "
        "containers (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or any other WAL-G setting). Required."
    )
    prefix: str | None = Field(
        None, pattern=r"^[A-Za-z0-9._/-]+$", description="Key prefix in the bucket. Default: the construct's name."
    )
    region: str = Field("eu-west-1", pattern=r"^[a-z0-9-]+$", description="Bucket region. Default: 'eu-west-1'.")
    endpoint: str | None = Field(
        None,
        pattern=r"^https://",
        description="S3 endpoint for non-AWS storage (MinIO, GCS interop), https only. Default: AWS S3.",
    )
    interval_hours: int = Field(24, ge=1, le=168, description="Hours between full base backups. Default: 24.")
    timeout_hours: int = Field(
        6, ge=1, le=48, description="Longest a base backup may run before it is aborted and retried. Default: 6."
    )
    retain_full_backups: int = Field(
        7, ge=1, le=365, description="Full backups kept (with the WAL to replay from them). Default: 7."
    )


def _default_readiness() -> ProbeSettings:
    # Patroni's /readiness is 200 for a running leader and for a replica that
    # streams from it: a pod drops out of its Service within 15 s.
    return ProbeSettings(path="/readiness", period_seconds=5, timeout_seconds=3, failure_threshold=3)


def _default_startup() -> ProbeSettings:
    # Patroni's REST API answers within seconds of the start; 5 minutes covers
    # a slow image pull of config or a node under pressure before liveness applies.
    return ProbeSettings(path="/liveness", period_seconds=5, timeout_seconds=3, failure_threshold=60)


def _default_liveness() -> ProbeSettings:
    # /liveness only checks that Patroni's loop runs. Tolerant (60 s): a restart
    # of the primary's pod is a failover, never a remedy for a slow moment.
    return ProbeSettings(path="/liveness", period_seconds=10, timeout_seconds=5, failure_threshold=6)


class PostgresHAProps(Props):
    """Props of :class:`PostgresHA`. Every prop has a production default; dev sets ``members=1``."""

    image: Image = Field(
        "ghcr.io/zalando/spilo-17:4.0-p3",
        description="Image shipping Patroni, PostgreSQL and WAL-G, pinned. Default: Zalando Spilo "
        "'ghcr.io/zalando/spilo-17:4.0-p3' (PostgreSQL 17, Patroni 4).",
    )
    postgres_version: int = Field(
        17, ge=16, le=18, description="PostgreSQL major version in the image; selects bin_dir. Default: 17."
    )
    name: DnsLabel = Field(
        "leanvibe-postgres",
        max_length=40,
        description="Name of every object and the Patroni scope. Default: 'leanvibe-postgres'.",
    )
    namespace: DnsLabel = Field("leanvibe", description="Namespace. Default: 'leanvibe'.")
    part_of: DnsLabel = Field("leanvibe", description="app.kubernetes.io/part-of label. Default: 'leanvibe'.")
    members: int = Field(
        3, ge=1, le=9, description="Patroni members (one primary, the rest replicas). Default: 3."
    )
    storage_size: Quantity = Field("100Gi", description="Volume size of each member. Default: '100Gi'.")
    storage_class_name: DnsLabel = Field(
        "leanvibe-regional-ssd",
        description="StorageClass of the volumes. Default: 'leanvibe-regional-ssd' (defined by the platform baseline).",
    )
    cpu_request: Quantity = Field("1", description="CPU request of the postgres container. Default: '1'.")
    cpu_limit: Quantity | None = Field(
        "4",
        description="CPU limit of the postgres container; None for none. Default: '4' (bursts for vacuum and "
        "checkpoints without starving the node).",
    )
    memory_request: Quantity = Field("4Gi", description="Memory request. Default: '4Gi'.")
    memory_limit: Quantity = Field(
        "4Gi",
        description="Memory limit; shared_buffers is a quarter of it. Default: '4Gi' (equal to the request, "
        "so a neighbour never gets PostgreSQL OOM-killed).",
    )
    shm_size: Quantity = Field(
        "1Gi", description="Size of /dev/shm (parallel query workers need more than the runtime's 64Mi). Default: '1Gi'."
    )
    ttl_seconds: int = Field(
        30,
        ge=10,
        le=3600,
        description="Patroni leader key TTL: replicas take over once a dead primary's key expires, at most this "
        "long after its last renewal. Default: 30.",
    )
    loop_wait_seconds: int = Field(10, ge=1, le=600, description="Patroni loop interval. Default: 10.")
    retry_timeout_seconds: int = Field(
        10, ge=1, le=600, description="Timeout of Kubernetes API and PostgreSQL operations before demoting. Default: 10."
    )
    maximum_lag_on_failover_bytes: int = Field(
        1048576, ge=0, description="A replica further behind than this is never promoted. Default: 1048576 (1 MiB)."
    )
    synchronous_mode: bool = Field(
        True,
        description="Commits wait for a synchronous replica, so an acknowledged commit survives the loss of the "
        "primary. Default: True (requires members >= 2).",
    )
    synchronous_mode_strict: bool = Field(
        False,
        description="Refuse writes when no synchronous replica is available (durability over availability). "
        "Default: False (with every replica down the primary keeps accepting writes).",
    )
    synchronous_node_count: int = Field(
        1, ge=1, le=8, description="Synchronous replicas a commit waits for; must be < members. Default: 1."
    )
    failsafe_mode: bool = Field(
        True,
        description="Keep the primary through a Kubernetes API outage while it reaches every member. Default: True.",
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra or overriding PostgreSQL parameters (str, int, float or bool). Default: none "
        "(memory, WAL and logging defaults are derived from the other props).",
    )
    credentials_secret_name: DnsLabel = Field(
        "leanvibe-postgres-credentials",
        description="Existing Secret with the superuser, replication, REST API and application passwords. "
        "Default: 'leanvibe-postgres-credentials'.",
    )
    superuser_password_key: str = Field(
        "superuser-password", min_length=1, description="Secret key of the superuser password. Default: 'superuser-password'."
    )
    replication_password_key: str = Field(
        "replication-password",
        min_length=1,
        description="Secret key of the replication password. Default: 'replication-password'.",
    )
    restapi_password_key: str = Field(
        "restapi-password",
        min_length=1,
        description="Secret key of the password guarding Patroni's unsafe REST calls (switchover, restart, "
        "reinitialize). Default: 'restapi-password'.",
    )
    app_password_key: str = Field(
        "app-password", min_length=1, description="Secret key of the application password. Default: 'app-password'."
    )
    superuser_username: str = Field(
        "postgres", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="Superuser name. Default: 'postgres'."
    )
    replication_username: str = Field(
        "standby", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="Replication user name. Default: 'standby'."
    )
    app_username: str = Field(
        "leanvibe",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Application role created at bootstrap. Default: 'leanvibe'.",
    )
    app_database: str = Field(
        "leanvibe",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Application database created at bootstrap, owned by app_username. Default: 'leanvibe'.",
    )
    tls_secret_name: DnsLabel | None = Field(
        None,
        description="Existing kubernetes.io/tls Secret; when set, remote connections must use TLS. Default: no TLS.",
    )
    backup: BackupSettings | None = Field(
        None, description="WAL archiving and base backups with WAL-G. Default: none (dev); set it in production."
    )
    exporter_image: Image = Field(
        "quay.io/prometheuscommunity/postgres-exporter:v0.17.1",
        description="postgres_exporter sidecar image. Default: 'quay.io/prometheuscommunity/postgres-exporter:v0.17.1'.",
    )
    zone_spread: Literal["required", "preferred"] = Field(
        "required",
        description="'required' never places two members in one zone while another zone has fewer; "
        "'preferred' only tries (single-zone clusters). Default: 'required'.",
    )
    node_anti_affinity: Literal["required", "preferred"] = Field(
        "required",
        description="'required' never places two members on one node. Default: 'required'.",
    )
    priority_class_name: DnsLabel | None = Field(
        "leanvibe-critical", description="PriorityClass of the pods. Default: 'leanvibe-critical' (baseline)."
    )
    api_server_cidrs: IpBlockCidrs = Field(
        (),
        description="Addresses of the Kubernetes API server endpoints, as CIDRs (`kubectl get endpointslices "
        "-n default -l kubernetes.io/service-name=kubernetes`); Patroni keeps its leader lock there, so the "
        "members get egress to them on TCP 443 and 6443. The API server is not a pod: only an ipBlock names "
        "it. A /0 is refused, as ZeroTrustPolicies.kubernetes_api_cidrs refuses it. Default: none, and then "
        "this construct opens no path to the API: declare it once with "
        "`zero_trust.allow_kubernetes_api(postgres)`, or Patroni cannot take the leader lock.",
    )
    run_as_user: int = Field(
        101,
        ge=1,
        description="UID of every container: the image's postgres user. Default: 101 (Spilo's postgres uid).",
    )
    run_as_group: int = Field(
        103, ge=1, description="GID and fsGroup: the image's postgres group. Default: 103 (Spilo's)."
    )
    startup_probe: ProbeSettings = Field(
        default_factory=_default_startup, description="Default: GET /liveness on 8008 every 5 s, 60 failures (5 min)."
    )
    readiness_probe: ProbeSettings = Field(
        default_factory=_default_readiness, description="Default: GET /readiness on 8008 every 5 s, 3 failures."
    )
    liveness_probe: ProbeSettings = Field(
        default_factory=_default_liveness, description="Default: GET /liveness on 8008 every 10 s, 6 failures."
    )
    termination_grace_period_seconds: int = Field(
        60,
        ge=10,
        le=3600,
        description="Time Patroni has to stop PostgreSQL cleanly (a fast shutdown with a final checkpoint). Default: 60.",
    )

    @field_validator("parameters")
    @classmethod
    def _check_parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        return pc.check_parameters(value)

    @field_validator("storage_size")
    @classmethod
    def _check_storage(cls, value: str) -> str:
        if quantity_value(value) < 2**30:
            raise ValueError("must be at least '1Gi' (WAL alone needs more), e.g. '10Gi' or '100Gi'")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> PostgresHAProps:
        pc.check_dcs_timing(self.ttl_seconds, self.loop_wait_seconds, self.retry_timeout_seconds)
        if self.synchronous_mode and self.members < 2:
            raise ValueError(
                f"synchronous_mode (True) needs members >= 2, got members ({self.members}): a lone primary has "
                "no replica to confirm commits; set synchronous_mode=False for a single member"
            )
        if self.synchronous_mode and self.synchronous_node_count >= self.members:
            raise ValueError(
                f"synchronous_node_count ({self.synchronous_node_count}) must be < members ({self.members}): "
                "the primary is not its own synchronous replica"
            )
        for resource in ("cpu", "memory"):
            request, limit = getattr(self, f"{resource}_request"), getattr(self, f"{resource}_limit")
            if limit is not None and quantity_value(request) > quantity_value(limit):
                raise ValueError(f"{resource}_request ({request}) must be <= {resource}_limit ({limit})")
        if quantity_value(self.memory_limit) < 512 * 2**20:
            raise ValueError(f"memory_limit ({self.memory_limit}) must be at least '512Mi' for PostgreSQL and Patroni")
        if self.readiness_probe == self.liveness_probe:
            raise ValueError("liveness_probe must differ from readiness_probe (liveness restarts, readiness only routes)")
        keys = [self.superuser_password_key, self.replication_password_key, self.restapi_password_key,
                self.app_password_key]
        if len(set(keys)) != len(keys):
            raise ValueError(f"the four password keys must differ, got {keys}")
        users = [self.superuser_username, self.replication_username, self.app_username, pc.MONITOR_ROLE]
        if len(set(users)) != 4:
            raise ValueError(f"superuser, replication and app usernames must differ from each other and "
                             f"from {pc.MONITOR_ROLE!r}, got {users[:3]}")
        return self


# The three checkov checks the StatefulSet fails on purpose, with the reason a reviewer reads on the object.
CHECKOV_EXCEPTIONS = {
    "CKV_K8S_38": "Patroni keeps its leader lock and member state in the Kubernetes API; "
    "its Role allows only configmaps and pods in this namespace",
    "CKV_K8S_35": "Patroni reads its passwords only from PATRONI_*_PASSWORD variables or its config file; "
    "variables from the Secret keep them out of the ConfigMap",
    "CKV_K8S_40": "runs as 101, the image's postgres user that owns its files and the peer-authentication map; "
    "the restricted profile needs non-root only",
}


class PostgresHA(Construct):
    """A Patroni-managed PostgreSQL cluster with automatic failover.

    Attributes consumers use: ``primary_service`` and ``replica_service``
    (Service names, read-write and read-only), ``port``,
    ``credentials_secret_name``, ``identity``, ``endpoint``; ``allow_from(peer)``
    opens 5432 to a workload.
    """

    def __init__(self, scope: Construct, id: str, props: PostgresHAProps | None = None, **kwargs: Any):
        super().__init__(scope, id)
        self.props = p = PostgresHAProps.build(props, **kwargs)
        self.identity = Identity(
            name="postgresql", instance=p.name, component="database", part_of=p.part_of, version=image_tag(p.image)
        )
        self.namespace = p.namespace
        self.port = pc.POSTGRES_PORT
        self.metrics_port = pc.EXPORTER_PORT
        self.primary_service = f"{p.name}-primary"
        self.replica_service = f"{p.name}-replicas"
        self.headless_service = f"{p.name}-headless"
        self.config_map_name = config_map_name(p)
        self.credentials_secret_name = p.credentials_secret_name
        self.endpoint = Endpoint.workload(
            self, identity=self.identity, namespace=p.namespace, default_ports=(Port.tcp(pc.POSTGRES_PORT),)
        )

        files = config_files(p, self.identity)
        self.statefulset = api_object(
            self, "Resource", api_version="apps/v1", kind="StatefulSet", name=p.name, namespace=p.namespace,
            identity=self.identity, spec=statefulset_spec(p, self.identity, config_checksum(files)),
            checkov_skip=CHECKOV_EXCEPTIONS,
        )
        api_object(
            self, "ConfigMap", api_version="v1", kind="ConfigMap", name=self.config_map_name,
            namespace=p.namespace, identity=self.identity, data=files,
        )
        api_object(
            self, "ServiceAccount", api_version="v1", kind="ServiceAccount", name=p.name, namespace=p.namespace,
            identity=self.identity,
            # Patroni talks to the Kubernetes API with this account's token.
            automountServiceAccountToken=True,
        )
        api_object(
            self, "Role", api_version="rbac.authorization.k8s.io/v1", kind="Role", name=p.name,
            namespace=p.namespace, identity=self.identity, rules=role_rules(),
        )
        api_object(
            self, "RoleBinding", api_version="rbac.authorization.k8s.io/v1", kind="RoleBinding", name=p.name,
            namespace=p.namespace, identity=self.identity,
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": p.name},
            subjects=[{"kind": "ServiceAccount", "name": p.name, "namespace": p.namespace}],
        )
        for service_id, name, spec in (
            ("PrimaryService", self.primary_service, role_service_spec(self.identity, pc.PRIMARY_ROLE)),
            ("ReplicaService", self.replica_service, role_service_spec(self.identity, pc.REPLICA_ROLE)),
            ("HeadlessService", self.headless_service, headless_service_spec(self.identity)),
        ):
            api_object(
                self, service_id, api_version="v1", kind="Service", name=name, namespace=p.namespace,
                identity=self.identity, spec=spec,
            )
        if p.members > 1:
            api_object(
                self, "DisruptionBudget", api_version="policy/v1", kind="PodDisruptionBudget", name=p.name,
                namespace=p.namespace, identity=self.identity,
                spec={
                    # One member at a time: with 3 members and one synchronous
                    # replica, a drain never takes the last candidate for promotion.
                    "maxUnavailable": 1,
                    "selector": {"matchLabels": self.identity.selector()},
                },
            )

        # Members replicate from and health-check each other.
        connect(self.endpoint, self.endpoint, (Port.tcp(pc.POSTGRES_PORT), Port.tcp(pc.PATRONI_PORT)))
        # Patroni keeps its leader lock and configuration in the Kubernetes API.
        self.api_server: Endpoint | None = None
        if p.api_server_cidrs:
            self.api_server = Endpoint.ip_blocks("kube-apiserver", p.api_server_cidrs)
            connect(self.endpoint, self.api_server, tuple(Port.tcp(n) for n in KUBERNETES_API_PORTS))
        if p.backup is not None:
            connect(self.endpoint, Endpoint.internet(), (Port.tcp(443),))

    def allow_from(self, client: Endpoint | Any, port: Literal["postgresql", "metrics"] = "postgresql") -> None:
        """Let ``client`` (a construct with an ``endpoint``, or an Endpoint) reach PostgreSQL or the exporter."""
        number = self.port if port == "postgresql" else self.metrics_port
        connect(endpoint_of(client), self.endpoint, (Port.tcp(number),))


# --- object bodies ---------------------------------------------------------------


def config_map_name(p: PostgresHAProps) -> str:
    # Not "<name>-config": Patroni itself creates ConfigMaps named <scope>-config,
    # -leader, -failover and -sync, and the scope is the construct's name.
    return f"{p.name}-patroni"


def config_files(p: PostgresHAProps, identity: Identity) -> dict[str, str]:
    """The ConfigMap's files: patroni.yml, the post-bootstrap script and, with backups, the backup loop."""
    files = {
        "patroni.yml": pc.patroni_yaml(p, identity),
        "post-bootstrap.sh": pc.post_bootstrap_script(p),
    }
    if p.backup is not None:
        files["backup-loop.sh"] = pc.backup_loop_script(p)
    return files


def config_checksum(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


def role_rules() -> list[dict[str, Any]]:
    """Exactly what Patroni 3/4 calls with kubernetes.use_endpoints=false (patroni/dcs/kubernetes.py).

    ConfigMaps hold the leader lock, the cluster config, the sync state and the
    failover request: read and watched as a cache, created once, patched on
    every loop. Pods are listed and watched to find members and patched to set
    the role label and the status annotation. No endpoints (ConfigMap mode), no
    services (Patroni creates the -config Service only in Endpoints mode), no
    delete (only ``patronictl remove`` deletes, and that is an admin's act).
    """
    return [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list", "patch", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch", "watch"]},
    ]


def role_service_spec(identity: Identity, role: str) -> dict[str, Any]:
    """A Service on the members Patroni currently labels with ``role``."""
    return {
        "type": "ClusterIP",
        "selector": {**identity.selector(), pc.ROLE_LABEL: role},
        "ports": [{"name": "postgresql", "port": pc.POSTGRES_PORT, "targetPort": "postgresql", "protocol": "TCP"}],
    }


def headless_service_spec(identity: Identity) -> dict[str, Any]:
    return {
        "clusterIP": "None",
        "selector": identity.selector(),
        # Members must find each other while they bootstrap, before they are ready.
        "publishNotReadyAddresses": True,
        "ports": [
            {"name": "postgresql", "port": pc.POSTGRES_PORT, "targetPort": "postgresql", "protocol": "TCP"},
            {"name": "patroni", "port": pc.PATRONI_PORT, "targetPort": "patroni", "protocol": "TCP"},
        ],
    }


def postgres_container(p: PostgresHAProps) -> dict[str, Any]:
    env = pc.patroni_environment(p)
    env_from: list[dict[str, Any]] = []
    if p.backup is not None:
        env += pc.backup_environment(p)
        env_from.append({"secretRef": {"name": p.backup.credentials_secret_name}})
    limits: dict[str, str] = {"memory": p.memory_limit}
    if p.cpu_limit is not None:
        limits["cpu"] = p.cpu_limit
    mounts = [
        {"name": "data", "mountPath": pc.DATA_MOUNT},
        {"name": "patroni-config", "mountPath": pc.CONFIG_DIR, "readOnly": True},
        {"name": "run", "mountPath": pc.SOCKET_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "shm", "mountPath": "/dev/shm"},
    ]
    if p.tls_secret_name:
        mounts.append({"name": "tls", "mountPath": pc.TLS_DIR, "readOnly": True})
    container: dict[str, Any] = {
        "name": "postgres",
        "image": p.image,
        "imagePullPolicy": "IfNotPresent",
        "command": pc.start_command(),
        "ports": [
            {"name": "postgresql", "containerPort": pc.POSTGRES_PORT, "protocol": "TCP"},
            {"name": "patroni", "containerPort": pc.PATRONI_PORT, "protocol": "TCP"},
        ],
        "env": env,
        "resources": {"requests": {"cpu": p.cpu_request, "memory": p.memory_request}, "limits": limits},
        "startupProbe": http_probe(p.startup_probe, "patroni"),
        "readinessProbe": http_probe(p.readiness_probe, "patroni"),
        "livenessProbe": http_probe(p.liveness_probe, "patroni"),
        # Patroni and PostgreSQL write only to the data volume, the socket
        # directory, /tmp (pgpass) and /dev/shm, all mounted: the image's root
        # filesystem stays read-only.
        "securityContext": restricted_container_security_context(read_only_root=True),
        "volumeMounts": mounts,
    }
    if env_from:
        container["envFrom"] = env_from
    return container


def exporter_container(p: PostgresHAProps) -> dict[str, Any]:
    return {
        "name": "exporter",
        "image": p.exporter_image,
        "imagePullPolicy": "IfNotPresent",
        "args": [f"--web.listen-address=:{pc.EXPORTER_PORT}", "--web.telemetry-path=/metrics"],
        "env": [
            {
                # Peer authentication over the pod-local socket as the pg_monitor
                # role: no password to store (see patroni_config.pg_hba).
                "name": "DATA_SOURCE_NAME",
                "value": f"host={pc.SOCKET_DIR} port={pc.POSTGRES_PORT} user={pc.MONITOR_ROLE} "
                "dbname=postgres sslmode=disable",
            },
        ],
        "ports": [{"name": "metrics", "containerPort": pc.EXPORTER_PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "250m", "memory": "128Mi"},
        },
        # /metrics answers (with pg_up 0) even while PostgreSQL is down: these
        # probes watch the exporter process, the alerts watch the database.
        "startupProbe": _metrics_probe(period=5, failures=12),
        "readinessProbe": _metrics_probe(period=30, failures=3),
        "livenessProbe": _metrics_probe(period=30, failures=6),
        "securityContext": restricted_container_security_context(read_only_root=True),
        "volumeMounts": [{"name": "run", "mountPath": pc.SOCKET_DIR, "readOnly": True}],
    }


def backup_container(p: PostgresHAProps) -> dict[str, Any]:
    assert p.backup is not None
    return {
        "name": "backup",
        "image": p.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", pc.BACKUP_SCRIPT_FILE],
        # backup-push asks the primary for pg_backup_start/stop over the pod-local socket.
        "env": pc.backup_environment(p) + [
            {"name": "PGHOST", "value": pc.SOCKET_DIR},
            {"name": "PGPORT", "value": str(pc.POSTGRES_PORT)},
            {"name": "PGUSER", "value": p.superuser_username},
            {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {
                "name": p.credentials_secret_name, "key": p.superuser_password_key}}},
            {"name": "PGDATA", "value": pc.DATA_DIR},
        ],
        "envFrom": [{"secretRef": {"name": p.backup.credentials_secret_name}}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "startupProbe": _heartbeat_probe(p, period=5, failures=12),
        "readinessProbe": _heartbeat_probe(p, period=60, failures=1),
        # A loop whose heartbeat is older than one bounded backup plus a sleep is hung: restart it.
        "livenessProbe": _heartbeat_probe(p, period=60, failures=3),
        "securityContext": restricted_container_security_context(read_only_root=True),
        "volumeMounts": [
            # backup-push reads the data directory; read-only keeps the backup
            # process from ever damaging it.
            {"name": "data", "mountPath": pc.DATA_MOUNT, "readOnly": True},
            {"name": "patroni-config", "mountPath": pc.CONFIG_DIR, "readOnly": True},
            {"name": "run", "mountPath": pc.SOCKET_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def _metrics_probe(*, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": "/metrics", "port": "metrics", "scheme": "HTTP"},
        "periodSeconds": period, "timeoutSeconds": 10, "failureThreshold": failures, "successThreshold": 1,
    }


def _heartbeat_probe(p: PostgresHAProps, *, period: int, failures: int) -> dict[str, Any]:
    minutes = pc.backup_heartbeat_max_minutes(p)
    check = f'test -n "$(find {pc.BACKUP_HEARTBEAT_FILE} -mmin -{minutes})"'
    return {
        "exec": {"command": ["/bin/sh", "-c", check]},
        "periodSeconds": period, "timeoutSeconds": 10, "failureThreshold": failures, "successThreshold": 1,
    }


def pod_spec(p: PostgresHAProps, identity: Identity) -> dict[str, Any]:
    selector = identity.selector()
    spread = spread_constraints(selector, zones_required=p.zone_spread == "required")
    if p.zone_spread == "required" and p.members > 1:
        spread[0]["minDomains"] = min(p.members, 3)
    security = restricted_pod_security_context(p.run_as_user, fs_group=p.run_as_group)
    # The data volume and the TLS key must be readable by the image's postgres
    # group, not by a group named after the uid.
    security["runAsGroup"] = p.run_as_group
    containers = [postgres_container(p), exporter_container(p)]
    if p.backup is not None:
        containers.append(backup_container(p))
    volumes: list[dict[str, Any]] = [
        {"name": "patroni-config", "configMap": {"name": config_map_name(p), "defaultMode": 0o555}},
        {"name": "run", "emptyDir": {"sizeLimit": "16Mi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": p.shm_size}},
    ]
    if p.tls_secret_name:
        # PostgreSQL accepts a key owned by root only if it is not world-readable (0640).
        volumes.append({"name": "tls", "secret": {"secretName": p.tls_secret_name, "defaultMode": 0o640}})
    spec: dict[str, Any] = {
        "serviceAccountName": p.name,
        "automountServiceAccountToken": True,
        "securityContext": security,
        "containers": containers,
        "volumes": volumes,
        "terminationGracePeriodSeconds": p.termination_grace_period_seconds,
        "topologySpreadConstraints": spread,
        "affinity": hostname_anti_affinity(selector, required=p.node_anti_affinity == "required"),
        "enableServiceLinks": False,
    }
    if p.priority_class_name:
        spec["priorityClassName"] = p.priority_class_name
    return spec


def statefulset_spec(p: PostgresHAProps, identity: Identity, checksum: str) -> dict[str, Any]:
    return {
        "replicas": p.members,
        "serviceName": f"{p.name}-headless",
        # Members start one after another: the first bootstraps the cluster,
        # the next clone from it once it is ready.
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate"},
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": identity.selector()},
        # Volumes outlive the StatefulSet and a scale-down: deleting data is never automatic.
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "template": {
            "metadata": {
                "labels": identity.labels(),
                "annotations": {
                    # A database pod is never evicted to shrink the cluster; its
                    # restart is a failover.
                    "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
                    # Roll the members when the generated configuration changes.
                    "leanvibe.io/patroni-config-sha256": checksum,
                },
            },
            "spec": pod_spec(p, identity),
        },
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "data", "labels": identity.labels()},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": p.storage_class_name,
                    "resources": {"requests": {"storage": p.storage_size}},
                },
            }
        ],
    }
