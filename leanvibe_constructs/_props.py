"""The base every props model derives from, and the error bad props raise.

Props are validated in Python, before any jsii call, so a mistake surfaces as
one readable line naming the field, the value and what is allowed, never as a
traceback from inside the Node.js runtime.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

P = TypeVar("P", bound="Props")


class PropsError(ValueError):
    """Raised when a construct is given props it cannot honour."""


class Props(BaseModel):
    """Frozen, strict base for every props model: unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    @classmethod
    def build(cls, props: Self | None = None, **overrides: Any) -> Self:
        """Return ``props`` (or the defaults) with ``overrides`` applied and validated.

        Constructs accept either a props object or keyword arguments; both paths
        end here so validation and error messages are the same.
        """
        try:
            if props is None:
                return cls(**overrides)
            if not isinstance(props, cls):
                raise PropsError(
                    f"{cls.__name__}: props must be a {cls.__name__}, got {type(props).__name__}"
                )
            if not overrides:
                return props
            return cls(**{**_shallow_fields(props), **overrides})
        except ValidationError as err:
            raise PropsError(format_validation_error(cls.__name__, err)) from None


def _shallow_fields(model: BaseModel) -> dict[str, Any]:
    # model_dump() would turn nested models into dicts and lose their types;
    # a shallow copy of the attributes keeps them as they are.
    return {name: getattr(model, name) for name in type(model).model_fields}


def format_validation_error(model: str, err: ValidationError) -> str:
    """One line per problem: ``Model.field: value (42) ...: what is allowed``."""
    lines = []
    for problem in err.errors(include_url=False):
        field = ".".join(str(part) for part in problem["loc"]) or "(model)"
        message = problem["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if problem["type"] in {"value_error", "assertion_error"} and field == "(model)":
            lines.append(f"{model}: {message}")
        else:
            lines.append(f"{model}.{field}: got {problem.get('input')!r}: {message}")
    return "\n".join(lines)


def props_error(model: str, message: str) -> PropsError:
    return PropsError(f"{model}: {message}")


# --- value types shared by several props models ---------------------------------

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _check_quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(
            "is not a Kubernetes resource quantity; use a number with an optional "
            "suffix such as '500m', '2', '512Mi' or '10Gi'"
        )
    return value


def _check_dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            "must be a DNS-1123 label: at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


def _check_http_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute HTTP path starting with '/'")
    return value


Quantity = Annotated[str, AfterValidator(_check_quantity)]
"""A Kubernetes resource quantity such as ``"500m"`` or ``"10Gi"``."""

DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
"""A DNS-1123 label: object names, namespaces, port names."""

HttpPath = Annotated[str, AfterValidator(_check_http_path)]
"""An absolute HTTP path such as ``"/healthz"``."""


_QUANTITY_SCALE = {
    "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def quantity_value(quantity: str) -> float:
    """The numeric value of a quantity (cores for CPU, bytes for memory)."""
    match = _QUANTITY.match(quantity)
    if not match:
        raise ValueError(f"not a quantity: {quantity!r}")
    suffix = match.group(2) or ""
    number = quantity[: len(quantity) - len(suffix)]
    return float(number) * _QUANTITY_SCALE[suffix]
