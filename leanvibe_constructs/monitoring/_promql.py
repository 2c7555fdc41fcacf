"""Small PromQL helpers shared by the rule, config and dashboard generators.

Durations are checked with the grammar of Prometheus' own parser
(``model.ParseDuration``): units y, w, d, h, m, s, ms, largest first, each at
most once, so that a window Prometheus would refuse fails here, naming the
prop, instead of at rule load time in the pod.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_DURATION = re.compile(
    r"^(?:(?P<y>[0-9]+)y)?(?:(?P<w>[0-9]+)w)?(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?"
    r"(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?(?:(?P<ms>[0-9]+)ms)?$"
)
_UNIT_SECONDS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}

# A metric name as the exposition format allows it (colons are for recording rules).
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# One label matcher: name, operator, double-quoted value without unescaped quotes.
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


def duration_seconds(value: str) -> float:
    """Seconds in a Prometheus duration such as ``"30d"`` or ``"1h30m"``."""
    match = _DURATION.match(value)
    if not value or not match or not any(match.groupdict().values()):
        raise ValueError(f"not a Prometheus duration: {value!r}")
    return sum(int(n) * _UNIT_SECONDS[unit] for unit, n in match.groupdict().items() if n)


def _check_duration(value: str) -> str:
    if value == "0":
        raise ValueError("must be a positive Prometheus duration such as '5m', '1h' or '30d'")
    try:
        seconds = duration_seconds(value)
    except ValueError:
        raise ValueError(
            "is not a duration Prometheus can parse; use an integer and a unit, largest unit first, "
            "each unit once: y, w, d, h, m, s, ms (e.g. '5m', '1h30m', '30d')"
        ) from None
    if seconds <= 0:
        raise ValueError("must be a positive Prometheus duration such as '5m', '1h' or '30d'")
    return value


PromDuration = Annotated[str, AfterValidator(_check_duration)]
"""A Prometheus duration: ``"30s"``, ``"5m"``, ``"1h30m"``, ``"30d"``."""


def _check_metric_name(value: str) -> str:
    if not METRIC_NAME.match(value):
        raise ValueError("is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
    return value


MetricName = Annotated[str, AfterValidator(_check_metric_name)]


def parse_matchers(value: str) -> list[tuple[str, str, str]]:
    """Split ``'a="x", b=~"y.*"'`` into (name, op, value) triples; raise ValueError if malformed."""
    if not value.strip():
        return []
    matchers = []
    for part in _split_top_level(value):
        match = _MATCHER.fullmatch(part)
        if not match:
            raise ValueError(f"{part.strip()!r} is not a label matcher like code=~\"5..\"")
        if match.group(2) in {"=~", "!~"}:
            try:
                re.compile(match.group(3).encode().decode("unicode_escape"))
            except re.error as err:
                raise ValueError(f"{part.strip()!r} has an invalid regular expression: {err}") from None
        matchers.append((match.group(1), match.group(2), match.group(3)))
    return matchers


def _split_top_level(value: str) -> list[str]:
    parts, current, in_quotes, escaped = [], "", False, False
    for char in value:
        if escaped:
            current += char
            escaped = False
            continue
        if char == "\\":
            escaped = True
            current += char
            continue
        if char == '"':
            in_quotes = not in_quotes
        if char == "," and not in_quotes:
            parts.append(current)
            current = ""
            continue
        current += char
    if current.strip() or not parts:
        parts.append(current)
    return parts


def _check_matchers(value: str) -> str:
    parse_matchers(value)
    return value


LabelMatchers = Annotated[str, AfterValidator(_check_matchers)]
"""PromQL label matchers without braces: ``'service="leanvibe-api", code=~"5.."'``."""


def selector(metric: str, *matcher_groups: str) -> str:
    """``metric{m1, m2}`` from metric name and matcher strings (empty groups skipped)."""
    parts = [", ".join(f'{n}{op}"{v}"' for n, op, v in parse_matchers(group)) for group in matcher_groups]
    parts = [p for p in parts if p]
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


# Words that look like identifiers in PromQL but are not series names.
_PROMQL_WORDS = frozenset(
    """
    sum min max avg group stddev stdvar count count_values bottomk topk quantile
    by without on ignoring group_left group_right bool and or unless offset
    abs absent absent_over_time ceil changes clamp clamp_max clamp_min day_of_month day_of_week
    day_of_year days_in_month delta deriv exp floor histogram_quantile holt_winters hour idelta
    increase irate label_join label_replace ln log2 log10 minute month predict_linear rate resets
    round scalar sgn sort sort_desc sqrt time timestamp vector year avg_over_time min_over_time
    max_over_time sum_over_time count_over_time quantile_over_time stddev_over_time
    stdvar_over_time last_over_time present_over_time acos acosh asin asinh atan atanh cos cosh
    sin sinh tan tanh deg rad pi inf nan le
    """.split()
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_BRACES = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w(])")
_TEMPLATE_VAR = re.compile(r"\$\{?\w+\}?|\[\[\w+\]\]")


def series_names(expr: str) -> set[str]:
    """The metric names an expression reads (best effort, enough for generated queries).

    Strips strings, label matchers, range selectors, grouping clauses and
    Grafana template variables, then keeps identifiers that are not functions
    or keywords and not followed by '('.
    """
    text = _TEMPLATE_VAR.sub("1", expr)
    text = _STRING.sub('""', text)
    text = _BRACES.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group(1)
        if word.lower() in _PROMQL_WORDS or re.fullmatch(r"[0-9eE.+-]+", word):
            continue
        names.add(word)
    return names
