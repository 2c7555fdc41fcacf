"""``leanvibe release ...``: the commands the generated deploy job runs.

Registered in the main CLI with ``app.add_typer(release_app, name="release")``;
also runnable alone as ``python -m leanvibe_constructs.delivery.release_cli``.
Exit codes: 0 healthy / done, 1 unhealthy (roll back), 2 bad usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..monitoring.prometheus_config import prometheus_url as stack_prometheus_url
from .release import PrometheusSource, error_ratio_query, load_objects, parse_duration, plan, watch, write_objects

release_app = typer.Typer(
    name="release",
    help="Release steps of the generated deploy job: plan what to apply, watch the SLO after a switch.",
    no_args_is_help=True,
    add_completion=False,
)


def _duration(value: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


@release_app.command("watch")
def watch_command(
    max_error_ratio: Annotated[
        float, typer.Option(min=0.0, max=0.999999, help="Roll back above this share of 5xx answers, e.g. 0.01.")
    ],
    window: Annotated[str, typer.Option(help="How long to watch after the switch, e.g. '10m'.")] = "10m",
    interval: Annotated[str, typer.Option(help="Time between samples, e.g. '15s'.")] = "15s",
    prometheus_url: Annotated[
        str, typer.Option(envvar="PROMETHEUS_URL", help="Prometheus base URL (env PROMETHEUS_URL).")
    ] = stack_prometheus_url(),
    query: Annotated[
        Optional[str], typer.Option(help="PromQL returning one error ratio. Default: 5xx share of --service.")
    ] = None,
    service: Annotated[str, typer.Option(help="Live Service whose requests are counted.")] = "leanvibe-api",
    namespace: Annotated[str, typer.Option(help="Namespace of the live Service.")] = "leanvibe",
    colour: Annotated[
        Optional[str], typer.Option(help="Blue-green: judge only this colour's pods (the one now live).")
    ] = None,
    consecutive_breaches: Annotated[
        int, typer.Option(min=1, help="Samples above the limit in a row that trigger a rollback.")
    ] = 2,
) -> None:
    """Watch the live Service's error ratio; exit 1 when the release must be rolled back."""
    window_seconds, interval_seconds = _duration(window), _duration(interval)
    promql = query or error_ratio_query(service, namespace, colour=colour)
    typer.echo(f"release watch: query {promql}")
    verdict = watch(
        PrometheusSource(prometheus_url),
        promql,
        max_error_ratio=max_error_ratio,
        window_seconds=window_seconds,
        interval_seconds=interval_seconds,
        consecutive_breaches=consecutive_breaches,
        log=typer.echo,
    )
    if verdict.healthy:
        typer.echo(f"release watch: HEALTHY: {verdict.reason}")
        return
    typer.echo(f"release watch: ROLL BACK: {verdict.reason}", err=True)
    raise typer.Exit(1)


@release_app.command("plan")
def plan_command(
    dist: Annotated[list[Path], typer.Argument(exists=True, help="Synthesized manifest folders or files.")],
    output: Annotated[Path, typer.Option(help="Where to write the objects the deploy job applies.")],
    namespace: Annotated[str, typer.Option(help="The only namespace the deploy job may write to.")] = "leanvibe",
    service: Annotated[str, typer.Option(help="Name of the API's live Service.")] = "leanvibe-api",
) -> None:
    """Write the namespaced objects to apply; print strategy=, live_colour=, deployments= for $GITHUB_OUTPUT."""
    release = plan(load_objects(dist), namespace=namespace, service=service)
    write_objects(release.objects, output)
    for skipped in release.skipped:
        typer.echo(f"release plan: skipping {skipped}: applied by a cluster admin, not the deploy job", err=True)
    typer.echo(f"release plan: {len(release.objects)} objects in {namespace} -> {output}", err=True)
    typer.echo(f"strategy={release.strategy}")
    typer.echo(f"live_colour={release.live_colour or ''}")
    typer.echo(f"deployments={' '.join(release.deployments)}")


def main() -> None:
    release_app(prog_name="leanvibe release")


if __name__ == "__main__":
    sys.exit(main())
