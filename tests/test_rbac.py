"""RBAC in dist/: one ServiceAccount per workload, tokens only where the Kubernetes API is used, least privilege.

Only Patroni (its leader lock and member state live in the Kubernetes API),
Prometheus (it discovers scrape targets there), kube-state-metrics
(Prometheus's exporter of object state, which it reads there) and the deploy
runners (the pipeline's kubectl) talk to the API server. Every other pod runs without a token, so a compromised API or
Redis pod holds no credential for the cluster at all.
"""

from __future__ import annotations

from typing import Any

import pytest

from .manifests import dist_objects
from .test_pod_security import CUSTOM_POD_TEMPLATE_KINDS, POD_TEMPLATE_KINDS, pod_template

ENVIRONMENTS = ("production", "dev")

# app.kubernetes.io/name of the workloads that use the Kubernetes API.
TOKEN_HOLDERS = {"postgresql", "prometheus", "kube-state-metrics", "github-actions-runner"}
ESCALATING_VERBS = {"escalate", "bind", "impersonate"}
ADMIN_ROLES = {"cluster-admin", "admin", "edit"}
BROAD_GROUPS = {"system:authenticated", "system:unauthenticated", "system:serviceaccounts"}
RBAC_KINDS = {"Role", "ClusterRole"}
BINDING_KINDS = {"RoleBinding", "ClusterRoleBinding"}


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in POD_TEMPLATE_KINDS | CUSTOM_POD_TEMPLATE_KINDS]


def service_accounts(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "ServiceAccount"}


def mounts_token(workload: dict[str, Any], accounts: dict[tuple[str, str], dict[str, Any]]) -> bool:
    """The effective automount: the pod's setting wins, then the ServiceAccount's, then true."""
    spec = pod_template(workload)["spec"]
    if "automountServiceAccountToken" in spec:
        return bool(spec["automountServiceAccountToken"])
    account = accounts.get((workload["metadata"]["namespace"], spec.get("serviceAccountName", "default")), {})
    return bool(account.get("automountServiceAccountToken", True))


def bound_accounts(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    bound = set()
    for binding in (o for o in objects if o["kind"] in BINDING_KINDS):
        for subject in binding.get("subjects") or []:
            if subject["kind"] == "ServiceAccount":
                bound.add((subject.get("namespace") or binding["metadata"].get("namespace"), subject["name"]))
    return bound


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_workload_runs_as_its_own_service_account(environment):
    objects = dist_objects(environment)
    accounts = service_accounts(objects)
    owner: dict[tuple[str, str], str] = {}
    problems = []
    for workload in workloads(objects):
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        namespace = workload["metadata"]["namespace"]
        account = pod_template(workload)["spec"].get("serviceAccountName")
        if not account or account == "default":
            problems.append(f"{name}: runs as the namespace's default ServiceAccount")
            continue
        if (namespace, account) not in accounts:
            problems.append(f"{name}: ServiceAccount {account} is not in dist/{environment}")
        # Colours of a blue/green release are one workload: same instance label.
        instance = workload["metadata"]["labels"]["app.kubernetes.io/instance"]
        component = workload["metadata"]["labels"]["app.kubernetes.io/component"]
        previous = owner.setdefault((namespace, account), f"{instance}/{component}")
        if previous != f"{instance}/{component}":
            problems.append(f"{name}: shares ServiceAccount {account} with {previous}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_only_patroni_and_the_monitoring_readers_mount_an_api_token(environment):
    objects = dist_objects(environment)
    accounts = service_accounts(objects)
    with_token = {
        f"{w['kind']}/{w['metadata']['name']}"
        for w in workloads(objects)
        if mounts_token(w, accounts)
        and pod_template(w)["metadata"]["labels"]["app.kubernetes.io/name"] not in TOKEN_HOLDERS
    }
    assert not with_token, f"these workloads mount a token but never call the Kubernetes API: {sorted(with_token)}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_token_holder_has_a_role_bound(environment):
    objects = dist_objects(environment)
    accounts = service_accounts(objects)
    bound = bound_accounts(objects)
    unbound = [
        w["metadata"]["name"]
        for w in workloads(objects)
        if mounts_token(w, accounts)
        and (w["metadata"]["namespace"], pod_template(w)["spec"].get("serviceAccountName", "default")) not in bound
    ]
    assert not unbound, f"a token without a role is a credential with no purpose: {unbound}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_no_role_uses_wildcards_or_escalating_verbs(environment):
    problems = []
    for role in (o for o in dist_objects(environment) if o["kind"] in RBAC_KINDS):
        name = f"{role['kind']}/{role['metadata']['name']}"
        if role.get("aggregationRule"):
            problems.append(f"{name}: aggregated roles grow with whatever else is installed")
        for rule in role.get("rules") or []:
            for field in ("verbs", "resources", "apiGroups", "nonResourceURLs", "resourceNames"):
                if any("*" in item for item in rule.get(field) or []):
                    problems.append(f"{name}: wildcard in {field}: {rule[field]}")
            if ESCALATING_VERBS & set(rule.get("verbs") or []):
                problems.append(f"{name}: escalating verbs {sorted(ESCALATING_VERBS & set(rule['verbs']))}")
            if "pods/exec" in (rule.get("resources") or []) or "pods/attach" in (rule.get("resources") or []):
                problems.append(f"{name}: grants exec/attach")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_nothing_binds_admin_roles_or_everyone(environment):
    problems = []
    for binding in (o for o in dist_objects(environment) if o["kind"] in BINDING_KINDS):
        name = f"{binding['kind']}/{binding['metadata']['name']}"
        if binding["roleRef"]["kind"] == "ClusterRole" and binding["roleRef"]["name"] in ADMIN_ROLES:
            problems.append(f"{name}: binds {binding['roleRef']['name']}")
        for subject in binding.get("subjects") or []:
            if subject["kind"] == "Group" and (subject["name"] in BROAD_GROUPS or subject["name"] == "system:masters"):
                problems.append(f"{name}: binds group {subject['name']}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_bindings_refer_to_roles_that_exist(environment):
    objects = dist_objects(environment)
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects if o["kind"] in RBAC_KINDS}
    missing = []
    for binding in (o for o in objects if o["kind"] in BINDING_KINDS):
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        if (ref["kind"], namespace, ref["name"]) not in roles:
            missing.append(f"{binding['metadata']['name']} -> {ref['kind']}/{ref['name']}")
    assert not missing, missing
