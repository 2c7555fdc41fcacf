"""PlatformBaseline: namespace guard rails, priorities, storage and the people's Roles."""

from __future__ import annotations

import pytest

from leanvibe_constructs import PropsError
from leanvibe_constructs._props import quantity_value
from leanvibe_constructs.baseline import (
    PlatformBaseline,
    PlatformBaselineProps,
    StorageClassSettings,
    on_call_rules,
    operator_rules,
)

from .manifests import find, find_all, synth_chart
from .schemas import validate_object


def build(**props):
    return synth_chart(lambda chart: PlatformBaseline(chart, "Baseline", **props))


def test_namespace_enforces_audits_and_warns_at_restricted_with_a_pinned_version():
    labels = find(build(), "Namespace", "leanvibe")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.27"


def test_pod_security_version_refuses_latest():
    with pytest.raises(PropsError, match=r"PlatformBaselineProps\.pod_security_version: got 'latest'"):
        PlatformBaselineProps.build(pod_security_version="latest")


def test_quota_caps_compute_storage_and_forbids_load_balancers_and_node_ports():
    hard = find(build(), "ResourceQuota")["spec"]["hard"]
    assert hard["services.loadbalancers"] == "0" and hard["services.nodeports"] == "0"
    assert {"requests.cpu", "limits.cpu", "requests.memory", "limits.memory", "requests.storage", "pods",
            "persistentvolumeclaims"} <= set(hard)


def test_quota_fits_the_production_platform():
    # 25 API replicas at the HPA ceiling plus a 25% surge, each 1 CPU / 1Gi requested, 2 CPU / 1Gi limit.
    props = PlatformBaselineProps()
    api_pods = 25 + 7
    assert quantity_value(props.quota_requests_cpu) >= api_pods * 1 + 3 * 2 + 6 * 0.5
    assert quantity_value(props.quota_limits_cpu) >= api_pods * 2
    assert props.quota_pods >= api_pods + 3 + 6 + 10


def test_limit_range_gives_defaults_so_containers_without_limits_are_admitted_under_the_quota():
    container, volume = find(build(), "LimitRange")["spec"]["limits"]
    assert container["type"] == "Container"
    assert set(container["default"]) == set(container["defaultRequest"]) == {"cpu", "memory", "ephemeral-storage"}
    assert volume == {"type": "PersistentVolumeClaim", "max": {"storage": "1Ti"}}


def test_critical_priority_is_high_but_below_the_system_classes():
    critical = find(build(), "PriorityClass", "leanvibe-critical")
    assert 0 < critical["value"] <= 1_000_000_000 < 2_000_000_000
    assert critical["globalDefault"] is False
    assert critical["preemptionPolicy"] == "PreemptLowerPriority"


def test_capacity_reserve_is_preempted_by_every_ordinary_pod_and_never_preempts():
    reserve = find(build(), "PriorityClass", "leanvibe-capacity-reserve")
    # Pods without a class have priority 0: any of them preempts a reserve pod.
    assert reserve["value"] < 0
    # At or above cluster-autoscaler's expendable cutoff, so evicted reserve pods get a new node.
    assert reserve["value"] >= -10
    # Never governs what reserve pods do to others, not what others do to them.
    assert reserve["preemptionPolicy"] == "Never"
    assert reserve["globalDefault"] is False


def test_capacity_reserve_below_the_autoscaler_cutoff_is_refused():
    with pytest.raises(PropsError, match=r"capacity_reserve_priority_value: got -11"):
        PlatformBaselineProps.build(capacity_reserve_priority_value=-11)


@pytest.mark.parametrize(
    ("cloud", "provisioner", "parameters", "zone_redundant"),
    [
        ("gke", "pd.csi.storage.gke.io", {"type": "pd-ssd", "replication-type": "regional-pd"}, True),
        ("eks", "ebs.csi.aws.com", {"type": "gp3", "encrypted": "true"}, False),
        ("aks", "disk.csi.azure.com", {"skuName": "Premium_ZRS"}, True),
    ],
)
def test_storage_class_presets(cloud, provisioner, parameters, zone_redundant):
    baseline = {}
    objects = synth_chart(lambda chart: baseline.setdefault(
        "b", PlatformBaseline(chart, "Baseline", storage=StorageClassSettings.for_cloud(cloud))))
    storage = find(objects, "StorageClass", "leanvibe-regional-ssd")
    assert storage["provisioner"] == provisioner and storage["parameters"] == parameters
    assert baseline["b"].storage_zone_redundant is zone_redundant


def test_storage_binds_in_the_pods_zone_keeps_volumes_and_can_grow():
    storage = find(build(), "StorageClass", "leanvibe-regional-ssd")
    assert storage["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage["reclaimPolicy"] == "Retain"
    assert storage["allowVolumeExpansion"] is True
    assert "storageclass.kubernetes.io/is-default-class" not in storage["metadata"].get("annotations", {})


def test_a_laptop_sized_dev_baseline_is_consistent():
    # The dev environment: one node, kind's local-path provisioner, volumes deleted with their claims.
    objects = build(
        quota_requests_cpu="8", quota_limits_cpu="16", quota_requests_memory="16Gi", quota_limits_memory="24Gi",
        quota_requests_storage="200Gi", quota_pods=40, max_container_cpu="4", max_container_memory="8Gi",
        max_volume_size="100Gi", storage=StorageClassSettings.local_path(), storage_reclaim_policy="Delete",
    )
    storage = find(objects, "StorageClass", "leanvibe-regional-ssd")
    assert storage["provisioner"] == "rancher.io/local-path" and "parameters" not in storage
    assert storage["reclaimPolicy"] == "Delete"
    assert find(objects, "ResourceQuota")["spec"]["hard"]["limits.cpu"] == "16"


def test_unknown_cloud_is_refused():
    with pytest.raises(ValueError, match="unknown cloud 'gcp'"):
        StorageClassSettings.for_cloud("gcp")


def _allowed(rules, group, resource, verb):
    return any(
        group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules
    )


@pytest.mark.parametrize("rules", [operator_rules(), on_call_rules()], ids=["operator", "on-call"])
def test_people_roles_read_and_tail_logs_but_never_exec_or_read_secrets(rules):
    for verb in ("get", "list", "watch"):
        assert _allowed(rules, "", "pods", verb) and _allowed(rules, "apps", "statefulsets", verb)
    assert _allowed(rules, "", "pods/log", "get")
    for resource in ("pods/exec", "pods/attach", "pods/portforward", "secrets", "pods/ephemeralcontainers"):
        assert not any(resource in r["resources"] for r in rules), resource
    write_verbs = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate"}
    assert not any(write_verbs & set(r["verbs"]) for r in rules)
    assert not any("*" in r["verbs"] or "*" in r["resources"] or "*" in r["apiGroups"] for r in rules)


def test_on_call_sees_live_usage_too():
    assert _allowed(on_call_rules(), "metrics.k8s.io", "pods", "list")
    assert not _allowed(operator_rules(), "metrics.k8s.io", "pods", "list")


def test_roles_exist_unbound_by_default_and_bind_to_groups_when_given():
    objects = build()
    assert {r["metadata"]["name"] for r in find_all(objects, "Role")} == {"leanvibe-operator", "leanvibe-on-call"}
    assert not find_all(objects, "RoleBinding")
    objects = build(operator_groups=("platform-team",), on_call_groups=("sre-primary", "sre-secondary"))
    binding = find(objects, "RoleBinding", "leanvibe-on-call")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leanvibe-on-call"}
    assert [s["name"] for s in binding["subjects"]] == ["sre-primary", "sre-secondary"]
    assert all(s["kind"] == "Group" for s in binding["subjects"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("on_call_groups", ("system:masters",), "system: groups"),
        ("operator_groups", ("",), "must not be empty"),
        ("operator_groups", ("a", "a"), "listed once"),
        ("quota_pods", 0, "greater than or equal to 1"),
        ("default_cpu_limit", "lots", "not a Kubernetes resource quantity"),
        ("storage_reclaim_policy", "Recycle", "'Retain' or 'Delete'"),
    ],
)
def test_bad_props_name_the_field_and_value(field, value, message):
    with pytest.raises(PropsError, match=rf"PlatformBaselineProps\.{field}: got .*{message}"):
        PlatformBaselineProps.build(**{field: value})


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"default_cpu_request": "1", "default_cpu_limit": "500m"},
         r"default_cpu_request \(1\) must be <= default_cpu_limit \(500m\)"),
        ({"quota_requests_memory": "200Gi"}, r"quota_requests_memory \(200Gi\) must be <= quota_limits_memory"),
        ({"max_container_memory": "256Gi"}, r"max_container_memory \(256Gi\) must be <= quota_limits_memory"),
        ({"default_memory_limit": "128Gi"}, r"default_memory_limit \(128Gi\) must be <= max_container_memory"),
    ],
)
def test_inconsistent_sizes_are_refused_naming_both_fields(props, message):
    with pytest.raises(PropsError, match=message):
        PlatformBaselineProps.build(**props)


@pytest.mark.parametrize("kubernetes_version", ["1.27.0", "1.37.0"])
def test_every_object_validates_strictly_and_carries_the_standard_labels(kubernetes_version):
    for obj in build(operator_groups=("platform-team",), on_call_groups=("sre",)):
        assert validate_object(obj, kubernetes_version) is None, obj["metadata"]["name"]
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "leanvibe" and labels["app.kubernetes.io/managed-by"] == "cdk8s"


def test_namespaced_objects_live_in_the_namespace_and_cluster_objects_do_not():
    for obj in build():
        cluster_scoped = obj["kind"] in {"Namespace", "PriorityClass", "StorageClass"}
        assert ("namespace" in obj["metadata"]) is not cluster_scoped, obj["kind"]


def test_baseline_snapshot(yaml_snapshot):
    import yaml

    assert yaml.safe_dump_all(build(on_call_groups=("sre",)), sort_keys=False) == yaml_snapshot
