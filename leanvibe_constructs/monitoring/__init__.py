"""Monitoring: Prometheus, Alertmanager and Grafana with SLO burn-rate alerting.

``MonitoringStack`` is the construct; the generators next to it return the
configuration it ships (``prometheus_config``, ``rule_files``,
``alertmanager_config``, ``dashboards``), so each can be tested on its own and
run through promtool and amtool.
"""

from .alertmanager_config import alertmanager_config
from .dashboards import dashboards
from .platform_alerts import SCRAPED_SERIES, platform_alert_groups
from .prometheus_config import prometheus_config, rule_files
from .props import MonitoringStackProps
from .slo import SLI, SLO, default_slos, slo_rule_groups
from .stack import MonitoringStack

__all__ = [
    "SCRAPED_SERIES",
    "SLI",
    "SLO",
    "MonitoringStack",
    "MonitoringStackProps",
    "alertmanager_config",
    "dashboards",
    "default_slos",
    "platform_alert_groups",
    "prometheus_config",
    "rule_files",
    "slo_rule_groups",
]
