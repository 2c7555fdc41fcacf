"""PostgresHA: the manifests and Patroni configuration users rely on, and the errors bad props give.

The generated configuration is run by the real Patroni, PostgreSQL and etcd
in tests/test_patroni_integration.py (replication, failover, rejoin); here
the objects and the rendered files are checked on their own.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from leanvibe_constructs import BackupSettings, HAApiDeployment, PostgresHA, PostgresHAProps, PropsError
from leanvibe_constructs import patroni_config as pc
from leanvibe_constructs._labels import Identity
from leanvibe_constructs.postgres_ha import config_files

from leanvibe_constructs.zero_trust import ZeroTrustPolicies

from .manifests import container, find, find_all, pod_spec, synth_chart
from .netpol_eval import Cluster, External, Flow, Pod, allowed_flows, pods_of_workload
from .schemas import validate_object
from .test_pod_security import restricted_violations

API_IMAGE = "ghcr.io/leanvibe/agent-hive-api:2.4.1"
DEV = {"members": 1, "synchronous_mode": False, "zone_spread": "preferred", "storage_size": "10Gi",
       "cpu_request": "250m", "memory_request": "1Gi", "memory_limit": "1Gi"}
BACKUP = BackupSettings(bucket="leanvibe-backups", credentials_secret_name="leanvibe-backup-s3")
FULL = {"backup": BACKUP, "tls_secret_name": "leanvibe-postgres-tls"}
API_SERVER_CIDRS = ("172.16.0.0/28",)


def build(**props):
    props.setdefault("api_server_cidrs", API_SERVER_CIDRS)
    return synth_chart(lambda chart: PostgresHA(chart, "Postgres", **props))


def statefulset(objects):
    return find(objects, "StatefulSet", "leanvibe-postgres")


def patroni_yml(objects):
    return yaml.safe_load(find(objects, "ConfigMap", "leanvibe-postgres-patroni")["data"]["patroni.yml"])


def policy(objects, name):
    return find(objects, "NetworkPolicy", name)["spec"]


# --- every object -------------------------------------------------------------------------------


@pytest.mark.parametrize("kubernetes_version", ["1.27.0", "1.37.0"])
@pytest.mark.parametrize("props", [{}, DEV, FULL], ids=["production", "dev", "backup-and-tls"])
def test_every_object_validates_strictly(props, kubernetes_version):
    for obj in build(**props):
        error = validate_object(obj, kubernetes_version)
        assert error is None, f"{obj['kind']}/{obj['metadata']['name']}: {error}"


@pytest.mark.parametrize("props", [{}, DEV, FULL], ids=["production", "dev", "backup-and-tls"])
def test_every_object_carries_the_standard_labels_in_the_namespace(props):
    expected = Identity("postgresql", "leanvibe-postgres", "database", "leanvibe", "4.0-p3").labels()
    for obj in build(**props):
        assert obj["metadata"]["labels"] == expected, obj["metadata"]["name"]
        assert obj["metadata"]["namespace"] == "leanvibe"


def test_output_is_deterministic():
    assert build(**FULL) == build(**FULL)


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (patroni.yml and the scripts) as readable | blocks."""


_BlockDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None),
)


def to_yaml(objects):
    return yaml.dump_all(objects, Dumper=_BlockDumper, sort_keys=False, width=120)


def test_chart_snapshot(yaml_snapshot):
    assert to_yaml(build()) == yaml_snapshot


def test_dev_chart_snapshot(yaml_snapshot):
    assert to_yaml(build(**DEV)) == yaml_snapshot


def test_backup_and_tls_chart_snapshot(yaml_snapshot):
    assert to_yaml(build(**FULL)) == yaml_snapshot


# --- the StatefulSet ----------------------------------------------------------------------------


def test_defaults_to_three_members_started_one_after_another():
    spec = statefulset(build())["spec"]
    assert spec["replicas"] == 3
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["serviceName"] == "leanvibe-postgres-headless"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_members_never_share_a_node_and_spread_across_zones():
    spec = pod_spec(statefulset(build()))
    term = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    zone = spec["topologySpreadConstraints"][0]
    assert (zone["topologyKey"], zone["whenUnsatisfiable"], zone["minDomains"]) == (
        "topology.kubernetes.io/zone", "DoNotSchedule", 3)


def test_volume_uses_the_baseline_storage_class_and_size():
    claim = statefulset(build(storage_size="250Gi"))["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == "leanvibe-regional-ssd"
    assert claim["spec"]["resources"]["requests"]["storage"] == "250Gi"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_pods_are_critical_and_never_evicted_by_the_autoscaler():
    template = statefulset(build())["spec"]["template"]
    assert template["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    assert template["spec"]["priorityClassName"] == "leanvibe-critical"


def test_container_runs_patroni_with_the_generated_config():
    postgres = container(statefulset(build()), "postgres")
    assert postgres["command"] == ["patroni", "/etc/patroni/patroni.yml"]
    assert postgres["image"] == "ghcr.io/zalando/spilo-17:4.0-p3"
    assert {"name": "patroni-config", "mountPath": "/etc/patroni", "readOnly": True} in postgres["volumeMounts"]
    config = patroni_yml(build())
    assert config["postgresql"]["bin_dir"] == "/usr/lib/postgresql/17/bin"
    assert config["postgresql"]["data_dir"].startswith(
        next(m["mountPath"] for m in postgres["volumeMounts"] if m["name"] == "data") + "/")


def test_named_ports_for_postgresql_patroni_and_metrics():
    sts = statefulset(build())
    ports = {p["name"]: p["containerPort"] for c in pod_spec(sts)["containers"] for p in c.get("ports", [])}
    assert ports == {"postgresql": 5432, "patroni": 8008, "metrics": 9187}


def test_probes_ask_patronis_rest_api():
    postgres = container(statefulset(build()), "postgres")
    assert postgres["readinessProbe"]["httpGet"] == {"path": "/readiness", "port": "patroni", "scheme": "HTTP"}
    assert postgres["livenessProbe"]["httpGet"] == {"path": "/liveness", "port": "patroni", "scheme": "HTTP"}
    live, ready = postgres["livenessProbe"], postgres["readinessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] > ready["periodSeconds"] * ready["failureThreshold"]


def test_every_container_meets_the_restricted_profile():
    sts = statefulset(build(**FULL))
    pod = pod_spec(sts)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (101, 103)
    assert pod["securityContext"]["fsGroup"] == 103
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {c["name"] for c in pod["containers"]} == {"postgres", "exporter", "backup"}
    for c in pod["containers"]:
        ctx = c["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}
        assert ctx["runAsNonRoot"] is True
        assert ctx["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("props", [{}, DEV, FULL], ids=["production", "dev", "backup-and-tls"])
def test_pod_passes_every_restricted_pod_security_control(props):
    assert restricted_violations(statefulset(build(**props))["spec"]["template"]) == []


def test_writable_paths_are_volumes_because_the_root_filesystem_is_read_only():
    postgres = container(statefulset(build()), "postgres")
    mounts = {m["mountPath"]: m["name"] for m in postgres["volumeMounts"]}
    assert mounts["/var/run/postgresql"] == "run"  # the socket directory
    assert mounts["/tmp"] == "tmp"  # pgpass
    assert mounts["/dev/shm"] == "shm"
    shm = next(v for v in pod_spec(statefulset(build()))["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
    assert patroni_yml(build())["postgresql"]["pgpass"].startswith("/tmp/")


def test_passwords_come_only_from_the_referenced_secret():
    objects = build(**FULL)
    env = container(statefulset(objects), "postgres")["env"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {
        "PATRONI_SUPERUSER_PASSWORD": {"name": "leanvibe-postgres-credentials", "key": "superuser-password"},
        "PATRONI_REPLICATION_PASSWORD": {"name": "leanvibe-postgres-credentials", "key": "replication-password"},
        "PATRONI_RESTAPI_PASSWORD": {"name": "leanvibe-postgres-credentials", "key": "restapi-password"},
        "APP_PASSWORD": {"name": "leanvibe-postgres-credentials", "key": "app-password"},
    }
    assert not find_all(objects, "Secret")
    auth = patroni_yml(objects)["postgresql"]["authentication"]
    assert auth == {"superuser": {"username": "postgres"}, "replication": {"username": "standby"}}
    assert patroni_yml(objects)["restapi"]["authentication"] == {"username": "patroni"}
    for c in pod_spec(statefulset(objects))["containers"]:
        for e in c.get("env", []):
            if "PASSWORD" in e["name"]:
                assert "value" not in e and "secretKeyRef" in e["valueFrom"], (c["name"], e)


def test_per_pod_identity_comes_from_the_downward_api():
    env = {e["name"]: e for e in container(statefulset(build()), "postgres")["env"]}
    assert env["PATRONI_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["PATRONI_KUBERNETES_POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["PATRONI_POSTGRESQL_CONNECT_ADDRESS"]["value"] == "$(PATRONI_KUBERNETES_POD_IP):5432"
    assert env["PATRONI_RESTAPI_CONNECT_ADDRESS"]["value"] == "$(PATRONI_KUBERNETES_POD_IP):8008"


def test_config_change_rolls_the_members():
    annotation = "leanvibe.io/patroni-config-sha256"

    def checksum(**props):
        return statefulset(build(**props))["spec"]["template"]["metadata"]["annotations"][annotation]

    assert checksum() == checksum()
    assert checksum() != checksum(parameters={"work_mem": "32MB"})


# --- Services, RBAC, disruption budget ------------------------------------------------------------


def test_primary_and_replica_services_follow_patronis_role_label():
    objects = build()
    selector = Identity("postgresql", "leanvibe-postgres", "database", "leanvibe", "x").selector()
    primary = find(objects, "Service", "leanvibe-postgres-primary")["spec"]
    replicas = find(objects, "Service", "leanvibe-postgres-replicas")["spec"]
    assert primary["selector"] == {**selector, "role": "primary"}
    assert replicas["selector"] == {**selector, "role": "replica"}
    assert primary["ports"] == [{"name": "postgresql", "port": 5432, "targetPort": "postgresql", "protocol": "TCP"}]
    kubernetes = patroni_yml(objects)["kubernetes"]
    assert (kubernetes["role_label"], kubernetes["leader_label_value"], kubernetes["follower_label_value"]) == (
        "role", "primary", "replica")


def test_patroni_finds_its_pods_by_labels_the_pods_carry():
    objects = build()
    kubernetes = patroni_yml(objects)["kubernetes"]
    selector = {**kubernetes["labels"], kubernetes["scope_label"]: patroni_yml(objects)["scope"]}
    pod_labels = statefulset(objects)["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()


def test_headless_service_publishes_members_before_they_are_ready():
    spec = find(build(), "Service", "leanvibe-postgres-headless")["spec"]
    assert spec["clusterIP"] == "None"
    assert spec["publishNotReadyAddresses"] is True


def test_patroni_keeps_its_state_in_configmaps_not_endpoints():
    kubernetes = patroni_yml(build())["kubernetes"]
    assert kubernetes["use_endpoints"] is False
    assert kubernetes["namespace"] == "leanvibe"


def test_role_grants_only_what_patroni_calls_in_its_namespace():
    objects = build()
    role = find(objects, "Role", "leanvibe-postgres")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list", "patch", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch", "watch"]},
    ]
    binding = find(objects, "RoleBinding", "leanvibe-postgres")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "leanvibe-postgres", "namespace": "leanvibe"}]
    assert not find_all(objects, "ClusterRole") and not find_all(objects, "ClusterRoleBinding")
    assert pod_spec(statefulset(objects))["serviceAccountName"] == "leanvibe-postgres"
    assert pod_spec(statefulset(objects))["automountServiceAccountToken"] is True


def test_patroni_config_name_does_not_collide_with_patronis_own_configmaps():
    objects = build()
    scope = patroni_yml(objects)["scope"]
    patroni_owned = {f"{scope}-{suffix}" for suffix in ("config", "leader", "failover", "sync")}
    assert not {o["metadata"]["name"] for o in find_all(objects, "ConfigMap")} & patroni_owned


def test_disruption_budget_allows_one_member_down():
    pdb = find(build(), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1


def test_single_member_gets_no_disruption_budget():
    assert not find_all(build(**DEV), "PodDisruptionBudget")


# --- network --------------------------------------------------------------------------------------


def test_members_reach_each_other_on_postgresql_and_patroni_ports():
    objects = build()
    ingress = policy(objects, "leanvibe-postgres-from-peers")["ingress"][0]
    egress = policy(objects, "leanvibe-postgres-to-peers")["egress"][0]
    ports = [{"port": 5432, "protocol": "TCP"}, {"port": 8008, "protocol": "TCP"}]
    assert ingress["ports"] == ports and egress["ports"] == ports


def test_patroni_reaches_the_kubernetes_api_by_ip_block_only_on_api_ports():
    objects = build(api_server_cidrs=("10.0.0.0/28", "10.0.1.0/28"))
    egress = policy(objects, "leanvibe-postgres-to-kube-apiserver")["egress"][0]
    assert egress["to"] == [{"ipBlock": {"cidr": "10.0.0.0/28"}}, {"ipBlock": {"cidr": "10.0.1.0/28"}}]
    assert egress["ports"] == [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]


def _flows(wire=None, **props):
    """Every flow the policies allow between the database, the API, a stranger pod and outside addresses."""

    props.setdefault("api_server_cidrs", API_SERVER_CIDRS)

    def chart(c):
        ZeroTrustPolicies(c, "ZeroTrust")
        db = PostgresHA(c, "Postgres", **props)
        api = HAApiDeployment(c, "Api", image=API_IMAGE)
        if wire:
            wire(db, api)

    objects = synth_chart(chart)
    cluster = Cluster()
    cluster.add_namespace("leanvibe")
    cluster.add_namespace("kube-system")
    for p in find_all(objects, "NetworkPolicy"):
        cluster.add_policy(p)
    pods = [pods_of_workload(o, ip=f"10.8.0.{i + 10}")
            for i, o in enumerate(find_all(objects, "StatefulSet") + find_all(objects, "Deployment"))]
    pods.append(Pod("stranger", "leanvibe", {"app": "debug"}, "10.8.0.200"))
    outside = [External("kube-apiserver", "172.16.0.2"), External("s3", "52.218.0.10")]
    ports = [(5432, "TCP"), (8008, "TCP"), (9187, "TCP"), (443, "TCP"), (6443, "TCP"), (8000, "TCP")]
    return {f for f in allowed_flows(cluster, pods, pods + outside, ports)
            if f.source != "kube-dns" and f.destination != "kube-dns"}


def test_network_policies_allow_exactly_the_flows_patroni_needs():
    flows = {f for f in _flows() if "postgres" in f.source + f.destination}
    assert flows == {
        Flow("leanvibe-postgres", "leanvibe-postgres", 5432),  # streaming replication, pg_rewind, basebackup
        Flow("leanvibe-postgres", "leanvibe-postgres", 8008),  # members read each other's Patroni state
        Flow("leanvibe-postgres", "kube-apiserver", 443),  # the leader lock lives in the Kubernetes API
        Flow("leanvibe-postgres", "kube-apiserver", 6443),
    }


def test_without_api_server_addresses_the_construct_opens_no_path_to_the_api():
    # The API server's address is declared once, here or with ZeroTrustPolicies.allow_kubernetes_api.
    objects = build(api_server_cidrs=())
    assert not [p for p in find_all(objects, "NetworkPolicy") if "apiserver" in p["metadata"]["name"]]
    flows = {f for f in _flows(api_server_cidrs=()) if f.source == "leanvibe-postgres"}
    assert not {f for f in flows if f.destination in ("s3", "kube-apiserver")}


def test_zero_trust_can_declare_the_api_path_instead():
    def chart(c):
        zero_trust = ZeroTrustPolicies(c, "ZeroTrust", kubernetes_api_cidrs=("172.16.0.0/28",))
        zero_trust.allow_kubernetes_api(PostgresHA(c, "Postgres"))

    egress = policy(synth_chart(chart), "leanvibe-postgres-to-kubernetes-api")["egress"][0]
    assert egress["to"] == [{"ipBlock": {"cidr": "172.16.0.0/28"}}]
    assert egress["ports"] == [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]


def test_backups_open_https_to_object_storage_only():
    flows = {f for f in _flows(backup=BACKUP) if f.source == "leanvibe-postgres"}
    assert Flow("leanvibe-postgres", "s3", 443) in flows
    assert not {f for f in flows if f.destination == "s3" and f.port != 443}


def test_allow_from_opens_only_postgresql_to_the_workload():
    flows = _flows(lambda db, api: db.allow_from(api))
    assert {f for f in flows if f.source == "leanvibe-api" and f.destination == "leanvibe-postgres"} == {
        Flow("leanvibe-api", "leanvibe-postgres", 5432)}
    assert not {f for f in flows if f.source == "stranger"}


def test_allow_from_opens_postgresql_to_a_workload():
    def chart(c):
        db = PostgresHA(c, "Postgres")
        db.allow_from(HAApiDeployment(c, "Api", image=API_IMAGE))

    objects = synth_chart(chart)
    ingress = policy(objects, "leanvibe-postgres-from-leanvibe-api")["ingress"][0]
    assert ingress["ports"] == [{"port": 5432, "protocol": "TCP"}]
    assert ingress["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "leanvibe-api"
    egress = policy(objects, "leanvibe-api-to-leanvibe-postgres")["egress"][0]
    assert egress["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "postgresql"


def test_consumers_get_service_names_port_and_secret_name():
    holder = {}
    synth_chart(lambda c: holder.setdefault("db", PostgresHA(c, "Postgres", name="orders-db")))
    db = holder["db"]
    assert (db.primary_service, db.replica_service, db.port) == ("orders-db-primary", "orders-db-replicas", 5432)
    assert db.credentials_secret_name == "leanvibe-postgres-credentials"
    assert db.endpoint.default_ports[0].number == 5432


# --- Patroni and PostgreSQL configuration ------------------------------------------------------------


def test_production_defaults_to_synchronous_replication_with_the_issue_timings():
    dcs = patroni_yml(build())["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (30, 10, 10)
    assert dcs["synchronous_mode"] is True and dcs["synchronous_node_count"] == 1
    assert dcs["maximum_lag_on_failover"] == 1048576
    assert dcs["failsafe_mode"] is True
    assert dcs["postgresql"]["use_pg_rewind"] is True and dcs["postgresql"]["use_slots"] is True
    assert dcs["postgresql"]["parameters"]["wal_log_hints"] == "on"
    assert "data-checksums" in patroni_yml(build())["bootstrap"]["initdb"]


def test_dev_runs_one_member_without_synchronous_mode():
    objects = build(**DEV)
    assert statefulset(objects)["spec"]["replicas"] == 1
    assert patroni_yml(objects)["bootstrap"]["dcs"]["synchronous_mode"] is False


def test_cluster_wide_parameters_go_to_the_dcs_and_the_rest_to_each_member():
    config = patroni_yml(build(parameters={"max_connections": 300, "work_mem": "64MB", "jit": False}))
    dcs_parameters = config["bootstrap"]["dcs"]["postgresql"]["parameters"]
    local = config["postgresql"]["parameters"]
    assert dcs_parameters["max_connections"] == 300 and "max_connections" not in local
    assert local["work_mem"] == "64MB" and local["jit"] == "off"
    assert set(dcs_parameters) <= pc.CLUSTER_WIDE_PARAMETERS
    assert not set(local) & pc.CLUSTER_WIDE_PARAMETERS


def test_memory_and_wal_settings_follow_the_pod_size():
    local = patroni_yml(build(memory_request="8Gi", memory_limit="8Gi", storage_size="200Gi"))["postgresql"][
        "parameters"]
    assert local["shared_buffers"] == "2048MB"
    assert local["effective_cache_size"] == "6144MB"
    assert local["max_slot_wal_keep_size"] == "51200MB"  # a dead replica's slot can never fill the volume


def test_pg_hba_requires_scram_and_tls_when_configured():
    plain = patroni_yml(build())["postgresql"]["pg_hba"]
    assert "host replication standby all scram-sha-256" in plain
    assert all(("scram-sha-256" in line) or line.startswith("local all monitor peer") for line in plain)
    assert not any(" trust" in line or " md5" in line for line in plain)
    tls = patroni_yml(build(**FULL))["postgresql"]["pg_hba"]
    assert "hostssl all all all scram-sha-256" in tls
    assert "hostssl replication standby all scram-sha-256" in tls
    local = patroni_yml(build(**FULL))["postgresql"]["parameters"]
    assert local["ssl"] == "on" and local["ssl_key_file"] == "/etc/postgresql-tls/tls.key"
    tls_volume = next(v for v in pod_spec(statefulset(build(**FULL)))["volumes"] if v["name"] == "tls")
    assert tls_volume["secret"] == {"secretName": "leanvibe-postgres-tls", "defaultMode": 0o640}


def test_exporter_logs_in_over_the_socket_as_a_pg_monitor_role():
    sts = statefulset(build())
    exporter = container(sts, "exporter")
    dsn = next(e["value"] for e in exporter["env"] if e["name"] == "DATA_SOURCE_NAME")
    assert "host=/var/run/postgresql" in dsn and "user=monitor" in dsn and "password" not in dsn
    config = patroni_yml(build())
    assert config["postgresql"]["pg_hba"][0] == "local all monitor peer map=exporter"
    assert config["postgresql"]["pg_ident"] == ["exporter postgres monitor"]
    assert "GRANT pg_monitor TO monitor;" in config_files(PostgresHAProps(), _identity())["post-bootstrap.sh"]


def _identity():
    return Identity("postgresql", "leanvibe-postgres", "database", "leanvibe", "4.0-p3")


def test_backups_archive_wal_and_push_base_backups_from_the_primary_only():
    objects = build(**FULL)
    sts = statefulset(objects)
    config = patroni_yml(objects)
    assert config["postgresql"]["parameters"]["archive_command"] == "wal-g wal-push %p"
    assert config["postgresql"]["parameters"]["archive_mode"] == "on"
    assert config["postgresql"]["recovery_conf"] == {"restore_command": "wal-g wal-fetch %f %p"}
    for name in ("postgres", "backup"):
        c = container(sts, name)
        assert c["envFrom"] == [{"secretRef": {"name": "leanvibe-backup-s3"}}]
        assert {"name": "WALG_S3_PREFIX", "value": "s3://leanvibe-backups/leanvibe-postgres"} in c["env"]
    assert {"name": "data", "mountPath": "/home/postgres/pgdata", "readOnly": True} in container(
        sts, "backup")["volumeMounts"]
    script = find(objects, "ConfigMap")["data"]["backup-loop.sh"]
    assert "http://127.0.0.1:8008/primary" in script and "wal-g delete retain FULL 7 --confirm" in script
    egress = policy(objects, "leanvibe-postgres-to-internet")["egress"][0]
    assert egress["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_no_backups_means_no_archiving_and_no_sidecar():
    objects = build()
    assert "archive_command" not in patroni_yml(objects)["postgresql"]["parameters"]
    assert {c["name"] for c in pod_spec(statefulset(objects))["containers"]} == {"postgres", "exporter"}


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")
@pytest.mark.parametrize("script", ["post-bootstrap.sh", "backup-loop.sh"])
def test_generated_scripts_parse_as_posix_sh(script):
    files = config_files(PostgresHAProps(backup=BACKUP), _identity())
    result = subprocess.run(["sh", "-n"], input=files[script], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


def test_post_bootstrap_keeps_the_application_password_out_of_the_script():
    script = pc.post_bootstrap_script(PostgresHAProps())
    assert "--set=app_password=\"$APP_PASSWORD\"" in script
    assert "PASSWORD :'app_password'" in script  # psql quotes the value as a literal


# --- bad input: every message names the field, shows the value, says what is allowed ----------------


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"members": 1}, r"synchronous_mode \(True\) needs members >= 2, got members \(1\)"),
        (
            {"ttl_seconds": 30, "loop_wait_seconds": 10, "retry_timeout_seconds": 15},
            r"loop_wait_seconds \(10\) \+ 2 \* retry_timeout_seconds \(15\) = 40 must be <= ttl_seconds \(30\)",
        ),
        ({"storage_size": "ten-gigs"}, r"storage_size: got 'ten-gigs': is not a Kubernetes resource quantity"),
        ({"storage_size": "500Mi"}, r"storage_size: got '500Mi': must be at least '1Gi'"),
        (
            {"parameters": {"shared_preload_libraries": ["pg_stat_statements"]}},
            r"parameters: got .*unknown PostgreSQL parameter type list",
        ),
        ({"parameters": {"work_mem": None}}, r"parameters: got .*unknown PostgreSQL parameter type NoneType"),
        ({"parameters": {"port": 6543}}, r"parameter 'port' is managed by Patroni"),
        ({"parameters": {"Work Mem": "4MB"}}, r"parameter name 'Work Mem' is not a PostgreSQL setting name"),
        ({"synchronous_node_count": 3}, r"synchronous_node_count \(3\) must be < members \(3\)"),
        ({"members": 2, "synchronous_node_count": 2}, r"synchronous_node_count \(2\) must be < members \(2\)"),
        ({"api_server_cidrs": ("10.0.0.1/8",)}, r"api_server_cidrs: got \('10.0.0.1/8',\): .*is not a CIDR"),
        ({"api_server_cidrs": ("0.0.0.0/0",)}, r"api_server_cidrs: got \('0.0.0.0/0',\): .*would open every address"),
        ({"api_server_cidr": "10.0.0.0/8"}, r"api_server_cidr: got '10.0.0.0/8': Extra inputs are not permitted"),
        ({"cpu_request": "8", "cpu_limit": "4"}, r"cpu_request \(8\) must be <= cpu_limit \(4\)"),
        ({"image": "ghcr.io/zalando/spilo-17"}, r"image: got 'ghcr.io/zalando/spilo-17': .*without a tag"),
        ({"postgres_version": 15}, r"postgres_version: got 15: Input should be greater than or equal to 16"),
        ({"memberz": 3}, r"memberz: got 3: Extra inputs are not permitted"),
        ({"restapi_password_key": "app-password"}, r"the four password keys must differ"),
        (
            {"app_username": "postgres"},
            r"superuser, replication and app usernames must differ .* got \['postgres', 'standby', 'postgres'\]",
        ),
    ],
)
def test_bad_props_fail_with_a_message_naming_field_value_and_rule(props, expected):
    with pytest.raises(PropsError, match=expected):
        PostgresHAProps.build(**props)


def test_fails_when_a_backup_bucket_is_not_a_bucket_name():
    with pytest.raises(PropsError, match=r"bucket: got 'My Bucket'"):
        PostgresHAProps.build(backup={"bucket": "My Bucket", "credentials_secret_name": "s3"})


def test_construct_rejects_bad_props_before_touching_jsii():
    with pytest.raises(PropsError, match="synchronous_mode"):
        synth_chart(lambda chart: PostgresHA(chart, "Postgres", members=1))


@pytest.mark.skipif(shutil.which("find") is None, reason="needs find")
def test_backup_liveness_fails_only_when_the_heartbeat_is_stale(tmp_path):
    probe = container(statefulset(build(backup=BACKUP)), "backup")["livenessProbe"]
    heartbeat = tmp_path / "heartbeat"
    command = [part.replace(pc.BACKUP_HEARTBEAT_FILE, str(heartbeat)) for part in probe["exec"]["command"]]
    heartbeat.touch()
    assert subprocess.run(command, timeout=10).returncode == 0
    # One bounded backup (6 h), retention (1 h) and a sleep later, the loop must have touched it again.
    subprocess.run(["touch", "-d", "8 hours ago", str(heartbeat)], check=True, timeout=10)
    assert subprocess.run(command, timeout=10).returncode != 0


def test_statefulset_names_every_checkov_exception_with_its_reason():
    annotations = statefulset(build())["metadata"]["annotations"]
    skips = {v.split("=", 1)[0]: v.split("=", 1)[1] for k, v in annotations.items() if k.startswith("checkov.io/skip")}
    assert {"CKV_K8S_35", "CKV_K8S_38", "CKV_K8S_40"} <= set(skips)
    assert all(20 <= len(reason) <= 300 for reason in skips.values())
