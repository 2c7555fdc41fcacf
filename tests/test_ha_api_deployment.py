"""HAApiDeployment: behaviour users rely on, and the errors bad props give."""

from __future__ import annotations

import pytest

from leanvibe_constructs import HAApiDeployment, HAApiDeploymentProps, IngressSettings, ProbeSettings, PropsError

from .manifests import container, find, find_all, pod_spec, synth_chart

IMAGE = "ghcr.io/leanvibe/agent-hive-api:2.4.1"


def build(**props):
    return synth_chart(lambda chart: HAApiDeployment(chart, "Api", image=IMAGE, **props))


def test_defaults_to_five_replicas_with_a_zero_downtime_rollout():
    deployment = find(build(), "Deployment")
    assert deployment["spec"]["replicas"] == 5
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert deployment["spec"]["progressDeadlineSeconds"] == 300
    assert deployment["spec"]["minReadySeconds"] == 10


def test_api_spreads_replicas_across_three_zones_and_nodes():
    spec = pod_spec(find(build(), "Deployment"))
    zone, node = spec["topologySpreadConstraints"]
    assert (zone["topologyKey"], zone["maxSkew"], zone["whenUnsatisfiable"], zone["minDomains"]) == (
        "topology.kubernetes.io/zone", 1, "DoNotSchedule", 3)
    assert (node["topologyKey"], node["maxSkew"]) == ("kubernetes.io/hostname", 1)


def test_scaling_to_25_replicas_never_needs_25_nodes():
    spec = pod_spec(find(build(), "Deployment"))
    anti_affinity = spec["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti_affinity
    assert anti_affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"][
        "topologyKey"] == "kubernetes.io/hostname"
    assert spec["topologySpreadConstraints"][1]["whenUnsatisfiable"] == "ScheduleAnyway"


def test_preferred_zone_spread_schedules_on_a_single_node_cluster():
    zone = pod_spec(find(build(zone_spread="preferred"), "Deployment"))["topologySpreadConstraints"][0]
    assert zone["whenUnsatisfiable"] == "ScheduleAnyway"
    assert "minDomains" not in zone


def test_probes_are_distinct_and_probe_the_http_port():
    api = container(find(build(), "Deployment"), "api")
    probes = [api[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")]
    assert all(p["httpGet"]["port"] == "http" for p in probes)
    assert api["livenessProbe"] != api["readinessProbe"]
    liveness_window = api["livenessProbe"]["periodSeconds"] * api["livenessProbe"]["failureThreshold"]
    readiness_window = api["readinessProbe"]["periodSeconds"] * api["readinessProbe"]["failureThreshold"]
    assert liveness_window > readiness_window


def test_container_meets_the_restricted_pod_security_profile():
    deployment = find(build(), "Deployment")
    pod = pod_spec(deployment)["securityContext"]
    ctx = container(deployment, "api")["securityContext"]
    assert pod["runAsNonRoot"] and pod["runAsUser"] >= 10000
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    mounts = container(deployment, "api")["volumeMounts"]
    assert {"name": "tmp", "mountPath": "/tmp"} in mounts


def test_service_account_token_is_not_mounted():
    objects = build()
    assert find(objects, "ServiceAccount")["automountServiceAccountToken"] is False
    spec = pod_spec(find(objects, "Deployment"))
    assert spec["serviceAccountName"] == "leanvibe-api"
    assert spec["automountServiceAccountToken"] is False


def test_requests_and_limits_are_set_for_cpu_memory_and_ephemeral_storage():
    resources = container(find(build(cpu_request="750m"), "Deployment"), "api")["resources"]
    assert resources["requests"] == {"cpu": "750m", "memory": "1Gi", "ephemeral-storage": "256Mi"}
    assert set(resources["limits"]) == {"cpu", "memory", "ephemeral-storage"}


def test_in_flight_requests_drain_before_the_pod_is_killed():
    deployment = find(build(), "Deployment")
    api = container(deployment, "api")
    assert api["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "10"]
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > 10


def test_service_keeps_clients_on_one_pod_and_names_its_ports():
    service = find(build(), "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert [p["name"] for p in service["spec"]["ports"]] == ["http", "metrics"]


@pytest.mark.parametrize("replicas", [2, 3, 5, 7, 25])
def test_disruption_budget_never_blocks_a_drain(replicas):
    import math

    pdb = find(build(replicas=replicas), "PodDisruptionBudget")
    min_available = pdb["spec"]["minAvailable"]
    assert isinstance(min_available, str) and min_available.endswith("%")
    kept = math.ceil(int(min_available[:-1]) * replicas / 100)  # Kubernetes rounds up
    assert 1 <= kept < replicas


def test_single_replica_gets_no_disruption_budget():
    assert not find_all(build(replicas=1), "PodDisruptionBudget")


def test_ingress_terminates_tls_for_the_host():
    ingress = find(
        build(ingress=IngressSettings(host="api.leanvibe.example", tls_secret_name="api-tls")), "Ingress"
    )
    assert ingress["spec"]["tls"] == [{"hosts": ["api.leanvibe.example"], "secretName": "api-tls"}]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "leanvibe-api"


def test_image_is_pinned_and_pulled_if_not_present():
    digest = "sha256:" + "a" * 64
    api = container(find(build(), "Deployment"), "api")
    assert api["image"] == IMAGE and api["imagePullPolicy"] == "IfNotPresent"
    pinned = container(synth_chart(lambda c: HAApiDeployment(c, "Api", image=f"{IMAGE}@{digest}"))[1], "api")
    assert pinned["image"].endswith(digest)


def test_autoscaled_deployment_omits_replicas():
    def build_autoscaled(chart):
        HAApiDeployment(chart, "Api", image=IMAGE).hand_replicas_to_autoscaler()

    assert "replicas" not in find(synth_chart(build_autoscaled), "Deployment")["spec"]


def test_secret_env_references_secrets_by_name():
    from leanvibe_constructs import SecretKeyRef

    api = container(
        find(build(secret_env={"DATABASE_PASSWORD": SecretKeyRef(secret_name="pg", key="password")}), "Deployment"),
        "api",
    )
    assert api["env"] == [
        {"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "password"}}}
    ]


def test_props_object_and_keywords_are_equivalent():
    from_props = synth_chart(lambda c: HAApiDeployment(c, "Api", HAApiDeploymentProps(image=IMAGE, replicas=6)))
    from_kwargs = build(replicas=6)
    assert from_props == from_kwargs


# --- bad input: every message names the field, shows the value, says what is allowed


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"image": "ghcr.io/leanvibe/api"}, r"HAApiDeploymentProps\.image: got 'ghcr.io/leanvibe/api': .*without a tag"),
        ({"image": "nginx:latest"}, r"image: got 'nginx:latest': the tag 'latest' is not allowed"),
        ({"image": IMAGE, "cpu_request": "lots"}, r"cpu_request: got 'lots': is not a Kubernetes resource quantity"),
        ({"image": IMAGE, "memory_limit": "1GB"}, r"memory_limit: got '1GB': is not a Kubernetes resource quantity"),
        ({"image": IMAGE, "replicas": 0}, r"replicas: got 0: Input should be greater than or equal to 1"),
        ({"image": IMAGE, "run_as_user": 0}, r"run_as_user: got 0: .*greater than or equal to 10000"),
        ({"image": IMAGE, "name": "Leanvibe_API"}, r"name: got 'Leanvibe_API': must be a DNS-1123 label"),
        ({"image": IMAGE, "cpu_request": "3", "cpu_limit": "2"}, r"cpu_request \(3\) must be <= cpu_limit \(2\)"),
        ({"image": IMAGE, "pdb_min_available": 5}, r"pdb_min_available \(5\) must be < replicas \(5\)"),
        ({"image": IMAGE, "replics": 5}, r"replics: got 5: Extra inputs are not permitted"),
        (
            {"image": IMAGE, "pre_stop_delay_seconds": 60},
            r"pre_stop_delay_seconds \(60\) must be < termination_grace_period_seconds \(45\)",
        ),
        ({"image": IMAGE, "http_port": 9090}, r"http_port \(9090\) and metrics_port \(9090\) must differ"),
    ],
)
def test_bad_props_fail_with_a_message_naming_field_value_and_rule(props, expected):
    with pytest.raises(PropsError, match=expected):
        HAApiDeploymentProps.build(**props)


def test_fails_when_a_probe_path_is_not_absolute():
    with pytest.raises(PropsError, match=r"path: got 'healthz': must be an absolute HTTP path"):
        HAApiDeploymentProps.build(image=IMAGE, readiness_probe={"path": "healthz"})


def test_fails_when_liveness_equals_readiness():
    same = ProbeSettings(path="/health")
    with pytest.raises(PropsError, match="liveness_probe must differ from readiness_probe"):
        HAApiDeploymentProps.build(image=IMAGE, readiness_probe=same, liveness_probe=same)


def test_construct_rejects_bad_props_before_touching_jsii():
    with pytest.raises(PropsError):
        synth_chart(lambda chart: HAApiDeployment(chart, "Api", image=IMAGE, replicas=-1))
