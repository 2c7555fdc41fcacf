"""alertmanager.yml as plain text: routing by severity, PagerDuty for pages.

- Alerts are grouped by ``alertname`` and ``service``: PagerDuty deduplicates
  on the group key, so one incident opens per alert and service, however many
  pods or SLO windows fire.
- ``severity_receivers`` decides where each severity goes (critical pages,
  warning goes to the chat/ticket channel by default).
- A firing critical alert mutes the warning of the same alert and service
  (the ticket twin of a page adds nothing while the page is open).
- ``Watchdog`` (always firing) has its own route to the ``watchdog`` receiver,
  which has no integration by default: give it a dead man's switch (a
  heartbeat webhook that alerts when the Watchdog stops arriving) where the
  platform has one. It never reaches PagerDuty or chat.
- Secrets never appear here: the PagerDuty routing key and the chat webhook
  URL are read from files mounted from Secrets (``routing_key_file``,
  ``api_url_file``).
"""

from __future__ import annotations

from typing import Any

from ._yaml import dump_yaml
from .props import MonitoringStackProps

SECRETS_DIR = "/etc/alertmanager/secrets"
PAGERDUTY_KEY_FILE = f"{SECRETS_DIR}/pagerduty/routing-key"
CHAT_URL_FILE = f"{SECRETS_DIR}/chat/webhook-url"

RECEIVER_NAMES = {"pagerduty": "pagerduty", "chat": "chat", "none": "blackhole"}


def receivers(p: MonitoringStackProps) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = [{"name": "blackhole"}, {"name": "watchdog"}]
    if p.pagerduty_routing_key is not None:
        result.append(
            {
                "name": "pagerduty",
                "pagerduty_configs": [
                    {
                        "routing_key_file": PAGERDUTY_KEY_FILE,
                        "send_resolved": True,
                        "severity": "critical",
                        "client": "Alertmanager ({{ .CommonLabels.cluster }})",
                        "description": "{{ .CommonLabels.alertname }} {{ .CommonLabels.service }}: "
                        "{{ .CommonAnnotations.summary }}",
                        "details": {
                            "firing": "{{ .Alerts.Firing | len }}",
                            "description": "{{ .CommonAnnotations.description }}",
                            "runbook": "{{ .CommonAnnotations.runbook_url }}",
                        },
                    }
                ],
            }
        )
    if p.chat_webhook is not None:
        result.append(
            {
                "name": "chat",
                "slack_configs": [
                    {
                        "api_url_file": CHAT_URL_FILE,
                        "channel": p.chat_channel,
                        "send_resolved": True,
                        "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} {{ .CommonLabels.service }}",
                        "text": "{{ range .Alerts }}{{ .Annotations.description }}\n{{ end }}",
                        "title_link": "{{ .CommonAnnotations.runbook_url }}",
                    }
                ],
            }
        )
    return result


def route(p: MonitoringStackProps) -> dict[str, Any]:
    routes: list[dict[str, Any]] = [
        {
            "receiver": "watchdog",
            "matchers": ['alertname="Watchdog"'],
            "group_wait": "0s",
            "group_interval": "1m",
            "repeat_interval": "5m",
        }
    ]
    for severity, receiver in sorted(p.severity_receivers.items()):
        entry: dict[str, Any] = {"receiver": RECEIVER_NAMES[receiver], "matchers": [f'severity="{severity}"']}
        if receiver == "pagerduty":
            # Pages repeat sooner: an unacknowledged page must not go quiet for half a day.
            entry["repeat_interval"] = "1h"
        routes.append(entry)
    return {
        # Anything without a known severity still reaches a human.
        "receiver": "chat" if p.chat_webhook is not None else RECEIVER_NAMES[_fallback(p)],
        "group_by": ["alertname", "service"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "12h",
        "routes": routes,
    }


def _fallback(p: MonitoringStackProps) -> str:
    return "pagerduty" if p.pagerduty_routing_key is not None else "none"


def inhibit_rules() -> list[dict[str, Any]]:
    return [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["alertname", "service"],
        }
    ]


def alertmanager_config(p: MonitoringStackProps) -> str:
    config = {
        "global": {"resolve_timeout": "5m"},
        "route": route(p),
        "inhibit_rules": inhibit_rules(),
        "receivers": receivers(p),
    }
    return dump_yaml(config)


def secret_files(p: MonitoringStackProps) -> dict[str, str]:
    """In-pod secret file path -> the Secret it is mounted from (for tests and docs)."""
    files = {}
    if p.pagerduty_routing_key is not None:
        files[PAGERDUTY_KEY_FILE] = p.pagerduty_routing_key.secret_name
    if p.chat_webhook is not None:
        files[CHAT_URL_FILE] = p.chat_webhook.secret_name
    return files
