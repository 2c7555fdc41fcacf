"""Render the README's props tables from the props models themselves.

`python -m leanvibe_constructs._docs` prints every table; `--write README.md`
replaces the blocks between ``<!-- props:ModelName -->`` and
``<!-- /props -->`` markers. A test fails when the README is out of date, so
the documented defaults are always the real ones.
"""

from __future__ import annotations

import argparse
import importlib
import re
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

# (module, model) pairs whose tables the README carries, in README order.
DOCUMENTED = [
    ("leanvibe_constructs.ha_api_deployment", "HAApiDeploymentProps"),
    ("leanvibe_constructs.ha_api_deployment", "IngressSettings"),
    ("leanvibe_constructs._pod", "ProbeSettings"),
    ("leanvibe_constructs.postgres_ha", "PostgresHAProps"),
    ("leanvibe_constructs.postgres_ha", "BackupSettings"),
    ("leanvibe_constructs.redis_sentinel", "RedisSentinelProps"),
    ("leanvibe_constructs.monitoring", "MonitoringStackProps"),
    ("leanvibe_constructs.monitoring", "SLO"),
    ("leanvibe_constructs.monitoring", "SLI"),
    ("leanvibe_constructs.baseline", "PlatformBaselineProps"),
    ("leanvibe_constructs.baseline", "StorageClassSettings"),
    ("leanvibe_constructs.zero_trust", "ZeroTrustPoliciesProps"),
    ("leanvibe_constructs.autoscaling", "SmartAutoscalerProps"),
    ("leanvibe_constructs.autoscaling", "CapacityModel"),
    ("leanvibe_constructs.autoscaling", "VerticalScaling"),
    ("leanvibe_constructs.delivery.pipeline", "PipelineProps"),
    ("leanvibe_constructs.delivery.runners", "GitHubRunnersProps"),
]

_BLOCK = re.compile(r"(<!-- props:(?P<model>\w+) -->\n).*?(<!-- /props -->)", re.S)


def _type_name(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        text = " | ".join(repr(arg) for arg in typing.get_args(annotation))
    elif origin in (typing.Union, types.UnionType):
        text = " | ".join(_type_name(arg) for arg in typing.get_args(annotation))
    elif origin is typing.Annotated:
        text = _type_name(typing.get_args(annotation)[0])
    elif origin is not None:
        args = ", ".join(_type_name(arg) for arg in typing.get_args(annotation))
        text = f"{getattr(origin, '__name__', str(origin))}[{args}]"
    elif annotation is Ellipsis:
        text = "..."
    else:
        text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("NoneType", "None").replace("|", "\\|").replace("\\\\|", "\\|")


def props_table(model: type[BaseModel]) -> str:
    rows = ["| prop | type | description (default) |", "| --- | --- | --- |"]
    for name, field in model.model_fields.items():
        required = field.default is PydanticUndefined and field.default_factory is None
        description = (field.description or "").replace("|", "\\|")
        marker = " **required**" if required and "Required" not in description else ""
        rows.append(f"| `{name}` | {_type_name(field.annotation)} | {description}{marker} |")
    return "\n".join(rows)


def models() -> dict[str, type[BaseModel]]:
    found = {}
    for module, name in DOCUMENTED:
        found[name] = getattr(importlib.import_module(module), name)
    return found


def render_readme(text: str) -> str:
    known = models()

    def replace(match: re.Match[str]) -> str:
        model = match.group("model")
        if model not in known:
            raise KeyError(f"README has a props block for unknown model {model!r}")
        return f"{match.group(1)}{props_table(known[model])}\n{match.group(3)}"

    return _BLOCK.sub(replace, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="update the props blocks of this README in place")
    args = parser.parse_args()
    if args.write:
        args.write.write_text(render_readme(args.write.read_text()))
        return
    for name, model in models().items():
        print(f"### {name}\n\n{props_table(model)}\n")


if __name__ == "__main__":
    main()
