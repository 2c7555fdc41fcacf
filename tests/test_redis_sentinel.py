"""RedisSentinel: the manifests and configuration users rely on, and the errors bad props give.

The generated configuration is proven with the real servers in
tests/test_redis_integration.py; here the rendered text and the objects are
checked on their own.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from leanvibe_constructs import HAApiDeployment, PropsError, RedisSentinel, RedisSentinelProps
from leanvibe_constructs.redis_config import config_files, redis_conf, sentinel_conf
from leanvibe_constructs.redis_sentinel import config_checksum, layout
from leanvibe_constructs.zero_trust import ZeroTrustPolicies

from .manifests import container, find, find_all, pod_spec, synth_chart
from .netpol_eval import Cluster, Flow, Pod, allowed_flows, pods_of_workload
from .schemas import validate_object

DEV = {"highly_available": False, "replicas": 1, "sentinels": 1}
IMAGE_TAG = "7.2.10-bookworm"


def build(**props):
    return synth_chart(lambda chart: RedisSentinel(chart, "Redis", **props))


def data_set(objects):
    return find(objects, "StatefulSet", "leanvibe-redis")


def sentinel_set(objects):
    return find(objects, "StatefulSet", "leanvibe-redis-sentinel")


def config(objects):
    return find(objects, "ConfigMap", "leanvibe-redis-config")["data"]


# --- shape ---------------------------------------------------------------------------


def test_defaults_run_three_data_pods_and_three_sentinels_as_separate_statefulsets():
    objects = build()
    assert data_set(objects)["spec"]["replicas"] == 3
    assert sentinel_set(objects)["spec"]["replicas"] == 3
    assert [c["name"] for c in pod_spec(data_set(objects))["containers"]] == ["redis", "metrics"]
    assert [c["name"] for c in pod_spec(sentinel_set(objects))["containers"]] == ["sentinel", "metrics"]
    assert data_set(objects)["spec"]["podManagementPolicy"] == "Parallel"


def test_dev_shape_is_one_data_pod_and_one_sentinel_that_fit_a_single_node():
    objects = build(**DEV)
    assert data_set(objects)["spec"]["replicas"] == 1
    assert sentinel_set(objects)["spec"]["replicas"] == 1
    for workload in (data_set(objects), sentinel_set(objects)):
        spec = pod_spec(workload)
        assert "requiredDuringSchedulingIgnoredDuringExecution" not in spec["affinity"]["podAntiAffinity"]
        assert spec["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "ScheduleAnyway"
    assert not find_all(objects, "PodDisruptionBudget")
    for workload in (data_set(objects), sentinel_set(objects)):
        # The deliberate single pod carries its reason for `leanvibe validate`.
        assert workload["metadata"]["annotations"]["validate.leanvibe.io/skip-replicas"].startswith("dev shape")
        assert "validate.leanvibe.io/skip-replicas" not in data_set(build())["metadata"]["annotations"]
    assert "min-replicas-to-write 0" in config(objects)["redis.conf"]
    assert "sentinel monitor $MASTER_NAME ${master%:*} ${master##*:} $QUORUM" in config(objects)["sentinel-start.sh"]
    assert "QUORUM=1\n" in config(objects)["sentinel-start.sh"]


@pytest.mark.parametrize("props", [{}, DEV], ids=["production", "dev"])
def test_every_object_carries_the_standard_labels(props):
    for obj in build(**props):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "redis"
        assert labels["app.kubernetes.io/instance"] == "leanvibe-redis"
        assert labels["app.kubernetes.io/component"] in {"cache", "sentinel"}
        assert labels["app.kubernetes.io/part-of"] == "leanvibe"
        assert labels["app.kubernetes.io/version"] == IMAGE_TAG
        assert obj["metadata"]["namespace"] == "leanvibe"


@pytest.mark.parametrize("kubernetes_version", ["1.27.0", "1.37.0"])
@pytest.mark.parametrize("props", [{}, DEV], ids=["production", "dev"])
def test_every_object_validates_strictly(props, kubernetes_version):
    for obj in build(**props):
        error = validate_object(obj, kubernetes_version)
        assert error is None, f"{obj['kind']}/{obj['metadata']['name']}: {error}"


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the config files and scripts) as readable | blocks."""


_BlockDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    ),
)


def to_yaml(objects):
    return yaml.dump_all(objects, Dumper=_BlockDumper, sort_keys=False, width=120)


def test_chart_snapshot(yaml_snapshot):
    assert to_yaml(build()) == yaml_snapshot


def test_dev_chart_snapshot(yaml_snapshot):
    assert to_yaml(build(**DEV)) == yaml_snapshot


# --- placement and availability ---------------------------------------------------------------


def test_data_pods_spread_across_zones_and_never_share_a_node():
    spec = pod_spec(data_set(build()))
    selector = data_set(build())["spec"]["selector"]["matchLabels"]
    required = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required == [{"labelSelector": {"matchLabels": selector}, "topologyKey": "kubernetes.io/hostname"}]
    zone = spec["topologySpreadConstraints"][0]
    assert (zone["topologyKey"], zone["whenUnsatisfiable"], zone["minDomains"]) == (
        "topology.kubernetes.io/zone", "DoNotSchedule", 3)


def test_sentinels_never_share_a_node_and_prefer_nodes_without_a_data_pod():
    objects = build()
    anti = pod_spec(sentinel_set(objects))["affinity"]["podAntiAffinity"]
    sentinel_selector = sentinel_set(objects)["spec"]["selector"]["matchLabels"]
    data_selector = data_set(objects)["spec"]["selector"]["matchLabels"]
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]["matchLabels"] == (
        sentinel_selector)
    preferred = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert [t["podAffinityTerm"]["labelSelector"]["matchLabels"] for t in preferred] == [data_selector]
    assert sentinel_selector["app.kubernetes.io/component"] == "sentinel"
    assert data_selector["app.kubernetes.io/component"] == "cache"


def test_pods_are_critical_and_never_evicted_by_the_cluster_autoscaler():
    objects = build()
    for workload in (data_set(objects), sentinel_set(objects)):
        template = workload["spec"]["template"]
        assert template["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
        assert template["spec"]["priorityClassName"] == "leanvibe-critical"


def test_disruption_budgets_let_one_member_go_at_a_time():
    objects = build()
    budgets = {b["metadata"]["name"]: b["spec"] for b in find_all(objects, "PodDisruptionBudget")}
    assert set(budgets) == {"leanvibe-redis", "leanvibe-redis-sentinel"}
    assert all(spec["maxUnavailable"] == 1 for spec in budgets.values())
    assert budgets["leanvibe-redis-sentinel"]["selector"] == sentinel_set(objects)["spec"]["selector"]


def test_data_is_persisted_as_aof_on_the_regional_ssd_storage_class():
    objects = build()
    template = data_set(objects)["spec"]["volumeClaimTemplates"][0]
    assert template["spec"]["storageClassName"] == "leanvibe-regional-ssd"
    assert template["spec"]["resources"]["requests"]["storage"] == "10Gi"
    # volumeClaimTemplates are immutable: a version label there would block every upgrade.
    assert "app.kubernetes.io/version" not in template["metadata"]["labels"]
    assert {"name": "data", "mountPath": "/data"} in container(data_set(objects), "redis")["volumeMounts"]
    conf = config(objects)["redis.conf"]
    assert "appendonly yes\nappendfsync everysec\n" in conf
    assert "dir /data\n" in conf


def test_headless_services_publish_pods_before_they_are_ready():
    objects = build()
    for name in ("leanvibe-redis-headless", "leanvibe-redis-sentinel-headless"):
        spec = find(objects, "Service", name)["spec"]
        assert spec["clusterIP"] == "None" and spec["publishNotReadyAddresses"] is True
    assert data_set(objects)["spec"]["serviceName"] == "leanvibe-redis-headless"
    assert sentinel_set(objects)["spec"]["serviceName"] == "leanvibe-redis-sentinel-headless"


def test_clients_discover_the_master_through_the_sentinel_service():
    objects = build()
    service = find(objects, "Service", "leanvibe-redis-sentinel")["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [{"name": "sentinel", "port": 26379, "targetPort": "sentinel", "protocol": "TCP"}]
    assert service["selector"] == sentinel_set(objects)["spec"]["selector"]["matchLabels"]


# --- security ---------------------------------------------------------------------------------


def test_every_container_meets_the_restricted_pod_security_profile():
    objects = build()
    for workload in (data_set(objects), sentinel_set(objects)):
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] >= 10000
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            ctx = c["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"] == {"drop": ["ALL"]}
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["runAsNonRoot"] is True


def test_password_comes_from_the_secret_by_name_and_never_appears_in_a_manifest():
    objects = build(auth_secret_name="redis-auth", auth_secret_key="pw")
    for workload in (data_set(objects), sentinel_set(objects)):
        spec = pod_spec(workload)
        auth = next(v for v in spec["volumes"] if v["name"] == "auth")
        assert auth["secret"] == {
            "secretName": "redis-auth", "items": [{"key": "pw", "path": "password"}], "defaultMode": 0o440}
        for name in ("redis", "sentinel"):
            if any(c["name"] == name for c in spec["containers"]):
                c = container(workload, name)
                assert {"name": "auth", "mountPath": "/etc/redis-auth", "readOnly": True} in c["volumeMounts"]
                # Redis and Sentinel get the password as a file, never as a variable.
                assert all("valueFrom" not in e or "fieldRef" in e["valueFrom"] for e in c["env"])
                for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                    assert 'REDISCLI_AUTH="$(cat /etc/redis-auth/password)"' in c[kind]["exec"]["command"][2]
    # Only the exporters take it from a variable, which is what the checkov exception says.
    for workload in (data_set(objects), sentinel_set(objects)):
        exporter_env = {e["name"]: e for e in container(workload, "metrics")["env"]}
        assert exporter_env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "redis-auth", "key": "pw"}
        annotations = workload["metadata"]["annotations"]
        skips = [v for k, v in annotations.items() if k.startswith("checkov.io/skip")]
        assert any(v.startswith("CKV_K8S_35=only the redis_exporter sidecar") for v in skips)
    assert not find_all(objects, "Secret")
    # The scripts write the password only into the memory-backed runtime dir.
    volumes = {v["name"]: v for v in pod_spec(data_set(objects))["volumes"]}
    assert volumes["run"]["emptyDir"]["medium"] == "Memory"
    conf_lines = config(objects)["redis.conf"].splitlines()
    assert not [line for line in conf_lines if line.startswith(("requirepass", "masterauth"))]


def test_default_secret_name_follows_the_construct_name():
    redis = []
    synth_chart(lambda chart: redis.append(RedisSentinel(chart, "Redis", name="cache")))
    assert redis[0].auth_secret_name == "cache-auth"


def test_exporter_sidecars_expose_a_port_named_metrics_on_data_pods_and_sentinels():
    objects = build()
    for workload, port, service in (
        (data_set(objects), 6379, "leanvibe-redis-headless"),
        (sentinel_set(objects), 26379, "leanvibe-redis-sentinel-headless"),
    ):
        metrics = container(workload, "metrics")
        assert metrics["ports"] == [{"name": "metrics", "containerPort": 9121, "protocol": "TCP"}]
        assert metrics["image"] == "oliver006/redis_exporter:v1.62.0"
        assert {"name": "REDIS_ADDR", "value": f"redis://localhost:{port}"} in metrics["env"]
        assert [p["name"] for p in find(objects, "Service", service)["spec"]["ports"]][-1] == "metrics"


def test_image_is_pinned_and_used_for_data_pods_and_sentinels():
    objects = build(image="redis:7.2.9-bookworm")
    assert container(data_set(objects), "redis")["image"] == "redis:7.2.9-bookworm"
    assert container(sentinel_set(objects), "sentinel")["image"] == "redis:7.2.9-bookworm"
    assert data_set(objects)["metadata"]["labels"]["app.kubernetes.io/version"] == "7.2.9-bookworm"


def test_stopping_master_hands_over_before_sigterm():
    objects = build()
    redis = container(data_set(objects), "redis")
    assert redis["lifecycle"]["preStop"]["exec"]["command"] == ["sh", "/etc/redis/redis-prestop.sh"]
    script = config(objects)["redis-prestop.sh"]
    assert "HANDOVER_SECONDS=10\n" in script
    # Handover (pause, failover, wait) must fit in the grace period with room for the shutdown.
    assert pod_spec(data_set(objects))["terminationGracePeriodSeconds"] >= 10 + 2 * 3 + 10
    assert "CLIENT PAUSE $((HANDOVER_SECONDS * 1000)) WRITE" in script


def test_pods_roll_when_the_generated_configuration_changes():
    default = data_set(build())["spec"]["template"]["metadata"]["annotations"]["leanvibe.dev/config-checksum"]
    slower = data_set(build(down_after_milliseconds=10000))["spec"]["template"]["metadata"]["annotations"]
    assert slower["leanvibe.dev/config-checksum"] != default
    assert default == config_checksum(config(build()))


# --- consumers -------------------------------------------------------------------------------


def test_attributes_consumers_use():
    found = []
    synth_chart(lambda chart: found.append(RedisSentinel(chart, "Redis")))
    redis = found[0]
    assert redis.sentinel_service == "leanvibe-redis-sentinel"
    assert redis.sentinel_host == "leanvibe-redis-sentinel.leanvibe.svc.cluster.local"
    assert redis.sentinel_port == 26379
    assert redis.master_name == "leanvibe"
    assert redis.auth_secret_name == "leanvibe-redis-auth"
    assert redis.metrics_port == 9121
    assert redis.identity.component == "cache" and redis.sentinel_identity.component == "sentinel"
    assert redis.endpoints == (redis.endpoint, redis.sentinel_endpoint)


def _world(objects):
    cluster = Cluster()
    cluster.add_namespace("leanvibe")
    cluster.add_namespace("kube-system")
    for policy in find_all(objects, "NetworkPolicy"):
        cluster.add_policy(policy)
    pods = [
        pods_of_workload(o, ip=f"10.8.0.{i + 10}")
        for i, o in enumerate(find_all(objects, "StatefulSet") + find_all(objects, "Deployment"))
    ]
    pods.append(Pod("stranger", "leanvibe", {"app": "debug"}, "10.8.0.200"))
    return cluster, pods


def _flows(objects):
    cluster, pods = _world(objects)
    ports = [(6379, "TCP"), (26379, "TCP"), (9121, "TCP"), (8000, "TCP")]
    return {f for f in allowed_flows(cluster, pods, pods, ports) if f.source != "kube-dns"}


def _platform(wire=None):
    def _build(chart):
        ZeroTrustPolicies(chart, "ZeroTrust")
        redis = RedisSentinel(chart, "Redis")
        api = HAApiDeployment(chart, "Api", image="ghcr.io/leanvibe/agent-hive-api:2.4.1")
        if wire:
            wire(redis, api)

    return synth_chart(_build)


def test_network_policies_allow_exactly_the_flows_redis_and_sentinel_need():
    redis_flows = {f for f in _flows(_platform()) if "api" not in f.source + f.destination}
    assert redis_flows == {
        Flow("leanvibe-redis", "leanvibe-redis", 6379),  # replication
        Flow("leanvibe-redis", "leanvibe-redis-sentinel", 26379),  # start-up: who is master?
        Flow("leanvibe-redis-sentinel", "leanvibe-redis", 6379),  # monitoring, failover
        Flow("leanvibe-redis-sentinel", "leanvibe-redis-sentinel", 26379),  # votes
    }


def test_allow_from_opens_redis_and_sentinel_to_a_workload_and_nothing_else():
    flows = _flows(_platform(lambda redis, api: redis.allow_from(api)))
    api_flows = {f for f in flows if f.source == "leanvibe-api" and "redis" in f.destination}
    assert api_flows == {
        Flow("leanvibe-api", "leanvibe-redis", 6379),
        Flow("leanvibe-api", "leanvibe-redis-sentinel", 26379),
    }
    assert not {f for f in flows if f.source == "stranger"}


def test_allow_from_metrics_opens_only_the_exporter_ports():
    flows = _flows(_platform(lambda redis, api: redis.allow_from(api, port="metrics")))
    assert {f for f in flows if f.source == "leanvibe-api"} == {
        Flow("leanvibe-api", "leanvibe-redis", 9121),
        Flow("leanvibe-api", "leanvibe-redis-sentinel", 9121),
    }


def test_props_object_and_keywords_are_equivalent():
    from_props = synth_chart(lambda c: RedisSentinel(c, "Redis", RedisSentinelProps(sentinels=5)))
    assert from_props == build(sentinels=5)


# --- generated configuration ---------------------------------------------------------------


def files(**props):
    return config_files(layout(RedisSentinelProps(**props)))


def test_replicas_and_sentinels_address_each_other_by_stable_pod_dns_names():
    rendered = files()
    host = "leanvibe-redis-{}.leanvibe-redis-headless.leanvibe.svc.cluster.local:6379"
    sentinel = "leanvibe-redis-sentinel-{}.leanvibe-redis-sentinel-headless.leanvibe.svc.cluster.local:26379"
    nodes = " ".join(host.format(i) for i in range(3))
    sentinels = " ".join(sentinel.format(i) for i in range(3))
    for script in ("redis-start.sh", "sentinel-start.sh"):
        assert f"NODES='{nodes}'" in rendered[script]
        assert f"SENTINELS='{sentinels}'" in rendered[script]
    assert 'echo "replica-announce-ip ${SELF%:*}"' in rendered["redis-start.sh"]
    assert 'echo "sentinel announce-ip ${SELF%:*}"' in rendered["sentinel-start.sh"]


def test_sentinel_resolves_and_announces_hostnames_before_it_monitors():
    rendered = files()
    assert "sentinel resolve-hostnames yes\nsentinel announce-hostnames yes\n" in rendered["sentinel.conf"]
    assert not [line for line in rendered["sentinel.conf"].splitlines() if line.startswith("sentinel monitor")]
    script = rendered["sentinel-start.sh"]
    assert script.index('cat "$CONFIG"') < script.index('echo "sentinel monitor') < script.index(
        'cat "$MONITOR_CONFIG"')


def test_sentinel_failover_settings_follow_the_props():
    monitor = files(down_after_milliseconds=7000, failover_timeout_milliseconds=90000, replicas=4,
                    parallel_syncs=2)["sentinel-monitor.conf"]
    assert "sentinel down-after-milliseconds leanvibe 7000\n" in monitor
    assert "sentinel failover-timeout leanvibe 90000\n" in monitor
    assert "sentinel parallel-syncs leanvibe 2\n" in monitor
    defaults = files()
    assert "sentinel down-after-milliseconds leanvibe 5000\n" in defaults["sentinel-monitor.conf"]
    assert "sentinel parallel-syncs leanvibe 1\n" in defaults["sentinel-monitor.conf"]
    assert "QUORUM=2\n" in defaults["sentinel-start.sh"]
    assert "QUORUM=3\n" in files(sentinels=5)["sentinel-start.sh"]


def test_write_loss_is_bounded_by_default_in_production():
    conf = files()["redis.conf"]
    assert "min-replicas-to-write 1\nmin-replicas-max-lag 10\n" in conf


def test_maxmemory_leaves_headroom_below_the_memory_limit():
    conf = redis_conf(layout(RedisSentinelProps(memory_limit="2Gi", memory_request="2Gi", maxmemory_percent=75)))
    assert f"maxmemory {int(2 * 2**30 * 0.75)}\nmaxmemory-policy noeviction\n" in conf


def test_restarted_master_waits_about_twice_down_after_for_a_failover():
    assert "FAILOVER_WAIT_SECONDS=20\n" in files()["redis-start.sh"]
    assert "FAILOVER_WAIT_SECONDS=30\n" in files(down_after_milliseconds=10000)["redis-start.sh"]


def test_listens_on_every_address_and_needs_a_password():
    rendered = files()
    assert "bind * -::*\n" in rendered["redis.conf"] and "bind * -::*\n" in rendered["sentinel.conf"]
    assert 'echo "requirepass $(config_quote "$REDIS_PASSWORD")"' in rendered["redis-start.sh"]
    assert 'echo "masterauth $(config_quote "$REDIS_PASSWORD")"' in rendered["redis-start.sh"]
    assert 'echo "sentinel auth-pass $MASTER_NAME $(config_quote "$REDIS_PASSWORD")"' in rendered[
        "sentinel-start.sh"]


@pytest.mark.parametrize("shell", ["sh", "bash", "dash"])
@pytest.mark.parametrize("script", ["redis-start.sh", "redis-prestop.sh", "sentinel-start.sh"])
def test_start_up_scripts_parse_as_posix_shell(script, shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    result = subprocess.run([shell, "-n"], input=files()[script], text=True, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr


def test_sentinel_conf_is_the_same_for_every_sentinel():
    assert sentinel_conf(layout(RedisSentinelProps())) == files()["sentinel.conf"]
    assert "leanvibe-redis-sentinel-0" not in files()["sentinel.conf"]


# --- bad input: every message names the field, shows the value, says what is allowed ------------


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"quorum": 4}, r"quorum \(4\) must be <= sentinels \(3\)"),
        ({"sentinels": 2}, r"sentinels \(2\) must be >= 3 when highly_available is true"),
        ({"sentinels": 1, "replicas": 1}, r"sentinels \(1\) must be >= 3 when highly_available is true"),
        ({"replicas": 1}, r"replicas \(1\) must be >= 2 when highly_available is true"),
        ({**DEV, "replicas": 0}, r"replicas: got 0: counts the data pods with the master included .* use 1"),
        ({"master_name": "my master"}, r"master_name: got 'my master': must be 1-64 letters, digits"),
        ({"master_name": "leanvibe;x"}, r"master_name: got 'leanvibe;x': must be 1-64 letters"),
        ({"min_replicas_to_write": 3}, r"min_replicas_to_write \(3\) must be <= the replicas of a master "
                                       r"\(replicas - 1 = 2\)"),
        ({**DEV, "min_replicas_to_write": 1}, r"min_replicas_to_write \(1\) must be <= .*replicas - 1 = 0"),
        ({"parallel_syncs": 3}, r"parallel_syncs \(3\) must be <= the replicas of a master"),
        ({"failover_timeout_milliseconds": 5000}, r"failover_timeout_milliseconds \(5000\) must be > "
                                                  r"down_after_milliseconds \(5000\)"),
        ({"down_after_milliseconds": 100}, r"down_after_milliseconds: got 100: .*greater than or equal to 1000"),
        ({"run_as_user": 999}, r"run_as_user: got 999: .*greater than or equal to 10000"),
        ({"image": "redis:latest"}, r"image: got 'redis:latest': the tag 'latest' is not allowed"),
        ({"image": "redis"}, r"image: got 'redis': .*without a tag"),
        ({"storage_size": "10GB"}, r"storage_size: got '10GB': is not a Kubernetes resource quantity"),
        ({"cpu_request": "3"}, r"cpu_request \(3\) must be <= cpu_limit \(2\)"),
        ({"sentinel_memory_request": "1Gi"}, r"sentinel_memory_request \(1Gi\) must be <= sentinel_memory_limit"),
        ({"maxmemory_policy": "lru"}, r"maxmemory_policy: got 'lru'"),
        ({"cluster_domain": "Cluster.Local"}, r"cluster_domain: got 'Cluster.Local': must be a DNS domain"),
        ({"sentinal": 3}, r"sentinal: got 3: Extra inputs are not permitted"),
    ],
)
def test_bad_props_fail_with_a_message_naming_field_value_and_rule(props, expected):
    with pytest.raises(PropsError, match=expected):
        RedisSentinelProps.build(**props)


def test_fails_when_quorum_exceeds_sentinels_even_in_dev():
    with pytest.raises(PropsError, match=r"quorum \(2\) must be <= sentinels \(1\)"):
        RedisSentinelProps.build(**DEV, quorum=2)


def test_construct_rejects_bad_props_before_touching_jsii():
    with pytest.raises(PropsError, match="quorum"):
        synth_chart(lambda chart: RedisSentinel(chart, "Redis", quorum=9))
