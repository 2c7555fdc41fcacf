"""Service level objectives as Prometheus rules: SLI recordings and burn-rate alerts.

The method is the Google SRE workbook's multi-window, multi-burn-rate alerting
(chapter "Alerting on SLOs"), the one Sloth implements. An alert fires when
both a long window (the budget really is being spent) and a short window (it
is still being spent now, so the alert resets quickly after a fix) burn the
error budget faster than a factor:

    page    5m and 1h  at 14.4x (2% of a 30-day budget gone in 1 hour)
    page    30m and 6h at 6x    (5% in 6 hours)
    ticket  2h and 1d  at 3x    (10% in 1 day)
    ticket  6h and 3d  at 1x    (10% in 3 days)

The factors are derived from those budget shares and the SLO window
(factor = share x window / long window), so a 28-day SLO gets 13.44x, 5.6x...
as Sloth does, and a 30-day SLO gets exactly the workbook's numbers.

Rule and label names follow Sloth's scheme (``slo:sli_error:ratio_rate5m``
with ``sloth_id``, ``sloth_service``, ``sloth_slo``, ``sloth_window``), so
Sloth's Grafana dashboards and anyone used to its rules can read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .._props import DnsLabel, Props
from ._promql import LabelMatchers, MetricName, PromDuration, duration_seconds, selector


@dataclass(frozen=True)
class BurnRateWindow:
    """One alert condition: ``long`` and ``short`` windows both above ``factor`` x budget."""

    short: str
    long: str
    budget_share: float  # share of the whole window's error budget this condition allows to spend
    severity: Literal["page", "ticket"]

    def factor(self, slo_window: str) -> float:
        return round(self.budget_share * duration_seconds(slo_window) / duration_seconds(self.long), 6)


WORKBOOK_WINDOWS: tuple[BurnRateWindow, ...] = (
    BurnRateWindow("5m", "1h", 0.02, "page"),
    BurnRateWindow("30m", "6h", 0.05, "page"),
    BurnRateWindow("2h", "1d", 0.10, "ticket"),
    BurnRateWindow("6h", "3d", 0.10, "ticket"),
)

SLI_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


class SLI(Props):
    """Which requests count as bad. Build with :meth:`SLI.errors` or :meth:`SLI.latency`.

    Both read the API's HTTP metrics, documented as a contract in
    ``docs``/README: a counter ``http_requests_total`` with a ``code`` label
    (the HTTP status), and a histogram ``http_request_duration_seconds``.
    """

    kind: Literal["errors", "latency"] = Field(
        description="'errors': bad = matching error_matchers; 'latency': bad = slower than threshold. Required."
    )
    metric: MetricName = Field(
        description="Counter of all requests (errors) or histogram base name without _bucket (latency). Required."
    )
    matchers: LabelMatchers = Field(
        "", description="Label matchers every series of the SLI carries, e.g. 'service=\"leanvibe-api\"'. Default: none."
    )
    error_matchers: LabelMatchers = Field(
        "", description="Extra matchers selecting bad requests (errors kind), e.g. 'code=~\"5..\"'. Default: none."
    )
    threshold_le: str | None = Field(
        None,
        description="Latency threshold as the histogram's exact 'le' label value, e.g. '0.5' (latency kind). "
        "Default: none.",
    )

    @classmethod
    def errors(
        cls,
        matchers: str = 'service="leanvibe-api"',
        error_matchers: str = 'code=~"5.."',
        metric: str = "http_requests_total",
    ) -> SLI:
        """Availability: share of requests answered with a server error (5xx by default)."""
        return cls.build(kind="errors", metric=metric, matchers=matchers, error_matchers=error_matchers)

    @classmethod
    def latency(
        cls,
        threshold_le: str = "0.5",
        matchers: str = 'service="leanvibe-api"',
        histogram: str = "http_request_duration_seconds",
    ) -> SLI:
        """Latency: share of requests slower than the histogram bucket ``le=threshold_le``."""
        return cls.build(kind="latency", metric=histogram, matchers=matchers, threshold_le=threshold_le)

    @field_validator("threshold_le")
    @classmethod
    def _check_le(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                if float(value) <= 0:
                    raise ValueError
            except ValueError:
                raise ValueError("must be a positive number written exactly as the 'le' label, e.g. '0.5'") from None
        return value

    @model_validator(mode="after")
    def _check_kind(self) -> SLI:
        if self.kind == "errors" and not self.error_matchers:
            raise ValueError("error_matchers ('') must select the bad requests when kind is 'errors'")
        if self.kind == "latency" and self.threshold_le is None:
            raise ValueError("threshold_le (None) must be set when kind is 'latency'")
        if self.kind == "latency" and self.metric.endswith(("_bucket", "_count", "_sum")):
            raise ValueError(f"metric ({self.metric}) must be the histogram's base name, without _bucket/_count/_sum")
        return self

    def error_query(self, window: str) -> str:
        if self.kind == "errors":
            return f"sum(rate({selector(self.metric, self.matchers, self.error_matchers)}[{window}]))"
        slow = selector(f"{self.metric}_bucket", self.matchers, f'le="{self.threshold_le}"')
        return f"(sum(rate({selector(self.metric + '_count', self.matchers)}[{window}])) - sum(rate({slow}[{window}])))"

    def total_query(self, window: str) -> str:
        metric = self.metric if self.kind == "errors" else f"{self.metric}_count"
        return f"sum(rate({selector(metric, self.matchers)}[{window}]))"

    def series(self) -> set[str]:
        """Metric names the SLI reads (for checking that something scrapes them)."""
        if self.kind == "errors":
            return {self.metric}
        return {f"{self.metric}_count", f"{self.metric}_bucket"}


class SLO(Props):
    """A service level objective and its alerting. Only name, service and sli are required."""

    name: DnsLabel = Field(description="SLO name, e.g. 'requests-availability'; the sloth_slo label. Required.")
    service: DnsLabel = Field(
        description="Service the SLO belongs to, e.g. 'leanvibe-api'; the sloth_service and service labels. Required."
    )
    sli: SLI = Field(description="What counts as a bad request: SLI.errors(...) or SLI.latency(...). Required.")
    objective: float = Field(
        0.999, description="Target share of good requests, strictly between 0 and 1. Default: 0.999 (99.9%)."
    )
    window: PromDuration = Field(
        "30d", description="Rolling window the objective holds over. Default: '30d' (43.2 min of budget at 99.9%)."
    )
    description: str = Field("", description="One line shown in alerts and dashboards. Default: none.")
    alert_name: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Alert name. Default: the CamelCase service and SLO name + 'ErrorBudgetBurn'.",
    )
    page_severity: str = Field(
        "critical", min_length=1, description="severity label of the page alerts. Default: 'critical'."
    )
    ticket_severity: str = Field(
        "warning", min_length=1, description="severity label of the ticket alerts. Default: 'warning'."
    )
    runbook_url: str | None = Field(
        None, description="runbook_url annotation of the alerts. Default: the runbook base URL of the stack + alert name."
    )

    @field_validator("objective")
    @classmethod
    def _check_objective(cls, value: float) -> float:
        if not 0 < value < 1:
            hint = f"; for {value}% write {value / 100:g}" if 1 < value < 100 else ""
            raise ValueError(f"must be a ratio strictly between 0 and 1, e.g. 0.999 for 99.9%{hint}")
        return value

    @model_validator(mode="after")
    def _check_window(self) -> SLO:
        longest = max(duration_seconds(w.long) for w in WORKBOOK_WINDOWS)
        if duration_seconds(self.window) < longest:
            raise ValueError(
                f"window ({self.window}) must be at least 3d: the slowest burn-rate alert looks back 3 days"
            )
        if self.page_severity == self.ticket_severity:
            raise ValueError(
                f"page_severity ({self.page_severity}) and ticket_severity ({self.ticket_severity}) must differ, "
                "or tickets would page"
            )
        return self

    @property
    def sloth_id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def error_budget(self) -> str:
        """1 - objective, written exactly (0.001, not 0.0010000000000000009)."""
        return _number(Decimal("1") - Decimal(repr(self.objective)))

    @property
    def alert(self) -> str:
        if self.alert_name:
            return self.alert_name
        words = re.split(r"[-_]", f"{self.service}-{self.name}")
        return "".join(w.capitalize() for w in words if w) + "ErrorBudgetBurn"

    def sloth_labels(self) -> dict[str, str]:
        return {"sloth_id": self.sloth_id, "sloth_service": self.service, "sloth_slo": self.name}

    def severities(self) -> set[str]:
        return {self.page_severity, self.ticket_severity}

    def series(self) -> set[str]:
        return self.sli.series()


def _number(value: Decimal | float) -> str:
    text = format(Decimal(repr(value)) if isinstance(value, float) else value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _matcher(labels: dict[str, str]) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in labels.items())


def sli_recording_rules(slo: SLO) -> dict[str, Any]:
    """Error ratio of the SLI over every window the alerts need, plus the SLO window."""
    ids = slo.sloth_labels()
    rules: list[dict[str, Any]] = []
    for window in SLI_WINDOWS:
        rules.append(
            {
                "record": f"slo:sli_error:ratio_rate{window}",
                "expr": f"({slo.sli.error_query(window)})\n/\n({slo.sli.total_query(window)})\n",
                "labels": {**ids, "sloth_window": window},
            }
        )
    # The SLO window's ratio is the average of the 5m ratio over it, as Sloth does:
    # one 30-day rate() over raw counters would read 30 days of samples every minute.
    five_minutes = f"slo:sli_error:ratio_rate5m{{{_matcher(ids)}}}"
    rules.append(
        {
            "record": f"slo:sli_error:ratio_rate{slo.window}",
            "expr": f"sum_over_time({five_minutes}[{slo.window}])\n/ ignoring (sloth_window)\n"
            f"count_over_time({five_minutes}[{slo.window}])\n",
            "labels": {**ids, "sloth_window": slo.window},
        }
    )
    return {"name": f"sloth-slo-sli-recordings-{slo.sloth_id}", "rules": rules}


def meta_recording_rules(slo: SLO) -> dict[str, Any]:
    """Objective, budget, burn rates and budget remaining, for dashboards."""
    ids = slo.sloth_labels()
    sel = _matcher(ids)
    on = "on (sloth_id, sloth_slo, sloth_service) group_left"
    days = _number(Decimal(repr(duration_seconds(slo.window))) / Decimal(86400))
    return {
        "name": f"sloth-slo-meta-recordings-{slo.sloth_id}",
        "rules": [
            {"record": "slo:objective:ratio", "expr": f"vector({_number(slo.objective)})", "labels": ids},
            {"record": "slo:error_budget:ratio", "expr": f"vector({slo.error_budget})", "labels": ids},
            {"record": "slo:time_period:days", "expr": f"vector({days})", "labels": ids},
            {
                "record": "slo:current_burn_rate:ratio",
                "expr": f"slo:sli_error:ratio_rate5m{{{sel}}}\n/ {on}\nslo:error_budget:ratio{{{sel}}}\n",
                "labels": ids,
            },
            {
                "record": "slo:period_burn_rate:ratio",
                "expr": f"slo:sli_error:ratio_rate{slo.window}{{{sel}}}\n/ {on}\nslo:error_budget:ratio{{{sel}}}\n",
                "labels": ids,
            },
            {
                "record": "slo:period_error_budget_remaining:ratio",
                "expr": f"1 - slo:period_burn_rate:ratio{{{sel}}}",
                "labels": ids,
            },
            {
                "record": "sloth_slo_info",
                "expr": "vector(1)",
                "labels": {**ids, "sloth_mode": "leanvibe-constructs", "sloth_objective": _number(Decimal(repr(slo.objective)) * 100)},
            },
        ],
    }


def burn_rate_condition(slo: SLO, windows: tuple[BurnRateWindow, ...]) -> str:
    sel = _matcher(slo.sloth_labels())
    terms = []
    for w in windows:
        threshold = f"({_number(w.factor(slo.window))} * {slo.error_budget})"
        terms.append(
            "(\n"
            f"    max(slo:sli_error:ratio_rate{w.short}{{{sel}}} > {threshold}) without (sloth_window)\n"
            "    and\n"
            f"    max(slo:sli_error:ratio_rate{w.long}{{{sel}}} > {threshold}) without (sloth_window)\n"
            ")"
        )
    return "\nor\n".join(terms) + "\n"


def alert_rules(slo: SLO, runbook_base_url: str) -> dict[str, Any]:
    """The page and the ticket alert of one SLO."""
    runbook = slo.runbook_url or f"{runbook_base_url.rstrip('/')}/{slo.alert}"
    what = slo.description or f"{slo.service} {slo.name}"
    rules = []
    for severity, label in (("page", slo.page_severity), ("ticket", slo.ticket_severity)):
        windows = tuple(w for w in WORKBOOK_WINDOWS if w.severity == severity)
        speed = "fast" if severity == "page" else "slow"
        rules.append(
            {
                "alert": slo.alert,
                "expr": burn_rate_condition(slo, windows),
                "labels": {
                    "severity": label,
                    "sloth_severity": severity,
                    # Alertmanager groups (and PagerDuty deduplicates) by alertname and service.
                    "service": slo.service,
                    "slo": slo.name,
                },
                "annotations": {
                    "summary": f"{what}: error budget burning {speed} ({severity})",
                    "description": (
                        f"{slo.service} is spending the {slo.window} error budget of its "
                        f"{_number(Decimal(repr(slo.objective)) * 100)}% {slo.name} objective {speed} enough to "
                        + ("exhaust it within days: act now." if severity == "page" else "need attention this week.")
                        + " Current 5m burn rate: see slo:current_burn_rate:ratio."
                    ),
                    "runbook_url": runbook,
                },
            }
        )
    return {"name": f"sloth-slo-alerts-{slo.sloth_id}", "rules": rules}


def slo_rule_groups(slo: SLO, runbook_base_url: str) -> list[dict[str, Any]]:
    return [sli_recording_rules(slo), meta_recording_rules(slo), alert_rules(slo, runbook_base_url)]


def recorded_series(slos: tuple[SLO, ...] | list[SLO]) -> set[str]:
    """Names of the series the SLO rules record (dashboards may read them)."""
    names = {"sloth_slo_info"}
    for slo in slos:
        for group in slo_rule_groups(slo, "https://x"):
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


def default_slos(service: str = "leanvibe-api") -> tuple[SLO, ...]:
    """The platform's objectives: 99.9% availability and 99% of requests under 500 ms, over 30 days."""
    return (
        SLO(
            name="requests-availability",
            service=service,
            sli=SLI.errors(matchers=f'service="{service}"'),
            description="API availability (non-5xx responses)",
        ),
        SLO(
            name="requests-latency",
            service=service,
            sli=SLI.latency(threshold_le="0.5", matchers=f'service="{service}"'),
            objective=0.99,
            description="API requests served within 500 ms",
        ),
    )
