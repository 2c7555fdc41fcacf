"""The Patroni and PostgreSQL configuration of :class:`~leanvibe_constructs.postgres_ha.PostgresHA`.

Plain functions from props to text or dicts, so that the exact configuration
the pods run can be read, tested and started by the real Patroni and
PostgreSQL outside Kubernetes (see tests/test_patroni_integration.py). The
construct only places their output into a ConfigMap and the pod spec.

Paths match the Spilo image (``ghcr.io/zalando/spilo-<major>``): binaries in
``/usr/lib/postgresql/<major>/bin``, the postgres user's home in
``/home/postgres``. Patroni is started directly, not through Spilo's
``launch.sh``, so the configuration below is the whole truth.
"""

from __future__ import annotations

import math
import re
import shlex
from typing import TYPE_CHECKING, Any

import yaml

from ._props import quantity_value

if TYPE_CHECKING:  # pragma: no cover - imported for type hints only
    from ._labels import Identity
    from .postgres_ha import PostgresHAProps

POSTGRES_PORT = 5432
PATRONI_PORT = 8008
EXPORTER_PORT = 9187

CONFIG_DIR = "/etc/patroni"
CONFIG_FILE = f"{CONFIG_DIR}/patroni.yml"
POST_BOOTSTRAP_FILE = f"{CONFIG_DIR}/post-bootstrap.sh"
BACKUP_SCRIPT_FILE = f"{CONFIG_DIR}/backup-loop.sh"
DATA_MOUNT = "/home/postgres/pgdata"
DATA_DIR = f"{DATA_MOUNT}/pgroot/data"
SOCKET_DIR = "/var/run/postgresql"
TLS_DIR = "/etc/postgresql-tls"
PGPASS_FILE = "/tmp/pgpass"

# The role the postgres_exporter sidecar logs in as: over the pod-local Unix
# socket with peer authentication (every container of the pod runs as the
# image's postgres uid), so it needs no password and only holds pg_monitor.
MONITOR_ROLE = "monitor"
RESTAPI_USERNAME = "patroni"

# Patroni labels each pod with its role; the primary and replica Services select on it.
ROLE_LABEL = "role"
PRIMARY_ROLE = "primary"
REPLICA_ROLE = "replica"
PEER_MAP = "exporter"

# Parameters Patroni requires to be equal on every member: it takes them only
# from the cluster-wide (DCS) configuration and ignores them locally.
# Source: patroni/postgresql/config.py, ConfigHandler.CMDLINE_OPTIONS.
CLUSTER_WIDE_PARAMETERS = frozenset(
    {
        "max_connections",
        "max_locks_per_transaction",
        "max_prepared_transactions",
        "max_replication_slots",
        "max_wal_senders",
        "max_worker_processes",
        "track_commit_timestamp",
        "wal_keep_size",
        "wal_level",
        "wal_log_hints",
    }
)

# Parameters Patroni sets itself from its own settings (listen address, port,
# scope, replication); setting them by hand would fight Patroni.
PATRONI_MANAGED_PARAMETERS = frozenset(
    {
        "listen_addresses",
        "port",
        "cluster_name",
        "hot_standby",
        "primary_conninfo",
        "primary_slot_name",
        "synchronous_standby_names",
        "hba_file",
        "ident_file",
        "data_directory",
        "config_file",
    }
)

_PARAMETER_NAME = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")

ParameterValue = str | int | float | bool


# --- validation shared with the props model -------------------------------------


def check_dcs_timing(ttl: int, loop_wait: int, retry_timeout: int) -> None:
    """Raise ValueError unless ``loop_wait + 2 * retry_timeout <= ttl``.

    Patroni's own rule: a primary that cannot renew its leader key must demote
    itself before the key expires, which takes up to one loop plus a retry of
    the DCS write and a retry of the PostgreSQL check. With a larger sum two
    primaries can exist at once.
    """
    if loop_wait + 2 * retry_timeout > ttl:
        raise ValueError(
            f"loop_wait_seconds ({loop_wait}) + 2 * retry_timeout_seconds ({retry_timeout}) = "
            f"{loop_wait + 2 * retry_timeout} must be <= ttl_seconds ({ttl}), or a primary that lost "
            "the Kubernetes API may still accept writes after a replica was promoted; "
            "raise ttl_seconds or lower the other two"
        )


def check_parameters(parameters: dict[str, Any]) -> dict[str, ParameterValue]:
    """Raise ValueError for a parameter name or value PostgreSQL cannot take; return them unchanged."""
    for name, value in parameters.items():
        if not isinstance(name, str) or not _PARAMETER_NAME.match(name):
            raise ValueError(
                f"parameter name {name!r} is not a PostgreSQL setting name "
                "(lowercase letters, digits and '_', optionally 'extension.setting')"
            )
        if name in PATRONI_MANAGED_PARAMETERS:
            raise ValueError(
                f"parameter {name!r} is managed by Patroni and cannot be set; "
                "use the construct's props (port, members, synchronous_mode...) instead"
            )
        if isinstance(value, (bool, int, float, str)):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"parameter {name!r} has a non-finite value {value!r}")
            continue
        raise ValueError(
            f"parameter {name!r} has a value of unknown PostgreSQL parameter type "
            f"{type(value).__name__} ({value!r}); use a str, int, float or bool "
            "(e.g. '256MB', 200, 0.9, True)"
        )
    return parameters


# --- PostgreSQL settings --------------------------------------------------------


def render_parameter(value: ParameterValue) -> str | int | float:
    """PostgreSQL spelling of a value: booleans as on/off, the rest as given."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


def _megabytes(quantity_bytes: float) -> int:
    return max(1, int(quantity_bytes // 2**20))


def default_parameters(p: PostgresHAProps) -> dict[str, ParameterValue]:
    """Production defaults derived from the pod's memory and volume size."""
    memory = quantity_value(p.memory_limit)
    storage = quantity_value(p.storage_size)
    return {
        # Memory: the usual 25% / 75% split of the container's limit.
        "shared_buffers": f"{_megabytes(memory / 4)}MB",
        "effective_cache_size": f"{_megabytes(memory * 3 / 4)}MB",
        "maintenance_work_mem": f"{min(_megabytes(memory / 16), 2048)}MB",
        "work_mem": "16MB",
        "max_connections": 200,
        # Replication: slots keep WAL for a replica that is down; the cap stops a
        # replica gone for good from filling the volume (a quarter of it) and
        # taking the primary down with it.
        "wal_level": "replica",
        "wal_log_hints": True,  # required by pg_rewind on clusters without data checksums
        "max_wal_senders": 10,
        "max_replication_slots": 10,
        "wal_keep_size": "512MB",
        "max_slot_wal_keep_size": f"{_megabytes(storage / 4)}MB",
        "hot_standby_feedback": True,
        "max_wal_size": "4GB",
        "min_wal_size": "512MB",
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": 0.9,
        "password_encryption": "scram-sha-256",
        # Logs go to the container's stderr, collected by the node's log agent.
        "logging_collector": False,
        "log_min_duration_statement": 1000,
        "log_checkpoints": True,
        "log_lock_waits": True,
        "log_temp_files": 0,
        "log_line_prefix": "%m [%p] %q%u@%d ",
        "unix_socket_directories": SOCKET_DIR,
    }


def postgresql_parameters(p: PostgresHAProps) -> dict[str, ParameterValue]:
    """All PostgreSQL parameters: the defaults, then backup and TLS settings, then the user's."""
    parameters = default_parameters(p)
    if p.backup is not None:
        parameters.update(
            {
                "archive_mode": True,
                "archive_command": archive_command(),
                # Bounds the data lost with the whole cluster to one minute of WAL.
                "archive_timeout": "60s",
            }
        )
    if p.tls_secret_name:
        parameters.update(
            {
                "ssl": True,
                "ssl_cert_file": f"{TLS_DIR}/tls.crt",
                "ssl_key_file": f"{TLS_DIR}/tls.key",
                "ssl_min_protocol_version": "TLSv1.2",
            }
        )
    parameters.update(p.parameters)
    return parameters


def split_parameters(
    parameters: dict[str, ParameterValue],
) -> tuple[dict[str, str | int | float], dict[str, str | int | float]]:
    """(cluster-wide, local): Patroni reads the first only from its DCS, the second from each member's file.

    Local parameters apply on the next Patroni reload of the file, so changing
    them in the construct takes effect when the pods roll; cluster-wide ones are
    bootstrap values and later need ``patronictl edit-config``.
    """
    cluster: dict[str, str | int | float] = {}
    local: dict[str, str | int | float] = {}
    for name in sorted(parameters):
        target = cluster if name in CLUSTER_WIDE_PARAMETERS else local
        target[name] = render_parameter(parameters[name])
    return cluster, local


def pg_hba(p: PostgresHAProps) -> list[str]:
    """Client authentication: password (SCRAM) everywhere, peer only for the exporter's socket login.

    Network reach is the NetworkPolicies' job (only declared peers get to
    5432); pg_hba accepts any address because pod IPs change on every restart.
    With TLS, remote connections must use it.
    """
    remote = "hostssl" if p.tls_secret_name else "host"
    return [
        f"local all {MONITOR_ROLE} peer map={PEER_MAP}",
        "local all all scram-sha-256",
        "host all all 127.0.0.1/32 scram-sha-256",
        "host all all ::1/128 scram-sha-256",
        f"{remote} replication {p.replication_username} all scram-sha-256",
        f"{remote} all all all scram-sha-256",
    ]


def pg_ident(p: PostgresHAProps) -> list[str]:
    """The OS user of every container (the image's postgres) may log in as the monitor role, only."""
    return [f"{PEER_MAP} postgres {MONITOR_ROLE}"]


# --- Patroni --------------------------------------------------------------------


def dcs_settings(p: PostgresHAProps) -> dict[str, Any]:
    """``bootstrap.dcs``: the cluster-wide dynamic configuration written once at bootstrap."""
    cluster_parameters, _ = split_parameters(postgresql_parameters(p))
    settings: dict[str, Any] = {
        "ttl": p.ttl_seconds,
        "loop_wait": p.loop_wait_seconds,
        "retry_timeout": p.retry_timeout_seconds,
        # A replica further behind than this is never promoted automatically.
        "maximum_lag_on_failover": p.maximum_lag_on_failover_bytes,
        "synchronous_mode": p.synchronous_mode,
        "synchronous_mode_strict": p.synchronous_mode_strict,
        "synchronous_node_count": p.synchronous_node_count,
        # Keep the primary running through a Kubernetes API outage (control plane
        # upgrade) as long as it can reach every other member's REST API;
        # without it Patroni demotes the primary after ttl and the database
        # goes read-only although nothing is wrong with it.
        "failsafe_mode": p.failsafe_mode,
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            "parameters": cluster_parameters,
        },
    }
    return settings


def kubernetes_settings(p: PostgresHAProps, identity: Identity) -> dict[str, Any]:
    """The ``kubernetes`` DCS section: ConfigMaps (not Endpoints) and the role label the Services select."""
    return {
        "namespace": p.namespace,
        # Patroni selects its pods and ConfigMaps by these labels plus
        # scope_label=<scope>; the scope is the instance name, so the standard
        # instance label serves as the scope label and pods need no extra label.
        "labels": {
            "app.kubernetes.io/name": identity.name,
            "app.kubernetes.io/component": identity.component,
        },
        "scope_label": "app.kubernetes.io/instance",
        "role_label": ROLE_LABEL,
        "leader_label_value": PRIMARY_ROLE,
        "follower_label_value": REPLICA_ROLE,
        "standby_leader_label_value": PRIMARY_ROLE,
        # Endpoints are deprecated since Kubernetes 1.33; with ConfigMaps Patroni
        # creates no Service and needs no verb on endpoints.
        "use_endpoints": False,
        # bypass_api_service needs read access to endpoints/kubernetes in the
        # default namespace: a cluster-wide grant this construct does not make.
        "bypass_api_service": False,
    }



def patroni_config(p: PostgresHAProps, identity: Identity) -> dict[str, Any]:
    """The whole ``patroni.yml``. Per-pod values (name, pod IP, passwords) come from the environment.

    See :func:`patroni_environment`: Patroni lets ``PATRONI_*`` variables
    override the file, which keeps one ConfigMap for all members and every
    password in a Secret.
    """
    _, local_parameters = split_parameters(postgresql_parameters(p))
    bootstrap: dict[str, Any] = {
        "dcs": dcs_settings(p),
        "initdb": [
            {"encoding": "UTF8"},
            {"locale": "C.UTF-8"},
            "data-checksums",
            {"auth-local": "scram-sha-256"},
            {"auth-host": "scram-sha-256"},
        ],
        "post_bootstrap": POST_BOOTSTRAP_FILE,
    }
    postgresql: dict[str, Any] = {
        "listen": f"0.0.0.0:{POSTGRES_PORT}",
        "data_dir": DATA_DIR,
        "bin_dir": f"/usr/lib/postgresql/{p.postgres_version}/bin",
        "pgpass": PGPASS_FILE,
        "use_unix_socket": True,
        "authentication": {
            "superuser": {"username": p.superuser_username},
            "replication": {"username": p.replication_username},
        },
        "parameters": local_parameters,
        "pg_hba": pg_hba(p),
        "pg_ident": pg_ident(p),
        "basebackup": [{"checkpoint": "fast"}],
        # A member whose timeline cannot be rewound re-clones itself from the
        # primary instead of waiting for an operator.
        "remove_data_directory_on_rewind_failure": True,
        "remove_data_directory_on_diverged_timelines": True,
    }
    if p.backup is not None:
        # Replicas that fell behind the primary's retained WAL catch up from the archive.
        postgresql["recovery_conf"] = {"restore_command": restore_command()}
    return {
        "scope": p.name,
        "log": {"level": "INFO"},
        # GETs (probes, /metrics, members reading each other) stay open; the
        # unsafe calls (switchover, restart, reinitialize, config) need the
        # password, which members also send to each other (failsafe POSTs).
        "restapi": {"listen": f"0.0.0.0:{PATRONI_PORT}", "authentication": {"username": RESTAPI_USERNAME}},
        "kubernetes": kubernetes_settings(p, identity),
        "bootstrap": bootstrap,
        "postgresql": postgresql,
        # Pods have no /dev/watchdog; say so rather than let Patroni probe for one.
        "watchdog": {"mode": "off"},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def patroni_yaml(p: PostgresHAProps, identity: Identity) -> str:
    """``patroni.yml`` as text, keys in a stable order."""
    return yaml.safe_dump(patroni_config(p, identity), sort_keys=False, default_flow_style=False, width=120)


def patroni_environment(p: PostgresHAProps) -> list[dict[str, Any]]:
    """Container environment: the per-pod identity and every password, from the downward API and the Secret."""

    def secret(key: str) -> dict[str, Any]:
        return {"secretKeyRef": {"name": p.credentials_secret_name, "key": key}}

    return [
        {"name": "PATRONI_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "PATRONI_KUBERNETES_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "PATRONI_RESTAPI_CONNECT_ADDRESS", "value": f"$(PATRONI_KUBERNETES_POD_IP):{PATRONI_PORT}"},
        {"name": "PATRONI_POSTGRESQL_CONNECT_ADDRESS", "value": f"$(PATRONI_KUBERNETES_POD_IP):{POSTGRES_PORT}"},
        {"name": "PATRONI_SUPERUSER_PASSWORD", "valueFrom": secret(p.superuser_password_key)},
        {"name": "PATRONI_REPLICATION_PASSWORD", "valueFrom": secret(p.replication_password_key)},
        {"name": "PATRONI_RESTAPI_PASSWORD", "valueFrom": secret(p.restapi_password_key)},
        {"name": "APP_USERNAME", "value": p.app_username},
        {"name": "APP_DATABASE", "value": p.app_database},
        {"name": "APP_PASSWORD", "valueFrom": secret(p.app_password_key)},
        {"name": "PGDATA", "value": DATA_DIR},
        {"name": "HOME", "value": "/home/postgres"},
    ]


def start_command() -> list[str]:
    """The container command: Patroni itself, as PID 1, so SIGTERM reaches it and stops PostgreSQL cleanly."""
    return ["patroni", CONFIG_FILE]


def post_bootstrap_script(p: PostgresHAProps) -> str:
    """Run once by Patroni after initdb on the first primary: the application role and database, the monitor role.

    Patroni passes a superuser connection string as the last argument. The
    application password comes from the environment (the Secret) and reaches
    SQL as a psql variable, so it is quoted by psql and never appears on a
    command line or in this file.
    """
    return f"""#!/bin/sh
# Generated by leanvibe-constructs (PostgresHA): runs once, on the bootstrap primary.
set -eu
: "${{APP_USERNAME:?}}" "${{APP_DATABASE:?}}" "${{APP_PASSWORD:?}}"
psql "$1" --no-psqlrc --set=ON_ERROR_STOP=1 \\
  --set=app_user="$APP_USERNAME" --set=app_db="$APP_DATABASE" --set=app_password="$APP_PASSWORD" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"app_db" OWNER :"app_user";
REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;
CREATE ROLE {MONITOR_ROLE} LOGIN;
GRANT pg_monitor TO {MONITOR_ROLE};
SQL
"""


# --- WAL archiving and base backups (WAL-G, shipped in the Spilo image) ----------


def archive_command() -> str:
    # WAL-G reads its target and credentials from the environment (WALG_*/AWS_*).
    return "wal-g wal-push %p"


def restore_command() -> str:
    return "wal-g wal-fetch %f %p"


def backup_environment(p: PostgresHAProps) -> list[dict[str, Any]]:
    """WAL-G settings for the postgres and backup containers; credentials come via envFrom of the backup Secret."""
    assert p.backup is not None
    b = p.backup
    env = [
        {"name": "WALG_S3_PREFIX", "value": f"s3://{b.bucket}/{b.prefix or p.name}"},
        {"name": "AWS_REGION", "value": b.region},
        {"name": "WALG_COMPRESSION_METHOD", "value": "zstd"},
    ]
    if b.endpoint:
        env += [
            {"name": "AWS_ENDPOINT", "value": b.endpoint},
            {"name": "AWS_S3_FORCE_PATH_STYLE", "value": "true"},
        ]
    return env


BACKUP_HEARTBEAT_FILE = "/tmp/backup-heartbeat"


def backup_loop_script(p: PostgresHAProps) -> str:
    """The backup sidecar: on the current primary only, a full base backup every interval, then retention.

    Every member runs it, so backups follow the primary through failovers; a
    member asks its own Patroni REST API whether it is the primary right now.
    Each turn of the loop touches a heartbeat file and every WAL-G call is
    bounded by ``timeout``, so a hung upload shows as a stale heartbeat, which
    the container's liveness probe turns into a restart.
    """
    assert p.backup is not None
    b = p.backup
    return f"""#!/bin/sh
# Generated by leanvibe-constructs (PostgresHA): WAL-G base backups from the primary.
set -u
interval={b.interval_hours * 3600}
limit={b.timeout_hours * 3600}
heartbeat={BACKUP_HEARTBEAT_FILE}
last=0
touch "$heartbeat"
while true; do
  # Every 5 minutes: a member that is the primary now and has not pushed a backup
  # for an interval pushes one. A new primary (after a failover) backs up its new
  # timeline within 5 minutes.
  sleep 300
  touch "$heartbeat"
  now=$(date +%s)
  if [ $((now - last)) -ge "$interval" ] && curl -fsS -o /dev/null http://127.0.0.1:{PATRONI_PORT}/primary; then
    echo "backup: this member is the primary; pushing a base backup"
    if timeout "$limit" wal-g backup-push {shlex.quote(DATA_DIR)}; then
      last=$now
      timeout 3600 wal-g delete retain FULL {b.retain_full_backups} --confirm || echo "backup: retention failed" >&2
    else
      echo "backup: backup-push failed or timed out; retrying in 5 minutes" >&2
    fi
  fi
done
"""


def backup_heartbeat_max_minutes(p: PostgresHAProps) -> int:
    """Oldest heartbeat a healthy loop can leave: one backup (bounded), retention, and one sleep."""
    assert p.backup is not None
    return p.backup.timeout_hours * 60 + 60 + 5 + 10
