"""What Prometheus would scrape and alert on, computed from the manifests.

Scrape coverage is decided the way Prometheus decides it: for each
``kubernetes_sd_configs`` job, the targets Kubernetes service discovery would
produce for a workload's pods (with the documented ``__meta_kubernetes_*``
labels) are run through the job's ``relabel_configs``; a port is scraped when a
target survives with that port in ``__address__``. So a job that keeps
``__meta_kubernetes_pod_container_port_name=metrics`` and a job that rewrites
the address from the ``prometheus.io/port`` annotation are both understood.
PodMonitor and ServiceMonitor objects (prometheus-operator) are honoured too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .model import Inventory, Manifest, Workload
from .selectors import parse_selector_string, selector_matches

# A pod IP and node for synthesized targets; relabel rules match on shape, not value.
POD_IP = "10.244.1.17"
NODE = "node-a"
SLO_ERROR_SERIES = re.compile(r"slo:sli_error:ratio_rate(?P<window>[0-9]+[smhdwy])\b")
_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_VALID_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_EXPAND = re.compile(r"\$(?:(\$)|\{(\w+)\}|(\w+))")


def sanitize(name: str) -> str:
    """Prometheus' label-name sanitizing of Kubernetes label and annotation keys."""
    return _LABEL_CHARS.sub("_", name)


# --- configuration found in the manifests -------------------------------------------------------


@dataclass(frozen=True)
class ScrapeConfig:
    source: Manifest  # the ConfigMap holding prometheus.yml
    key: str
    config: dict[str, Any]

    @property
    def jobs(self) -> list[dict[str, Any]]:
        return [j for j in self.config.get("scrape_configs") or [] if isinstance(j, dict)]


def scrape_configs(inv: Inventory) -> list[ScrapeConfig]:
    return [
        ScrapeConfig(cm, key, document)
        for cm, key, document in inv.config_files
        if isinstance(document, dict) and isinstance(document.get("scrape_configs"), list)
    ]


@dataclass(frozen=True)
class Rule:
    source: Manifest
    group: str
    rule: dict[str, Any]

    @property
    def alert(self) -> str | None:
        return self.rule.get("alert")

    @property
    def record(self) -> str | None:
        return self.rule.get("record")

    @property
    def expr(self) -> str:
        return str(self.rule.get("expr", ""))

    @property
    def labels(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.rule.get("labels") or {}).items()}


def rules(inv: Inventory) -> list[Rule]:
    """Rules of every PrometheusRule and of every rule file placed in a ConfigMap."""
    found: list[Rule] = []
    for pr in inv.kind("PrometheusRule"):
        found.extend(_rules_of(pr, pr.spec.get("groups")))
    for cm, _, document in inv.config_files:
        if isinstance(document, dict) and isinstance(document.get("groups"), list):
            found.extend(_rules_of(cm, document["groups"]))
    return found


def _rules_of(source: Manifest, groups: Any) -> Iterator[Rule]:
    for group in groups or []:
        if isinstance(group, dict):
            for rule in group.get("rules") or []:
                if isinstance(rule, dict):
                    yield Rule(source, str(group.get("name", "")), rule)


def window_seconds(window: str) -> int:
    return int(window[:-1]) * _DURATION[window[-1]]


# --- service discovery ------------------------------------------------------------------------


def _meta(prefix: str, mapping: dict[str, str], kind: str) -> dict[str, str]:
    labels = {}
    for key, value in mapping.items():
        labels[f"{prefix}_{kind}_{sanitize(key)}"] = str(value)
        labels[f"{prefix}_{kind}present_{sanitize(key)}"] = "true"
    return labels


def _pod_name(workload: Workload) -> str:
    return f"{workload.name}-0" if workload.kind == "StatefulSet" else f"{workload.name}-7d4b9c8f6-x2k9p"


def _controller(workload: Workload) -> tuple[str, str]:
    if workload.kind in ("Deployment", "Rollout"):
        return "ReplicaSet", f"{workload.name}-7d4b9c8f6"
    if workload.kind == "CronJob":
        return "Job", f"{workload.name}-29000000"
    return workload.kind, workload.name


def pod_meta(workload: Workload) -> dict[str, str]:
    controller_kind, controller_name = _controller(workload)
    labels = {
        "__meta_kubernetes_namespace": workload.namespace,
        "__meta_kubernetes_pod_name": _pod_name(workload),
        "__meta_kubernetes_pod_ip": POD_IP,
        "__meta_kubernetes_pod_ready": "true",
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_node_name": NODE,
        "__meta_kubernetes_pod_host_ip": "10.0.0.11",
        "__meta_kubernetes_pod_uid": "00000000-0000-0000-0000-000000000000",
        "__meta_kubernetes_pod_controller_kind": controller_kind,
        "__meta_kubernetes_pod_controller_name": controller_name,
    }
    labels.update(_meta("__meta_kubernetes_pod", workload.pod_labels, "label"))
    labels.update(_meta("__meta_kubernetes_pod", workload.pod_annotations, "annotation"))
    return labels


def container_meta(container: dict[str, Any], init: bool, port: dict[str, Any] | None) -> dict[str, str]:
    labels = {
        "__meta_kubernetes_pod_container_name": str(container.get("name", "")),
        "__meta_kubernetes_pod_container_image": str(container.get("image", "")),
        "__meta_kubernetes_pod_container_init": "true" if init else "false",
    }
    if port is not None:
        labels["__meta_kubernetes_pod_container_port_name"] = str(port.get("name", ""))
        labels["__meta_kubernetes_pod_container_port_number"] = str(port.get("containerPort", ""))
        labels["__meta_kubernetes_pod_container_port_protocol"] = str(port.get("protocol", "TCP"))
    return labels


@dataclass(frozen=True)
class Target:
    labels: dict[str, str]
    container_port: int | None  # the container port the discovered address points at


def pod_role_targets(workload: Workload) -> list[Target]:
    base = pod_meta(workload)
    targets = []
    for container in workload.containers:
        ports = container.ports
        if not ports:
            targets.append(Target({**base, **container_meta(container.spec, container.init, None),
                                   "__address__": POD_IP}, None))
        for port in ports:
            number = int(port.get("containerPort", 0))
            labels = {**base, **container_meta(container.spec, container.init, port),
                      "__address__": f"{POD_IP}:{number}"}
            targets.append(Target(labels, number))
    return targets


def services_selecting(inv: Inventory, workload: Workload) -> list[Manifest]:
    return [
        svc
        for svc in inv.kind("Service")
        if svc.namespace == workload.namespace
        and svc.spec.get("selector")
        and all(workload.pod_labels.get(k) == str(v) for k, v in svc.spec["selector"].items())
    ]


def resolve_target_port(workload: Workload, service_port: dict[str, Any]) -> tuple[dict[str, Any], Any] | None:
    """The (container, container port) a Service port sends traffic to; None when it resolves to nothing."""
    target = service_port.get("targetPort", service_port.get("port"))
    for container in workload.containers:
        for port in container.ports:
            if (isinstance(target, str) and not target.isdigit() and port.get("name") == target) or (
                str(target).isdigit() and int(port.get("containerPort", -1)) == int(target)
            ):
                return container.spec, port
    if str(target).isdigit():
        # A numeric targetPort works even when the container does not declare it.
        return {}, {"containerPort": int(target)}
    return None


def endpoint_role_targets(inv: Inventory, workload: Workload, role: str) -> list[Target]:
    targets = []
    for svc in services_selecting(inv, workload):
        common = {
            "__meta_kubernetes_namespace": workload.namespace,
            "__meta_kubernetes_service_name": svc.name,
            **_meta("__meta_kubernetes_service", svc.labels, "label"),
            **_meta("__meta_kubernetes_service", svc.metadata.get("annotations") or {}, "annotation"),
        }
        if role == "endpoints":
            common["__meta_kubernetes_endpoints_name"] = svc.name
            common.update(_meta("__meta_kubernetes_endpoints", svc.labels, "label"))
        else:
            common["__meta_kubernetes_endpointslice_name"] = f"{svc.name}-8xk2q"
            common["__meta_kubernetes_endpointslice_address_type"] = "IPv4"
            slice_labels = {**svc.labels, "kubernetes.io/service-name": svc.name}
            common.update(_meta("__meta_kubernetes_endpointslice", slice_labels, "label"))
        pod = pod_meta(workload)
        covered: set[int] = set()
        for service_port in svc.spec.get("ports") or []:
            resolved = resolve_target_port(workload, service_port)
            if resolved is None:
                continue
            container, port = resolved
            number = int(port["containerPort"])
            covered.add(number)
            labels = {**common, **pod, "__address__": f"{POD_IP}:{number}"}
            if container:
                container_init = any(c.init and c.spec is container for c in workload.containers)
                labels.update(container_meta(container, container_init, port))
            labels.update(_endpoint_labels(role, workload, service_port))
            targets.append(Target(labels, number))
        # Prometheus also lists the other container ports of the backing pods,
        # without endpoint port labels.
        for container in workload.containers:
            for port in container.ports:
                number = int(port.get("containerPort", 0))
                if number in covered:
                    continue
                labels = {**common, **pod, **container_meta(container.spec, container.init, port),
                          "__address__": f"{POD_IP}:{number}"}
                targets.append(Target(labels, number))
    return targets


def _endpoint_labels(role: str, workload: Workload, service_port: dict[str, Any]) -> dict[str, str]:
    pod_name = _pod_name(workload)
    if role == "endpoints":
        return {
            "__meta_kubernetes_endpoint_ready": "true",
            "__meta_kubernetes_endpoint_node_name": NODE,
            "__meta_kubernetes_endpoint_port_name": str(service_port.get("name", "")),
            "__meta_kubernetes_endpoint_port_protocol": str(service_port.get("protocol", "TCP")),
            "__meta_kubernetes_endpoint_address_target_kind": "Pod",
            "__meta_kubernetes_endpoint_address_target_name": pod_name,
        }
    labels = {
        "__meta_kubernetes_endpointslice_endpoint_conditions_ready": "true",
        "__meta_kubernetes_endpointslice_endpoint_conditions_serving": "true",
        "__meta_kubernetes_endpointslice_endpoint_conditions_terminating": "false",
        "__meta_kubernetes_endpointslice_endpoint_node_name": NODE,
        "__meta_kubernetes_endpointslice_port_name": str(service_port.get("name", "")),
        "__meta_kubernetes_endpointslice_port_protocol": str(service_port.get("protocol", "TCP")),
        "__meta_kubernetes_endpointslice_address_target_kind": "Pod",
        "__meta_kubernetes_endpointslice_address_target_name": pod_name,
    }
    if "appProtocol" in service_port:
        labels["__meta_kubernetes_endpointslice_port_app_protocol"] = str(service_port["appProtocol"])
    return labels


# --- relabeling -------------------------------------------------------------------------------


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's regexp.Expand, as Prometheus uses it: $1, ${1}, $name, ${name}, $$."""

    def group(m: re.Match[str]) -> str:
        if m.group(1):
            return "$"
        ref = m.group(2) or m.group(3)
        try:
            value = match.group(int(ref)) if ref.isdigit() else match.group(ref)
        except IndexError:  # an unknown group expands to nothing, as in Go
            return ""
        return value or ""

    return _EXPAND.sub(group, template)


def relabel_regex(config: dict[str, Any]) -> re.Pattern[str]:
    """The compiled regex of one relabel config; ValueError when it does not compile."""
    pattern = str(config.get("regex", "(.*)"))
    try:
        return re.compile(f"(?s:{pattern})")
    except re.error as error:
        raise ValueError(f"relabel regex {pattern!r} does not compile: {error}") from None


def invalid_relabel_regexes(config: ScrapeConfig) -> list[str]:
    """'job: problem' for every relabel regex Prometheus would refuse."""
    problems = []
    for job in config.jobs:
        for relabel_config in job.get("relabel_configs") or []:
            try:
                relabel_regex(relabel_config)
            except ValueError as error:
                problems.append(f"job {job.get('job_name')}: {error}")
    return problems


def relabel(labels: dict[str, str], configs: list[dict[str, Any]]) -> dict[str, str] | None:
    """Apply relabel_configs as Prometheus does; None when the target is dropped."""
    labels = dict(labels)
    for config in configs or []:
        action = str(config.get("action", "replace")).lower()
        regex = relabel_regex(config)
        separator = str(config.get("separator", ";"))
        value = separator.join(labels.get(str(name), "") for name in config.get("source_labels") or [])
        replacement = str(config.get("replacement", "$1"))
        target = str(config.get("target_label", ""))
        if action == "replace":
            match = regex.fullmatch(value)
            if not match:
                continue
            name = _expand(target, match)
            if not _VALID_LABEL.match(name):
                continue
            result = _expand(replacement, match)
            if result:
                labels[name] = result
            else:
                labels.pop(name, None)
        elif action == "keep":
            if not regex.fullmatch(value):
                return None
        elif action == "drop":
            if regex.fullmatch(value):
                return None
        elif action == "keepequal":
            if labels.get(target, "") != value:
                return None
        elif action == "dropequal":
            if labels.get(target, "") == value:
                return None
        elif action in ("lowercase", "uppercase"):
            labels[target] = value.lower() if action == "lowercase" else value.upper()
        elif action == "hashmod":
            digest = hashlib.md5(value.encode()).digest()
            labels[target] = str(int.from_bytes(digest[8:], "big") % int(config.get("modulus", 1)))
        elif action == "labelmap":
            for name, label_value in list(labels.items()):
                match = regex.fullmatch(name)
                if match:
                    labels[_expand(replacement, match)] = label_value
        elif action == "labeldrop":
            labels = {k: v for k, v in labels.items() if not regex.fullmatch(k)}
        elif action == "labelkeep":
            labels = {k: v for k, v in labels.items() if regex.fullmatch(k)}
    return labels


# --- coverage ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScrapedPort:
    job: str
    port: int


def _job_watches(job_sd: dict[str, Any], workload: Workload, own_namespace: str | None) -> bool:
    namespaces = job_sd.get("namespaces") or {}
    names = list(namespaces.get("names") or [])
    if namespaces.get("own_namespace") and own_namespace:
        names.append(own_namespace)
    return not names or workload.namespace in names


def _selectors_admit(job_sd: dict[str, Any], role: str, workload: Workload, service: dict[str, str] | None) -> bool:
    for selector in job_sd.get("selectors") or []:
        selector_role = selector.get("role")
        subject = workload.pod_labels if selector_role == "pod" else service
        if selector_role not in ("pod", "service", "endpoints", "endpointslice") or subject is None:
            continue
        if selector_role in ("endpoints", "endpointslice", "service") and role == "pod":
            continue
        label = selector.get("label")
        if label and not selector_matches(parse_selector_string(label), subject):
            return False
    return True


def scraped_ports(inv: Inventory, workload: Workload) -> list[ScrapedPort]:
    """Every (job, container port) at which some configuration scrapes this workload."""
    scraped: list[ScrapedPort] = []
    for config in scrape_configs(inv):
        for job in config.jobs:
            job_name = str(job.get("job_name", ""))
            base = {
                "job": job_name,
                "__scheme__": str(job.get("scheme", "http")),
                "__metrics_path__": str(job.get("metrics_path", "/metrics")),
                "__scrape_interval__": str(job.get("scrape_interval", config.config.get("global", {}).get(
                    "scrape_interval", "1m"))),
                "__scrape_timeout__": str(job.get("scrape_timeout", "10s")),
            }
            for name, values in (job.get("params") or {}).items():
                if values:
                    base[f"__param_{name}"] = str(values[0])
            for sd in job.get("kubernetes_sd_configs") or []:
                role = str(sd.get("role", ""))
                if not _job_watches(sd, workload, config.source.namespace):
                    continue
                if role == "pod":
                    if not _selectors_admit(sd, role, workload, None):
                        continue
                    targets = pod_role_targets(workload)
                elif role in ("endpoints", "endpointslice"):
                    targets = [
                        t for t in endpoint_role_targets(inv, workload, role)
                        if _selectors_admit(sd, role, workload, _service_labels(inv, workload, t))
                    ]
                else:
                    continue
                for target in targets:
                    try:
                        result = relabel({**base, **target.labels}, job.get("relabel_configs") or [])
                    except ValueError:
                        break  # Prometheus refuses the whole configuration; reported by metrics-scraped
                    if result is None or not result.get("__address__"):
                        continue
                    port = re.search(r":(\d+)$", result["__address__"])
                    if port:
                        scraped.append(ScrapedPort(job_name, int(port.group(1))))
    scraped.extend(_operator_scrapes(inv, workload))
    return scraped


def _service_labels(inv: Inventory, workload: Workload, target: Target) -> dict[str, str] | None:
    service = inv.get("Service", workload.namespace, target.labels.get("__meta_kubernetes_service_name", ""))
    return service.labels if service else None


def _monitor_namespaces(monitor: Manifest) -> tuple[bool, list[str]]:
    selector = monitor.spec.get("namespaceSelector") or {}
    if selector.get("any"):
        return True, []
    return False, list(selector.get("matchNames") or [monitor.namespace])


def _operator_scrapes(inv: Inventory, workload: Workload) -> list[ScrapedPort]:
    scraped = []
    container_ports = [p for c in workload.containers for p in c.ports]
    for monitor in inv.kind("PodMonitor"):
        any_ns, names = _monitor_namespaces(monitor)
        if not (any_ns or workload.namespace in names):
            continue
        if not selector_matches(monitor.spec.get("selector") or {}, workload.pod_labels):
            continue
        for endpoint in monitor.spec.get("podMetricsEndpoints") or []:
            for port in container_ports:
                if endpoint.get("port") == port.get("name") or endpoint.get("portNumber") == port.get("containerPort"):
                    job = f"podMonitor/{monitor.namespace}/{monitor.name}"
                    scraped.append(ScrapedPort(job, int(port["containerPort"])))
    for monitor in inv.kind("ServiceMonitor"):
        any_ns, names = _monitor_namespaces(monitor)
        for svc in services_selecting(inv, workload):
            if not (any_ns or svc.namespace in names):
                continue
            if not selector_matches(monitor.spec.get("selector") or {}, svc.labels):
                continue
            for endpoint in monitor.spec.get("endpoints") or []:
                for service_port in svc.spec.get("ports") or []:
                    if endpoint.get("port") not in (None, service_port.get("name")):
                        continue
                    if "targetPort" in endpoint and endpoint["targetPort"] != service_port.get("targetPort"):
                        continue
                    resolved = resolve_target_port(workload, service_port)
                    if resolved:
                        scraped.append(ScrapedPort(f"serviceMonitor/{monitor.namespace}/{monitor.name}",
                                                   int(resolved[1]["containerPort"])))
    return scraped
