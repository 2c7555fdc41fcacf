"""Every pod in dist/ meets the Pod Security "restricted" profile and is isolated by NetworkPolicies.

The namespace enforces ``restricted`` through Pod Security Admission, so a
pod that breaks a rule is rejected at apply time, in production, by the
ReplicaSet or StatefulSet controller: the Deployment "succeeds" and no pod
ever starts. This test runs the same rules before anything is applied.

One namespace enforces less: the CI runners' (GitHubRunners) enforces
``baseline`` so that a scale set given ``run_as_root`` can start, and warns
and audits at ``restricted``. Its pods are checked against what it enforces
and, since the platform uses the construct's default (non-root) runner,
against ``restricted`` as well. The runner pods are templated by an
AutoscalingRunnerSet, which actions-runner-controller turns into pods, so
its ``spec.template`` is checked like a Deployment's.

The rules are the documented controls of the Baseline and Restricted
policies (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
as of the versions this library targets (v1.27 through v1.37).
"""

from __future__ import annotations

from typing import Any

import pytest

from .manifests import dist_objects
from .netpol_eval import Cluster, pods_of_workload

ENVIRONMENTS = ("production", "dev")
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
# Custom resources whose controller creates pods from their spec.template.
CUSTOM_POD_TEMPLATE_KINDS = {"AutoscalingRunnerSet"}
PROFILES = ("baseline", "restricted")
# Namespaces that enforce less than restricted, and why; all others must enforce restricted.
ENFORCE_EXCEPTIONS = {
    "leanvibe-runners": ("baseline", "GitHubRunners: a scale set with run_as_root (apt-get in CI jobs) must start"),
}

BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}


def pod_template(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Pod":
        return obj
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return obj["spec"]["template"]


def restricted_violations(template: dict[str, Any]) -> list[str]:
    """Every control of the restricted profile (which includes baseline) that ``template`` breaks."""
    return pod_security_violations(template, "restricted")


def baseline_violations(template: dict[str, Any]) -> list[str]:
    """Every control of the baseline profile that ``template`` breaks."""
    return pod_security_violations(template, "baseline")


def pod_security_violations(template: dict[str, Any], level: str) -> list[str]:
    """Every control of Pod Security ``level`` ('baseline' or 'restricted') that ``template`` breaks."""
    assert level in PROFILES, level
    spec = template["spec"]
    annotations = template.get("metadata", {}).get("annotations") or {}
    pod_ctx = spec.get("securityContext") or {}
    containers = [
        (kind, c) for kind in ("initContainers", "containers", "ephemeralContainers") for c in spec.get(kind) or []
    ]
    problems: list[str] = []

    # --- baseline ---
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"host namespaces: {field} must be false")
    if (pod_ctx.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("HostProcess: pod windowsOptions.hostProcess must be false")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            problems.append(f"HostPath volumes: volume {volume['name']}")
    for sysctl in pod_ctx.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"sysctls: {sysctl['name']} is not in the safe set")
    problems += _selinux(pod_ctx.get("seLinuxOptions"), "pod")
    problems += _apparmor(pod_ctx.get("appArmorProfile"), "pod")
    for key, value in annotations.items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/"):
            if value != "runtime/default" and not value.startswith("localhost/"):
                problems.append(f"AppArmor: annotation {key}={value}")
    if (pod_ctx.get("seccompProfile") or {}).get("type") == "Unconfined":
        problems.append("seccomp: pod profile must not be Unconfined")
    for kind, container in containers:
        where = f"{kind[:-1]} {container['name']}"
        ctx = container.get("securityContext") or {}
        if ctx.get("privileged"):
            problems.append(f"privileged: {where}")
        if (ctx.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"HostProcess: {where}")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"host ports: {where} port {port.get('name') or port['containerPort']}")
        problems += _selinux(ctx.get("seLinuxOptions"), where)
        problems += _apparmor(ctx.get("appArmorProfile"), where)
        if ctx.get("procMount", "Default") != "Default":
            problems.append(f"/proc mount: {where} must use Default")
        if (ctx.get("seccompProfile") or {}).get("type") == "Unconfined":
            problems.append(f"seccomp: {where} profile must not be Unconfined")
        added = set((ctx.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            problems.append(f"capabilities (baseline): {where} adds {sorted(added - BASELINE_CAPABILITIES)}")
    if level == "baseline":
        return problems

    # --- restricted ---
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume types: volume {volume['name']} uses {sorted(kinds - RESTRICTED_VOLUME_TYPES)}")
    if pod_ctx.get("runAsUser") == 0:
        problems.append("non-root user: pod runAsUser must not be 0")
    pod_seccomp = (pod_ctx.get("seccompProfile") or {}).get("type")
    for kind, container in containers:
        where = f"{kind[:-1]} {container['name']}"
        ctx = container.get("securityContext") or {}
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"privilege escalation: {where} must set allowPrivilegeEscalation false")
        if ctx.get("runAsNonRoot") is False or (not pod_ctx.get("runAsNonRoot") and ctx.get("runAsNonRoot") is not True):
            problems.append(f"non-root: {where} must run with runAsNonRoot true (pod or container)")
        if ctx.get("runAsUser") == 0:
            problems.append(f"non-root user: {where} runAsUser must not be 0")
        if (ctx.get("seccompProfile") or {}).get("type") is None and pod_seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"seccomp: {where} needs RuntimeDefault or Localhost (pod or container)")
        capabilities = ctx.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"capabilities: {where} must drop ALL")
        added = set(capabilities.get("add") or [])
        if added - {"NET_BIND_SERVICE"}:
            problems.append(f"capabilities: {where} may add only NET_BIND_SERVICE, adds {sorted(added)}")
    return problems


def _selinux(options: dict[str, Any] | None, where: str) -> list[str]:
    options = options or {}
    problems = []
    if options.get("type", "") not in SELINUX_TYPES:
        problems.append(f"SELinux: {where} type {options['type']}")
    for field in ("user", "role"):
        if options.get(field):
            problems.append(f"SELinux: {where} must not set {field}")
    return problems


def _apparmor(profile: dict[str, Any] | None, where: str) -> list[str]:
    if profile and profile.get("type") not in ("RuntimeDefault", "Localhost"):
        return [f"AppArmor: {where} profile {profile.get('type')}"]
    return []


def workloads(environment: str) -> list[dict[str, Any]]:
    """Every object in dist/<environment> that templates pods, the runner scale sets included."""
    return [o for o in dist_objects(environment) if o["kind"] in POD_TEMPLATE_KINDS | CUSTOM_POD_TEMPLATE_KINDS]


def _ids(environment: str) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in workloads(environment)]


# --- dist/ -------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_dist_has_pods_to_check(environment):
    assert workloads(environment), f"no pod templates in dist/{environment}"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_pod_in_dist_meets_the_restricted_profile(environment):
    problems = [
        f"{o['kind']}/{o['metadata']['name']}: {problem}"
        for o in workloads(environment)
        for problem in restricted_violations(pod_template(o))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_pod_namespace_enforces_restricted_or_its_documented_exception(environment):
    objects = dist_objects(environment)
    namespaces = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Namespace"}
    for workload in workloads(environment):
        name = workload["metadata"]["namespace"]
        namespace = namespaces.get(name)
        assert namespace, f"{workload['metadata']['name']}: its namespace is not in dist/{environment}"
        labels = namespace["metadata"]["labels"]
        expected = ENFORCE_EXCEPTIONS.get(name, ("restricted", ""))[0]
        assert labels["pod-security.kubernetes.io/enforce"] == expected, name
        # Whatever is enforced, deviations from restricted stay visible.
        assert labels.get("pod-security.kubernetes.io/warn", "restricted") == "restricted", name
        assert labels.get("pod-security.kubernetes.io/audit", "restricted") == "restricted", name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_pod_meets_the_profile_its_namespace_enforces(environment):
    objects = dist_objects(environment)
    enforced = {
        o["metadata"]["name"]: o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for o in objects if o["kind"] == "Namespace"
    }
    problems = [
        f"{o['kind']}/{o['metadata']['name']} ({enforced[o['metadata']['namespace']]}): {problem}"
        for o in workloads(environment)
        for problem in pod_security_violations(pod_template(o), enforced[o["metadata"]["namespace"]])
    ]
    assert not problems, "\n".join(problems)


def test_production_has_runner_pods_to_check():
    assert [o for o in workloads("production") if o["kind"] in CUSTOM_POD_TEMPLATE_KINDS]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_pod_is_isolated_by_network_policies_in_both_directions(environment):
    objects = dist_objects(environment)
    cluster = Cluster()
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        cluster.add_policy(policy)
    exposed = []
    for workload in workloads(environment):
        pod = pods_of_workload(workload) if workload["kind"] != "Pod" else None
        assert pod is not None, "bare Pods are not expected in dist/"
        for direction in ("Ingress", "Egress"):
            if not cluster.is_isolated(pod, direction):
                exposed.append(f"{workload['kind']}/{workload['metadata']['name']}: no {direction} policy selects it")
    assert not exposed, "\n".join(exposed)


# --- the checker itself, on pods with known answers ---------------------------------------


def restricted_pod(**overrides: Any) -> dict[str, Any]:
    container = {
        "name": "app",
        "image": "example:1",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    spec = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    spec.update(overrides)
    return {"metadata": {}, "spec": spec}


def with_container_context(**context: Any) -> dict[str, Any]:
    pod = restricted_pod()
    pod["spec"]["containers"][0]["securityContext"].update(context)
    return pod


def test_a_minimal_restricted_pod_passes():
    assert restricted_violations(restricted_pod()) == []


def test_a_root_pod_with_privilege_escalation_meets_baseline_but_not_restricted():
    pod = with_container_context(allowPrivilegeEscalation=True, runAsNonRoot=False, runAsUser=0)
    pod["spec"]["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    assert baseline_violations(pod) == []
    assert {p.split(":")[0] for p in restricted_violations(pod)} == {
        "privilege escalation", "non-root", "non-root user"}


@pytest.mark.parametrize(
    ("pod", "control"),
    [
        (restricted_pod(hostNetwork=True), "host namespaces"),
        (with_container_context(privileged=True), "privileged"),
        (with_container_context(capabilities={"add": ["SYS_ADMIN"]}), "capabilities (baseline)"),
        (with_container_context(seccompProfile={"type": "Unconfined"}), "seccomp"),
    ],
)
def test_baseline_controls_are_checked_at_baseline(pod, control):
    assert any(control in problem for problem in baseline_violations(pod)), baseline_violations(pod)


def test_container_level_non_root_and_seccomp_satisfy_the_profile_without_pod_level_settings():
    pod = restricted_pod(securityContext={})
    pod["spec"]["containers"][0]["securityContext"].update(
        runAsNonRoot=True, seccompProfile={"type": "Localhost", "localhostProfile": "x.json"})
    assert restricted_violations(pod) == []


@pytest.mark.parametrize(
    ("pod", "control"),
    [
        (restricted_pod(hostNetwork=True), "host namespaces"),
        (restricted_pod(hostPID=True), "host namespaces"),
        (restricted_pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}]), "HostPath"),
        (restricted_pod(volumes=[{"name": "nfs", "nfs": {"server": "x", "path": "/"}}]), "volume types"),
        (restricted_pod(securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                                         "sysctls": [{"name": "kernel.msgmax", "value": "1"}]}), "sysctls"),
        (restricted_pod(securityContext={"seccompProfile": {"type": "RuntimeDefault"}}), "non-root"),
        (restricted_pod(securityContext={"runAsNonRoot": True}), "seccomp"),
        (restricted_pod(securityContext={"runAsNonRoot": True, "runAsUser": 0,
                                         "seccompProfile": {"type": "RuntimeDefault"}}), "non-root user"),
        (with_container_context(privileged=True), "privileged"),
        (with_container_context(allowPrivilegeEscalation=True), "privilege escalation"),
        (with_container_context(runAsNonRoot=False), "non-root"),
        (with_container_context(seccompProfile={"type": "Unconfined"}), "seccomp"),
        (with_container_context(capabilities={"drop": ["NET_RAW"]}), "must drop ALL"),
        (with_container_context(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}), "only NET_BIND_SERVICE"),
        (with_container_context(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}), "capabilities (baseline)"),
        (with_container_context(procMount="Unmasked"), "/proc mount"),
        (with_container_context(seLinuxOptions={"type": "spc_t"}), "SELinux"),
        (with_container_context(seLinuxOptions={"user": "root"}), "SELinux"),
        (with_container_context(appArmorProfile={"type": "Unconfined"}), "AppArmor"),
        (with_container_context(windowsOptions={"hostProcess": True}), "HostProcess"),
    ],
)
def test_each_restricted_control_is_checked(pod, control):
    assert any(control in problem for problem in restricted_violations(pod)), restricted_violations(pod)


def test_host_ports_and_apparmor_annotations_are_checked():
    pod = restricted_pod()
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 80}]
    pod["metadata"]["annotations"] = {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}
    problems = restricted_violations(pod)
    assert any("host ports" in p for p in problems) and any("AppArmor" in p for p in problems)


def test_init_containers_are_held_to_the_same_rules():
    pod = restricted_pod(initContainers=[{"name": "init", "image": "x:1"}])
    problems = restricted_violations(pod)
    assert any("initContainer init" in p and "privilege escalation" in p for p in problems)
    assert any("initContainer init" in p and "drop ALL" in p for p in problems)
