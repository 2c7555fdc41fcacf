"""HAApiDeployment with release="blue_green": two colours, a live and a preview Service, one-prop switches."""

from __future__ import annotations

import pytest
import yaml

from leanvibe_constructs import HAApiDeployment, IngressSettings, PropsError
from leanvibe_constructs.ha_api_deployment import COLOUR_LABEL, RELEASE_ROLE_LABEL, HAApiDeploymentProps

from .manifests import container, find, find_all, pod_spec, synth_chart
from .schemas import validate_object

OLD = "ghcr.io/leanvibe/agent-hive-api:2.4.1"
NEW = "ghcr.io/leanvibe/agent-hive-api:2.5.0"
STANDARD_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
}


def build(**props):
    props = {"image": OLD, "release": "blue_green", "green_image": NEW, **props}
    return synth_chart(lambda chart: HAApiDeployment(chart, "Api", **props))


def by_key(objects):
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def differences(before, after, path=""):
    """Every leaf path whose value differs between two objects."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after)):
            found += differences(before.get(key), after.get(key), f"{path}/{key}")
        return found
    return [] if before == after else [path]


def switch_diff(**props):
    blue = by_key(build(active_colour="blue", **props))
    green = by_key(build(active_colour="green", **props))
    assert blue.keys() == green.keys(), "a switch must not add or remove objects"
    return {key: differences(blue[key], green[key]) for key in blue if differences(blue[key], green[key])}


def test_blue_green_snapshot(yaml_snapshot):
    assert yaml.safe_dump_all(build(), sort_keys=False) == yaml_snapshot


def test_two_coloured_deployments_each_run_their_own_image_and_version():
    objects = build()
    blue, green = find(objects, "Deployment", "leanvibe-api-blue"), find(objects, "Deployment", "leanvibe-api-green")
    assert container(blue, "api")["image"] == OLD
    assert container(green, "api")["image"] == NEW
    for deployment, colour, version in ((blue, "blue", "2.4.1"), (green, "green", "2.5.0")):
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert template_labels[COLOUR_LABEL] == colour
        assert template_labels["app.kubernetes.io/version"] == version
        assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == version
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector[COLOUR_LABEL] == colour and "app.kubernetes.io/version" not in selector
    assert not [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "leanvibe-api"]


def test_live_service_selects_the_active_colour_and_preview_the_idle_one():
    objects = build(active_colour="green")
    live, preview = find(objects, "Service", "leanvibe-api"), find(objects, "Service", "leanvibe-api-preview")
    assert live["spec"]["selector"][COLOUR_LABEL] == "green"
    assert preview["spec"]["selector"][COLOUR_LABEL] == "blue"
    assert live["metadata"]["labels"][RELEASE_ROLE_LABEL] == "live"
    assert preview["metadata"]["labels"][RELEASE_ROLE_LABEL] == "preview"
    assert live["spec"]["sessionAffinity"] == "ClientIP"


def test_active_colour_defaults_to_blue():
    assert find(build(), "Service", "leanvibe-api")["spec"]["selector"][COLOUR_LABEL] == "blue"


def test_switching_colour_changes_only_the_service_selectors():
    assert switch_diff() == {
        ("Service", "leanvibe-api"): [f"/spec/selector/{COLOUR_LABEL}"],
        ("Service", "leanvibe-api-preview"): [f"/spec/selector/{COLOUR_LABEL}"],
    }


def test_switching_colour_with_an_ingress_and_policies_still_changes_only_the_selectors():
    from leanvibe_constructs import Endpoint

    def both(colour):
        def build_with_policies(chart):
            api = HAApiDeployment(
                chart, "Api", image=OLD, release="blue_green", green_image=NEW, active_colour=colour,
                ingress=IngressSettings(host="api.leanvibe.example", tls_secret_name="api-tls"),
            )
            api.allow_from(Endpoint.namespace_peer("ingress-nginx"))
            api.allow_from(Endpoint.namespace_peer("monitoring"), port="metrics")

        return by_key(synth_chart(build_with_policies))

    blue, green = both("blue"), both("green")
    changed = {key: differences(blue[key], green[key]) for key in blue if blue[key] != green[key]}
    assert set(changed) == {("Service", "leanvibe-api"), ("Service", "leanvibe-api-preview")}


def test_idle_colour_scales_to_its_floor_and_the_switch_moves_the_replicas():
    objects = build(idle_replicas=1)
    assert find(objects, "Deployment", "leanvibe-api-blue")["spec"]["replicas"] == 5
    assert find(objects, "Deployment", "leanvibe-api-green")["spec"]["replicas"] == 1
    assert switch_diff(idle_replicas=1) == {
        ("Service", "leanvibe-api"): [f"/spec/selector/{COLOUR_LABEL}"],
        ("Service", "leanvibe-api-preview"): [f"/spec/selector/{COLOUR_LABEL}"],
        ("Deployment", "leanvibe-api-blue"): ["/spec/replicas"],
        ("Deployment", "leanvibe-api-green"): ["/spec/replicas"],
    }


def test_idle_colour_runs_full_size_by_default_for_an_instant_switch_back():
    objects = build()
    assert {d["spec"]["replicas"] for d in find_all(objects, "Deployment")} == {5}


def test_network_endpoint_and_policies_select_both_colours():
    from leanvibe_constructs import Endpoint

    def build_with_policy(chart):
        api = HAApiDeployment(chart, "Api", image=OLD, release="blue_green", green_image=NEW)
        api.allow_from(Endpoint.namespace_peer("ingress-nginx"))
        assert COLOUR_LABEL not in api.endpoint.peer["podSelector"]["matchLabels"]

    objects = synth_chart(build_with_policy)
    policy = find(objects, "NetworkPolicy")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    for deployment in find_all(objects, "Deployment"):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items(), deployment["metadata"]["name"]


def test_each_colour_has_a_disruption_budget_that_never_blocks_a_drain():
    objects = build(idle_replicas=1)
    budgets = {b["metadata"]["name"]: b["spec"] for b in find_all(objects, "PodDisruptionBudget")}
    assert set(budgets) == {"leanvibe-api-blue", "leanvibe-api-green"}
    for name, spec in budgets.items():
        assert spec["maxUnavailable"] == 1 and "minAvailable" not in spec
        assert spec["selector"]["matchLabels"][COLOUR_LABEL] == name.rsplit("-", 1)[1]
        assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_single_replica_blue_green_gets_no_disruption_budget():
    assert not find_all(build(replicas=1), "PodDisruptionBudget")


def test_both_colours_are_scraped():
    for deployment in find_all(build(), "Deployment"):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"


def test_each_colour_spreads_its_own_pods_across_zones():
    for deployment in find_all(build(), "Deployment"):
        colour = deployment["metadata"]["labels"][COLOUR_LABEL]
        for constraint in pod_spec(deployment)["topologySpreadConstraints"]:
            assert constraint["labelSelector"]["matchLabels"][COLOUR_LABEL] == colour


def test_ingress_routes_to_the_live_service():
    ingress = find(build(ingress=IngressSettings(host="api.leanvibe.example", tls_secret_name="api-tls")), "Ingress")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "leanvibe-api"


def test_autoscaler_takes_over_the_replicas_of_both_colours():
    def build_autoscaled(chart):
        api = HAApiDeployment(chart, "Api", image=OLD, release="blue_green")
        api.hand_replicas_to_autoscaler()
        assert set(api.deployments) == {"leanvibe-api-blue", "leanvibe-api-green"}

    assert all("replicas" not in d["spec"] for d in find_all(synth_chart(build_autoscaled), "Deployment"))


@pytest.mark.parametrize("kubernetes_version", ["1.27.0", "1.37.0"])
def test_every_object_validates_strictly_and_carries_the_standard_labels(kubernetes_version):
    objects = build(idle_replicas=1, ingress=IngressSettings(host="api.leanvibe.example", tls_secret_name="api-tls"))
    for obj in objects:
        assert validate_object(obj, kubernetes_version) is None, obj["metadata"]["name"]
        assert STANDARD_LABELS <= set(obj["metadata"]["labels"]), obj["metadata"]["name"]


def test_rolling_stays_the_default_with_one_deployment():
    objects = synth_chart(lambda chart: HAApiDeployment(chart, "Api", image=OLD))
    assert [d["metadata"]["name"] for d in find_all(objects, "Deployment")] == ["leanvibe-api"]
    assert not [o for o in objects if o["metadata"]["name"] == "leanvibe-api-preview"]


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"green_image": NEW}, r"green_image \(.*2\.5\.0\) is only used with release 'blue_green'"),
        ({"active_colour": "green"}, r"active_colour \(green\) is only used with release 'blue_green'"),
        ({"idle_replicas": 1}, r"idle_replicas \(1\) is only used with release 'blue_green'"),
        ({"release": "canary"}, r"release: got 'canary': Input should be 'rolling' or 'blue_green'"),
        ({"release": "blue_green", "active_colour": "red"}, r"active_colour: got 'red': Input should be 'blue' or"),
        ({"release": "blue_green", "idle_replicas": 6}, r"idle_replicas \(6\) must be <= replicas \(5\)"),
        ({"release": "blue_green", "blue_image": "api:latest"}, r"blue_image: got 'api:latest': the tag 'latest'"),
        (
            {"release": "blue_green", "pdb_min_available": 3},
            r"pdb_min_available \(3\) is not used with release 'blue_green'",
        ),
    ],
)
def test_bad_release_props_fail_naming_field_value_and_rule(props, expected):
    with pytest.raises(PropsError, match=expected):
        HAApiDeploymentProps.build(image=OLD, **props)


def test_rolling_snapshot(yaml_snapshot):
    objects = synth_chart(lambda chart: HAApiDeployment(chart, "Api", image=OLD))
    assert yaml.safe_dump_all(objects, sort_keys=False) == yaml_snapshot


# --- argo_rollouts=True: the Argo Rollouts controller runs the blue-green release


def build_argo(**props):
    props = {"image": NEW, "release": "blue_green", "argo_rollouts": True, **props}
    return synth_chart(lambda chart: HAApiDeployment(chart, "Api", **props))


def test_argo_snapshot(yaml_snapshot):
    assert yaml.safe_dump_all(build_argo(), sort_keys=False) == yaml_snapshot


def test_argo_rollout_replaces_the_deployments_and_names_both_services():
    objects = build_argo()
    assert not find_all(objects, "Deployment")
    rollout = find(objects, "Rollout", "leanvibe-api")
    blue_green = rollout["spec"]["strategy"]["blueGreen"]
    assert (blue_green["activeService"], blue_green["previewService"]) == ("leanvibe-api", "leanvibe-api-preview")
    assert blue_green["autoPromotionEnabled"] is True
    assert blue_green["postPromotionAnalysis"] == {"templates": [{"templateName": "leanvibe-api-error-ratio"}]}
    # The controller adds rollouts-pod-template-hash to both selectors; ours carry no colour.
    for name in ("leanvibe-api", "leanvibe-api-preview"):
        assert COLOUR_LABEL not in find(objects, "Service", name)["spec"]["selector"]
    rolling = find(synth_chart(lambda chart: HAApiDeployment(chart, "Api", image=NEW)), "Deployment")
    assert rollout["spec"]["template"] == rolling["spec"]["template"]


def test_argo_analysis_queries_the_slo_error_ratio_and_fails_on_two_bad_minutes():
    template = find(build_argo(argo_max_error_ratio=0.005, argo_analysis_minutes=15), "AnalysisTemplate")
    (metric,) = template["spec"]["metrics"]
    assert metric["provider"]["prometheus"]["query"].startswith(
        'sum(rate(http_requests_total{namespace="leanvibe",service="leanvibe-api",code=~"5.."}[1m]))')
    assert metric["successCondition"] == "len(result) > 0 && result[0] <= 0.005"
    assert metric["failureCondition"] == "len(result) > 0 && result[0] > 0.005"
    assert (metric["interval"], metric["count"], metric["failureLimit"]) == ("1m", 15, 1)


@pytest.mark.parametrize("kubernetes_version", ["1.27.0", "1.37.0"])
def test_argo_objects_validate_strictly_against_the_crds_and_carry_the_standard_labels(kubernetes_version):
    from .schemas import crd_schema

    objects = build_argo()
    assert crd_schema("argoproj.io/v1alpha1", "Rollout") and crd_schema("argoproj.io/v1alpha1", "AnalysisTemplate")
    for obj in objects:
        assert validate_object(obj, kubernetes_version) is None, obj["kind"]
        assert STANDARD_LABELS <= set(obj["metadata"]["labels"]), obj["kind"]
    # The CRD excerpt elides the embedded PodSpec: validate the template as the Pod it becomes.
    template = find(objects, "Rollout")["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api", **template["metadata"]},
           "spec": template["spec"]}
    assert validate_object(pod, kubernetes_version) is None


def test_argo_schema_rejects_a_misspelt_strategy_field():
    rollout = find(build_argo(), "Rollout")
    rollout["spec"]["strategy"]["blueGreen"]["autoPromotion"] = True
    assert "autoPromotion" in validate_object(rollout, "1.37.0")


def test_argo_rollout_hands_its_replicas_to_an_autoscaler():
    def build_autoscaled(chart):
        HAApiDeployment(chart, "Api", image=NEW, release="blue_green", argo_rollouts=True).hand_replicas_to_autoscaler()

    assert "replicas" not in find(synth_chart(build_autoscaled), "Rollout")["spec"]


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"argo_rollouts": True}, r"argo_rollouts \(True\) is only used with release 'blue_green'"),
        ({"release": "blue_green", "argo_rollouts": True, "active_colour": "green"},
         r"active_colour \(green\) does not apply with argo_rollouts"),
        ({"release": "blue_green", "argo_rollouts": True, "argo_max_error_ratio": 0},
         r"argo_max_error_ratio: got 0: Input should be greater than 0"),
    ],
)
def test_bad_argo_props_fail_naming_field_value_and_rule(props, expected):
    with pytest.raises(PropsError, match=expected):
        HAApiDeploymentProps.build(image=OLD, **props)
