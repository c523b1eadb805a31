"""Decoded worker bodies to mediasoup's JSON shapes, generically.

The channel codec already yields dicts with camelCase names, as mediasoup's JSON has them, so one
recursive pass serves every dump and stats answer: it drops union type tags, turns the worker's
parameter vectors into dicts, and maps enums (ints on the wire, strings in mediasoup's JSON) for
the fields callers name in ``enums``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

EnumMap = Mapping[str, Callable[[int], Any]]


def enum_names(enum_class: type, lower: bool = True) -> Callable[[int], str]:
    """A decoder from an flatc enum class's int values to its (lower-cased) names."""
    names = {v: (k.lower() if lower else k) for k, v in vars(enum_class).items() if not k.startswith("_")}
    return lambda value: names.get(value, str(value))


def to_plain(obj: Any, enums: EnumMap | None = None) -> Any:
    """A decoded body (dicts, lists, scalars) in mediasoup's shape."""
    if isinstance(obj, list):
        if obj and _is_parameter(obj[0]):
            return parameters_to_dict(obj)
        return [to_plain(item, enums) for item in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key.endswith("Type") and key[:-4] in obj and isinstance(value, int):
            continue  # a union's type tag; the union value itself follows
        if enums is not None and key in enums and isinstance(value, int):
            out[key] = enums[key](value)
        elif enums is not None and key in enums and isinstance(value, list):
            out[key] = [enums[key](v) for v in value]
        else:
            out[key] = to_plain(value, enums)
    return out


def _is_parameter(item: Any) -> bool:
    return isinstance(item, dict) and item.keys() == {"name", "valueType", "value"}


def parameters_to_dict(parameters: list[dict[str, Any]] | None) -> dict[str, Any]:
    """RTP codec/header-extension parameters: a vector of (name, union value) → a dict."""
    out: dict[str, Any] = {}
    for parameter in parameters or []:
        value = parameter["value"]
        out[parameter["name"]] = value["value"] if value is not None else None
    return out
