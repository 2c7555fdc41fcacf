"""HAApiDeployment: a stateless HTTP API that stays up through node, zone and rollout failures.

Synthesizes a Deployment, its ServiceAccount, a ClusterIP Service with client
session affinity, a PodDisruptionBudget (only when more than one replica) and
an optional TLS Ingress.

With ``release="blue_green"`` it synthesizes two coloured Deployments
(``<name>-blue``, ``<name>-green``), each with its own image. The live Service
(``<name>``) selects the active colour, a preview Service (``<name>-preview``)
the idle one, and switching ``active_colour`` changes only those two
selectors. Everything that must cover both colours (the ServiceAccount, the
network endpoint and its policies, the scrape annotations) selects the
colour-free selector, so a switch never touches it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

from constructs import Construct
from pydantic import Field, model_validator

from ._k8s import api_object
from ._labels import Identity
from ._network import Endpoint, Port, connect, endpoint_of
from ._pod import (
    Image,
    ProbeSettings,
    hostname_anti_affinity,
    http_probe,
    image_tag,
    restricted_container_security_context,
    restricted_pod_security_context,
    spread_constraints,
)
from ._props import DnsLabel, Props, Quantity, quantity_value

Colour = Literal["blue", "green"]
COLOURS: tuple[Colour, Colour] = ("blue", "green")
COLOUR_LABEL = "leanvibe.dev/colour"
"""Pod and Deployment label telling the two blue-green Deployments apart; never part of a shared selector."""
RELEASE_ROLE_LABEL = "leanvibe.dev/release-role"
"""Service label, 'live' or 'preview': the pipeline applies the live Service last, as the switch."""


class IngressSettings(Props):
    """An Ingress in front of the API's Service, terminating TLS."""

    host: str = Field(
        description="Public host name, e.g. 'api.leanvibe.example'. Required.",
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$",
    )
    tls_secret_name: DnsLabel = Field(
        description="Name of an existing kubernetes.io/tls Secret for the host. Required."
    )
    ingress_class_name: DnsLabel = Field("nginx", description="IngressClass to use. Default: 'nginx'.")
    path: str = Field("/", pattern=r"^/", description="Path prefix routed to the API. Default: '/'.")


class SecretKeyRef(Props):
    """One key of an existing Secret, exposed to the container as an environment variable."""

    secret_name: DnsLabel = Field(description="Name of the Secret. Required.")
    key: str = Field(description="Key within the Secret. Required.", min_length=1)


def _default_startup() -> ProbeSettings:
    # Up to 5 s x 30 = 150 s for the first successful check: slow first starts
    # (migrations, cache warm-up) are not mistaken for a hung process.
    return ProbeSettings(path="/health/startup", period_seconds=5, timeout_seconds=2, failure_threshold=30)


def _default_readiness() -> ProbeSettings:
    # Quick to take a pod out of the Service (15 s), quick to put it back.
    return ProbeSettings(path="/health/ready", period_seconds=5, timeout_seconds=2, failure_threshold=3)


def _default_liveness() -> ProbeSettings:
    # Slower and more tolerant than readiness (60 s): a busy pod should be
    # taken out of rotation long before it is restarted.
    return ProbeSettings(path="/health/live", period_seconds=10, timeout_seconds=5, failure_threshold=6)


def _stack_prometheus_url() -> str:
    # Imported late: the monitoring package imports this module (SecretKeyRef).
    from .monitoring.prometheus_config import prometheus_url

    return prometheus_url()


class HAApiDeploymentProps(Props):
    """Props of :class:`HAApiDeployment`. Only ``image`` is required."""

    image: Image = Field(
        description="Container image pinned by tag, optionally '@sha256:' digest. With release 'blue_green' it "
        "is the default image of both colours and its tag is the version label of the objects they share "
        "(Services, PodDisruptionBudgets, policies). Required."
    )
    name: DnsLabel = Field("leanvibe-api", description="Name of every object. Default: 'leanvibe-api'.")
    namespace: DnsLabel = Field("leanvibe", description="Namespace. Default: 'leanvibe'.")
    part_of: DnsLabel = Field("leanvibe", description="app.kubernetes.io/part-of label. Default: 'leanvibe'.")
    replicas: int = Field(
        5,
        ge=1,
        le=1000,
        description="Replicas, or the minimum when an autoscaler owns the count. Default: 5 (the HA floor).",
    )
    http_port: int = Field(8000, ge=1024, le=65535, description="Container port serving the API. Default: 8000.")
    metrics_port: int = Field(9090, ge=1024, le=65535, description="Container port serving /metrics. Default: 9090.")
    cpu_request: Quantity = Field("1", description="CPU request. Default: '1' (one core serves 618.7 req/s).")
    cpu_limit: Quantity = Field("2", description="CPU limit. Default: '2'.")
    memory_request: Quantity = Field("1Gi", description="Memory request. Default: '1Gi'.")
    memory_limit: Quantity = Field(
        "1Gi", description="Memory limit. Default: '1Gi' (equal to the request, so no pod is OOM-killed by a neighbour)."
    )
    ephemeral_storage_request: Quantity = Field("256Mi", description="Ephemeral storage request. Default: '256Mi'.")
    ephemeral_storage_limit: Quantity = Field("1Gi", description="Ephemeral storage limit. Default: '1Gi'.")
    startup_probe: ProbeSettings = Field(
        default_factory=_default_startup, description="Default: GET /health/startup every 5 s, 30 failures (150 s)."
    )
    readiness_probe: ProbeSettings = Field(
        default_factory=_default_readiness, description="Default: GET /health/ready every 5 s, 3 failures."
    )
    liveness_probe: ProbeSettings = Field(
        default_factory=_default_liveness, description="Default: GET /health/live every 10 s, 6 failures."
    )
    run_as_user: int = Field(10001, ge=10000, description="UID and GID of the process. Default: 10001.")
    zone_spread: Literal["required", "preferred"] = Field(
        "required",
        description="'required' refuses to schedule a pod that would unbalance zones by more than one; "
        "'preferred' only tries (single-zone clusters). Default: 'required'.",
    )
    min_zones: int = Field(
        3, ge=1, le=10, description="Zones replicas must spread over when zone_spread is 'required'. Default: 3."
    )
    session_affinity_timeout_seconds: int = Field(
        10800, ge=1, le=86400, description="ClientIP session affinity timeout. Default: 10800 (3 h)."
    )
    termination_grace_period_seconds: int = Field(
        45, ge=1, le=3600, description="Time a pod has to drain after SIGTERM. Default: 45."
    )
    pre_stop_delay_seconds: int = Field(
        10,
        ge=0,
        le=300,
        description="Sleep before SIGTERM so endpoints and load balancers stop sending traffic first. Default: 10.",
    )
    min_ready_seconds: int = Field(10, ge=0, le=600, description="Seconds a new pod must be ready. Default: 10.")
    progress_deadline_seconds: int = Field(
        300, ge=30, le=3600, description="A rollout without progress for this long is marked failed. Default: 300."
    )
    max_surge: str = Field(
        "25%", pattern=r"^([0-9]+|[0-9]{1,3}%)$", description="Extra pods during a rollout. Default: '25%'."
    )
    pdb_min_available: int | None = Field(
        None,
        ge=1,
        description="PodDisruptionBudget minAvailable. Default: the percentage that keeps all but one of "
        "`replicas` pods, e.g. 80% of 5; it scales with an autoscaled count and never blocks a drain.",
    )
    priority_class_name: DnsLabel | None = Field(None, description="PriorityClass of the pods. Default: none.")
    env: dict[str, str] = Field(default_factory=dict, description="Plain environment variables. Default: none.")
    secret_env: dict[str, SecretKeyRef] = Field(
        default_factory=dict, description="Environment variables read from existing Secrets. Default: none."
    )
    ingress: IngressSettings | None = Field(None, description="TLS Ingress for the API. Default: none.")
    release: Literal["rolling", "blue_green"] = Field(
        "rolling",
        description="'rolling': one Deployment updated in place (maxUnavailable 0). 'blue_green': two "
        "coloured Deployments behind a live and a preview Service; a release deploys the idle colour, "
        "smoke-tests it through the preview Service and switches the live Service. Default: 'rolling'.",
    )
    active_colour: Colour | None = Field(
        None,
        description="Colour the live Service selects; the preview Service selects the other. Only with "
        "release 'blue_green'. Default: 'blue'.",
    )
    blue_image: Image | None = Field(
        None, description="Image of the blue Deployment. Only with release 'blue_green'. Default: `image`."
    )
    green_image: Image | None = Field(
        None, description="Image of the green Deployment. Only with release 'blue_green'. Default: `image`."
    )
    idle_replicas: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="Replicas of the idle colour. Only with release 'blue_green'. Default: `replicas`, so "
        "switching back after a bad release is instant and at full capacity; a small floor (e.g. 1) "
        "saves capacity, at the price of a switch-back that waits for the old colour to scale up.",
    )

    argo_rollouts: bool = Field(
        False,
        description="With release 'blue_green': one Argo Rollouts Rollout (blueGreen strategy) instead of the two "
        "coloured Deployments, plus an AnalysisTemplate on the Prometheus SLO error ratio that the controller "
        "runs after each promotion, switching back on failure. Needs the Argo Rollouts controller; the colour "
        "props do not apply (the controller tracks the colours). Default: False.",
    )
    argo_prometheus_url: str = Field(
        default_factory=_stack_prometheus_url,
        pattern=r"^https?://",
        description="Prometheus the AnalysisTemplate queries. Only with argo_rollouts. Default: the "
        "MonitoringStack's Prometheus Service with its default props, 'http://leanvibe-prometheus.leanvibe.svc:9090'.",
    )
    argo_max_error_ratio: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="Share of 5xx answers above which the analysis fails. Only with argo_rollouts. Default: 0.01.",
    )
    argo_analysis_minutes: int = Field(
        10,
        ge=2,
        le=120,
        description="Minutes of post-promotion analysis, one measurement a minute; two failed measurements "
        "abort the release. Only with argo_rollouts. Default: 10.",
    )

    @property
    def live_colour(self) -> Colour:
        """The colour the live Service selects (blue-green only)."""
        return self.active_colour or "blue"

    @property
    def idle_colour(self) -> Colour:
        return "green" if self.live_colour == "blue" else "blue"

    def colour_image(self, colour: Colour) -> str:
        return (self.blue_image if colour == "blue" else self.green_image) or self.image

    def colour_replicas(self, colour: Colour) -> int:
        if colour == self.live_colour:
            return self.replicas
        return self.replicas if self.idle_replicas is None else self.idle_replicas

    @model_validator(mode="after")
    def _check_release(self) -> HAApiDeploymentProps:
        if self.release == "rolling":
            for field in ("active_colour", "blue_image", "green_image", "idle_replicas"):
                if getattr(self, field) is not None:
                    raise ValueError(
                        f"{field} ({getattr(self, field)}) is only used with release 'blue_green' "
                        "(release is 'rolling'): set release='blue_green' or drop it"
                    )
            if self.argo_rollouts:
                raise ValueError(
                    "argo_rollouts (True) is only used with release 'blue_green' (release is 'rolling'): "
                    "set release='blue_green' or drop it"
                )
            return self
        if self.argo_rollouts:
            for field in ("active_colour", "blue_image", "green_image", "idle_replicas"):
                if getattr(self, field) is not None:
                    raise ValueError(
                        f"{field} ({getattr(self, field)}) does not apply with argo_rollouts: the Argo Rollouts "
                        "controller tracks the colours; set `image` to the version to release"
                    )
        if self.idle_replicas is not None and self.idle_replicas > self.replicas:
            raise ValueError(
                f"idle_replicas ({self.idle_replicas}) must be <= replicas ({self.replicas}): "
                "the idle colour is a standby, not the bigger half"
            )
        if self.pdb_min_available is not None:
            raise ValueError(
                f"pdb_min_available ({self.pdb_min_available}) is not used with release 'blue_green': each "
                "colour gets a PodDisruptionBudget with maxUnavailable 1, which holds for any replica count"
            )
        return self

    @model_validator(mode="after")
    def _check_consistency(self) -> HAApiDeploymentProps:
        for resource in ("cpu", "memory", "ephemeral_storage"):
            request = getattr(self, f"{resource}_request")
            limit = getattr(self, f"{resource}_limit")
            if quantity_value(request) > quantity_value(limit):
                raise ValueError(
                    f"{resource}_request ({request}) must be <= {resource}_limit ({limit})"
                )
        if self.http_port == self.metrics_port:
            raise ValueError(f"http_port ({self.http_port}) and metrics_port ({self.metrics_port}) must differ")
        if self.pre_stop_delay_seconds >= self.termination_grace_period_seconds:
            raise ValueError(
                f"pre_stop_delay_seconds ({self.pre_stop_delay_seconds}) must be < "
                f"termination_grace_period_seconds ({self.termination_grace_period_seconds}), "
                "or the pod is killed before it starts draining"
            )
        if self.liveness_probe == self.readiness_probe:
            raise ValueError(
                "liveness_probe must differ from readiness_probe: identical probes restart pods that are "
                "only busy; give liveness a longer period or higher failure_threshold"
            )
        if self.pdb_min_available is not None and self.pdb_min_available >= self.replicas:
            raise ValueError(
                f"pdb_min_available ({self.pdb_min_available}) must be < replicas ({self.replicas}), "
                "or the PodDisruptionBudget blocks every node drain"
            )
        return self


class HAApiDeployment(Construct):
    """A highly available HTTP API.

    Attributes consumers use: ``service_name``, ``http_port``, ``metrics_port``,
    ``identity`` (labels and selector), ``endpoint`` (for network connections),
    ``deployments`` (every Deployment object: one for 'rolling', blue and green
    for 'blue_green'), ``deployment`` (the live one) and, for blue-green,
    ``preview_service_name``.
    """

    def __init__(self, scope: Construct, id: str, props: HAApiDeploymentProps | None = None, **kwargs: Any):
        super().__init__(scope, id)
        self.props = p = HAApiDeploymentProps.build(props, **kwargs)
        self.identity = Identity(
            name="agent-hive-api", instance=p.name, component="api", part_of=p.part_of, version=image_tag(p.image)
        )
        self.service_name = p.name
        self.namespace = p.namespace
        self.http_port = p.http_port
        self.metrics_port = p.metrics_port
        self.autoscaled = False
        self.blue_green = p.release == "blue_green"
        # The endpoint selects both colours: policies written against it
        # survive a colour switch unchanged.
        self.endpoint = Endpoint.workload(
            self, identity=self.identity, namespace=p.namespace, default_ports=(Port.tcp(p.http_port),)
        )

        self.service_account = api_object(
            self, "ServiceAccount", api_version="v1", kind="ServiceAccount", name=p.name,
            namespace=p.namespace, identity=self.identity, automountServiceAccountToken=False,
        )
        if self.blue_green and p.argo_rollouts:
            self._argo_rollout(p)
        elif self.blue_green:
            self._blue_green(p)
        else:
            self._rolling(p)
        if p.ingress is not None:
            api_object(
                self, "Ingress", api_version="networking.k8s.io/v1", kind="Ingress", name=p.name,
                namespace=p.namespace, identity=self.identity, spec=ingress_spec(p, p.ingress),
            )

    def _rolling(self, p: HAApiDeploymentProps) -> None:
        self.deployment = api_object(
            self, "Resource", api_version="apps/v1", kind="Deployment", name=p.name,
            namespace=p.namespace, identity=self.identity, spec=deployment_spec(p, self.identity),
            checkov_skip=checkov_exceptions(p),
        )
        self.deployments = {p.name: self.deployment}
        self.service = api_object(
            self, "Service", api_version="v1", kind="Service", name=p.name,
            namespace=p.namespace, identity=self.identity, spec=service_spec(p, self.identity),
        )
        if p.replicas > 1:
            self.disruption_budget = api_object(
                self, "DisruptionBudget", api_version="policy/v1", kind="PodDisruptionBudget", name=p.name,
                namespace=p.namespace, identity=self.identity,
                spec={
                    "minAvailable": pdb_min_available(p),
                    "selector": {"matchLabels": self.identity.selector()},
                    # Let a drain evict pods that are not ready anyway, so a
                    # crash-looping pod never blocks node maintenance.
                    "unhealthyPodEvictionPolicy": "AlwaysAllow",
                },
            )

    def _blue_green(self, p: HAApiDeploymentProps) -> None:
        self.preview_service_name = f"{p.name}-preview"
        self.deployments = {}
        for colour in COLOURS:
            identity = self.colour_identity(colour)
            name = f"{p.name}-{colour}"
            # The colour's Deployment is the primary object of this construct
            # in blue-green mode, so it hangs under "Resource".
            deployment = api_object(
                self, f"Resource{colour.title()}", api_version="apps/v1", kind="Deployment", name=name,
                namespace=p.namespace, identity=identity, labels={COLOUR_LABEL: colour},
                spec=deployment_spec(p, identity, colour=colour), checkov_skip=checkov_exceptions(p),
            )
            self.deployments[name] = deployment
            if p.replicas > 1:
                # One budget per colour with maxUnavailable 1: it never blocks a
                # drain, holds at any replica count (the idle floor included), and
                # does not change when the colours switch.
                api_object(
                    self, f"DisruptionBudget{colour.title()}", api_version="policy/v1",
                    kind="PodDisruptionBudget", name=name, namespace=p.namespace, identity=self.identity,
                    labels={COLOUR_LABEL: colour},
                    spec={
                        "maxUnavailable": 1,
                        "selector": {"matchLabels": colour_selector(self.identity, colour)},
                        "unhealthyPodEvictionPolicy": "AlwaysAllow",
                    },
                )
        self.deployment = self.deployments[f"{p.name}-{p.live_colour}"]
        self.service = api_object(
            self, "Service", api_version="v1", kind="Service", name=p.name,
            namespace=p.namespace, identity=self.identity, labels={RELEASE_ROLE_LABEL: "live"},
            spec=service_spec(p, self.identity, colour=p.live_colour),
        )
        self.preview_service = api_object(
            self, "PreviewService", api_version="v1", kind="Service", name=self.preview_service_name,
            namespace=p.namespace, identity=self.identity, labels={RELEASE_ROLE_LABEL: "preview"},
            spec=service_spec(p, self.identity, colour=p.idle_colour, session_affinity=False),
        )

    def _argo_rollout(self, p: HAApiDeploymentProps) -> None:
        # The controller labels each ReplicaSet's pods with rollouts-pod-template-hash
        # and adds that label to the two Services' selectors itself: ours select
        # both colours, exactly like the shared endpoint.
        self.preview_service_name = f"{p.name}-preview"
        self.analysis_template_name = f"{p.name}-error-ratio"
        self.analysis_template = api_object(
            self, "AnalysisTemplate", api_version="argoproj.io/v1alpha1", kind="AnalysisTemplate",
            name=self.analysis_template_name, namespace=p.namespace, identity=self.identity,
            spec=analysis_template_spec(p),
        )
        self.deployment = api_object(
            self, "Resource", api_version="argoproj.io/v1alpha1", kind="Rollout", name=p.name,
            namespace=p.namespace, identity=self.identity, spec=rollout_spec(p, self.identity),
            checkov_skip=checkov_exceptions(p),
        )
        self.deployments = {p.name: self.deployment}
        self.service = api_object(
            self, "Service", api_version="v1", kind="Service", name=p.name,
            namespace=p.namespace, identity=self.identity, labels={RELEASE_ROLE_LABEL: "live"},
            spec=service_spec(p, self.identity),
        )
        self.preview_service = api_object(
            self, "PreviewService", api_version="v1", kind="Service", name=self.preview_service_name,
            namespace=p.namespace, identity=self.identity, labels={RELEASE_ROLE_LABEL: "preview"},
            spec=service_spec(p, self.identity, session_affinity=False),
        )
        if p.replicas > 1:
            api_object(
                self, "DisruptionBudget", api_version="policy/v1", kind="PodDisruptionBudget", name=p.name,
                namespace=p.namespace, identity=self.identity,
                spec={
                    # Both ReplicaSets during a release, one otherwise: maxUnavailable 1
                    # holds for either and never blocks a drain.
                    "maxUnavailable": 1,
                    "selector": {"matchLabels": self.identity.selector()},
                    "unhealthyPodEvictionPolicy": "AlwaysAllow",
                },
            )

    def colour_identity(self, colour: Colour) -> Identity:
        """The identity of one colour's Deployment and pods: the shared one with that colour's version."""
        return dataclasses.replace(self.identity, version=image_tag(self.props.colour_image(colour)))

    def allow_from(self, client: Endpoint | Any, port: Literal["http", "metrics"] = "http") -> None:
        """Let ``client`` (a construct with an ``endpoint``, or an Endpoint) reach the http or metrics port."""
        number = self.http_port if port == "http" else self.metrics_port
        connect(endpoint_of(client), self.endpoint, (Port.tcp(number),))

    def hand_replicas_to_autoscaler(self) -> None:
        """Omit ``spec.replicas`` so that re-applying the manifest never resets what an HPA chose.

        With blue-green both Deployments lose it: each colour then needs its own
        autoscaler (see ``deployments``), the idle one with ``idle_replicas`` as
        its minimum.
        """
        for deployment in self.deployments.values():
            deployment.manifest["spec"].pop("replicas", None)
        self.autoscaled = True


def colour_selector(identity: Identity, colour: Colour) -> dict[str, str]:
    """The shared selector narrowed to one colour."""
    return {**identity.selector(), COLOUR_LABEL: colour}


def checkov_exceptions(p: HAApiDeploymentProps) -> dict[str, str]:
    """The checkov checks the API's pods are a deliberate exception to, with the reason."""
    if not p.secret_env:
        return {}
    return {
        "CKV_K8S_35": "the API reads credentials from environment variables; they come from Secrets by "
        "reference, never from the manifest",
    }


def pdb_min_available(p: HAApiDeploymentProps) -> int | str:
    if p.pdb_min_available is not None:
        return p.pdb_min_available
    # Kubernetes rounds a percentage up; floor((n-1)/n) in whole percent keeps
    # ceil(pct * n) <= n - 1, so one pod may always be evicted at the floor, and
    # the budget grows with the count when an HPA scales out.
    return f"{math.floor(100 * (p.replicas - 1) / p.replicas)}%"


def container_spec(p: HAApiDeploymentProps, image: str | None = None) -> dict[str, Any]:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(p.env.items())]
    env += [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": ref.secret_name, "key": ref.key}}}
        for k, ref in sorted(p.secret_env.items())
    ]
    container: dict[str, Any] = {
        "name": "api",
        "image": image or p.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"name": "http", "containerPort": p.http_port, "protocol": "TCP"},
            {"name": "metrics", "containerPort": p.metrics_port, "protocol": "TCP"},
        ],
        "resources": {
            "requests": {
                "cpu": p.cpu_request,
                "memory": p.memory_request,
                "ephemeral-storage": p.ephemeral_storage_request,
            },
            "limits": {
                "cpu": p.cpu_limit,
                "memory": p.memory_limit,
                "ephemeral-storage": p.ephemeral_storage_limit,
            },
        },
        "startupProbe": _probe(p.startup_probe),
        "readinessProbe": _probe(p.readiness_probe),
        "livenessProbe": _probe(p.liveness_probe),
        "securityContext": restricted_container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if env:
        container["env"] = env
    if p.pre_stop_delay_seconds:
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(p.pre_stop_delay_seconds)]}}}
    return container


def _probe(settings: ProbeSettings) -> dict[str, Any]:
    return http_probe(settings, "http")


def pod_spec(p: HAApiDeploymentProps, identity: Identity, colour: Colour | None = None) -> dict[str, Any]:
    # Each colour spreads on its own: the live colour must be zone-balanced
    # whatever the idle one does.
    selector = colour_selector(identity, colour) if colour else identity.selector()
    spread = spread_constraints(selector, zones_required=p.zone_spread == "required")
    if p.zone_spread == "required":
        spread[0]["minDomains"] = p.min_zones
    spec: dict[str, Any] = {
        "serviceAccountName": p.name,
        "automountServiceAccountToken": False,
        "securityContext": restricted_pod_security_context(p.run_as_user),
        "containers": [container_spec(p, p.colour_image(colour) if colour else None)],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
        "terminationGracePeriodSeconds": p.termination_grace_period_seconds,
        "topologySpreadConstraints": spread,
        # Never a hard node anti-affinity: 25 replicas must not need 25 nodes.
        "affinity": hostname_anti_affinity(selector, required=False),
        "enableServiceLinks": False,
    }
    if p.priority_class_name:
        spec["priorityClassName"] = p.priority_class_name
    return spec


def deployment_spec(p: HAApiDeploymentProps, identity: Identity, colour: Colour | None = None) -> dict[str, Any]:
    selector = colour_selector(identity, colour) if colour else identity.selector()
    labels = {**identity.labels(), COLOUR_LABEL: colour} if colour else identity.labels()
    return {
        "replicas": p.colour_replicas(colour) if colour else p.replicas,
        "revisionHistoryLimit": 10,
        "minReadySeconds": p.min_ready_seconds,
        "progressDeadlineSeconds": p.progress_deadline_seconds,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": p.max_surge}},
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {
                "labels": labels,
                "annotations": {
                    # Stateless: the cluster autoscaler may evict it to remove a node
                    # (the /tmp emptyDir would otherwise pin it).
                    "cluster-autoscaler.kubernetes.io/safe-to-evict": "true",
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(p.metrics_port),
                },
            },
            "spec": pod_spec(p, identity, colour),
        },
    }


def service_spec(
    p: HAApiDeploymentProps, identity: Identity, colour: Colour | None = None, session_affinity: bool = True
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "ClusterIP",
        "selector": colour_selector(identity, colour) if colour else identity.selector(),
    }
    if session_affinity:
        spec["sessionAffinity"] = "ClientIP"
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": p.session_affinity_timeout_seconds}}
    else:
        # Smoke tests through the preview Service should reach every pod.
        spec["sessionAffinity"] = "None"
    spec["ports"] = [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
        {"name": "metrics", "port": p.metrics_port, "targetPort": "metrics", "protocol": "TCP"},
    ]
    return spec


def rollout_spec(p: HAApiDeploymentProps, identity: Identity) -> dict[str, Any]:
    """An Argo Rollouts blueGreen Rollout with the same pod template as the Deployment."""
    deployment = deployment_spec(p, identity)
    return {
        "replicas": deployment["replicas"],
        "revisionHistoryLimit": deployment["revisionHistoryLimit"],
        "minReadySeconds": deployment["minReadySeconds"],
        "progressDeadlineSeconds": deployment["progressDeadlineSeconds"],
        "selector": deployment["selector"],
        "template": deployment["template"],
        "strategy": {
            "blueGreen": {
                "activeService": p.name,
                "previewService": f"{p.name}-preview",
                # Promote as soon as the new ReplicaSet is available; the analysis
                # after promotion is the gate that switches back.
                "autoPromotionEnabled": True,
                "postPromotionAnalysis": {"templates": [{"templateName": f"{p.name}-error-ratio"}]},
                # The old ReplicaSet stays up (for an instant switch back) until the
                # analysis has passed, then this long.
                "scaleDownDelaySeconds": 30,
                "abortScaleDownDelaySeconds": 30,
            }
        },
    }


def analysis_template_spec(p: HAApiDeploymentProps) -> dict[str, Any]:
    """One Prometheus metric: the live Service's 5xx share, measured each minute after promotion."""
    from .delivery.release import error_ratio_query

    return {
        "metrics": [
            {
                "name": "error-ratio",
                "interval": "1m",
                "count": p.argo_analysis_minutes,
                # Two failed measurements abort the release: one bad minute is noise.
                "failureLimit": 1,
                # An empty result (no traffic yet) is inconclusive, not a pass.
                "successCondition": f"len(result) > 0 && result[0] <= {p.argo_max_error_ratio:g}",
                "failureCondition": f"len(result) > 0 && result[0] > {p.argo_max_error_ratio:g}",
                "provider": {
                    "prometheus": {
                        "address": p.argo_prometheus_url,
                        "query": error_ratio_query(p.name, p.namespace),
                    }
                },
            }
        ]
    }


def ingress_spec(p: HAApiDeploymentProps, ingress: IngressSettings) -> dict[str, Any]:
    return {
        "ingressClassName": ingress.ingress_class_name,
        "tls": [{"hosts": [ingress.host], "secretName": ingress.tls_secret_name}],
        "rules": [
            {
                "host": ingress.host,
                "http": {
                    "paths": [
                        {
                            "path": ingress.path,
                            "pathType": "Prefix",
                            "backend": {"service": {"name": p.name, "port": {"name": "http"}}},
                        }
                    ]
                },
            }
        ],
    }
