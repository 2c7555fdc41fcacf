"""Release decisions the deploy job delegates to Python: what to apply, and whether to roll back.

``watch`` is the rollback decision: it samples the SLO error ratio of the
live Service for a window after a release and answers healthy or not. The
metrics source is injectable, so the rule is unit-tested against a fake
source; in the pipeline it is :class:`PrometheusSource`, which reads
Prometheus' HTTP API (``GET /api/v1/query``).

``plan`` reads the synthesized manifests: it splits off what the deploy job's
namespace-scoped ServiceAccount may not apply (cluster-scoped objects and
other namespaces, which a cluster admin applies) and tells which colour the
committed live Service selects, so the job knows whether this release is a
colour switch.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

# --- the rollback decision ------------------------------------------------------


def error_ratio_query(
    service: str = "leanvibe-api", namespace: str = "leanvibe", rate_window: str = "1m", colour: str | None = None
) -> str:
    """Share of the API's requests answered 5xx over ``rate_window``.

    Reads the API's metrics contract that the SLO rules use too: a counter
    ``http_requests_total`` with a ``code`` label. The monitoring stack
    scrapes pods and sets ``service`` from ``app.kubernetes.io/instance``,
    which both blue-green colours share, and ``colour`` from the colour
    label: a blue-green watch passes ``colour`` so only the colour that now
    takes the traffic is judged. A short rate window, unlike the SLO's 5m,
    makes a bad release visible within a watch window of a few minutes.
    """
    matchers = f'namespace="{namespace}",service="{service}"'
    if colour:
        matchers += f',colour="{colour}"'
    return (
        f'sum(rate(http_requests_total{{{matchers},code=~"5.."}}[{rate_window}]))'
        f" / sum(rate(http_requests_total{{{matchers}}}[{rate_window}]))"
    )


class MetricsSource(Protocol):
    def error_ratio(self, query: str) -> float | None:
        """The query's single value; None when there is no data (no series, or 0/0 without traffic)."""


class MetricsUnavailable(RuntimeError):
    """The metrics source could not answer (unreachable, error status, malformed response)."""


class PrometheusSource:
    """Instant queries against Prometheus' HTTP API."""

    def __init__(
        self,
        url: str,
        timeout_seconds: float = 10.0,
        opener: Callable[..., Any] = urllib.request.urlopen,
    ):
        self.url = url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._open = opener

    def error_ratio(self, query: str) -> float | None:
        request = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        try:
            with self._open(request, timeout=self.timeout_seconds) as response:
                body = json.loads(response.read().decode())
        except urllib.error.HTTPError as err:
            # Prometheus answers a bad query with 400 and a JSON error body.
            detail = _error_detail(err)
            raise MetricsUnavailable(f"Prometheus answered HTTP {err.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError, json.JSONDecodeError) as err:
            raise MetricsUnavailable(f"Prometheus at {self.url} did not answer: {err}") from None
        return parse_instant_value(body)


def _error_detail(err: urllib.error.HTTPError) -> str:
    try:
        return json.loads(err.read().decode()).get("error", err.reason)
    except (ValueError, AttributeError, OSError):
        return str(err.reason)


def parse_instant_value(body: dict[str, Any]) -> float | None:
    """The one value of an instant query response; None for an empty result or NaN."""
    if body.get("status") != "success":
        raise MetricsUnavailable(f"query failed: {body.get('errorType', '?')}: {body.get('error', body)}")
    data = body.get("data", {})
    if data.get("resultType") == "scalar":
        raw = data["result"][1]
    elif data.get("resultType") == "vector":
        result = data.get("result", [])
        if not result:
            return None
        if len(result) > 1:
            raise MetricsUnavailable(
                f"query returned {len(result)} series; aggregate it to one ratio, e.g. with sum(...) / sum(...)"
            )
        raw = result[0]["value"][1]
    else:
        raise MetricsUnavailable(f"unexpected resultType {data.get('resultType')!r}; the query must be instant")
    value = float(raw)
    # 0/0 (no requests in the rate window) is NaN: no data, not an error.
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class Sample:
    elapsed_seconds: float
    ratio: float | None
    note: str = ""


@dataclass
class Verdict:
    healthy: bool
    reason: str
    samples: list[Sample] = field(default_factory=list)


def watch(
    source: MetricsSource,
    query: str,
    *,
    max_error_ratio: float,
    window_seconds: float,
    interval_seconds: float = 15.0,
    consecutive_breaches: int = 2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> Verdict:
    """Watch ``query`` for ``window_seconds``; unhealthy on the first sustained breach.

    The rule, in order:
    - ``consecutive_breaches`` samples in a row above ``max_error_ratio``:
      unhealthy at once (one bad scrape is noise; two in a row is the release);
    - at the end of the window, no sample with data (no traffic, no series or
      Prometheus unreachable all window): unhealthy, since nothing confirms the
      release works; an automated rollout must not pass on silence;
    - otherwise healthy.
    """
    if not 0 <= max_error_ratio < 1:
        raise ValueError(f"max_error_ratio ({max_error_ratio}) must be in [0, 1), e.g. 0.01 for 1%")
    if window_seconds <= 0 or interval_seconds <= 0:
        raise ValueError(f"window ({window_seconds}s) and interval ({interval_seconds}s) must be positive")
    if consecutive_breaches < 1:
        raise ValueError(f"consecutive_breaches ({consecutive_breaches}) must be >= 1")

    samples: list[Sample] = []
    start = clock()
    breaches = 0
    log(
        f"release watch: error ratio must stay <= {max_error_ratio:g} for {window_seconds:g}s "
        f"(sample every {interval_seconds:g}s, roll back after {consecutive_breaches} breaches in a row)"
    )
    while True:
        elapsed = clock() - start
        try:
            ratio, note = source.error_ratio(query), ""
        except MetricsUnavailable as err:
            ratio, note = None, str(err)
        samples.append(Sample(elapsed, ratio, note))
        if ratio is None:
            breaches = 0
            log(f"release watch: t={elapsed:.0f}s no data{': ' + note if note else ' (no requests or no series)'}")
        elif ratio > max_error_ratio:
            breaches += 1
            log(f"release watch: t={elapsed:.0f}s error ratio {ratio:.6g} > {max_error_ratio:g} "
                f"(breach {breaches}/{consecutive_breaches})")
            if breaches >= consecutive_breaches:
                return Verdict(
                    False,
                    f"error ratio above {max_error_ratio:g} for {breaches} samples in a row "
                    f"(last {ratio:.6g} at t={elapsed:.0f}s)",
                    samples,
                )
        else:
            breaches = 0
            log(f"release watch: t={elapsed:.0f}s error ratio {ratio:.6g} ok")
        if elapsed + interval_seconds > window_seconds:
            break
        sleep(interval_seconds)

    with_data = [s for s in samples if s.ratio is not None]
    if not with_data:
        return Verdict(False, f"no data for the whole window ({len(samples)} samples): cannot confirm health", samples)
    worst = max(s.ratio for s in with_data if s.ratio is not None)
    return Verdict(
        True,
        f"{len(with_data)}/{len(samples)} samples with data, worst error ratio {worst:.6g} <= {max_error_ratio:g}",
        samples,
    )


_DURATION = re.compile(r"^(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?$")


def parse_duration(value: str) -> int:
    """Seconds in ``"90s"``, ``"10m"``, ``"1h30m"`` (a bare number is seconds)."""
    if value.isdigit():
        return int(value)
    match = _DURATION.match(value)
    if not value or not match or not any(match.groupdict().values()):
        raise ValueError(f"not a duration: {value!r}; use e.g. '90s', '10m' or '1h30m'")
    return sum(int(n or 0) * unit for n, unit in zip(match.groups(), (3600, 60, 1)))


# --- what the deploy job applies --------------------------------------------------


@dataclass
class ReleasePlan:
    objects: list[dict[str, Any]]  # what the deploy job applies, in file order
    skipped: list[str]  # "Kind/name (why)" for each object left to a cluster admin
    strategy: str  # "blue_green" or "rolling"
    live_colour: str | None  # the colour the committed live Service selects

    @property
    def deployments(self) -> list[str]:
        return [o["metadata"]["name"] for o in self.objects if o["kind"] == "Deployment"]


def load_objects(paths: Iterable[Path]) -> list[dict[str, Any]]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.k8s.yaml")) + sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    objects: list[dict[str, Any]] = []
    for file in dict.fromkeys(files):  # a directory glob may list a file twice
        objects += [doc for doc in yaml.safe_load_all(file.read_text()) if doc]
    return objects


def plan(objects: list[dict[str, Any]], *, namespace: str, service: str) -> ReleasePlan:
    # Imported here: the CLI loads this module, and these pull in the jsii runtime.
    from .._k8s import CLUSTER_SCOPED_KINDS
    from ..ha_api_deployment import COLOUR_LABEL, RELEASE_ROLE_LABEL

    kept, skipped = [], []
    for obj in objects:
        label = f"{obj['kind']}/{obj['metadata']['name']}"
        object_namespace = obj["metadata"].get("namespace")
        if object_namespace == namespace and obj["kind"] not in CLUSTER_SCOPED_KINDS:
            kept.append(obj)
        elif object_namespace is None:
            skipped.append(f"{label} (cluster-scoped)")
        else:
            skipped.append(f"{label} (namespace {object_namespace})")
    live = [
        o for o in kept
        if o["kind"] == "Service" and o["metadata"]["name"] == service
        and o["metadata"].get("labels", {}).get(RELEASE_ROLE_LABEL) == "live"
    ]
    colour = live[0]["spec"]["selector"].get(COLOUR_LABEL) if live else None
    return ReleasePlan(kept, skipped, "blue_green" if colour else "rolling", colour)


def write_objects(objects: list[dict[str, Any]], path: Path) -> None:
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
