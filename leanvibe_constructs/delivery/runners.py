"""GitHubRunners: GitHub Actions runners in the cluster, as an actions-runner-controller scale set.

One ``AutoscalingRunnerSet`` (actions-runner-controller's "runner scale
set" mode, ``actions.github.com/v1alpha1``) in its own namespace. The scale
set's name is the ``runs-on`` label of the jobs it serves. The controller
itself (the ``gha-runner-scale-set-controller`` chart) is installed once per
cluster by an admin and is not part of this construct.

Around it:
- the namespace, labelled for Pod Security: ``enforce: baseline``,
  ``warn``/``audit``: ``restricted``. The runner pods this construct
  templates meet "restricted" (non-root, no privilege escalation, all
  capabilities dropped, RuntimeDefault seccomp); "baseline" is enforced
  rather than "restricted" only so that a scale set given ``run_as_root``
  (a CI job that installs system packages, as this repository's .ci/run
  does with apt-get) can start. The warn/audit labels keep every such
  deviation visible;
- a ServiceAccount. With ``deploy_namespace`` set it gets a Role there,
  bound by a RoleBinding in that namespace, with only what the deploy job
  runs: ``kubectl apply --server-side`` (get, list, watch, create, patch on
  the kinds in ``deploy_resources``), ``kubectl rollout status``/``undo``
  (get/watch Deployments, list ReplicaSets, patch Deployments). No delete,
  no Secrets, no RBAC, nothing cluster-wide. Without ``deploy_namespace``
  the token is not even mounted: that is the scale set for pull-request
  jobs;
- GitHub App credentials are never in a manifest: ``githubConfigSecret``
  names an existing Secret (keys ``github_app_id``,
  ``github_app_installation_id``, ``github_app_private_key``) created out of
  band, e.g. by an external-secrets operator;
- a NetworkPolicy that denies all ingress and allows egress only to cluster
  DNS, to public addresses on ``internet_ports`` (443: GitHub, the container
  registry) and to the Kubernetes API server's endpoint addresses
  (``kubernetes_api_cidrs``) on ``kubernetes_api_ports``. Pods in the
  cluster, private ranges and the cloud metadata service are not reachable.
  Anything more is declared with ``allow_to(workload)``, e.g. the preview
  Service's pods for the smoke test. With ``create_namespace`` a default-deny
  policy for the whole namespace comes with it, so any other pod started
  there has no network at all.

The AutoscalingRunnerSet is a plain ApiObject validated against an excerpt of
the upstream CRD (crds/actions.github.com_autoscalingrunnersets.excerpt.yaml,
whose header says exactly what was elided and why), not a ``cdk8s import``
of it: the upstream CRD is 1.1 MB, two embedded PodTemplateSpec schemas.
"""

from __future__ import annotations

from typing import Any, Literal

from constructs import Construct
from pydantic import Field, model_validator

from .._k8s import api_object
from .._labels import Identity
from .._network import (
    KUBERNETES_API_PORTS,
    NAMESPACE_NAME_LABEL,
    Endpoint,
    Port,
    IpBlockCidrs,
    PortNumbers,
    connect,
    endpoint_of,
)
from .._pod import Image, image_tag, restricted_container_security_context
from .._props import DnsLabel, Props, Quantity, quantity_value

ARC_API_VERSION = "actions.github.com/v1alpha1"
RUNNER_UID = 1001  # the "runner" user of ghcr.io/actions/actions-runner images

# (API group, resource) pairs the deploy job applies: every namespaced kind the
# platform's charts emit. Roles, RoleBindings and Secrets are deliberately absent.
DEFAULT_DEPLOY_RESOURCES: tuple[tuple[str, str], ...] = (
    ("", "configmaps"),
    ("", "serviceaccounts"),
    ("", "services"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("autoscaling.k8s.io", "verticalpodautoscalers"),
    ("monitoring.coreos.com", "podmonitors"),
    ("monitoring.coreos.com", "prometheusrules"),
    ("monitoring.coreos.com", "servicemonitors"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "networkpolicies"),
    ("policy", "poddisruptionbudgets"),
)


class GitHubRunnersProps(Props):
    """Props of :class:`GitHubRunners`. ``github_config_url`` and ``image`` are required."""

    github_config_url: str = Field(
        pattern=r"^https://[^\s/]+/[^\s]+$",
        description="Repository, organization or enterprise URL the runners register with, e.g. "
        "'https://github.com/leanvibe/agent-hive'. Required.",
    )
    image: Image = Field(
        description="Runner image pinned by tag. It must provide what the jobs run: for the generated "
        "pipeline git, curl, make, python3 (3.11+) and, for deploying, kubectl. Required (the stock "
        "ghcr.io/actions/actions-runner image has no kubectl, so there is no sensible default).",
    )
    name: DnsLabel = Field(
        "leanvibe-deploy",
        description="Name of the scale set, which is also the `runs-on` label of its jobs. Default: 'leanvibe-deploy'.",
    )
    namespace: DnsLabel = Field("leanvibe-runners", description="Namespace of the runners. Default: 'leanvibe-runners'.")
    create_namespace: bool = Field(
        True,
        description="Emit the Namespace with its Pod Security labels; False when two scale sets share it. "
        "Default: True.",
    )
    part_of: DnsLabel = Field("leanvibe", description="app.kubernetes.io/part-of label. Default: 'leanvibe'.")
    github_app_secret_name: DnsLabel = Field(
        "leanvibe-github-app",
        description="Existing Secret in `namespace` with the GitHub App's github_app_id, "
        "github_app_installation_id and github_app_private_key. Default: 'leanvibe-github-app'.",
    )
    runner_group: str | None = Field(
        None,
        min_length=1,
        description="GitHub runner group; restrict it to the repository's main-branch workflow for the "
        "deploy scale set. Default: the 'Default' group.",
    )
    min_runners: int = Field(0, ge=0, le=100, description="Idle runners kept warm. Default: 0 (scale from zero).")
    max_runners: int = Field(4, ge=1, le=100, description="Most runners at once. Default: 4.")
    cpu_request: Quantity = Field("500m", description="CPU request of a runner. Default: '500m'.")
    cpu_limit: Quantity = Field("2", description="CPU limit of a runner. Default: '2'.")
    memory_request: Quantity = Field("2Gi", description="Memory request of a runner. Default: '2Gi'.")
    memory_limit: Quantity = Field(
        "2Gi", description="Memory limit of a runner. Default: '2Gi' (equal to the request)."
    )
    work_volume_size: Quantity = Field(
        "10Gi", description="Size limit of the emptyDir holding the job's workspace. Default: '10Gi'."
    )
    deploy_namespace: DnsLabel | None = Field(
        "leanvibe",
        description="Namespace the jobs may deploy to (Role + RoleBinding there). None: no Kubernetes "
        "rights and no mounted token, for pull-request jobs. Default: 'leanvibe'.",
    )
    deploy_resources: tuple[tuple[str, str], ...] = Field(
        DEFAULT_DEPLOY_RESOURCES,
        min_length=1,
        description="(API group, resource) pairs the deploy job may apply. Default: the namespaced kinds "
        "the platform emits (Deployments, Services, ConfigMaps, PodDisruptionBudgets, NetworkPolicies, "
        "HPAs, VPAs, monitors...), never Secrets or RBAC.",
    )
    run_as_root: bool = Field(
        False,
        description="Run the runner as root with privilege escalation allowed (jobs that apt-get install); "
        "allowed by the namespace's 'baseline' enforcement and reported by its 'restricted' warn/audit. "
        "Default: False (the pod meets 'restricted').",
    )
    internet_ports: PortNumbers = Field(
        (443,),
        min_length=1,
        description="TCP ports the runners may reach on public addresses (everything but the private, "
        "link-local and CGNAT ranges): GitHub, the container registry. Default: (443,).",
    )
    kubernetes_api_cidrs: IpBlockCidrs = Field(
        (),
        description="Addresses of the Kubernetes API server endpoints, as CIDRs (`kubectl get endpointslices "
        "-n default -l kubernetes.io/service-name=kubernetes`), for the deploy job's kubectl. Required when "
        "deploy_namespace is set; a /0 is refused, as ZeroTrustPolicies refuses it. Default: none (no path "
        "to the API, for runners without deploy rights).",
    )
    kubernetes_api_ports: PortNumbers = Field(
        KUBERNETES_API_PORTS,
        min_length=1,
        description="Ports of the API server endpoints, after the Service's DNAT: 443 on GKE, EKS and AKS, "
        "6443 on kubeadm clusters. Default: (443, 6443).",
    )
    dns_namespace: DnsLabel = Field("kube-system", description="Namespace of the cluster DNS. Default: 'kube-system'.")

    @model_validator(mode="after")
    def _check(self) -> GitHubRunnersProps:
        if self.min_runners > self.max_runners:
            raise ValueError(f"min_runners ({self.min_runners}) must be <= max_runners ({self.max_runners})")
        for resource in ("cpu", "memory"):
            request, limit = getattr(self, f"{resource}_request"), getattr(self, f"{resource}_limit")
            if quantity_value(request) > quantity_value(limit):
                raise ValueError(f"{resource}_request ({request}) must be <= {resource}_limit ({limit})")
        if self.deploy_namespace == self.namespace:
            raise ValueError(
                f"deploy_namespace ({self.deploy_namespace}) must differ from namespace ({self.namespace}): "
                "runners must not be able to rewrite their own namespace"
            )
        if self.deploy_namespace is not None and not self.kubernetes_api_cidrs:
            raise ValueError(
                f"kubernetes_api_cidrs (()) must list the API server's endpoint addresses when deploy_namespace "
                f"({self.deploy_namespace}) is set: the deploy job's kubectl talks to it "
                "(kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes)"
            )
        return self


class GitHubRunners(Construct):
    """An actions-runner-controller runner scale set with least-privilege deploy rights.

    Attributes: ``runs_on`` (the label jobs use), ``namespace``,
    ``service_account_name``, ``endpoint`` (the runner pods, for
    ``allow_to``), ``identity``.
    """

    def __init__(self, scope: Construct, id: str, props: GitHubRunnersProps | None = None, **kwargs: Any):
        super().__init__(scope, id)
        self.props = p = GitHubRunnersProps.build(props, **kwargs)
        self.identity = Identity(
            name="github-actions-runner", instance=p.name, component="ci-runner", part_of=p.part_of,
            version=image_tag(p.image),
        )
        self.runs_on = p.name
        self.namespace = p.namespace
        self.service_account_name = p.name
        self.endpoint = Endpoint.workload(self, identity=self.identity, namespace=p.namespace)

        if p.create_namespace:
            api_object(
                self, "Namespace", api_version="v1", kind="Namespace", name=p.namespace, identity=self.identity,
                labels=pod_security_labels(),
            )
            # Any other pod started here (a debug pod, a job someone runs by hand)
            # gets no network at all: the runners' own policy is the only opening.
            api_object(
                self, "DefaultDeny", api_version="networking.k8s.io/v1", kind="NetworkPolicy",
                name=f"{p.part_of}-runners-default-deny", namespace=p.namespace, identity=self.identity,
                spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            )
        self.service_account = api_object(
            self, "ServiceAccount", api_version="v1", kind="ServiceAccount", name=p.name,
            namespace=p.namespace, identity=self.identity, automountServiceAccountToken=False,
        )
        if p.deploy_namespace:
            api_object(
                self, "DeployRole", api_version="rbac.authorization.k8s.io/v1", kind="Role",
                name=f"{p.name}-deploy", namespace=p.deploy_namespace, identity=self.identity,
                rules=deploy_rules(p.deploy_resources),
            )
            api_object(
                self, "DeployRoleBinding", api_version="rbac.authorization.k8s.io/v1", kind="RoleBinding",
                name=f"{p.name}-deploy", namespace=p.deploy_namespace, identity=self.identity,
                roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{p.name}-deploy"},
                subjects=[{"kind": "ServiceAccount", "name": p.name, "namespace": p.namespace}],
            )
        self.runner_set = api_object(
            self, "Resource", api_version=ARC_API_VERSION, kind="AutoscalingRunnerSet", name=p.name,
            namespace=p.namespace, identity=self.identity, spec=runner_set_spec(p, self.identity),
        )
        api_object(
            self, "NetworkPolicy", api_version="networking.k8s.io/v1", kind="NetworkPolicy", name=f"{p.name}-egress",
            namespace=p.namespace, identity=self.identity, spec=network_policy_spec(p, self.identity),
        )

    def allow_to(self, server: Endpoint | Any, port: Literal["http", "metrics"] | int = "http") -> None:
        """Let the runners reach a workload (e.g. the API, for the preview smoke test) and let it accept them."""
        endpoint = endpoint_of(server)
        if isinstance(port, int):
            number = port
        else:
            number = getattr(server, f"{port}_port", None)
            if number is None:
                raise TypeError(f"{server!r} has no {port}_port; pass the port number")
        connect(self.endpoint, endpoint, (Port.tcp(number),))


def pod_security_labels() -> dict[str, str]:
    return {
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }


def deploy_rules(resources: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """Role rules for server-side apply of ``resources`` plus rollout status/undo, one rule per API group."""
    by_group: dict[str, list[str]] = {}
    for group, resource in resources:
        by_group.setdefault(group, []).append(resource)
    rules = [
        {"apiGroups": [group], "resources": sorted(set(names)), "verbs": ["create", "get", "list", "patch", "watch"]}
        for group, names in sorted(by_group.items())
    ]
    # kubectl rollout status watches the Deployment; rollout undo reads the
    # ReplicaSets' revision history and patches the Deployment back to one.
    rules.append({"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]})
    return rules


def runner_container(p: GitHubRunnersProps) -> dict[str, Any]:
    security = restricted_container_security_context(read_only_root=False)
    if p.run_as_root:
        security.update(allowPrivilegeEscalation=True, runAsNonRoot=False)
    return {
        # actions-runner-controller finds the runner by this container name.
        "name": "runner",
        "image": p.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/home/runner/run.sh"],
        "resources": {
            "requests": {"cpu": p.cpu_request, "memory": p.memory_request},
            "limits": {"cpu": p.cpu_limit, "memory": p.memory_limit},
        },
        # The runner updates itself and writes its diagnostics under /home/runner,
        # so the root filesystem stays writable; the workspace is an emptyDir.
        "securityContext": security,
        "volumeMounts": [{"name": "work", "mountPath": "/home/runner/_work"}],
    }


def runner_pod_spec(p: GitHubRunnersProps) -> dict[str, Any]:
    pod_security: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}, "fsGroup": RUNNER_UID}
    if not p.run_as_root:
        pod_security.update(runAsNonRoot=True, runAsUser=RUNNER_UID, runAsGroup=RUNNER_UID)
    return {
        "serviceAccountName": p.name,
        # The deploy job's kubectl uses the in-cluster token; a runner without
        # deploy rights gets none.
        "automountServiceAccountToken": p.deploy_namespace is not None,
        "restartPolicy": "Never",
        "securityContext": pod_security,
        "containers": [runner_container(p)],
        "volumes": [{"name": "work", "emptyDir": {"sizeLimit": p.work_volume_size}}],
        "enableServiceLinks": False,
    }


def runner_set_spec(p: GitHubRunnersProps, identity: Identity) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "githubConfigUrl": p.github_config_url,
        "githubConfigSecret": p.github_app_secret_name,
        "runnerScaleSetName": p.name,
        "minRunners": p.min_runners,
        "maxRunners": p.max_runners,
        "template": {"metadata": {"labels": identity.labels()}, "spec": runner_pod_spec(p)},
    }
    if p.runner_group:
        spec["runnerGroup"] = p.runner_group
    return spec


def network_policy_spec(p: GitHubRunnersProps, identity: Identity) -> dict[str, Any]:
    dns_ports = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    egress: list[dict[str, Any]] = [
        {
            "to": [{
                "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: p.dns_namespace}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }],
            "ports": dns_ports,
        },
        # GitHub's and the registry's addresses change without notice, so the
        # whole public internet is open on these ports; pods of the cluster,
        # private ranges and the metadata service stay closed.
        {"to": Endpoint.internet().peers, "ports": _tcp_ports(p.internet_ports)},
    ]
    if p.kubernetes_api_cidrs:
        egress.append({
            "to": Endpoint.ip_blocks("kubernetes-api", p.kubernetes_api_cidrs).peers,
            "ports": _tcp_ports(p.kubernetes_api_ports),
        })
    return {
        "podSelector": {"matchLabels": identity.selector()},
        # Ingress listed with no rule: nothing may connect to a runner.
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [],
        "egress": egress,
    }


def _tcp_ports(numbers: tuple[int, ...]) -> list[dict[str, Any]]:
    return [Port.tcp(n).render() for n in sorted(set(numbers))]
