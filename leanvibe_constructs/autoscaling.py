"""SmartAutoscaler: a capacity-driven HorizontalPodAutoscaler that answers a load step within 60 s.

A 60-second response is not one setting. It is the sum of metric freshness, the
HPA's sync period and behaviour, pod start-up, and whether a node has room for
the new pods. This module sets each of them and
:mod:`leanvibe_constructs.scaling_simulator` shows what they add up to.

The capacity model
==================

The seed gives 618.7 req/s per pod, 867.5 req/s required, 15,468 req/s peak,
three zones, "survive the loss of one zone", and at least 5 replicas for HA.
With the default 70 % target utilisation, :class:`CapacityModel` works out the
replica bounds like this::

    per-pod target     = 618.7 req/s x 70 %                      = 433.09 req/s
    steady replicas    = ceil((867.5 - 0.5) / 433.09)            = ceil(2.002) = 3
    zone-loss replicas = smallest n with n - ceil(n / 3) >= 3    = 5   (4 -> 4-2 = 2, too few; 5 -> 5-2 = 3)
    min_replicas       = max(zone-loss 5, HA floor 5)            = 5
    peak replicas      = ceil((15,468 - 0.5) / 618.7)            = ceil(25.000) = 25
    max_replicas       = max(peak 25, min 5)                     = 25

Two choices sit in that arithmetic:

* The seed's figures are rounded to whole requests per second: 15,468 is
  25 x 618.7 = 15,467.5 rounded. Read literally, 15,468 / 618.7 = 25.0008 would
  need a 26th pod to serve half a request per second. ``rounding_rps`` (0.5)
  says n pods serve a throughput T when n x capacity >= T - 0.5.
* The peak is a *capacity* figure: the fleet at ``max_replicas`` serves it at
  100 % of the measured per-pod throughput. Target utilisation is headroom for
  the steady state and for the time scaling takes. Sizing the peak at 70 %
  would need ceil(15,467.5 / 433.09) = 36 pods, which the seed does not ask for.
  The zone-loss rule covers the required throughput, not the peak.

With two zones left, the surviving pods (at most ceil(n / zones) are lost
with a zone, since the API spreads with maxSkew 1) still carry the required
throughput at the target utilisation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any, Literal

from constructs import Construct
from pydantic import Field, field_validator, model_validator

from ._k8s import api_object
from ._labels import Identity
from ._pod import (
    Image,
    image_tag,
    restricted_container_security_context,
    restricted_pod_security_context,
    spread_constraints,
)
from ._props import DnsLabel, Props, PropsError, Quantity, props_error
from .ha_api_deployment import HAApiDeployment, HAApiDeploymentProps, pdb_min_available

RESERVE_PRIORITY_CLASS = "leanvibe-capacity-reserve"
"""PriorityClass of the capacity-reserve pods. Defined by the platform baseline with a
negative value no lower than -10: the cluster autoscaler ignores pending pods below
its ``--expendable-pods-priority-cutoff`` (default -10), and would then never add the
nodes that restore an evicted reserve."""

DEFAULT_RESERVE_IMAGE = "registry.k8s.io/pause:3.9"
RESERVE_USER_ID = 65535  # the pause image's own non-root user

SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"

RESERVE_VALIDATE_SKIPS = {
    "probes": "a pause container only holds room for API pods; there is no service to probe",
    "startup-probe": "a pause container starts at once and serves nothing",
    "pdb": "reserve pods exist to be evicted, by preemption and by node drains; a budget would only slow both",
    "metrics-port": "a pause container exposes no metrics; the reserve is observed through kube-state-metrics",
}

RESERVE_CHECKOV_SKIPS = {
    "CKV_K8S_8": "a pause container only holds room for API pods; it runs no service whose liveness could be probed",
    "CKV_K8S_9": "reserve pods are never Service endpoints, so readiness gates no traffic; pause has nothing to probe",
}

# A Pods metric name as exposed by a custom metrics adapter (Prometheus metric naming).
_METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"


class CapacityModel(Props):
    """Per-pod capacity and the throughput the API must carry; derives the HPA's replica bounds.

    The defaults are the seed's figures and derive min 5 and max 25 (see the
    module docstring for the arithmetic, or :meth:`CapacityPlan.explain`).
    """

    pod_capacity_rps: float = Field(
        618.7, gt=0, description="Requests per second one pod serves at its CPU request. Default: 618.7 (measured)."
    )
    target_utilization_percent: float = Field(
        70,
        description="Share of pod capacity the HPA aims for, in (0, 100]; the rest is headroom while it scales. "
        "Default: 70.",
    )
    required_rps: float = Field(
        867.5, ge=0, description="Throughput the floor must carry at target utilisation. Default: 867.5."
    )
    peak_rps: float = Field(
        15468, gt=0, description="Throughput the fleet at max_replicas serves at full pod capacity. Default: 15,468."
    )
    zones: int = Field(3, ge=1, le=10, description="Zones the API spreads over. Default: 3.")
    survive_zone_loss: bool = Field(
        True,
        description="Size the floor so the pods left after losing the fullest zone still carry required_rps. "
        "Default: true.",
    )
    ha_floor: int = Field(5, ge=1, le=1000, description="Fewest replicas for availability alone. Default: 5.")
    rounding_rps: float = Field(
        0.5,
        ge=0,
        description="Rounding of the quoted throughputs: n pods serve T when n x capacity >= T - rounding_rps. "
        "Default: 0.5 (figures quoted to whole req/s).",
    )
    min_replicas: int | None = Field(
        None, ge=1, le=1000, description="HPA minReplicas. Default: derived (never lower than the derived value)."
    )
    max_replicas: int | None = Field(
        None, ge=1, le=1000, description="HPA maxReplicas. Default: derived (never lower than peak needs)."
    )

    @field_validator("target_utilization_percent")
    @classmethod
    def _check_utilization(cls, value: float) -> float:
        if not 0 < value <= 100:
            raise ValueError("must be greater than 0 and at most 100 (percent of a pod's capacity)")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> CapacityModel:
        if self.survive_zone_loss and self.zones < 2:
            raise ValueError(
                f"survive_zone_loss (True) needs zones >= 2, got zones ({self.zones}); "
                "set survive_zone_loss=False for a single-zone cluster"
            )
        if self.min_replicas is not None and self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must be <= max_replicas ({self.max_replicas})")
        derived = _derive(self)
        if self.min_replicas is not None and self.min_replicas < derived.needed_min:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is below what the model needs ({derived.needed_min}: "
                f"{derived.why_min}); raise min_replicas or lower required_rps/ha_floor"
            )
        if self.max_replicas is not None and self.max_replicas < derived.peak_replicas:
            raise ValueError(
                f"peak_rps ({self.peak_rps:g}) needs {derived.peak_replicas} replicas of "
                f"{self.pod_capacity_rps:g} req/s, more than max_replicas ({self.max_replicas}); "
                f"raise max_replicas to {derived.peak_replicas} or lower peak_rps"
            )
        if self.max_replicas is not None and self.max_replicas < derived.needed_min:
            raise ValueError(
                f"max_replicas ({self.max_replicas}) must be >= the derived minimum ({derived.needed_min})"
            )
        return self

    def plan(self) -> CapacityPlan:
        """The derived bounds and every intermediate figure."""
        return _derive(self)

    @property
    def target_rps_per_pod(self) -> float:
        return self.pod_capacity_rps * self.target_utilization_percent / 100


@dataclass(frozen=True)
class CapacityPlan:
    """What :class:`CapacityModel` derives; ``explain()`` prints the arithmetic."""

    model: CapacityModel
    target_rps_per_pod: float
    steady_replicas: int
    zone_loss_replicas: int
    peak_replicas: int
    min_replicas: int
    max_replicas: int

    @property
    def needed_min(self) -> int:
        return max(self.zone_loss_replicas, self.model.ha_floor)

    @property
    def why_min(self) -> str:
        rule = "zone loss" if self.model.survive_zone_loss else "steady load"
        return f"{rule} {self.zone_loss_replicas}, HA floor {self.model.ha_floor}"

    def explain(self) -> str:
        m = self.model
        lines = [
            f"per-pod target     = {m.pod_capacity_rps:g} req/s x {m.target_utilization_percent:g} %"
            f" = {self.target_rps_per_pod:g} req/s",
            f"steady replicas    = ceil(({m.required_rps:g} - {m.rounding_rps:g}) / {self.target_rps_per_pod:g})"
            f" = {self.steady_replicas}",
        ]
        if m.survive_zone_loss:
            lines.append(
                f"zone-loss replicas = smallest n with n - ceil(n / {m.zones}) >= {self.steady_replicas}"
                f" = {self.zone_loss_replicas}"
            )
        lines += [
            f"min_replicas       = max({self.zone_loss_replicas}, HA floor {m.ha_floor})"
            + (f", set to {m.min_replicas}" if m.min_replicas is not None else "")
            + f" = {self.min_replicas}",
            f"peak replicas      = ceil(({m.peak_rps:g} - {m.rounding_rps:g}) / {m.pod_capacity_rps:g})"
            f" = {self.peak_replicas}",
            f"max_replicas       = max({self.peak_replicas}, {self.needed_min})"
            + (f", set to {m.max_replicas}" if m.max_replicas is not None else "")
            + f" = {self.max_replicas}",
        ]
        return "\n".join(lines)


def _pods_for(throughput: float, per_pod: float, rounding: float) -> int:
    # Decimal, so that 15,467.5 / 618.7 is exactly 25 and not 25.000000000000004.
    needed = (Decimal(str(throughput)) - Decimal(str(rounding))) / Decimal(str(per_pod))
    return max(int(needed.to_integral_value(rounding=ROUND_CEILING)), 0)


def _derive(m: CapacityModel) -> CapacityPlan:
    target = float(Decimal(str(m.pod_capacity_rps)) * Decimal(str(m.target_utilization_percent)) / 100)
    steady = max(_pods_for(m.required_rps, target, m.rounding_rps), 1)
    zone_loss = steady
    if m.survive_zone_loss:
        # maxSkew 1 puts at most ceil(n / zones) pods in one zone.
        while zone_loss - math.ceil(zone_loss / m.zones) < steady:
            zone_loss += 1
    peak = max(_pods_for(m.peak_rps, m.pod_capacity_rps, m.rounding_rps), 1)
    needed_min = max(zone_loss, m.ha_floor)
    minimum = m.min_replicas if m.min_replicas is not None else needed_min
    maximum = m.max_replicas if m.max_replicas is not None else max(peak, minimum)
    return CapacityPlan(
        model=m, target_rps_per_pod=target, steady_replicas=steady, zone_loss_replicas=zone_loss,
        peak_replicas=peak, min_replicas=minimum, max_replicas=maximum,
    )


class VerticalScaling(Props):
    """A VerticalPodAutoscaler for the API, in a mode that never fights the HPA.

    Use the named constructors: :meth:`recommendation_only` (the default mode:
    the recommender publishes CPU and memory targets in the VPA's status and
    changes nothing) or :meth:`memory_only` (the updater resizes memory while
    the HPA owns the count through CPU and request rate).
    """

    update_mode: Literal["Off", "Initial", "Recreate", "InPlaceOrRecreate"] = Field(
        "Off",
        description="VPA updatePolicy.updateMode. 'Off' only recommends; 'Recreate' evicts pods to resize them "
        "(respecting the PodDisruptionBudget); 'InPlaceOrRecreate' needs VPA >= 1.4 and in-place resize. "
        "Default: 'Off'.",
    )
    controlled_resources: tuple[Literal["cpu", "memory"], ...] = Field(
        ("cpu", "memory"),
        min_length=1,
        description="Resources the VPA computes (and, unless 'Off', applies). Default: cpu and memory.",
    )
    min_allowed_memory: Quantity | None = Field(None, description="Lowest memory the VPA may set. Default: none.")
    max_allowed_memory: Quantity | None = Field(None, description="Highest memory the VPA may set. Default: none.")

    @classmethod
    def recommendation_only(cls) -> VerticalScaling:
        """Recommend CPU and memory; apply nothing."""
        return cls(update_mode="Off", controlled_resources=("cpu", "memory"))

    @classmethod
    def memory_only(
        cls,
        update_mode: Literal["Initial", "Recreate", "InPlaceOrRecreate"] = "Recreate",
        min_allowed: str | None = None,
        max_allowed: str | None = None,
    ) -> VerticalScaling:
        """Apply memory recommendations only; CPU stays with the HPA."""
        return cls(
            update_mode=update_mode,
            controlled_resources=("memory",),
            min_allowed_memory=min_allowed,
            max_allowed_memory=max_allowed,
        )

    @property
    def acts(self) -> bool:
        return self.update_mode != "Off"


class SmartAutoscalerProps(Props):
    """Props of :class:`SmartAutoscaler`. Every field has a default."""

    capacity: CapacityModel = Field(
        default_factory=CapacityModel, description="Capacity model deriving min/max replicas. Default: the seed's figures."
    )
    cpu_metric: bool = Field(
        True,
        description="Scale on CPU utilisation at capacity.target_utilization_percent. CPU saturates at the limit "
        "under overload, so it under-reports a large step. Default: true.",
    )
    requests_per_second_metric: str | None = Field(
        None,
        pattern=_METRIC_NAME,
        description="Name of a per-pod request-rate Pods metric served by a custom metrics adapter (e.g. "
        "'http_requests_per_second'); target = capacity.target_rps_per_pod. It must count requests on arrival. "
        "Default: none (CPU only).",
    )
    scale_up_stabilization_seconds: int = Field(
        0, ge=0, le=3600, description="scaleUp stabilizationWindowSeconds. Default: 0 (act on the first reading)."
    )
    scale_up_period_seconds: int = Field(
        15, ge=1, le=1800, description="periodSeconds of both scale-up policies. Default: 15 (one HPA sync)."
    )
    scale_up_percent: int = Field(
        100, ge=1, le=10000, description="Percent policy: pods added per period. Default: 100 (doubling)."
    )
    scale_up_pods: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Pods policy: pods added per period. Default: max_replicas - min_replicas, so that one sync "
        "can go from the floor to the ceiling.",
    )
    scale_down_stabilization_seconds: int = Field(
        300, ge=0, le=3600, description="scaleDown stabilizationWindowSeconds. Default: 300."
    )
    scale_down_percent: int = Field(
        10, ge=1, le=100, description="Pods removed per scale-down period, in percent. Default: 10."
    )
    scale_down_period_seconds: int = Field(
        60, ge=1, le=1800, description="periodSeconds of the scale-down policy. Default: 60."
    )
    vertical: VerticalScaling | None = Field(
        None, description="VerticalPodAutoscaler (needs the VPA CRD and recommender). Default: none."
    )
    capacity_reserve_pods: int = Field(
        0,
        ge=0,
        le=1000,
        description="Pause pods, each the size of one API pod, at the reserve PriorityClass; new API pods preempt "
        "them instead of waiting for a node. Default: 0 (no reserve).",
    )
    reserve_image: Image = Field(DEFAULT_RESERVE_IMAGE, description=f"Reserve pod image. Default: '{DEFAULT_RESERVE_IMAGE}'.")
    reserve_namespace: DnsLabel | None = Field(
        None,
        description="Namespace of the reserve Deployment. Preemption works across namespaces, so a namespace of "
        "its own keeps the reserve out of the API namespace's ResourceQuota (which otherwise must hold "
        "capacity_reserve_pods x one API pod's requests on top of the API at max). Default: the API's namespace.",
    )
    reserve_priority_class_name: DnsLabel = Field(
        RESERVE_PRIORITY_CLASS, description=f"PriorityClass of reserve pods. Default: '{RESERVE_PRIORITY_CLASS}'."
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> SmartAutoscalerProps:
        if not self.cpu_metric and self.requests_per_second_metric is None:
            raise ValueError(
                "cpu_metric (False) and requests_per_second_metric (None) leave the HPA without a metric; "
                "enable one of them"
            )
        v = self.vertical
        if v is not None and self.cpu_metric and v.acts and "cpu" in v.controlled_resources:
            raise ValueError(
                f"vertical.controlled_resources ({list(v.controlled_resources)}) with vertical.update_mode "
                f"('{v.update_mode}') lets the VPA change CPU requests while cpu_metric (True) scales on CPU "
                "utilisation of those requests; the two fight. Use VerticalScaling.memory_only() or "
                "VerticalScaling.recommendation_only()"
            )
        return self


class SmartAutoscaler(Construct):
    """HPA (autoscaling/v2), optional VPA and optional capacity reserve for an :class:`HAApiDeployment`.

    The HPA's minReplicas is the API's ``replicas`` (its documented floor) and
    must equal the capacity model's derived minimum; the Deployment then omits
    ``spec.replicas`` so re-applying never resets the HPA's count.

    A blue-green API gets one HPA (and VPA) per colour: the live colour with
    the capacity floor, the idle colour with ``idle_replicas``.

    Attributes: ``plan`` (the :class:`CapacityPlan`), ``hpa`` and ``vpa`` (the
    live Deployment's; ``vpa`` is None without ``vertical``), ``hpas`` and
    ``vpas`` (by Deployment name), ``reserve`` (None without a reserve).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        props: SmartAutoscalerProps | None = None,
        *,
        target: HAApiDeployment,
        **kwargs: Any,
    ):
        p = SmartAutoscalerProps.build(props, **kwargs)
        if not isinstance(target, HAApiDeployment):
            raise PropsError(f"SmartAutoscaler: target must be an HAApiDeployment, got {type(target).__name__}")
        plan = p.capacity.plan()
        check_target_agreement(target.props, plan)
        super().__init__(scope, id)
        self.props = p
        self.plan = plan
        self.target = target
        api = target.props
        target.hand_replicas_to_autoscaler()

        self.hpas: dict[str, Any] = {}
        self.vpas: dict[str, Any] = {}
        for scaled in scaled_deployments(target, plan):
            suffix = scaled.colour.title() if scaled.colour else ""
            self.hpas[scaled.name] = api_object(
                self, f"Resource{suffix}", api_version="autoscaling/v2", kind="HorizontalPodAutoscaler",
                name=scaled.name, namespace=api.namespace, identity=scaled.identity, labels=scaled.labels,
                spec=hpa_spec(p, plan, scaled.name, min_replicas=scaled.min_replicas),
            )
            if p.vertical is not None:
                self.vpas[scaled.name] = _vertical_pod_autoscaler(
                    self, f"VerticalPodAutoscaler{suffix}", p.vertical, scaled, api.namespace
                )
        live = target.deployment.name
        self.hpa = self.hpas[live]
        self.vpa = self.vpas.get(live)
        self.reserve = None
        if p.capacity_reserve_pods:
            identity = reserve_identity(api, p.reserve_image)
            namespace = p.reserve_namespace or api.namespace
            self.reserve = api_object(
                self, "CapacityReserve", api_version="apps/v1", kind="Deployment", name=identity.instance,
                namespace=namespace, identity=identity, spec=reserve_deployment_spec(p, api, identity),
                annotations={f"validate.leanvibe.io/skip-{check}": why for check, why in RESERVE_VALIDATE_SKIPS.items()},
                checkov_skip=RESERVE_CHECKOV_SKIPS,
            )
            # Its own account, with no token: pause never talks to the API server.
            api_object(
                self, "CapacityReserveServiceAccount", api_version="v1", kind="ServiceAccount",
                name=identity.instance, namespace=namespace, identity=identity, automountServiceAccountToken=False,
            )
            # Pause pods need no network at all: deny both directions.
            api_object(
                self, "CapacityReserveNetworkPolicy", api_version="networking.k8s.io/v1", kind="NetworkPolicy",
                name=identity.instance, namespace=namespace, identity=identity,
                spec={"podSelector": {"matchLabels": identity.selector()}, "policyTypes": ["Ingress", "Egress"]},
            )


def pdb_min_available_pods(api: HAApiDeploymentProps, replicas: int) -> int:
    """Pods the API's PodDisruptionBudget keeps when ``replicas`` pods exist (percentages round up)."""
    value = pdb_min_available(api)
    if isinstance(value, int):
        return value
    return math.ceil(int(value.rstrip("%")) * replicas / 100)


def check_target_agreement(api: HAApiDeploymentProps, plan: CapacityPlan) -> None:
    """The API's PodDisruptionBudget and replica floor must agree with the HPA; PropsError otherwise.

    Blue-green colours carry a maxUnavailable-1 budget each, which can never
    block a drain; their idle colour is scaled by its own HPA from
    ``idle_replicas``, which must then be at least 1.
    """
    if api.release == "blue_green":
        if api.idle_replicas == 0:
            raise props_error(
                "SmartAutoscaler",
                "HAApiDeploymentProps.idle_replicas (0) cannot be an HPA minReplicas (scaling to zero needs the "
                "HPAScaleToZero alpha feature gate); set idle_replicas >= 1",
            )
        keeps = api.replicas - 1
    else:
        keeps = pdb_min_available_pods(api, plan.min_replicas)
    if keeps >= plan.min_replicas:
        raise props_error(
            "SmartAutoscaler",
            f"the API's PodDisruptionBudget minAvailable ({pdb_min_available(api)!r} of {plan.min_replicas} pods = "
            f"{keeps}) must be < HPA minReplicas ({plan.min_replicas}), or no node can be drained while the HPA "
            f"sits at its floor; set HAApiDeploymentProps.replicas={plan.min_replicas} or lower pdb_min_available",
        )
    if api.replicas != plan.min_replicas:
        raise props_error(
            "SmartAutoscaler",
            f"HAApiDeploymentProps.replicas ({api.replicas}) must equal the capacity model's min_replicas "
            f"({plan.min_replicas}): the API's floor and the HPA's floor are one number. Set replicas="
            f"{plan.min_replicas}, or change the capacity model ({plan.why_min})",
        )


def hpa_metrics(p: SmartAutoscalerProps) -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = []
    if p.cpu_metric:
        metrics.append({
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": _whole(p.capacity.target_utilization_percent)},
            },
        })
    if p.requests_per_second_metric is not None:
        metrics.append({
            "type": "Pods",
            "pods": {
                "metric": {"name": p.requests_per_second_metric},
                "target": {"type": "AverageValue", "averageValue": _quantity(p.capacity.target_rps_per_pod)},
            },
        })
    return metrics


def hpa_behavior(p: SmartAutoscalerProps, plan: CapacityPlan) -> dict[str, Any]:
    scale_up_pods = p.scale_up_pods if p.scale_up_pods is not None else max(plan.max_replicas - plan.min_replicas, 1)
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": p.scale_up_stabilization_seconds,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": p.scale_up_percent, "periodSeconds": p.scale_up_period_seconds},
                {"type": "Pods", "value": scale_up_pods, "periodSeconds": p.scale_up_period_seconds},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": p.scale_down_stabilization_seconds,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": p.scale_down_percent, "periodSeconds": p.scale_down_period_seconds},
            ],
        },
    }


def hpa_spec(
    p: SmartAutoscalerProps, plan: CapacityPlan, deployment_name: str, min_replicas: int | None = None
) -> dict[str, Any]:
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name},
        "minReplicas": plan.min_replicas if min_replicas is None else min_replicas,
        "maxReplicas": plan.max_replicas,
        "metrics": hpa_metrics(p),
        "behavior": hpa_behavior(p, plan),
    }


@dataclass(frozen=True)
class ScaledDeployment:
    """One Deployment the autoscaler owns: the API's, or one colour of a blue-green API."""

    name: str
    identity: Identity
    labels: dict[str, str]
    min_replicas: int
    colour: str | None = None


def scaled_deployments(target: HAApiDeployment, plan: CapacityPlan) -> list[ScaledDeployment]:
    api = target.props
    if api.release != "blue_green":
        return [ScaledDeployment(api.name, target.identity, {}, plan.min_replicas)]
    # Each colour has its own HPA: the live one with the capacity floor, the idle
    # one with idle_replicas; both may reach max_replicas once traffic moves to them.
    from .ha_api_deployment import COLOUR_LABEL, COLOURS

    return [
        ScaledDeployment(
            name=f"{api.name}-{colour}",
            identity=target.colour_identity(colour),
            labels={COLOUR_LABEL: colour},
            min_replicas=plan.min_replicas if colour == api.live_colour else api.colour_replicas(colour),
            colour=colour,
        )
        for colour in COLOURS
    ]


def vpa_spec(v: VerticalScaling, deployment_name: str) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "containerName": "api",
        "controlledResources": list(v.controlled_resources),
        # Limits move with requests, keeping the API's memory limit == request.
        "controlledValues": "RequestsAndLimits",
    }
    if v.min_allowed_memory:
        policy["minAllowed"] = {"memory": v.min_allowed_memory}
    if v.max_allowed_memory:
        policy["maxAllowed"] = {"memory": v.max_allowed_memory}
    return {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name},
        "updatePolicy": {"updateMode": v.update_mode},
        "resourcePolicy": {"containerPolicies": [policy]},
    }


def _vertical_pod_autoscaler(
    scope: Construct, id: str, v: VerticalScaling, scaled: ScaledDeployment, namespace: str
) -> Any:
    # The typed class from `cdk8s import` (imports/io/k8s/autoscaling): one VPA costs
    # about 2-3 ms through jsii against 1.3-1.9 ms as a plain ApiObject, a price worth
    # paying for a class generated from the CRD we validate against.
    import cdk8s

    from .imports.io.k8s import autoscaling as vpa

    spec = vpa_spec(v, scaled.name)
    policy = spec["resourcePolicy"]["containerPolicies"][0]
    quantity = vpa.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMinAllowed.from_string
    max_quantity = vpa.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesMaxAllowed.from_string
    return vpa.VerticalPodAutoscaler(
        scope, id,
        metadata=cdk8s.ApiObjectMetadata(
            name=scaled.name, namespace=namespace,
            labels={**scaled.identity.labels(), **scaled.labels},
        ),
        spec=vpa.VerticalPodAutoscalerSpec(
            target_ref=vpa.VerticalPodAutoscalerSpecTargetRef(
                api_version="apps/v1", kind="Deployment", name=scaled.name
            ),
            update_policy=vpa.VerticalPodAutoscalerSpecUpdatePolicy(
                update_mode=_jsii_enum(vpa.VerticalPodAutoscalerSpecUpdatePolicyUpdateMode, v.update_mode),
            ),
            resource_policy=vpa.VerticalPodAutoscalerSpecResourcePolicy(container_policies=[
                vpa.VerticalPodAutoscalerSpecResourcePolicyContainerPolicies(
                    container_name=policy["containerName"],
                    controlled_resources=policy["controlledResources"],
                    controlled_values=_jsii_enum(
                        vpa.VerticalPodAutoscalerSpecResourcePolicyContainerPoliciesControlledValues,
                        policy["controlledValues"],
                    ),
                    min_allowed={k: quantity(q) for k, q in policy.get("minAllowed", {}).items()} or None,
                    max_allowed={k: max_quantity(q) for k, q in policy.get("maxAllowed", {}).items()} or None,
                )
            ]),
        ),
    )


def _jsii_enum(enum_class: Any, value: str) -> Any:
    # jsii names enum members in UPPER_SNAKE ("InPlaceOrRecreate" -> IN_PLACE_OR_RECREATE)
    # and writes the CRD's own spelling back when synthesizing.
    return enum_class[re.sub(r"(?<!^)(?=[A-Z])", "_", value).upper()]


def reserve_identity(api: HAApiDeploymentProps, image: str) -> Identity:
    return Identity(
        name="capacity-reserve", instance=f"{api.name}-capacity-reserve", component="capacity-reserve",
        part_of=api.part_of, version=image_tag(image),
    )


def reserve_deployment_spec(p: SmartAutoscalerProps, api: HAApiDeploymentProps, identity: Identity) -> dict[str, Any]:
    """Pause pods each holding one API pod's requests, spread over zones like the API.

    The API spreads with a hard zone constraint, so the room it preempts must be
    in every zone; the reserve spreads the same way.
    """
    selector = identity.selector()
    spread = spread_constraints(selector, zones_required=api.zone_spread == "required")
    if api.zone_spread == "required":
        spread[0]["minDomains"] = api.min_zones
    one_api_pod = {
        "cpu": api.cpu_request,
        "memory": api.memory_request,
        "ephemeral-storage": api.ephemeral_storage_request,
    }
    return {
        "replicas": p.capacity_reserve_pods,
        "revisionHistoryLimit": 2,
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {
                "labels": identity.labels(),
                # Placeholder pods: the cluster autoscaler may always remove their node.
                "annotations": {SAFE_TO_EVICT: "true"},
            },
            "spec": {
                "priorityClassName": p.reserve_priority_class_name,
                "serviceAccountName": identity.instance,
                # Preemption waits for the victim's grace period; a pause pod has nothing to drain.
                "terminationGracePeriodSeconds": 0,
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": restricted_pod_security_context(RESERVE_USER_ID),
                "topologySpreadConstraints": spread,
                "containers": [
                    {
                        "name": "pause",
                        "image": p.reserve_image,
                        "imagePullPolicy": "IfNotPresent",
                        "resources": {"requests": dict(one_api_pod), "limits": dict(one_api_pod)},
                        "securityContext": restricted_container_security_context(),
                    }
                ],
            },
        },
    }


def prometheus_adapter_rule(
    metric_name: str = "http_requests_per_second",
    counter: str = "http_requests_total",
    window: str = "1m",
) -> dict[str, Any]:
    """The prometheus-adapter ``rules`` entry that serves ``metric_name`` as a Pods metric.

    ``counter`` must count requests as they arrive (or at least including those
    that fail or time out), so the rate keeps rising under overload. A rate over
    ``window`` smooths a step: with a 15 s scrape, ``1m`` reaches a quarter of
    a step after one scrape, which for the seed's 17x step is still far above
    the target.
    """
    return {
        "seriesQuery": f'{counter}{{namespace!="",pod!=""}}',
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": f"^{counter}$", "as": metric_name},
        "metricsQuery": f"sum(rate(<<.Series>>{{<<.LabelMatchers>>}}[{window}])) by (<<.GroupBy>>)",
    }


def _whole(value: float) -> int:
    return int(round(value))


def _quantity(value: float) -> str:
    # Kubernetes quantities take decimals; two places keep 433.09 req/s exact.
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text
