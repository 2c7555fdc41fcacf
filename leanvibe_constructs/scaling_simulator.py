"""Simulate a HorizontalPodAutoscaler against a load trace, second by second.

No cluster runs here, so the 60-second claim is checked by replaying the
documented HPA algorithm (kubernetes.io "Horizontal Pod Autoscaling", and the
controller in kubernetes/kubernetes pkg/controller/podautoscaler) against the
synthesized HPA object:

* the controller syncs every 15 s (``--horizontal-pod-autoscaler-sync-period``);
* per metric, desired = ceil(ready pods with a sample x value / target), or the
  current count when |value / target - 1| <= 0.1 (the tolerance);
* pods without a fresh sample: unready pods (still starting) are set aside, and
  count as 0 on a scale-up; ready pods whose sample predates their readiness are
  "missing" and count as 0 on a scale-up, as the target on a scale-down; if that
  reverses the direction, or lands within tolerance, nothing changes;
* the largest proposal over all metrics wins;
* ``behavior``: the stabilization windows (scale up to the lowest, down to the
  highest recommendation in the window) and then the policies, each limiting
  the change relative to the count at the start of its period, combined by
  ``selectPolicy``; min/max bounds; an HPA without ``behavior`` uses the
  Kubernetes defaults (up: max(+100 %, +4 pods) per 15 s, down: 300 s window).

The workload model is deliberately simple and stated here so it can be judged:

* load is spread evenly over ready pods; a pod serves at most
  ``pod_capacity_rps``, anything beyond is dropped (it times out);
* the request-rate metric counts requests on arrival, so it sees the whole
  load; CPU utilisation is proportional to the offered load
  (``cpu_utilization_at_capacity`` percent of the request at capacity) but
  saturates at ``cpu_ceiling_percent`` (limit / request): an overloaded pod
  cannot use more CPU than its limit, so a CPU-only HPA under-reads a big step;
* metrics reach the HPA ``metric_lag_seconds`` late (scrape interval, rate
  window, adapter cache);
* a new pod is ready ``startup_seconds`` after it is scheduled. It is scheduled
  at once on spare room, after ``preemption_seconds`` when it preempts a
  capacity-reserve pod, and after ``node_provision_seconds`` otherwise (the
  cluster autoscaler adds a node). A preempted reserve pod gets its node back
  after ``node_provision_seconds``, restoring the reserve;
* scale-down deletes unscheduled, then unready, then the newest pods; their
  room stays as spare (the cluster autoscaler waits 10 minutes before removing
  an unneeded node).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from ._props import quantity_value

# --- the HPA object ---------------------------------------------------------------


@dataclass(frozen=True)
class ScalingPolicy:
    type: Literal["Pods", "Percent"]
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    stabilization_window_seconds: int
    select_policy: Literal["Max", "Min", "Disabled"]
    policies: tuple[ScalingPolicy, ...]


# Kubernetes defaults for an HPA without `behavior` (autoscaling/v2 API reference).
DEFAULT_SCALE_UP = ScalingRules(
    0, "Max", (ScalingPolicy("Percent", 100, 15), ScalingPolicy("Pods", 4, 15))
)
DEFAULT_SCALE_DOWN = ScalingRules(300, "Max", (ScalingPolicy("Percent", 100, 15),))


@dataclass(frozen=True)
class MetricTarget:
    """One HPA metric the simulator understands."""

    kind: Literal["cpu", "requests"]
    target: float  # percent of the CPU request, or requests per second per pod
    name: str

    @property
    def label(self) -> str:
        unit = "%" if self.kind == "cpu" else " req/s"
        return f"{self.name} {self.target:g}{unit}"


@dataclass(frozen=True)
class HpaModel:
    name: str
    min_replicas: int
    max_replicas: int
    metrics: tuple[MetricTarget, ...]
    scale_up: ScalingRules
    scale_down: ScalingRules

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> HpaModel:
        """Read a synthesized ``autoscaling/v2`` HorizontalPodAutoscaler (a dict)."""
        if obj.get("apiVersion") != "autoscaling/v2" or obj.get("kind") != "HorizontalPodAutoscaler":
            raise ValueError(
                f"expected an autoscaling/v2 HorizontalPodAutoscaler, got {obj.get('apiVersion')} {obj.get('kind')}"
            )
        spec = obj["spec"]
        metrics = tuple(_metric(m) for m in spec.get("metrics", []))
        if not metrics:
            # autoscaling/v2 defaults to 80 % CPU when no metric is given.
            metrics = (MetricTarget("cpu", 80, "cpu"),)
        behavior = spec.get("behavior") or {}
        return cls(
            name=obj["metadata"]["name"],
            min_replicas=spec.get("minReplicas", 1),
            max_replicas=spec["maxReplicas"],
            metrics=metrics,
            scale_up=_rules(behavior.get("scaleUp"), DEFAULT_SCALE_UP),
            scale_down=_rules(behavior.get("scaleDown"), DEFAULT_SCALE_DOWN),
        )


def _metric(metric: dict[str, Any]) -> MetricTarget:
    kind = metric.get("type")
    if kind == "Resource" and metric["resource"]["name"] == "cpu":
        target = metric["resource"]["target"]
        if target.get("type") != "Utilization":
            raise ValueError("only CPU metrics with target type Utilization are simulated")
        return MetricTarget("cpu", float(target["averageUtilization"]), "cpu")
    if kind == "Pods":
        target = metric["pods"]["target"]
        return MetricTarget("requests", quantity_value(str(target["averageValue"])), metric["pods"]["metric"]["name"])
    raise ValueError(
        f"metric {metric!r} is not simulated: only Resource cpu (Utilization) and a Pods request-rate metric are"
    )


def _rules(rules: dict[str, Any] | None, default: ScalingRules) -> ScalingRules:
    if rules is None:
        return default
    policies = rules.get("policies")
    return ScalingRules(
        stabilization_window_seconds=rules.get("stabilizationWindowSeconds", default.stabilization_window_seconds),
        select_policy=rules.get("selectPolicy", "Max"),
        policies=tuple(ScalingPolicy(p["type"], p["value"], p["periodSeconds"]) for p in policies)
        if policies
        else default.policies,
    )


def without_behavior(hpa: dict[str, Any]) -> dict[str, Any]:
    """The same HPA with ``behavior`` removed: what Kubernetes does by default."""
    return {**hpa, "spec": {k: v for k, v in hpa["spec"].items() if k != "behavior"}}


def load_hpa(path: Path, name: str | None = None) -> dict[str, Any]:
    """The HorizontalPodAutoscaler in a manifest file or a folder of ``*.yaml`` files."""
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    found = [
        doc
        for file in files
        for doc in yaml.safe_load_all(file.read_text())
        if doc and doc.get("kind") == "HorizontalPodAutoscaler"
        and (name is None or doc["metadata"]["name"] == name)
    ]
    if len(found) != 1:
        names = [d["metadata"]["name"] for d in found]
        raise ValueError(
            f"{path}: expected one HorizontalPodAutoscaler{f' named {name!r}' if name else ''}, found {names}; "
            "pass --hpa-name"
        )
    return found[0]


# --- load traces -------------------------------------------------------------------


@dataclass(frozen=True)
class LoadTrace:
    """Requests per second over time: piecewise linear through ``points``.

    Two points at the same time make a step. Before the first point the load is
    the first value; the trace ends at the last point.
    """

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a load trace needs at least one point")
        times = [t for t, _ in self.points]
        if times != sorted(times) or times[0] < 0:
            raise ValueError(f"trace times must start at >= 0 and never decrease, got {times}")
        if any(rps < 0 for _, rps in self.points):
            raise ValueError("trace loads must be >= 0 req/s")

    @property
    def duration(self) -> float:
        return self.points[-1][0]

    def rate(self, t: float) -> float:
        points = self.points
        if t < points[0][0]:
            return points[0][1]
        value = points[0][1]
        for (t0, r0), (t1, r1) in zip(points, points[1:]):
            if t1 == t0 and t >= t1:
                value = r1
            elif t0 <= t < t1:
                return r0 + (r1 - r0) * (t - t0) / (t1 - t0)
            elif t >= t1:
                value = r1
        return value

    @classmethod
    def step(cls, before: float, after: float, at: float = 60, duration: float = 600) -> LoadTrace:
        return cls(((0, before), (at, before), (at, after), (duration, after)))

    @classmethod
    def ramp(cls, start: float, end: float, at: float = 60, seconds: float = 120, duration: float = 600) -> LoadTrace:
        return cls(((0, start), (at, start), (at + seconds, end), (max(duration, at + seconds), end)))

    @classmethod
    def from_csv(cls, path: Path) -> LoadTrace:
        """Rows of ``time_seconds,requests_per_second``; a header row is skipped."""
        points = []
        with path.open(newline="") as handle:
            for row in csv.reader(handle):
                if not row or row[0].strip().startswith("#"):
                    continue
                try:
                    points.append((float(row[0]), float(row[1])))
                except ValueError:
                    if points:
                        raise ValueError(f"{path}: bad row {row!r}; expected time,req/s") from None
        return cls(tuple(points))

    @classmethod
    def parse(cls, spec: str) -> LoadTrace:
        """``step:BEFORE:AFTER[:AT[:DURATION]]``, ``ramp:FROM:TO[:AT[:SECONDS[:DURATION]]]``,
        ``points:T=RPS,T=RPS,...`` or the path of a CSV file."""
        kind, _, rest = spec.partition(":")
        try:
            if kind == "step":
                return cls.step(*(float(x) for x in rest.split(":")))
            if kind == "ramp":
                return cls.ramp(*(float(x) for x in rest.split(":")))
            if kind == "points":
                return cls(tuple(tuple(float(v) for v in p.split("=")) for p in rest.split(",")))  # type: ignore[misc]
        except TypeError as err:
            raise ValueError(f"bad trace {spec!r}: {err}") from None
        path = Path(spec)
        if path.is_file():
            return cls.from_csv(path)
        raise ValueError(
            f"bad trace {spec!r}: use step:BEFORE:AFTER[:AT[:DURATION]], ramp:FROM:TO[:AT[:SECONDS[:DURATION]]], "
            "points:T=RPS,... or a CSV file of time,req/s"
        )


# --- the workload ------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """Everything about pods, metrics and nodes the HPA object does not say."""

    pod_capacity_rps: float = 618.7
    cpu_utilization_at_capacity: float = 100.0  # the API's CPU request is what a pod uses at capacity
    cpu_ceiling_percent: float = 200.0  # CPU limit / request: 2 cores / 1 core
    startup_seconds: float = 20.0
    metric_lag_seconds: float = 15.0
    sync_period_seconds: float = 15.0
    sync_offset_seconds: float = 0.0
    tolerance: float = 0.1
    reserve_pods: int = 0
    spare_pod_slots: int = 0
    preemption_seconds: float = 2.0
    node_provision_seconds: float = 120.0
    initial_replicas: int | None = None  # default: the HPA's minReplicas, all ready


@dataclass
class _Pod:
    created: float
    scheduled: float
    ready: float
    slot: Literal["spare", "reserve", "node"]

    def is_ready(self, t: float) -> bool:
        return self.ready <= t


@dataclass(frozen=True)
class Sample:
    time: float
    load_rps: float
    spec_replicas: int
    ready_replicas: int
    capacity_rps: float
    served_rps: float
    dropped_rps: float
    reserve_free: int


@dataclass(frozen=True)
class Decision:
    time: float
    current: int
    proposals: dict[str, int | None]
    desired: int


@dataclass
class SimulationResult:
    hpa: HpaModel
    workload: Workload
    samples: list[Sample]
    decisions: list[Decision]
    step_seconds: float

    @property
    def overload_seconds(self) -> float:
        """Seconds during which some requests were dropped."""
        return sum(self.step_seconds for s in self.samples if s.dropped_rps > 0)

    @property
    def dropped_requests(self) -> float:
        return sum(s.dropped_rps * self.step_seconds for s in self.samples)

    @property
    def time_to_capacity(self) -> float | None:
        """Longest stretch with load above capacity, in seconds (0 if never); None if it never recovered."""
        longest, start = 0.0, None
        for sample in self.samples:
            if sample.dropped_rps > 0 and start is None:
                start = sample.time
            elif sample.dropped_rps == 0 and start is not None:
                longest = max(longest, sample.time - start)
                start = None
        return None if start is not None else longest

    @property
    def peak_replicas(self) -> int:
        return max(s.spec_replicas for s in self.samples)

    def summary(self) -> str:
        ttc = self.time_to_capacity
        return (
            f"time until capacity >= load: {'never' if ttc is None else f'{ttc:g} s'}; "
            f"dropped-request seconds: {self.overload_seconds:g} s; dropped requests: {self.dropped_requests:,.0f}; "
            f"peak replicas: {self.peak_replicas}"
        )

    def table(self, every: float = 15.0, width: int = 40) -> str:
        """A row every ``every`` seconds: counts, capacity and a bar (# capacity, . unserved load)."""
        top = max(max(s.load_rps, s.capacity_rps) for s in self.samples) or 1.0
        lines = [f"{'t(s)':>6} {'load':>9} {'desired':>7} {'ready':>5} {'capacity':>9} {'dropped':>8}"]
        next_row = self.samples[0].time
        for s in self.samples:
            if s.time + 1e-9 < next_row:
                continue
            next_row += every
            served = round(width * min(s.capacity_rps, s.load_rps) / top)
            unserved = round(width * s.dropped_rps / top)
            bar = "#" * served + "." * unserved
            lines.append(
                f"{s.time:6.0f} {s.load_rps:9.1f} {s.spec_replicas:7d} {s.ready_replicas:5d} "
                f"{s.capacity_rps:9.1f} {s.dropped_rps:8.1f} |{bar}"
            )
        return "\n".join(lines)

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["time_s", "load_rps", "spec_replicas", "ready_replicas", "capacity_rps", "served_rps",
                 "dropped_rps", "reserve_free"]
            )
            for s in self.samples:
                writer.writerow([
                    f"{s.time:g}", f"{s.load_rps:.1f}", s.spec_replicas, s.ready_replicas, f"{s.capacity_rps:.1f}",
                    f"{s.served_rps:.1f}", f"{s.dropped_rps:.1f}", s.reserve_free,
                ])


# --- the HPA algorithm -------------------------------------------------------------


def replicas_for_metric(
    current: int, ready_with_sample: int, value: float, target: float, *, unready: int = 0, missing: int = 0,
    tolerance: float = 0.1,
) -> int:
    """Desired replicas for one metric, as the controller computes it (see module docstring).

    ``ready_with_sample`` pods report ``value`` each; ``missing`` ready pods have
    no sample yet; ``unready`` pods are still starting.
    """
    if ready_with_sample == 0:
        raise ValueError("no pod has a metric sample: the HPA cannot compute this metric")
    usage = _ratio(value / target)
    rebalance_unready = unready > 0 and usage > 1.0
    if not rebalance_unready and missing == 0:
        if abs(1.0 - usage) <= tolerance:
            return current
        return math.ceil(usage * ready_with_sample)
    total = value * ready_with_sample
    count = ready_with_sample
    if missing:
        total += (target if usage < 1.0 else 0.0) * missing
        count += missing
    if rebalance_unready:
        count += unready
    new_usage = _ratio(total / count / target)
    if abs(1.0 - new_usage) <= tolerance or (usage < 1.0 < new_usage) or (usage > 1.0 > new_usage):
        return current
    desired = math.ceil(new_usage * count)
    if (new_usage < 1.0 and desired > current) or (new_usage > 1.0 and desired < current):
        return current
    return desired


def _ratio(value: float) -> float:
    # The controller works in integer milli-units; rounding here keeps float noise
    # (2.0000000000000004) from adding a pod that ceil() of the exact ratio would not.
    return round(value, 9)


@dataclass
class _Autoscaler:
    """The stateful part of the controller: recommendations and scale events per HPA."""

    hpa: HpaModel
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_up_events: list[tuple[float, int]] = field(default_factory=list)
    scale_down_events: list[tuple[float, int]] = field(default_factory=list)

    def normalize(self, now: float, current: int, desired: int) -> int:
        up = self.hpa.scale_up
        down = self.hpa.scale_down
        up_recommendation = desired
        down_recommendation = desired
        for when, replicas in self.recommendations:
            if when > now - up.stabilization_window_seconds:
                up_recommendation = min(up_recommendation, replicas)
            if when > now - down.stabilization_window_seconds:
                down_recommendation = max(down_recommendation, replicas)
        stabilized = max(current, up_recommendation)
        stabilized = min(stabilized, down_recommendation)
        self.recommendations.append((now, desired))
        longest = max(
            [up.stabilization_window_seconds, down.stabilization_window_seconds]
            + [p.period_seconds for p in up.policies + down.policies]
        )
        self.recommendations = [r for r in self.recommendations if r[0] > now - longest]

        if stabilized > current:
            limit = max(self._scale_up_limit(now, current), current)
            return min(stabilized, self.hpa.max_replicas, limit)
        if stabilized < current:
            limit = min(self._scale_down_limit(now, current), current)
            return max(stabilized, self.hpa.min_replicas, limit)
        return stabilized

    def _period_start(self, now: float, current: int, period: int) -> int:
        added = sum(n for when, n in self.scale_up_events if when > now - period)
        removed = sum(n for when, n in self.scale_down_events if when > now - period)
        return current - added + removed

    def _scale_up_limit(self, now: float, current: int) -> int:
        rules = self.hpa.scale_up
        if rules.select_policy == "Disabled":
            return current
        proposals = []
        for policy in rules.policies:
            start = self._period_start(now, current, policy.period_seconds)
            if policy.type == "Pods":
                proposals.append(start + policy.value)
            else:
                proposals.append(math.ceil(start * (1 + policy.value / 100)))
        return min(proposals) if rules.select_policy == "Min" else max(proposals)

    def _scale_down_limit(self, now: float, current: int) -> int:
        rules = self.hpa.scale_down
        if rules.select_policy == "Disabled":
            return current
        proposals = []
        for policy in rules.policies:
            start = self._period_start(now, current, policy.period_seconds)
            if policy.type == "Pods":
                proposals.append(start - policy.value)
            else:
                proposals.append(int(start * (1 - policy.value / 100)))
        # For scaling down the "Max" policy is the one removing the most pods.
        return max(proposals) if rules.select_policy == "Min" else min(proposals)

    def record(self, now: float, before: int, after: int) -> None:
        if after > before:
            self.scale_up_events.append((now, after - before))
        elif after < before:
            self.scale_down_events.append((now, before - after))


# --- the simulation ----------------------------------------------------------------


def simulate(
    hpa: dict[str, Any] | HpaModel, trace: LoadTrace, workload: Workload = Workload(), step_seconds: float = 1.0
) -> SimulationResult:
    """Replay ``trace`` against ``hpa`` (a synthesized HPA dict or an :class:`HpaModel`)."""
    model = hpa if isinstance(hpa, HpaModel) else HpaModel.from_object(hpa)
    w = workload
    controller = _Autoscaler(model)
    initial = w.initial_replicas if w.initial_replicas is not None else model.min_replicas
    pods = [_Pod(created=-math.inf, scheduled=-math.inf, ready=-math.inf, slot="spare") for _ in range(initial)]
    spare = w.spare_pod_slots
    reserve_free = w.reserve_pods
    room_events: list[tuple[float, str]] = []  # (time, "spare" | "reserve"): room that appears later
    history: list[tuple[float, float, int]] = []  # (time, load, ready pods)
    samples: list[Sample] = []
    decisions: list[Decision] = []

    steps = int(round(trace.duration / step_seconds))
    next_sync = w.sync_offset_seconds
    for i in range(steps + 1):
        t = i * step_seconds
        for when, kind in [e for e in room_events if e[0] <= t]:
            room_events.remove((when, kind))
            if kind == "reserve":
                reserve_free += 1
            else:
                spare += 1
        load = trace.rate(t)
        ready = sum(1 for p in pods if p.is_ready(t))
        history.append((t, load, ready))

        if t + 1e-9 >= next_sync:
            next_sync += w.sync_period_seconds
            current = len(pods)
            if current > model.max_replicas:
                desired = model.max_replicas
                proposals: dict[str, int | None] = {}
            elif current < model.min_replicas:
                desired = model.min_replicas
                proposals = {}
            else:
                proposals = {m.label: _propose(m, pods, history, t, current, w) for m in model.metrics}
                computed = [p for p in proposals.values() if p is not None]
                desired = controller.normalize(t, current, max(computed)) if computed else current
            decisions.append(Decision(t, current, proposals, desired))
            if desired > current:
                for _ in range(desired - current):
                    if spare > 0:
                        spare -= 1
                        scheduled, slot = t, "spare"
                    elif reserve_free > 0:
                        reserve_free -= 1
                        scheduled, slot = t + w.preemption_seconds, "reserve"
                        room_events.append((t + w.node_provision_seconds, "reserve"))
                    else:
                        scheduled, slot = t + w.node_provision_seconds, "node"
                    pods.append(_Pod(created=t, scheduled=scheduled, ready=scheduled + w.startup_seconds, slot=slot))
            elif desired < current:
                # ReplicaSet deletion order: unscheduled, then unready, then the newest.
                pods.sort(key=lambda p: (p.scheduled <= t, p.is_ready(t), -p.created))
                for pod in pods[: current - desired]:
                    room_events.append((max(pod.scheduled, t), "spare"))
                del pods[: current - desired]
            controller.record(t, current, desired)

        capacity = ready * w.pod_capacity_rps
        served = min(load, capacity)
        samples.append(Sample(
            time=t, load_rps=load, spec_replicas=len(pods), ready_replicas=ready, capacity_rps=capacity,
            served_rps=served, dropped_rps=max(load - capacity, 0.0), reserve_free=reserve_free,
        ))
    return SimulationResult(model, w, samples, decisions, step_seconds)


def _propose(
    metric: MetricTarget, pods: list[_Pod], history: list[tuple[float, float, int]], t: float, current: int,
    w: Workload,
) -> int | None:
    seen_at = t - w.metric_lag_seconds
    load, ready_then = _history_at(history, seen_at)
    unready = sum(1 for p in pods if not p.is_ready(t))
    with_sample = sum(1 for p in pods if p.ready <= seen_at)
    missing = len(pods) - unready - with_sample
    if with_sample == 0 or ready_then == 0:
        return None
    per_pod = load / ready_then
    if metric.kind == "requests":
        value = per_pod
    else:
        value = min(per_pod / w.pod_capacity_rps * w.cpu_utilization_at_capacity, w.cpu_ceiling_percent)
    return replicas_for_metric(
        current, with_sample, value, metric.target, unready=unready, missing=missing, tolerance=w.tolerance
    )


def _history_at(history: list[tuple[float, float, int]], when: float) -> tuple[float, int]:
    # Before the trace starts the system is taken to have been steady at its first state.
    chosen = history[0]
    for entry in history:
        if entry[0] <= when + 1e-9:
            chosen = entry
        else:
            break
    return chosen[1], chosen[2]


def sync_offsets(workload: Workload) -> Iterable[Workload]:
    """The same workload at every whole-second phase of the sync period (best to worst case)."""
    for offset in range(int(workload.sync_period_seconds)):
        yield replace(workload, sync_offset_seconds=float(offset))


# --- command line ------------------------------------------------------------------


def simulate_command(
    hpa_path: Path,
    trace: str = "step:867.5:15000",
    hpa_name: str | None = None,
    startup_seconds: float = 20.0,
    metric_lag_seconds: float = 15.0,
    reserve_pods: int = 0,
    node_provision_seconds: float = 120.0,
    preemption_seconds: float = 2.0,
    spare_pod_slots: int = 0,
    pod_capacity_rps: float = 618.7,
    cpu_ceiling_percent: float = 200.0,
    sync_offset_seconds: float = 0.0,
    default_behavior: bool = False,
    csv_path: Path | None = None,
    every_seconds: float = 15.0,
) -> SimulationResult:
    """Simulate the HPA in HPA_PATH (a manifest file or a dist/<env> folder) against a load trace.

    TRACE is step:BEFORE:AFTER[:AT[:DURATION]], ramp:FROM:TO[:AT[:SECONDS[:DURATION]]],
    points:T=RPS,... or a CSV file of time,req/s. Prints a table and a summary; writes a CSV
    when --csv-path is given. --default-behavior drops the HPA's behavior (Kubernetes defaults).
    """
    obj = load_hpa(Path(hpa_path), hpa_name)
    if default_behavior:
        obj = without_behavior(obj)
    workload = Workload(
        pod_capacity_rps=pod_capacity_rps, cpu_ceiling_percent=cpu_ceiling_percent, startup_seconds=startup_seconds,
        metric_lag_seconds=metric_lag_seconds, sync_offset_seconds=sync_offset_seconds, reserve_pods=reserve_pods,
        spare_pod_slots=spare_pod_slots, preemption_seconds=preemption_seconds,
        node_provision_seconds=node_provision_seconds,
    )
    result = simulate(obj, LoadTrace.parse(trace), workload)
    metrics = ", ".join(m.label for m in result.hpa.metrics)
    print(f"HPA {result.hpa.name}: {result.hpa.min_replicas}-{result.hpa.max_replicas} replicas on {metrics}")
    print(result.table(every=every_seconds))
    print(result.summary())
    if csv_path is not None:
        result.write_csv(Path(csv_path))
        print(f"wrote {csv_path}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="simulate-scaling", description=simulate_command.__doc__)
    parser.add_argument("hpa_path", type=Path)
    parser.add_argument("--trace", default="step:867.5:15000")
    parser.add_argument("--hpa-name")
    parser.add_argument("--startup-seconds", type=float, default=20.0)
    parser.add_argument("--metric-lag-seconds", type=float, default=15.0)
    parser.add_argument("--reserve-pods", type=int, default=0)
    parser.add_argument("--node-provision-seconds", type=float, default=120.0)
    parser.add_argument("--preemption-seconds", type=float, default=2.0)
    parser.add_argument("--spare-pod-slots", type=int, default=0)
    parser.add_argument("--pod-capacity-rps", type=float, default=618.7)
    parser.add_argument("--cpu-ceiling-percent", type=float, default=200.0)
    parser.add_argument("--sync-offset-seconds", type=float, default=0.0)
    parser.add_argument("--default-behavior", action="store_true")
    parser.add_argument("--csv-path", type=Path)
    parser.add_argument("--every-seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    try:
        simulate_command(**vars(args))
    except ValueError as err:
        print(f"simulate-scaling: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
