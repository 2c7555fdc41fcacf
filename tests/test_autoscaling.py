"""SmartAutoscaler and its capacity model: the bounds it derives, the objects it emits, the errors it gives."""

from __future__ import annotations

import cdk8s
import pytest
import yaml

from leanvibe_constructs import HAApiDeployment, PropsError
from leanvibe_constructs.autoscaling import (
    CapacityModel,
    SmartAutoscaler,
    SmartAutoscalerProps,
    VerticalScaling,
)

from .manifests import container, find, find_all, pod_spec, synth_chart
from .schemas import validate_object

IMAGE = "ghcr.io/leanvibe/agent-hive-api:2.4.1"
PRODUCTION = dict(
    requests_per_second_metric="http_requests_per_second",
    vertical=VerticalScaling.recommendation_only(),
    capacity_reserve_pods=20,
)


def build(api: dict | None = None, **props):
    def compose(chart):
        SmartAutoscaler(chart, "Scaling", target=HAApiDeployment(chart, "Api", image=IMAGE, **(api or {})), **props)

    return synth_chart(compose)


def hpa_of(objects):
    return find(objects, "HorizontalPodAutoscaler")


# --- the capacity model ------------------------------------------------------------


def test_seed_figures_derive_five_and_twenty_five_replicas():
    plan = CapacityModel().plan()
    assert plan.target_rps_per_pod == pytest.approx(433.09)
    assert plan.steady_replicas == 3  # ceil(867.0 / 433.09) = ceil(2.002)
    assert plan.zone_loss_replicas == 5  # 5 - ceil(5/3) = 3 >= 3, while 4 - 2 = 2 is not
    assert (plan.min_replicas, plan.max_replicas) == (5, 25)


def test_explain_prints_the_arithmetic_of_each_bound():
    text = CapacityModel().plan().explain()
    assert "618.7 req/s x 70 % = 433.09 req/s" in text
    assert "ceil((867.5 - 0.5) / 433.09) = 3" in text
    assert "n - ceil(n / 3) >= 3 = 5" in text
    assert "ceil((15468 - 0.5) / 618.7) = 25" in text
    assert text.splitlines()[-1].endswith("= 25")


def test_peak_is_a_rounded_product_so_reading_it_literally_needs_a_26th_pod():
    # 15,468 is 25 x 618.7 = 15,467.5 rounded; without the rounding allowance the
    # half request per second left over asks for one more pod.
    assert CapacityModel(rounding_rps=0).plan().max_replicas == 26


def test_zone_loss_rule_raises_the_floor_when_ha_floor_is_lower():
    plan = CapacityModel(ha_floor=2, required_rps=2000).plan()
    # ceil(1999.5 / 433.09) = 5 steady; 8 - ceil(8/3) = 5, while 7 - 3 = 4 is short.
    assert (plan.steady_replicas, plan.zone_loss_replicas, plan.min_replicas) == (5, 8, 8)


def test_single_zone_model_sizes_for_steady_load_only():
    plan = CapacityModel(zones=1, survive_zone_loss=False, ha_floor=1).plan()
    assert (plan.min_replicas, plan.max_replicas) == (3, 25)


def test_explicit_bounds_above_the_derived_ones_are_kept():
    plan = CapacityModel(min_replicas=6, max_replicas=30).plan()
    assert (plan.min_replicas, plan.max_replicas) == (6, 30)


# --- the HPA -----------------------------------------------------------------------


def test_hpa_scales_the_api_deployment_between_the_derived_bounds():
    objects = build()
    spec = hpa_of(objects)["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "leanvibe-api"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (5, 25)
    assert hpa_of(objects)["metadata"]["namespace"] == "leanvibe"


def test_api_deployment_omits_replicas_so_reapplying_never_resets_the_hpa():
    deployment = find(build(), "Deployment", "leanvibe-api")
    assert "replicas" not in deployment["spec"]


def test_scale_up_reaches_max_from_min_in_one_sync_and_scale_down_is_slow():
    behavior = hpa_of(build())["spec"]["behavior"]
    up, down = behavior["scaleUp"], behavior["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0
    assert up["selectPolicy"] == "Max"
    assert {"type": "Percent", "value": 100, "periodSeconds": 15} in up["policies"]  # at least doubling
    assert {"type": "Pods", "value": 20, "periodSeconds": 15} in up["policies"]  # 5 + 20 = 25 at once
    assert down["stabilizationWindowSeconds"] == 300
    assert down["policies"] == [{"type": "Percent", "value": 10, "periodSeconds": 60}]


def test_cpu_only_by_default_at_the_target_utilisation():
    assert hpa_of(build())["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
    ]


def test_request_rate_metric_targets_pod_capacity_at_target_utilisation():
    metrics = hpa_of(build(requests_per_second_metric="http_requests_per_second"))["spec"]["metrics"]
    pods = next(m for m in metrics if m["type"] == "Pods")["pods"]
    assert pods["metric"] == {"name": "http_requests_per_second"}
    assert pods["target"] == {"type": "AverageValue", "averageValue": "433.09"}


def test_hpa_carries_the_api_labels():
    objects = build()
    api_labels = find(objects, "Deployment", "leanvibe-api")["metadata"]["labels"]
    assert hpa_of(objects)["metadata"]["labels"] == api_labels


def test_every_object_validates_against_kubernetes_and_the_vpa_crd():
    objects = build(**PRODUCTION)
    assert {o["kind"] for o in objects} >= {"HorizontalPodAutoscaler", "VerticalPodAutoscaler", "NetworkPolicy"}
    for obj in objects:
        for version in ("1.27.0", "1.37.0"):
            assert validate_object(obj, version) is None, (obj["kind"], obj["metadata"]["name"], version)
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cdk8s"


def test_production_snapshot(yaml_snapshot):
    objects = build(**PRODUCTION)
    ours = [o for o in objects if o["kind"] in {"HorizontalPodAutoscaler", "VerticalPodAutoscaler"}
            or o["metadata"]["name"].endswith("capacity-reserve")]
    assert yaml.safe_dump_all(ours, sort_keys=False) == yaml_snapshot


def test_blue_green_api_gets_one_hpa_per_colour_with_the_idle_floor():
    objects = build(api={"release": "blue_green", "idle_replicas": 2})
    hpas = {h["metadata"]["name"]: h for h in find_all(objects, "HorizontalPodAutoscaler")}
    assert hpas["leanvibe-api-blue"]["spec"]["minReplicas"] == 5  # live colour: the capacity floor
    assert hpas["leanvibe-api-green"]["spec"]["minReplicas"] == 2  # idle colour: idle_replicas
    assert hpas["leanvibe-api-green"]["spec"]["scaleTargetRef"]["name"] == "leanvibe-api-green"
    assert hpas["leanvibe-api-green"]["metadata"]["labels"]["leanvibe.dev/colour"] == "green"
    for deployment in find_all(objects, "Deployment"):
        assert "replicas" not in deployment["spec"]


# --- the VPA -----------------------------------------------------------------------


def test_vpa_recommends_only_by_default():
    vpa = find(build(vertical=VerticalScaling()), "VerticalPodAutoscaler")
    assert vpa["apiVersion"] == "autoscaling.k8s.io/v1"
    assert vpa["spec"]["updatePolicy"] == {"updateMode": "Off"}
    assert vpa["spec"]["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "leanvibe-api"}


def test_vpa_memory_only_resizes_memory_within_bounds_while_hpa_scales_on_cpu():
    vpa = find(build(vertical=VerticalScaling.memory_only(min_allowed="512Mi", max_allowed="4Gi")),
               "VerticalPodAutoscaler")
    assert vpa["spec"]["updatePolicy"] == {"updateMode": "Recreate"}
    policy = vpa["spec"]["resourcePolicy"]["containerPolicies"][0]
    assert policy == {
        "containerName": "api", "controlledResources": ["memory"], "controlledValues": "RequestsAndLimits",
        "minAllowed": {"memory": "512Mi"}, "maxAllowed": {"memory": "4Gi"},
    }


def test_vpa_may_control_cpu_when_the_hpa_scales_on_request_rate_only():
    objects = build(cpu_metric=False, requests_per_second_metric="http_requests_per_second",
                    vertical=VerticalScaling(update_mode="Recreate", controlled_resources=("cpu", "memory")))
    assert [m["type"] for m in hpa_of(objects)["spec"]["metrics"]] == ["Pods"]
    assert find(objects, "VerticalPodAutoscaler")["spec"]["updatePolicy"]["updateMode"] == "Recreate"


# --- the capacity reserve ----------------------------------------------------------


def test_no_capacity_reserve_unless_asked():
    objects = build()
    assert [d["metadata"]["name"] for d in find_all(objects, "Deployment")] == ["leanvibe-api"]


def test_capacity_reserve_holds_n_api_pods_of_room_at_the_reserve_priority():
    objects = build(capacity_reserve_pods=20)
    reserve = find(objects, "Deployment", "leanvibe-api-capacity-reserve")
    api = container(find(objects, "Deployment", "leanvibe-api"), "api")
    pause = container(reserve, "pause")
    spec = pod_spec(reserve)
    assert reserve["spec"]["replicas"] == 20
    assert pause["image"] == "registry.k8s.io/pause:3.9"
    assert pause["resources"]["requests"] == api["resources"]["requests"]
    assert spec["priorityClassName"] == "leanvibe-capacity-reserve"
    assert spec["terminationGracePeriodSeconds"] == 0
    template = reserve["spec"]["template"]["metadata"]
    assert template["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "true"
    assert template["labels"]["app.kubernetes.io/component"] == "capacity-reserve"
    assert reserve["metadata"]["labels"]["app.kubernetes.io/version"] == "3.9"


def test_capacity_reserve_spreads_over_zones_like_the_api_so_preempted_room_is_where_the_api_needs_it():
    objects = build(capacity_reserve_pods=6)
    reserve_zone = pod_spec(find(objects, "Deployment", "leanvibe-api-capacity-reserve"))["topologySpreadConstraints"][0]
    api_zone = pod_spec(find(objects, "Deployment", "leanvibe-api"))["topologySpreadConstraints"][0]
    for key in ("topologyKey", "maxSkew", "whenUnsatisfiable", "minDomains"):
        assert reserve_zone[key] == api_zone[key]


def test_capacity_reserve_pods_are_restricted_and_cut_off_from_the_network():
    objects = build(capacity_reserve_pods=3)
    reserve = find(objects, "Deployment", "leanvibe-api-capacity-reserve")
    ctx = container(reserve, "pause")["securityContext"]
    assert pod_spec(reserve)["securityContext"]["runAsNonRoot"] is True
    assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"] == {"drop": ["ALL"]}
    assert pod_spec(reserve)["automountServiceAccountToken"] is False
    policy = find(objects, "NetworkPolicy", "leanvibe-api-capacity-reserve")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]
    assert policy["spec"]["podSelector"]["matchLabels"] == reserve["spec"]["selector"]["matchLabels"]


# --- bad input ---------------------------------------------------------------------


def test_fails_when_min_replicas_exceeds_max_replicas():
    with pytest.raises(PropsError, match=r"min_replicas \(30\) must be <= max_replicas \(25\)"):
        CapacityModel.build(min_replicas=30, max_replicas=25)


@pytest.mark.parametrize("value", [0, -5, 100.5, 150])
def test_fails_when_target_utilisation_is_outside_zero_to_one_hundred(value):
    with pytest.raises(PropsError, match=rf"capacity.target_utilization_percent: got {value}: must be greater than 0 "
                                         r"and at most 100"):
        SmartAutoscalerProps.build(capacity={"target_utilization_percent": value})


def test_fails_when_peak_needs_more_than_max_replicas():
    with pytest.raises(PropsError, match=r"peak_rps \(15468\) needs 25 replicas of 618.7 req/s, more than "
                                         r"max_replicas \(20\)"):
        CapacityModel.build(max_replicas=20)


def test_fails_when_min_replicas_is_below_what_the_model_needs():
    with pytest.raises(PropsError, match=r"min_replicas \(4\) is below what the model needs \(5"):
        CapacityModel.build(min_replicas=4)


def test_fails_when_zone_loss_is_asked_of_a_single_zone():
    with pytest.raises(PropsError, match=r"survive_zone_loss \(True\) needs zones >= 2, got zones \(1\)"):
        CapacityModel.build(zones=1)


def test_fails_when_vpa_controls_cpu_while_the_hpa_scales_on_cpu():
    with pytest.raises(PropsError, match=r"vertical.controlled_resources \(\['cpu', 'memory'\]\) with "
                                         r"vertical.update_mode \('Recreate'\).*cpu_metric \(True\)"):
        SmartAutoscalerProps.build(vertical=VerticalScaling(update_mode="Recreate"))


def test_fails_without_any_metric():
    with pytest.raises(PropsError, match=r"cpu_metric \(False\) and requests_per_second_metric \(None\)"):
        SmartAutoscalerProps.build(cpu_metric=False)


def test_fails_when_api_replicas_differ_from_the_capacity_floor():
    with pytest.raises(PropsError, match=r"HAApiDeploymentProps.replicas \(3\) must equal the capacity model's "
                                         r"min_replicas \(5\)"):
        build(api={"replicas": 3})


def test_fails_when_the_pdb_would_keep_every_pod_at_the_hpa_floor():
    # replicas=10 gives the API a 90 % budget: 90 % of 5 rounds up to 5 pods.
    with pytest.raises(PropsError, match=r"PodDisruptionBudget minAvailable \('90%' of 5 pods = 5\) must be < "
                                         r"HPA minReplicas \(5\)"):
        build(api={"replicas": 10})
    with pytest.raises(PropsError, match=r"minAvailable \(6 of 5 pods = 6\) must be < HPA minReplicas \(5\)"):
        build(api={"replicas": 10, "pdb_min_available": 6})


def test_fails_when_a_blue_green_idle_colour_would_scale_to_zero():
    with pytest.raises(PropsError, match=r"idle_replicas \(0\) cannot be an HPA minReplicas"):
        build(api={"release": "blue_green", "idle_replicas": 0})


def test_bad_props_leave_the_api_untouched_and_add_nothing():
    app = cdk8s.App()
    chart = cdk8s.Chart(app, "test", disable_resource_name_hashes=True)
    api = HAApiDeployment(chart, "Api", image=IMAGE, replicas=3)
    with pytest.raises(PropsError):
        SmartAutoscaler(chart, "Scaling", target=api)
    assert chart.node.try_find_child("Scaling") is None
    assert api.autoscaled is False
    assert find(cdk8s.Testing.synth(chart), "Deployment")["spec"]["replicas"] == 3


def test_prometheus_adapter_rule_serves_the_request_rate_per_pod():
    from leanvibe_constructs.autoscaling import prometheus_adapter_rule

    rule = prometheus_adapter_rule()
    assert rule["name"] == {"matches": "^http_requests_total$", "as": "http_requests_per_second"}
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
    assert rule["metricsQuery"] == "sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)"
    assert rule["seriesQuery"] == 'http_requests_total{namespace!="",pod!=""}'


def test_capacity_reserve_may_live_in_its_own_namespace_outside_the_api_quota():
    objects = build(capacity_reserve_pods=20, reserve_namespace="capacity-reserve")
    assert find(objects, "Deployment", "leanvibe-api-capacity-reserve")["metadata"]["namespace"] == "capacity-reserve"
    assert find(objects, "NetworkPolicy", "leanvibe-api-capacity-reserve")["metadata"]["namespace"] == "capacity-reserve"
    assert hpa_of(objects)["metadata"]["namespace"] == "leanvibe"


def test_capacity_reserve_states_why_it_has_no_probes_and_no_digest():
    annotations = find(build(capacity_reserve_pods=2), "Deployment", "leanvibe-api-capacity-reserve")["metadata"][
        "annotations"]
    skipped = sorted(value.split("=")[0] for key, value in annotations.items() if key.startswith("checkov.io/skip"))
    assert skipped == ["CKV_K8S_15", "CKV_K8S_43", "CKV_K8S_8", "CKV_K8S_9"]
    digest = "registry.k8s.io/pause:3.9@sha256:" + "7" * 64
    pinned = find(build(capacity_reserve_pods=2, reserve_image=digest), "Deployment", "leanvibe-api-capacity-reserve")
    assert sorted(v.split("=")[0] for k, v in pinned["metadata"]["annotations"].items()
                  if k.startswith("checkov.io/skip")) == ["CKV_K8S_8", "CKV_K8S_9"]


def test_capacity_reserve_runs_as_its_own_tokenless_service_account_and_waives_only_what_pause_cannot_do():
    objects = build(capacity_reserve_pods=2)
    reserve = find(objects, "Deployment", "leanvibe-api-capacity-reserve")
    account = find(objects, "ServiceAccount", "leanvibe-api-capacity-reserve")
    assert pod_spec(reserve)["serviceAccountName"] == account["metadata"]["name"]
    assert account["automountServiceAccountToken"] is False
    waived = sorted(k.removeprefix("validate.leanvibe.io/skip-") for k in reserve["metadata"]["annotations"]
                    if k.startswith("validate.leanvibe.io/skip-"))
    assert waived == ["metrics-port", "pdb", "probes", "startup-probe"]
