"""Observability checks: metrics ports that Prometheus scrapes, SLO burn-rate alerts."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .model import Inventory, Manifest, Workload
from .prometheus import (
    SLO_ERROR_SERIES,
    Rule,
    invalid_relabel_regexes,
    rules,
    scrape_configs,
    scraped_ports,
    services_selecting,
    window_seconds,
)

Found = Iterator[tuple[Manifest, str]]

METRICS_PORT_NAME = "metrics"
FAST_BURN_MAX_SECONDS = 3600  # the SRE workbook's page: 1h long window (with 5m short window)
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def metrics_ports(w: Workload) -> list[int]:
    return [
        int(p["containerPort"])
        for c in w.containers if c.long_running
        for p in c.ports if p.get("name") == METRICS_PORT_NAME and "containerPort" in p
    ]


def metrics_port(inv: Inventory) -> Found:
    for w in inv.long_running:
        if not metrics_ports(w):
            yield w.manifest, f"no container port is named {METRICS_PORT_NAME!r}"


def metrics_scraped(inv: Inventory) -> Found:
    for config in scrape_configs(inv):
        for problem in invalid_relabel_regexes(config):
            yield config.source, f"{config.key}: {problem}; Prometheus refuses this configuration"
    has_config = bool(scrape_configs(inv)) or bool(inv.kind("PodMonitor", "ServiceMonitor"))
    for w in inv.long_running:
        ports = metrics_ports(w)
        if not ports:
            continue  # reported by metrics-port
        if not has_config:
            yield w.manifest, (
                "no Prometheus scrape configuration in these manifests (a ConfigMap with a prometheus.yml "
                "holding scrape_configs, or a PodMonitor/ServiceMonitor), so nothing scrapes its metrics port"
            )
            continue
        scraped = {s.port for s in scraped_ports(inv, w)}
        missed = [p for p in ports if p not in scraped]
        if missed:
            yield w.manifest, f"no scrape job selects its metrics port {', '.join(map(str, missed))}"


def api_workloads(inv: Inventory) -> list[Workload]:
    """Workloads behind an Ingress; without Ingresses, those labelled component 'api'."""
    backends = set()
    for ingress in inv.kind("Ingress"):
        spec = ingress.spec
        paths = [p for rule in spec.get("rules") or [] for p in (rule.get("http") or {}).get("paths") or []]
        for backend in [spec.get("defaultBackend") or {}] + [p.get("backend") or {} for p in paths]:
            if (backend.get("service") or {}).get("name"):
                backends.add((ingress.namespace, backend["service"]["name"]))
    if backends:
        return [
            w for w in inv.long_running
            if any((s.namespace, s.name) in backends for s in services_selecting(inv, w))
        ]
    return [w for w in inv.long_running if w.pod_labels.get("app.kubernetes.io/component") == "api"]


def identities(inv: Inventory, w: Workload) -> set[str]:
    names = {w.name, *(s.name for s in services_selecting(inv, w))}
    for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app", "k8s-app"):
        if key in w.pod_labels:
            names.add(w.pod_labels[key])
    return names


def _mentions(rule: Rule, names: set[str]) -> bool:
    values = set(rule.labels.values())
    for _, operator, value in _MATCHER.findall(rule.expr):
        if operator == "=":
            values.add(value)
        elif operator == "=~" and any(re.fullmatch(value, n) for n in names if _compiles(value)):
            return True
    return bool(values & names)


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def slo_burn_rate_alerts(inv: Inventory) -> Found:
    all_rules = rules(inv)
    recorded = {r.record: r for r in all_rules if r.record and SLO_ERROR_SERIES.fullmatch(r.record)}
    burn_alerts = [r for r in all_rules if r.alert and SLO_ERROR_SERIES.search(r.expr)]
    for w in api_workloads(inv):
        names = identities(inv, w)
        mine = []
        for alert in burn_alerts:
            series = {m.group(0) for m in SLO_ERROR_SERIES.finditer(alert.expr)}
            if _mentions(alert, names) or any(_mentions(recorded[s], names) for s in series if s in recorded):
                mine.append((alert, series))
        if not mine:
            yield w.manifest, (
                "no alert rule uses slo:sli_error:ratio_rate* burn-rate series for this API "
                f"(looked for label values {', '.join(sorted(names))} in alerts and their recording rules)"
            )
            continue
        usable = []
        for alert, series in mine:
            unrecorded = sorted(s for s in series if s not in recorded)
            if unrecorded:
                yield w.manifest, (
                    f"alert {alert.alert} uses {', '.join(unrecorded)}, which no recording rule records: "
                    "it can never fire"
                )
            else:
                usable.extend(long_windows(alert.expr))
        if usable and not any(longest <= FAST_BURN_MAX_SECONDS for longest in usable):
            yield w.manifest, "no fast-burn alert (long window of 1h or less): a full outage pages hours late"
        if usable and not any(longest > FAST_BURN_MAX_SECONDS for longest in usable):
            yield w.manifest, "no slow-burn alert (long window over 1h): a steady leak of error budget never alerts"


def long_windows(expr: str) -> list[int]:
    """The long window, in seconds, of each condition of a burn-rate alert.

    Multiwindow alerts join conditions with ``or``, each a short and a long
    window joined with ``and`` (the page alert: 5m and 1h, or 30m and 6h); the
    long window of a condition is its largest.
    """
    windows = []
    for condition in re.split(r"\bor\b", expr):
        found = [window_seconds(m["window"]) for m in SLO_ERROR_SERIES.finditer(condition)]
        if found:
            windows.append(max(found))
    return windows
