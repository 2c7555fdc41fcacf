"""Standard ``app.kubernetes.io/*`` labels, in one place.

Selectors use the same set minus ``version``, so that rolling out a new version
never changes a selector (selectors of Deployments and StatefulSets are
immutable).
"""

from __future__ import annotations

from dataclasses import dataclass

MANAGED_BY = "cdk8s"


@dataclass(frozen=True)
class Identity:
    """Who an object belongs to: rendered as the standard labels."""

    name: str  # the application, e.g. "postgresql"
    instance: str  # this installation of it, e.g. "leanvibe-postgres"
    component: str  # its role in the architecture, e.g. "database"
    part_of: str  # the higher-level application, e.g. "leanvibe"
    version: str  # the application version, usually the image tag

    def labels(self) -> dict[str, str]:
        return {**self.selector(), "app.kubernetes.io/version": self.version}

    def selector(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/instance": self.instance,
            "app.kubernetes.io/component": self.component,
            "app.kubernetes.io/part-of": self.part_of,
            "app.kubernetes.io/managed-by": MANAGED_BY,
        }
