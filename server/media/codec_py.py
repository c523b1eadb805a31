"""The channel codec in pure Python: the fallback of the native one (server/media/native/codec.cpp).

Same dict-level contract, same source of truth: both walk the worker's binary schema
(``message.bfbs``, a reflection.Schema) rather than flatc's generated classes, so they cannot
drift apart. Dicts use the object API's camelCase names, enums are ints, and a union is two keys
(``xType``: int, ``x``: dict). Encoding leaves out scalars equal to their default (not optional
ones) and rejects unknown keys; decoding yields every field and bounds-checks every read, so a
truncated or corrupt frame raises ValueError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import flatbuffers
from flatbuffers import number_types as N

MAX_DEPTH = 64
BUDGET_PER_BYTE = 4
BUDGET_SLACK = 4096
"""What a frame may decode to (tables, strings, vectors, in bytes) per byte it holds, as in the
native codec: offsets sharing data (a crafted DAG) cannot blow a small frame up."""

# reflection.BaseType
UTYPE, BOOL, BYTE, UBYTE, SHORT, USHORT, INT, UINT, LONG, ULONG, FLOAT, DOUBLE = range(1, 13)
STRING, VECTOR, OBJ, UNION = 13, 14, 15, 16

_FORMATS = {
    UTYPE: "<B", BOOL: "<B", BYTE: "<b", UBYTE: "<B", SHORT: "<h", USHORT: "<H", INT: "<i",
    UINT: "<I", LONG: "<q", ULONG: "<Q", FLOAT: "<f", DOUBLE: "<d",
}  # fmt: skip
_STRUCTS = {t: struct.Struct(f) for t, f in _FORMATS.items()}
_FLAGS = {
    UTYPE: N.Uint8Flags, BOOL: N.BoolFlags, BYTE: N.Int8Flags, UBYTE: N.Uint8Flags,
    SHORT: N.Int16Flags, USHORT: N.Uint16Flags, INT: N.Int32Flags, UINT: N.Uint32Flags,
    LONG: N.Int64Flags, ULONG: N.Uint64Flags, FLOAT: N.Float32Flags, DOUBLE: N.Float64Flags,
}  # fmt: skip
_RANGES = {
    UTYPE: (0, 0xFF), BYTE: (-0x80, 0x7F), UBYTE: (0, 0xFF), SHORT: (-0x8000, 0x7FFF),
    USHORT: (0, 0xFFFF), INT: (-0x80000000, 0x7FFFFFFF), UINT: (0, 0xFFFFFFFF),
    LONG: (-(2**63), 2**63 - 1), ULONG: (0, 2**64 - 1),
}  # fmt: skip
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")


def camel(name: str) -> str:
    """flatc's object-API name of a schema field (snake_case to lowerCamelCase)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(slots=True)
class Field:
    name: str
    key: str
    base: int
    element: int
    index: int
    slot: int
    optional: bool
    default: Any
    utype_key: str | None = None


@dataclass(slots=True)
class Object:
    name: str
    is_struct: bool
    num_slots: int
    fields: list[Field] = field(default_factory=list)
    keys: frozenset[str] = frozenset()


class _Reader:
    """Bounds-checked reads of a little-endian buffer (negative or past-the-end offsets raise)."""

    __slots__ = ("budget", "buf", "size")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.size = len(buf)
        self.budget = BUDGET_PER_BYTE * self.size + BUDGET_SLACK

    def spend(self, length: int) -> None:
        self.budget -= length
        if self.budget < 0:
            raise ValueError("invalid frame: refers to more data than it holds")

    def check(self, pos: int, length: int) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise ValueError(
                f"invalid frame: {length} bytes at {pos} are outside the {self.size} byte buffer"
            )

    def scalar(self, base: int, pos: int) -> Any:
        s = _STRUCTS[base]
        self.check(pos, s.size)
        return s.unpack_from(self.buf, pos)[0]

    def deref(self, pos: int) -> int:
        """The position an offset at ``pos`` points to."""
        self.check(pos, 4)
        offset = _U32.unpack_from(self.buf, pos)[0]
        if offset == 0 or offset >= 0x80000000:
            raise ValueError("invalid frame: bad offset")
        target: int = pos + offset
        self.check(target, 1)
        return target

    def vtable(self, table: int) -> tuple[int, int]:
        """The table's vtable position and size."""
        self.check(table, 4)
        vt = table - _I32.unpack_from(self.buf, table)[0]
        self.check(vt, 4)
        size = _U16.unpack_from(self.buf, vt)[0]
        if size < 4 or size & 1:
            raise ValueError("invalid frame: bad vtable")
        self.check(vt, size)
        return vt, size

    def field_pos(self, table: int, vt: int, vt_size: int, slot: int) -> int:
        """Where a field's value is, or 0 when absent."""
        voffset = 4 + 2 * slot
        if voffset >= vt_size:
            return 0
        at: int = _U16.unpack_from(self.buf, vt + voffset)[0]
        return table + at if at else 0

    def string(self, pos: int) -> str:
        self.check(pos, 4)
        length = _U32.unpack_from(self.buf, pos)[0]
        self.check(pos + 4, length + 1)
        self.spend(4 + length)
        if self.buf[pos + 4 + length] != 0:
            raise ValueError("invalid frame: string without terminator")
        try:
            return self.buf[pos + 4 : pos + 4 + length].decode()
        except UnicodeDecodeError:
            raise ValueError("invalid frame: string is not UTF-8") from None


def _load(bfbs: bytes) -> tuple[list[Object], list[list[int]], int]:
    """Objects (fields by id), unions (value -> object index) and the root object's index."""
    r = _Reader(bfbs)

    def table_field(table: int, slot: int) -> int:
        vt, size = r.vtable(table)
        return r.field_pos(table, vt, size, slot)

    def scalar(table: int, slot: int, base: int, default: Any) -> Any:
        pos = table_field(table, slot)
        return r.scalar(base, pos) if pos else default

    def vector(table: int, slot: int) -> list[int]:
        pos = table_field(table, slot)
        if not pos:
            return []
        vec = r.deref(pos)
        count = r.scalar(UINT, vec)
        return [r.deref(vec + 4 + 4 * i) for i in range(count)]

    def string(table: int, slot: int) -> str:
        pos = table_field(table, slot)
        return r.string(r.deref(pos)) if pos else ""

    root_table = r.deref(0)
    object_tables = vector(root_table, 0)
    unions: list[list[int]] = []
    for enum in vector(root_table, 1):
        objects_of: list[int] = []
        if scalar(enum, 2, BOOL, 0):
            for value in vector(enum, 1):
                v = scalar(value, 1, LONG, 0)
                type_pos = table_field(value, 3)
                if not 0 <= v <= 255 or not type_pos:
                    continue
                type_table = r.deref(type_pos)
                objects_of.extend([-1] * (v + 1 - len(objects_of)))
                if scalar(type_table, 0, BYTE, 0) == OBJ:
                    objects_of[v] = scalar(type_table, 2, INT, -1)
        unions.append(objects_of)
    objects: list[Object] = []
    for table in object_tables:
        field_tables = vector(table, 1)
        obj = Object(string(table, 0), bool(scalar(table, 2, BOOL, 0)), len(field_tables))
        fields: list[Field] = []
        for ft in field_tables:
            if scalar(ft, 6, BOOL, 0):  # deprecated
                continue
            type_table = r.deref(table_field(ft, 1))
            base = scalar(type_table, 0, BYTE, 0)
            optional = bool(scalar(ft, 11, BOOL, 0))
            default: Any = None
            if base in (FLOAT, DOUBLE):
                default = scalar(ft, 5, DOUBLE, 0.0)
            elif base == BOOL:
                default = bool(scalar(ft, 4, LONG, 0))
            elif base <= ULONG:
                default = scalar(ft, 4, LONG, 0)
                if base == ULONG and default < 0:
                    default += 2**64
            name = string(ft, 0)
            fields.append(
                Field(
                    name=name,
                    key=camel(name),
                    base=base,
                    element=scalar(type_table, 1, BYTE, 0),
                    index=scalar(type_table, 2, INT, -1),
                    slot=scalar(ft, 2, USHORT, 0),
                    optional=optional,
                    default=None if optional else default,
                )
            )
        fields.sort(key=lambda f: f.slot)
        by_name = {f.name: f for f in fields}
        for f in fields:
            if f.base == UNION and f"{f.name}_type" in by_name:
                f.utype_key = by_name[f"{f.name}_type"].key
        obj.fields = fields
        obj.keys = frozenset(f.key for f in fields)
        objects.append(obj)
    root_pos = table_field(root_table, 4)
    if not root_pos:
        raise ValueError("the schema has no root table")
    root = object_tables.index(r.deref(root_pos))
    return objects, unions, root


class PythonCodec:
    """Encode dicts into size-prefixed root tables (the channel's messages) and decode them back."""

    def __init__(self, bfbs: bytes) -> None:
        self._objects, self._unions, self._root = _load(bfbs)
        self._builder = flatbuffers.Builder(1024)

    # -- encoding ----------------------------------------------------------------------------

    def encode(self, message: dict[str, Any]) -> bytes:
        if not isinstance(message, dict):
            raise TypeError("encode() takes a dict")
        builder = self._builder
        builder.Clear()
        root = self._table(builder, self._root, message, 0)
        builder.FinishSizePrefixed(root)
        return bytes(builder.Output())

    def _table(self, b: flatbuffers.Builder, index: int, value: dict[str, Any], depth: int) -> int:
        obj = self._objects[index]
        if obj.is_struct:
            raise TypeError(f"{obj.name}: structs are not supported")
        if depth >= MAX_DEPTH:
            raise ValueError(f"{obj.name}: nested too deep")
        if not value.keys() <= obj.keys:
            unknown = sorted(str(k) for k in value.keys() - obj.keys)
            raise TypeError(f"{obj.name}: unknown field {unknown[0]!r}")
        ready: list[tuple[Field, Any]] = []
        for f in obj.fields:
            v = value.get(f.key)
            if v is None:
                continue
            base = f.base
            if base <= DOUBLE:
                v = _scalar(obj, f, base, v)
                if not f.optional and v == f.default:
                    continue
            elif base == STRING:
                v = b.CreateString(_text(obj, f, v))
            elif base == VECTOR:
                v = self._vector(b, obj, f, v, depth)
            elif base == OBJ:
                v = self._table(b, f.index, _dict(obj, f, v), depth + 1)
            elif base == UNION:
                kind = value.get(f.utype_key) if f.utype_key else None
                if not isinstance(kind, int):
                    raise TypeError(f"{obj.name}.{f.key}: a union value needs its int type field")
                targets = self._unions[f.index]
                if kind <= 0 or kind >= len(targets) or targets[kind] < 0:
                    raise ValueError(f"{obj.name}.{f.key}: unknown union type")
                v = self._table(b, targets[kind], _dict(obj, f, v), depth + 1)
            else:
                raise TypeError(f"{obj.name}.{f.key}: field type not supported")
            ready.append((f, v))
        b.StartObject(obj.num_slots)
        for f, v in ready:
            if f.base <= DOUBLE:
                b.Prepend(_FLAGS[f.base], v)
                b.Slot(f.slot)
            else:
                b.PrependUOffsetTRelativeSlot(f.slot, v, 0)
        end: int = b.EndObject()
        return end

    def _vector(self, b: flatbuffers.Builder, obj: Object, f: Field, value: Any, depth: int) -> int:
        el = f.element
        if el in (BYTE, UBYTE, UTYPE) and isinstance(value, bytes):
            out: int = b.CreateByteVector(value)
            return out
        if not isinstance(value, list | tuple):
            raise TypeError(f"{obj.name}.{f.key}: expected a list")
        if el <= DOUBLE:
            items = [_scalar(obj, f, el, v) for v in value]
            flags = _FLAGS[el]
            b.StartVector(flags.bytewidth, len(items), flags.bytewidth)
            for item in reversed(items):
                b.Prepend(flags, item)
            out = b.EndVector()
            return out
        offsets: list[int] = []
        for item in value:
            if el == STRING:
                offsets.append(b.CreateString(_text(obj, f, item)))
            elif el == OBJ and not self._objects[f.index].is_struct:
                if not isinstance(item, dict):
                    raise TypeError(f"{obj.name}.{f.key}: expected a list of dicts")
                offsets.append(self._table(b, f.index, item, depth + 1))
            else:
                raise TypeError(f"{obj.name}.{f.key}: vector type not supported")
        b.StartVector(4, len(offsets), 4)
        for offset in reversed(offsets):
            b.PrependUOffsetTRelative(offset)
        out = b.EndVector()
        return out

    # -- decoding ----------------------------------------------------------------------------

    def decode(self, frame: bytes) -> dict[str, Any]:
        """A root table (without size prefix) as a dict; ValueError if the frame is invalid."""
        r = _Reader(bytes(frame))
        if r.size < 4:
            raise ValueError("invalid frame: too short")
        try:
            return self._read_table(r, self._root, r.deref(0), 0)
        except (struct.error, IndexError, RecursionError) as error:
            raise ValueError(f"invalid frame: {error}") from None

    def _read_table(self, r: _Reader, index: int, table: int, depth: int) -> dict[str, Any]:
        obj = self._objects[index]
        if depth >= MAX_DEPTH:
            raise ValueError("invalid frame: nested too deep")
        vt, vt_size = r.vtable(table)
        r.spend(4)
        out: dict[str, Any] = {}
        for f in obj.fields:
            pos = r.field_pos(table, vt, vt_size, f.slot)
            base = f.base
            if not pos:
                out[f.key] = f.default
            elif base <= DOUBLE:
                value = r.scalar(base, pos)
                out[f.key] = bool(value) if base == BOOL else value
            else:
                target = r.deref(pos)
                if base == STRING:
                    out[f.key] = r.string(target)
                elif base == VECTOR:
                    out[f.key] = self._read_vector(r, obj, f, target, depth)
                elif base == OBJ and not self._objects[f.index].is_struct:
                    out[f.key] = self._read_table(r, f.index, target, depth + 1)
                elif base == UNION:
                    kind = out.get(f.utype_key) if f.utype_key else None
                    targets = self._unions[f.index]
                    if not isinstance(kind, int) or kind <= 0 or kind >= len(targets) or targets[kind] < 0:
                        raise ValueError(f"invalid frame: {obj.name}.{f.name}: unknown union type")
                    out[f.key] = self._read_table(r, targets[kind], target, depth + 1)
                else:
                    raise ValueError(f"invalid frame: {obj.name}.{f.name}: field type not supported")
        return out

    def _read_vector(self, r: _Reader, obj: Object, f: Field, vec: int, depth: int) -> list[Any]:
        el = f.element
        count = r.scalar(UINT, vec)
        start = vec + 4
        if el <= DOUBLE:
            s = _STRUCTS[el]
            r.check(start, count * s.size)
            r.spend(4 + count * s.size)
            values = [v for (v,) in s.iter_unpack(r.buf[start : start + count * s.size])]
            return [bool(v) for v in values] if el == BOOL else values
        r.check(start, count * 4)
        r.spend(4 + count * 4)
        if el == STRING:
            return [r.string(r.deref(start + 4 * i)) for i in range(count)]
        if el == OBJ and not self._objects[f.index].is_struct:
            return [self._read_table(r, f.index, r.deref(start + 4 * i), depth + 1) for i in range(count)]
        raise ValueError(f"invalid frame: {obj.name}.{f.name}: vector type not supported")


def _scalar(obj: Object, f: Field, base: int, value: Any) -> Any:
    if base in (FLOAT, DOUBLE):
        if not isinstance(value, int | float):
            raise TypeError(f"{obj.name}.{f.key}: expected a number")
        return float(value)
    if not isinstance(value, int):
        raise TypeError(f"{obj.name}.{f.key}: expected {'a bool' if base == BOOL else 'an int'}")
    if base == BOOL:
        return bool(value)
    low, high = _RANGES[base]
    if not low <= value <= high:
        raise ValueError(f"{obj.name}.{f.key}: out of range")
    return int(value)


def _text(obj: Object, f: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{obj.name}.{f.key}: expected a str")
    return value


def _dict(obj: Object, f: Field, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{obj.name}.{f.key}: expected a dict")
    return value
