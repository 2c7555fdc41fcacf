"""GitHubRunners: an actions-runner-controller scale set with least-privilege deploy rights."""

from __future__ import annotations

import pytest
import yaml

from leanvibe_constructs import HAApiDeployment, PropsError
from leanvibe_constructs.delivery import GitHubRunners, GitHubRunnersProps

from .manifests import find, find_all, synth_chart
from .netpol_eval import Cluster, External, Flow, Pod, allowed_flows, pods_of_workload
from .schemas import crd_schema, validate_object
from .test_pod_security import baseline_violations, restricted_violations

URL = "https://github.com/leanvibe/agent-hive"
IMAGE = "ghcr.io/leanvibe/ci-runner:2.328.0"
API_SERVER_CIDR = "172.16.0.0/28"
STANDARD_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
}


def build(**props):
    if props.get("deploy_namespace", "leanvibe") is not None:
        props.setdefault("kubernetes_api_cidrs", (API_SERVER_CIDR,))
    return synth_chart(lambda chart: GitHubRunners(chart, "Runners", github_config_url=URL, image=IMAGE, **props))


def runner_set(objects):
    return find(objects, "AutoscalingRunnerSet")


def test_runners_snapshot(yaml_snapshot):
    assert yaml.safe_dump_all(build(), sort_keys=False) == yaml_snapshot


def test_scale_set_name_is_the_runs_on_label_with_min_and_max_runners():
    spec = runner_set(build(name="leanvibe-deploy", min_runners=1, max_runners=3))["spec"]
    assert spec["runnerScaleSetName"] == "leanvibe-deploy"
    assert (spec["minRunners"], spec["maxRunners"]) == (1, 3)
    assert spec["githubConfigUrl"] == URL


def test_github_app_credentials_come_from_a_referenced_secret():
    objects = build(github_app_secret_name="gh-app")
    assert runner_set(objects)["spec"]["githubConfigSecret"] == "gh-app"
    assert not find_all(objects, "Secret")


def test_runner_has_resource_limits_and_a_bounded_workspace():
    pod = runner_set(build())["spec"]["template"]["spec"]
    runner = pod["containers"][0]
    assert runner["name"] == "runner"  # actions-runner-controller looks the container up by name
    assert set(runner["resources"]["limits"]) == {"cpu", "memory"}
    assert runner["resources"]["requests"]["memory"] == runner["resources"]["limits"]["memory"]
    assert pod["volumes"] == [{"name": "work", "emptyDir": {"sizeLimit": "10Gi"}}]


def test_namespace_enforces_baseline_and_reports_restricted():
    labels = find(build(), "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"


def test_default_runner_pod_meets_the_restricted_profile():
    pod = runner_set(build())["spec"]["template"]["spec"]
    ctx = pod["containers"][0]["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 1001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"] == {"drop": ["ALL"]}
    assert restricted_violations(runner_set(build())["spec"]["template"]) == []


def test_run_as_root_is_an_explicit_opt_in():
    pod = runner_set(build(run_as_root=True))["spec"]["template"]["spec"]
    assert "runAsNonRoot" not in pod["securityContext"]
    assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is True


def test_a_root_runner_meets_baseline_which_its_namespace_enforces_and_is_reported_by_restricted():
    template = runner_set(build(run_as_root=True))["spec"]["template"]
    assert baseline_violations(template) == []
    assert restricted_violations(template)  # what the namespace's warn/audit labels report


def test_deploy_rights_are_a_role_in_the_deploy_namespace_only():
    objects = build(deploy_namespace="leanvibe")
    role, binding = find(objects, "Role"), find(objects, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "leanvibe"
    assert not find_all(objects, "ClusterRole") and not find_all(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "leanvibe-deploy", "namespace": "leanvibe-runners"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leanvibe-deploy-deploy"}
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs == {"create", "get", "list", "patch", "watch"}  # apply, rollout status/undo; never delete
    resources = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("apps", "deployments") in resources and ("apps", "replicasets") in resources
    assert not {r for _, r in resources} & {"secrets", "roles", "rolebindings", "pods/exec", "*"}


def test_kubectl_can_do_what_the_deploy_job_runs():
    role = find(build(), "Role")

    def allowed(group, resource, verb):
        return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
                   for r in role["rules"])

    # apply --server-side (create or patch), rollout status (get/watch), rollout undo
    # (list ReplicaSets, patch the Deployment), and the Service selector switch (patch).
    for group, resource, verb in [
        ("apps", "deployments", "patch"), ("apps", "deployments", "create"), ("apps", "deployments", "watch"),
        ("apps", "replicasets", "list"), ("", "services", "patch"), ("", "services", "get"),
        ("policy", "poddisruptionbudgets", "patch"), ("networking.k8s.io", "networkpolicies", "create"),
    ]:
        assert allowed(group, resource, verb), (group, resource, verb)


def test_runners_without_deploy_rights_get_no_token_and_no_role():
    objects = build(name="leanvibe-ci", deploy_namespace=None)
    assert not find_all(objects, "Role") and not find_all(objects, "RoleBinding")
    assert runner_set(objects)["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert runner_set(build())["spec"]["template"]["spec"]["automountServiceAccountToken"] is True


def test_network_policy_denies_ingress_and_allows_dns_public_443_and_the_api_server_only():
    policy = find(build(), "NetworkPolicy", "leanvibe-deploy-egress")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"] and policy["ingress"] == []
    dns, web, api = policy["egress"]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
    assert web["ports"] == [{"port": 443, "protocol": "TCP"}]
    assert web["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"]}}]
    assert api == {"to": [{"ipBlock": {"cidr": API_SERVER_CIDR}}],
                   "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}
    assert all(rule.get("to") for rule in policy["egress"])  # no rule opens a port to every address


def _runner_flows(**props):
    """Flows the runner policy allows to a pod in the cluster, the internet, private ranges and the API server."""
    objects = build(**props)
    cluster = Cluster()
    for name in ("leanvibe-runners", "leanvibe", "kube-system"):
        cluster.add_namespace(name)
    for p in find_all(objects, "NetworkPolicy"):
        cluster.add_policy(p)
    runner = pods_of_workload(runner_set(objects), ip="10.8.0.10")
    stray = Pod("stray", "leanvibe-runners", {"app": "debug"}, "10.8.0.11")
    ends = [
        runner,
        stray,
        Pod("database", "leanvibe", {"app": "postgres"}, "10.8.0.20"),
        Pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, "10.8.1.1"),
        External("github", "140.82.121.4"),
        External("kubernetes-api", "172.16.0.2"),
        External("private-network", "10.200.0.1"),
        External("cloud-metadata", "169.254.169.254"),
    ]
    ports = [(53, "UDP"), (53, "TCP"), (443, "TCP"), (6443, "TCP"), (5432, "TCP"), (65000, "TCP")]
    return {f for f in allowed_flows(cluster, [runner, stray], ends, ports) if f.source in (runner.name, stray.name)}


def test_runners_reach_the_internet_on_443_the_api_server_and_dns_and_nothing_else():
    assert _runner_flows() == {
        Flow("leanvibe-deploy", "kube-dns", 53, "UDP"),
        Flow("leanvibe-deploy", "kube-dns", 53, "TCP"),
        Flow("leanvibe-deploy", "github", 443),
        Flow("leanvibe-deploy", "kubernetes-api", 443),
        Flow("leanvibe-deploy", "kubernetes-api", 6443),
    }


def test_any_other_pod_in_the_runner_namespace_has_no_network():
    assert not {f for f in _runner_flows() if f.source == "stray"}


def test_a_shared_namespace_gets_its_default_deny_from_the_scale_set_that_creates_it():
    policies = find_all(build(create_namespace=False), "NetworkPolicy")
    assert not [p for p in policies if "default-deny" in p["metadata"]["name"]]
    deny = find(build(), "NetworkPolicy", "leanvibe-runners-default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_runners_without_deploy_rights_get_no_path_to_the_api_server():
    flows = _runner_flows(name="leanvibe-ci", deploy_namespace=None)
    assert {f.destination for f in flows} == {"kube-dns", "github"}


def test_policy_selects_the_runner_pods():
    objects = build()
    selector = find(objects, "NetworkPolicy", "leanvibe-deploy-egress")["spec"]["podSelector"]["matchLabels"]
    pod_labels = runner_set(objects)["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()


def test_allow_to_opens_the_smoke_test_path_to_the_api_both_ways():
    def build_both(chart):
        api = HAApiDeployment(chart, "Api", image="ghcr.io/leanvibe/agent-hive-api:2.4.1", release="blue_green")
        runners = GitHubRunners(chart, "Runners", github_config_url=URL, image=IMAGE,
                                kubernetes_api_cidrs=(API_SERVER_CIDR,))
        runners.allow_to(api)

    objects = synth_chart(build_both)
    policies = {p["metadata"]["name"]: p for p in find_all(objects, "NetworkPolicy")}
    egress = policies["leanvibe-deploy-to-leanvibe-api"]["spec"]
    ingress = policies["leanvibe-api-from-leanvibe-deploy"]["spec"]
    assert egress["egress"][0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert ingress["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "leanvibe-runners"}
    assert "leanvibe.dev/colour" not in ingress["podSelector"]["matchLabels"]  # both colours


@pytest.mark.parametrize("kubernetes_version", ["1.27.0", "1.37.0"])
def test_every_object_validates_strictly_and_carries_the_standard_labels(kubernetes_version):
    objects = build(runner_group="deployers")
    for obj in objects:
        assert validate_object(obj, kubernetes_version) is None, obj["kind"]
        assert STANDARD_LABELS <= set(obj["metadata"]["labels"]), obj["kind"]
    assert crd_schema("actions.github.com/v1alpha1", "AutoscalingRunnerSet") is not None


@pytest.mark.parametrize("kubernetes_version", ["1.27.0", "1.37.0"])
@pytest.mark.parametrize("props", [{}, {"run_as_root": True, "deploy_namespace": None}])
def test_runner_pod_template_validates_strictly_as_a_pod(kubernetes_version, props):
    # The CRD excerpt elides the embedded PodSpec schema; this is the schema it was generated from.
    template = runner_set(build(**props))["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runner", **template["metadata"]},
           "spec": template["spec"]}
    assert validate_object(pod, kubernetes_version) is None


def test_schema_rejects_a_misspelt_runner_set_field():
    obj = runner_set(build())
    obj["spec"]["maxRunner"] = 3
    assert "maxRunner" in validate_object(obj, "1.37.0")


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"min_runners": 5, "max_runners": 2}, r"min_runners \(5\) must be <= max_runners \(2\)"),
        ({"github_config_url": "github.com/leanvibe"}, r"github_config_url: got 'github.com/leanvibe'"),
        ({"image": "ghcr.io/actions/actions-runner"}, r"image: got 'ghcr.io/actions/actions-runner'"),
        ({"deploy_namespace": "leanvibe-runners"}, r"deploy_namespace \(leanvibe-runners\) must differ"),
        ({"memory_request": "4Gi", "memory_limit": "2Gi"}, r"memory_request \(4Gi\) must be <= memory_limit"),
        ({"internet_ports": (0,)}, r"internet_ports: got \(0,\): .*between 1 and 65535"),
        ({"kubernetes_api_cidrs": ()}, r"kubernetes_api_cidrs \(\(\)\) must list the API server's endpoint "
                                       r"addresses when deploy_namespace \(leanvibe\) is set"),
        ({"kubernetes_api_cidrs": ("0.0.0.0/0",)}, r"kubernetes_api_cidrs: got \('0.0.0.0/0',\): .*would open every"),
        ({"kubernetes_api_cidrs": ("10.0.0.1/8",)}, r"kubernetes_api_cidrs: got \('10.0.0.1/8',\): .*is not a CIDR"),
        ({"kubernetes_api_ports": (0,)}, r"kubernetes_api_ports: got \(0,\): .*between 1 and 65535"),
        ({"max_runners": 0}, r"max_runners: got 0"),
    ],
)
def test_bad_runner_props_fail_naming_field_value_and_rule(props, expected):
    with pytest.raises(PropsError, match=expected):
        GitHubRunnersProps.build(
            **{"github_config_url": URL, "image": IMAGE, "kubernetes_api_cidrs": (API_SERVER_CIDR,), **props}
        )
