"""FlatBuffers object-API instances to plain data, generically.

flatc's object API already names fields in camelCase, as mediasoup's JSON does, so one recursive
conversion serves every dump and stats answer; only enums (ints on the wire, strings in mediasoup's
JSON) and a few unions need field-specific help, which callers pass in ``enums``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sfuctl.server.media.fbs.RtpParameters.Value import Value

EnumMap = Mapping[str, Callable[[int], Any]]


def enum_names(enum_class: type, lower: bool = True) -> Callable[[int], str]:
    """A decoder from an flatc enum class's int values to its (lower-cased) names."""
    names = {v: (k.lower() if lower else k) for k, v in vars(enum_class).items() if not k.startswith("_")}
    return lambda value: names.get(value, str(value))


def text(value: Any) -> Any:
    """A FlatBuffers string as str (flatc's object API leaves them as bytes); None stays None."""
    return value.decode() if isinstance(value, bytes) else value


def as_list(values: Any) -> list[Any]:
    """A FlatBuffers vector as a plain list: flatc unpacks scalar vectors to numpy arrays when
    numpy is importable and to lists otherwise, and an absent vector to None."""
    if values is None:
        return []
    if hasattr(values, "tolist"):
        return list(values.tolist())
    return list(values)


def to_plain(obj: Any, enums: EnumMap | None = None) -> Any:
    """Convert an object-API instance (or list/bytes/scalar) to dicts, lists, str and numbers."""
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, bytes):
        return obj.decode()
    if isinstance(obj, list):
        if obj and _is_parameter(obj[0]):
            return parameters_to_dict(obj)
        return [to_plain(item, enums) for item in obj]
    if hasattr(obj, "tolist"):  # numpy arrays, when numpy is installed
        return obj.tolist()
    fields = vars(obj)
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if hasattr(value, "tolist"):
            value = value.tolist()
        if key.endswith("Type") and key[:-4] in fields and isinstance(value, int):
            continue  # a union's type tag; the union value itself follows
        if enums is not None and key in enums and isinstance(value, int):
            out[key] = enums[key](value)
        elif enums is not None and key in enums and isinstance(value, list):
            out[key] = [enums[key](v) for v in value]
        else:
            out[key] = to_plain(value, enums)
    return out


def _is_parameter(item: Any) -> bool:
    return type(item).__name__ == "ParameterT"


def parameters_to_dict(parameters: list[Any] | None) -> dict[str, Any]:
    """RTP codec/header-extension parameters: a vector of (name, union value) → a dict."""
    out: dict[str, Any] = {}
    for parameter in parameters or []:
        name = text(parameter.name)
        value = parameter.value.value
        if parameter.valueType == Value.String:
            value = text(value)
        elif parameter.valueType == Value.Integer32Array:
            value = as_list(value)
        out[name] = value
    return out
