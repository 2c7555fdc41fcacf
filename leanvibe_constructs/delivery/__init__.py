"""Delivery: the CI/CD pipeline the library generates, its release decisions, and in-cluster runners."""

from .pipeline import Pipeline, PipelineProps, write_workflow
from .release import MetricsUnavailable, PrometheusSource, Verdict, error_ratio_query, watch
from .runners import GitHubRunners, GitHubRunnersProps

__all__ = [
    "GitHubRunners",
    "GitHubRunnersProps",
    "MetricsUnavailable",
    "Pipeline",
    "PipelineProps",
    "PrometheusSource",
    "Verdict",
    "error_ratio_query",
    "watch",
    "write_workflow",
]
