"""Kubernetes label selector semantics, exactly as the API server applies them.

A LabelSelector's ``matchLabels`` and ``matchExpressions`` are ANDed: every
label and every expression must match. An empty selector ``{}`` matches every
pod; an absent (null) selector matches none. Checkers that treat matchLabels
as "any of" report PodDisruptionBudgets that select nothing as fine, which is
the bug this module exists to avoid.
"""

from __future__ import annotations

import re
from typing import Any


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    return all(expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def expression_matches(expression: dict[str, Any], labels: dict[str, str]) -> bool:
    key = expression.get("key", "")
    operator = expression.get("operator", "")
    values = [str(v) for v in expression.get("values") or []]
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    # An unknown operator is rejected by the API server; it selects nothing here.
    return False


def is_empty(selector: dict[str, Any] | None) -> bool:
    return selector is not None and not selector.get("matchLabels") and not selector.get("matchExpressions")


def render(selector: dict[str, Any] | None) -> str:
    """A selector in kubectl's string form, for messages."""
    if selector is None:
        return "<none>"
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        op = e.get("operator")
        if op in ("In", "NotIn"):
            parts.append(f"{e.get('key')} {op.lower()} ({','.join(map(str, e.get('values') or []))})")
        elif op == "Exists":
            parts.append(str(e.get("key")))
        else:
            parts.append(f"!{e.get('key')}")
    return ",".join(parts) or "<all pods>"


_SET_BASED = re.compile(r"^\s*(?P<key>[^\s!=]+)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*(?P<key>[^\s!=]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s,]*)\s*$")
_EXISTS = re.compile(r"^\s*(?P<neg>!?)\s*(?P<key>[^\s!=(),]+)\s*$")


def parse_selector_string(text: str) -> dict[str, Any]:
    """Parse kubectl's selector syntax ('a=b,c!=d,e in (f,g),!h') into a LabelSelector dict."""
    expressions: list[dict[str, Any]] = []
    for term in _split_terms(text):
        if match := _SET_BASED.match(term):
            values = [v.strip() for v in match["values"].split(",") if v.strip()]
            operator = "In" if match["op"] == "in" else "NotIn"
            expressions.append({"key": match["key"], "operator": operator, "values": values})
        elif match := _EQUALITY.match(term):
            operator = "NotIn" if match["op"] == "!=" else "In"
            expressions.append({"key": match["key"], "operator": operator, "values": [match["value"]]})
        elif match := _EXISTS.match(term):
            operator = "DoesNotExist" if match["neg"] else "Exists"
            expressions.append({"key": match["key"], "operator": operator})
        else:
            raise ValueError(f"cannot parse label selector term {term!r}")
    return {"matchExpressions": expressions}


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t for t in terms if t.strip()]
