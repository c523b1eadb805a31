// The worker channel's FlatBuffers codec: Python dicts <-> FlatBuffers, driven by the binary schema.
//
// Why: the pure-Python flatbuffers Builder and flatc's object API cost ~100 us per request and
// ~500 us per dump, which made the controller CPU-bound. This extension loads the worker's schemas
// once (`flatc -b --schema message.fbs`, a reflection::Schema) and walks dicts into a
// FlatBufferBuilder, and verified buffers back into dicts, in a few microseconds.
//
// Dict shape (the same as flatc's Python object API, so both paths agree): camelCase field names,
// enums as ints, a union as two keys (`xType`: int, `x`: dict). Decoding yields every field:
// absent scalars as their default (None when optional), absent strings/vectors/tables as None.
// Every read of a received buffer is bounds-checked through flatbuffers::Verifier first: a
// truncated or corrupt frame raises ValueError, it never reads outside the buffer. What a frame
// decodes to is bounded by its size (kBudgetPerByte): offsets that share data (a crafted DAG)
// cannot make a small frame decode into gigabytes.
//
// Header-only use of flatbuffers (Debian's libflatbuffers.a is not position-independent).

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "flatbuffers/reflection_generated.h"

namespace {

using reflection::BaseType;

constexpr int kMaxDepth = 64;
constexpr int64_t kBudgetPerByte = 4;
constexpr int64_t kBudgetSlack = 4096;

struct FieldInfo {
  PyObject *key = nullptr;  // interned camelCase name
  std::string name;
  BaseType base = BaseType::None;
  BaseType element = BaseType::None;
  int32_t index = -1;  // object (Obj) or enum (Union, UType) index
  flatbuffers::voffset_t voffset = 0;
  bool optional = false;
  int64_t default_integer = 0;
  double default_real = 0.0;
  int utype_field = -1;  // for a Union: the position of its type field in the object's fields
};

struct ObjectInfo {
  std::string name;
  bool is_struct = false;
  std::vector<FieldInfo> fields;  // by id, deprecated fields left out
};

struct UnionInfo {
  std::string name;
  std::vector<int32_t> objects;  // union value -> object index (-1: none / not a table)
};

struct SchemaObject {
  PyObject_HEAD
  std::vector<ObjectInfo> *objects;
  std::vector<UnionInfo> *unions;  // by enum index (empty for plain enums)
  int32_t root;
  flatbuffers::FlatBufferBuilder *builder;
};

std::string camel(const std::string &name) {
  std::string out;
  bool upper = false;
  for (char c : name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

bool is_scalar(BaseType t) { return t >= BaseType::UType && t <= BaseType::Double; }

size_t scalar_size(BaseType t) {
  switch (t) {
    case BaseType::UType: case BaseType::Bool: case BaseType::Byte: case BaseType::UByte: return 1;
    case BaseType::Short: case BaseType::UShort: return 2;
    case BaseType::Int: case BaseType::UInt: case BaseType::Float: return 4;
    case BaseType::Long: case BaseType::ULong: case BaseType::Double: return 8;
    default: return 4;  // offsets
  }
}

// ---------------------------------------------------------------------------------------------
// Schema loading

bool load_schema(SchemaObject *self, const uint8_t *data, size_t len) {
  flatbuffers::Verifier verifier(data, len);
  if (!reflection::VerifySchemaBuffer(verifier)) {
    PyErr_SetString(PyExc_ValueError, "not a valid binary FlatBuffers schema");
    return false;
  }
  const reflection::Schema *schema = reflection::GetSchema(data);
  auto *objects = schema->objects();
  auto *enums = schema->enums();
  self->objects->resize(objects->size());
  self->unions->resize(enums->size());
  for (flatbuffers::uoffset_t e = 0; e < enums->size(); e++) {
    const reflection::Enum *en = enums->Get(e);
    UnionInfo &info = (*self->unions)[e];
    info.name = en->name()->str();
    if (!en->is_union()) continue;
    for (const reflection::EnumVal *value : *en->values()) {
      int64_t v = value->value();
      if (v < 0 || v > 255) continue;
      if (info.objects.size() <= static_cast<size_t>(v)) info.objects.resize(v + 1, -1);
      const reflection::Type *type = value->union_type();
      if (type != nullptr && type->base_type() == BaseType::Obj) info.objects[v] = type->index();
    }
  }
  for (flatbuffers::uoffset_t o = 0; o < objects->size(); o++) {
    const reflection::Object *obj = objects->Get(o);
    ObjectInfo &info = (*self->objects)[o];
    info.name = obj->name()->str();
    info.is_struct = obj->is_struct();
    std::vector<const reflection::Field *> by_id(obj->fields()->size(), nullptr);
    for (const reflection::Field *field : *obj->fields()) {
      if (field->id() < by_id.size()) by_id[field->id()] = field;
    }
    for (const reflection::Field *field : by_id) {
      if (field == nullptr || field->deprecated()) continue;
      FieldInfo f;
      f.name = field->name()->str();
      f.key = PyUnicode_InternFromString(camel(f.name).c_str());
      if (f.key == nullptr) return false;
      f.base = field->type()->base_type();
      f.element = field->type()->element();
      f.index = field->type()->index();
      f.voffset = field->offset();
      f.optional = field->optional();
      f.default_integer = field->default_integer();
      f.default_real = field->default_real();
      info.fields.push_back(f);
    }
    for (FieldInfo &f : info.fields) {
      if (f.base != BaseType::Union) continue;
      std::string type_name = f.name + "_type";
      for (size_t i = 0; i < info.fields.size(); i++) {
        if (info.fields[i].name == type_name) f.utype_field = static_cast<int>(i);
      }
    }
  }
  const reflection::Object *root = schema->root_table();
  if (root == nullptr) {
    PyErr_SetString(PyExc_ValueError, "the schema has no root table");
    return false;
  }
  self->root = -1;
  for (flatbuffers::uoffset_t o = 0; o < objects->size(); o++) {
    if (objects->Get(o) == root) self->root = static_cast<int32_t>(o);
  }
  return self->root >= 0;
}

// ---------------------------------------------------------------------------------------------
// Encoding

struct Encoder {
  SchemaObject *schema;
  flatbuffers::FlatBufferBuilder &fbb;
  int depth = 0;

  bool fail(PyObject *type, const ObjectInfo &obj, const FieldInfo &f, const char *what) {
    PyErr_Format(type, "%s.%U: %s", obj.name.c_str(), f.key, what);
    return false;
  }

  // A scalar value as its wire bits (ints are range-checked for their width).
  bool scalar(const ObjectInfo &obj, const FieldInfo &f, BaseType t, PyObject *value, uint64_t *bits) {
    if (t == BaseType::Float || t == BaseType::Double) {
      if (!PyFloat_Check(value) && !PyLong_Check(value)) return fail(PyExc_TypeError, obj, f, "expected a number");
      double d = PyFloat_AsDouble(value);
      if (d == -1.0 && PyErr_Occurred()) return false;
      if (t == BaseType::Float) {
        float x = static_cast<float>(d);
        uint32_t b;
        std::memcpy(&b, &x, 4);
        *bits = b;
      } else {
        std::memcpy(bits, &d, 8);
      }
      return true;
    }
    if (!PyLong_Check(value)) {
      return fail(PyExc_TypeError, obj, f, t == BaseType::Bool ? "expected a bool" : "expected an int");
    }
    if (t == BaseType::Bool) {
      *bits = PyObject_IsTrue(value) ? 1 : 0;
      return true;
    }
    if (t == BaseType::ULong) {
      unsigned long long u = PyLong_AsUnsignedLongLong(value);
      if (u == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
        PyErr_Clear();
        return fail(PyExc_ValueError, obj, f, "out of range");
      }
      *bits = u;
      return true;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (v == -1 && PyErr_Occurred()) return false;
    long long lo, hi;
    switch (t) {
      case BaseType::Byte: lo = INT8_MIN; hi = INT8_MAX; break;
      case BaseType::UType: case BaseType::UByte: lo = 0; hi = UINT8_MAX; break;
      case BaseType::Short: lo = INT16_MIN; hi = INT16_MAX; break;
      case BaseType::UShort: lo = 0; hi = UINT16_MAX; break;
      case BaseType::Int: lo = INT32_MIN; hi = INT32_MAX; break;
      case BaseType::UInt: lo = 0; hi = UINT32_MAX; break;
      default: lo = INT64_MIN; hi = INT64_MAX; break;
    }
    if (overflow || v < lo || v > hi) return fail(PyExc_ValueError, obj, f, "out of range");
    *bits = static_cast<uint64_t>(v);
    return true;
  }

  void push_scalar(BaseType t, uint64_t bits) {
    switch (scalar_size(t)) {
      case 1: fbb.PushElement<uint8_t>(static_cast<uint8_t>(bits)); break;
      case 2: fbb.PushElement<uint16_t>(static_cast<uint16_t>(bits)); break;
      case 4: fbb.PushElement<uint32_t>(static_cast<uint32_t>(bits)); break;
      default: fbb.PushElement<uint64_t>(bits); break;
    }
  }

  bool string(const ObjectInfo &obj, const FieldInfo &f, PyObject *value, flatbuffers::uoffset_t *out) {
    if (!PyUnicode_Check(value)) return fail(PyExc_TypeError, obj, f, "expected a str");
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(value, &size);
    if (utf8 == nullptr) return false;
    *out = fbb.CreateString(utf8, static_cast<size_t>(size)).o;
    return true;
  }

  bool vector(const ObjectInfo &obj, const FieldInfo &f, PyObject *value, flatbuffers::uoffset_t *out) {
    BaseType el = f.element;
    if (is_scalar(el) && scalar_size(el) == 1 && el != BaseType::Bool && PyBytes_Check(value)) {
      auto *data = reinterpret_cast<const uint8_t *>(PyBytes_AS_STRING(value));
      *out = fbb.CreateVector(data, static_cast<size_t>(PyBytes_GET_SIZE(value))).o;
      return true;
    }
    if (!PyList_Check(value) && !PyTuple_Check(value)) return fail(PyExc_TypeError, obj, f, "expected a list");
    PyObject *seq = value;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    if (is_scalar(el)) {
      std::vector<uint64_t> bits(static_cast<size_t>(n));
      for (Py_ssize_t i = 0; i < n; i++) {
        if (!scalar(obj, f, el, items[i], &bits[i])) return false;
      }
      fbb.StartVector(static_cast<size_t>(n), scalar_size(el));
      for (Py_ssize_t i = n; i > 0; i--) push_scalar(el, bits[i - 1]);
      *out = fbb.EndVector(static_cast<size_t>(n));
      return true;
    }
    std::vector<flatbuffers::uoffset_t> offsets(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; i < n; i++) {
      if (el == BaseType::String) {
        if (!string(obj, f, items[i], &offsets[i])) return false;
      } else if (el == BaseType::Obj && !(*schema->objects)[f.index].is_struct) {
        if (!PyDict_Check(items[i])) return fail(PyExc_TypeError, obj, f, "expected a list of dicts");
        if (!table(f.index, items[i], &offsets[i])) return false;
      } else {
        return fail(PyExc_TypeError, obj, f, "vector type not supported");
      }
    }
    fbb.StartVector(static_cast<size_t>(n), sizeof(flatbuffers::uoffset_t));
    for (Py_ssize_t i = n; i > 0; i--) fbb.PushElement(flatbuffers::Offset<void>(offsets[i - 1]));
    *out = fbb.EndVector(static_cast<size_t>(n));
    return true;
  }

  bool table(int32_t index, PyObject *dict, flatbuffers::uoffset_t *out) {
    const ObjectInfo &obj = (*schema->objects)[index];
    if (obj.is_struct) {
      PyErr_Format(PyExc_TypeError, "%s: structs are not supported", obj.name.c_str());
      return false;
    }
    if (++depth > kMaxDepth) {
      PyErr_Format(PyExc_ValueError, "%s: nested too deep", obj.name.c_str());
      return false;
    }
    size_t n = obj.fields.size();
    // Pass 1: every value converted and every child (strings, vectors, tables) written before
    // the table starts, as FlatBuffers requires.
    std::vector<uint64_t> values(n, 0);
    std::vector<char> present(n, 0);
    Py_ssize_t found = 0;
    for (size_t i = 0; i < n; i++) {
      const FieldInfo &f = obj.fields[i];
      PyObject *value = PyDict_GetItemWithError(dict, f.key);
      if (value == nullptr) {
        if (PyErr_Occurred()) return false;
        continue;
      }
      found++;
      if (value == Py_None) continue;
      uint64_t bits = 0;
      if (is_scalar(f.base)) {
        if (!scalar(obj, f, f.base, value, &bits)) return false;
      } else if (f.base == BaseType::String) {
        flatbuffers::uoffset_t o;
        if (!string(obj, f, value, &o)) return false;
        bits = o;
      } else if (f.base == BaseType::Vector) {
        flatbuffers::uoffset_t o;
        if (!vector(obj, f, value, &o)) return false;
        bits = o;
      } else if (f.base == BaseType::Obj) {
        if (!PyDict_Check(value)) return fail(PyExc_TypeError, obj, f, "expected a dict");
        flatbuffers::uoffset_t o;
        if (!table(f.index, value, &o)) return false;
        bits = o;
      } else if (f.base == BaseType::Union) {
        if (!PyDict_Check(value)) return fail(PyExc_TypeError, obj, f, "expected a dict");
        PyObject *type = f.utype_field >= 0 ? PyDict_GetItemWithError(dict, obj.fields[f.utype_field].key) : nullptr;
        if (type == nullptr || !PyLong_Check(type)) {
          if (PyErr_Occurred()) return false;
          return fail(PyExc_TypeError, obj, f, "a union value needs its int type field");
        }
        long t = PyLong_AsLong(type);
        const UnionInfo &u = (*schema->unions)[f.index];
        if (t <= 0 || static_cast<size_t>(t) >= u.objects.size() || u.objects[t] < 0) {
          return fail(PyExc_ValueError, obj, f, "unknown union type");
        }
        flatbuffers::uoffset_t o;
        if (!table(u.objects[t], value, &o)) return false;
        bits = o;
      } else {
        return fail(PyExc_TypeError, obj, f, "field type not supported");
      }
      values[i] = bits;
      present[i] = 1;
    }
    if (found != PyDict_GET_SIZE(dict)) {
      PyObject *key;
      PyObject *value;
      Py_ssize_t pos = 0;
      while (PyDict_Next(dict, &pos, &key, &value)) {
        bool known = false;
        for (const FieldInfo &f : obj.fields) {
          if (PyUnicode_Check(key) && PyUnicode_Compare(key, f.key) == 0) known = true;
        }
        if (!known) {
          PyErr_Format(PyExc_TypeError, "%s: unknown field %R", obj.name.c_str(), key);
          return false;
        }
      }
    }
    // Pass 2: the table itself. Scalars equal to their default are left out (as flatc's
    // builders do), unless the field is optional, where presence is the information.
    flatbuffers::uoffset_t start = fbb.StartTable();
    for (size_t i = 0; i < n; i++) {
      if (!present[i]) continue;
      const FieldInfo &f = obj.fields[i];
      uint64_t bits = values[i];
      if (is_scalar(f.base)) {
        if (!f.optional) {
          uint64_t def;
          if (f.base == BaseType::Float) {
            float x = static_cast<float>(f.default_real);
            uint32_t b;
            std::memcpy(&b, &x, 4);
            def = b;
          } else if (f.base == BaseType::Double) {
            std::memcpy(&def, &f.default_real, 8);
          } else {
            def = static_cast<uint64_t>(f.default_integer);
            size_t size = scalar_size(f.base);
            if (size < 8) def &= (uint64_t{1} << (8 * size)) - 1;
          }
          if (bits == def) continue;
        }
        switch (scalar_size(f.base)) {
          case 1: fbb.AddElement<uint8_t>(f.voffset, static_cast<uint8_t>(bits)); break;
          case 2: fbb.AddElement<uint16_t>(f.voffset, static_cast<uint16_t>(bits)); break;
          case 4: fbb.AddElement<uint32_t>(f.voffset, static_cast<uint32_t>(bits)); break;
          default: fbb.AddElement<uint64_t>(f.voffset, bits); break;
        }
      } else {
        fbb.AddOffset(f.voffset, flatbuffers::Offset<void>(static_cast<flatbuffers::uoffset_t>(bits)));
      }
    }
    *out = fbb.EndTable(start);
    depth--;
    return true;
  }
};

// ---------------------------------------------------------------------------------------------
// Decoding (verify while reading: every access is checked before it is made)

struct Decoder {
  SchemaObject *schema;
  flatbuffers::Verifier &v;
  const uint8_t *v_buf;
  int64_t budget;  // bytes of tables, strings and vectors the frame may still decode to

  bool spend(int64_t bytes) {
    budget -= bytes;
    return budget >= 0;
  }

  PyObject *bad(const ObjectInfo &obj, const FieldInfo *f, const char *what) {
    if (f != nullptr) {
      PyErr_Format(PyExc_ValueError, "invalid frame: %s.%s: %s", obj.name.c_str(), f->name.c_str(), what);
    } else {
      PyErr_Format(PyExc_ValueError, "invalid frame: %s: %s", obj.name.c_str(), what);
    }
    return nullptr;
  }

  static PyObject *scalar_at(BaseType t, const uint8_t *p) {
    switch (t) {
      case BaseType::Bool: return PyBool_FromLong(flatbuffers::ReadScalar<uint8_t>(p) != 0);
      case BaseType::Byte: return PyLong_FromLong(flatbuffers::ReadScalar<int8_t>(p));
      case BaseType::UType:
      case BaseType::UByte: return PyLong_FromLong(flatbuffers::ReadScalar<uint8_t>(p));
      case BaseType::Short: return PyLong_FromLong(flatbuffers::ReadScalar<int16_t>(p));
      case BaseType::UShort: return PyLong_FromLong(flatbuffers::ReadScalar<uint16_t>(p));
      case BaseType::Int: return PyLong_FromLong(flatbuffers::ReadScalar<int32_t>(p));
      case BaseType::UInt: return PyLong_FromUnsignedLong(flatbuffers::ReadScalar<uint32_t>(p));
      case BaseType::Long: return PyLong_FromLongLong(flatbuffers::ReadScalar<int64_t>(p));
      case BaseType::ULong: return PyLong_FromUnsignedLongLong(flatbuffers::ReadScalar<uint64_t>(p));
      case BaseType::Float: return PyFloat_FromDouble(flatbuffers::ReadScalar<float>(p));
      case BaseType::Double: return PyFloat_FromDouble(flatbuffers::ReadScalar<double>(p));
      default: Py_RETURN_NONE;
    }
  }

  PyObject *default_of(const FieldInfo &f) {
    if (f.optional) Py_RETURN_NONE;
    switch (f.base) {
      case BaseType::Bool: return PyBool_FromLong(f.default_integer != 0);
      case BaseType::Float:
      case BaseType::Double: return PyFloat_FromDouble(f.default_real);
      case BaseType::ULong: return PyLong_FromUnsignedLongLong(static_cast<uint64_t>(f.default_integer));
      default: return PyLong_FromLongLong(f.default_integer);
    }
  }

  // Strings and vectors are read through byte pointers, not flatbuffers::String/Vector members:
  // without alignment checks they may sit at any address.
  PyObject *string(const ObjectInfo &obj, const FieldInfo &f, const uint8_t *p) {
    size_t end;
    if (!v.VerifyVectorOrString(p, 1, &end) || !v.Verify(end, 1) || v_buf[end] != 0) {
      return bad(obj, &f, "bad string");
    }
    flatbuffers::uoffset_t size = flatbuffers::ReadScalar<flatbuffers::uoffset_t>(p);
    if (!spend(4 + static_cast<int64_t>(size))) return bad(obj, &f, "refers to more data than it holds");
    const char *data = reinterpret_cast<const char *>(p + sizeof(flatbuffers::uoffset_t));
    PyObject *out = PyUnicode_DecodeUTF8(data, static_cast<Py_ssize_t>(size), "strict");
    if (out == nullptr) {
      PyErr_Clear();
      return bad(obj, &f, "string is not UTF-8");
    }
    return out;
  }

  PyObject *vector(const ObjectInfo &obj, const FieldInfo &f, const uint8_t *vec) {
    BaseType el = f.element;
    size_t elem_size = is_scalar(el) ? scalar_size(el) : sizeof(flatbuffers::uoffset_t);
    if (!(is_scalar(el) || el == BaseType::String ||
          (el == BaseType::Obj && !(*schema->objects)[f.index].is_struct))) {
      return bad(obj, &f, "vector type not supported");
    }
    if (!v.VerifyVectorOrString(vec, elem_size)) return bad(obj, &f, "bad vector");
    flatbuffers::uoffset_t n = flatbuffers::ReadScalar<flatbuffers::uoffset_t>(vec);
    if (!spend(4 + static_cast<int64_t>(n) * static_cast<int64_t>(elem_size))) {
      return bad(obj, &f, "refers to more data than it holds");
    }
    const uint8_t *data = vec + sizeof(flatbuffers::uoffset_t);
    PyObject *list = PyList_New(static_cast<Py_ssize_t>(n));
    if (list == nullptr) return nullptr;
    for (flatbuffers::uoffset_t i = 0; i < n; i++) {
      const uint8_t *p = data + i * elem_size;
      PyObject *item;
      if (is_scalar(el)) {
        item = scalar_at(el, p);
      } else {
        flatbuffers::uoffset_t o = v.VerifyOffset(static_cast<size_t>(p - v_buf));
        if (o == 0) {
          Py_DECREF(list);
          return bad(obj, &f, "bad vector element");
        }
        if (el == BaseType::String) {
          item = string(obj, f, p + o);
        } else {
          item = table(f.index, reinterpret_cast<const flatbuffers::Table *>(p + o));
        }
      }
      if (item == nullptr) {
        Py_DECREF(list);
        return nullptr;
      }
      PyList_SET_ITEM(list, i, item);
    }
    return list;
  }

  PyObject *table(int32_t index, const flatbuffers::Table *t) {
    const ObjectInfo &obj = (*schema->objects)[index];
    if (!t->VerifyTableStart(v)) return bad(obj, nullptr, "bad table");
    // Alignment checks are off (frames come without their size prefix), so an odd vtable size
    // would let a field's offset be read one byte past what was verified.
    flatbuffers::voffset_t vt_size = flatbuffers::ReadScalar<flatbuffers::voffset_t>(t->GetVTable());
    if (vt_size < 4 || (vt_size & 1)) {
      v.EndTable();
      return bad(obj, nullptr, "bad vtable");
    }
    if (!spend(4)) {
      v.EndTable();
      return bad(obj, nullptr, "refers to more data than it holds");
    }
    PyObject *dict = PyDict_New();
    if (dict == nullptr) return nullptr;
    const auto *base = reinterpret_cast<const uint8_t *>(t);
    for (const FieldInfo &f : obj.fields) {
      PyObject *value = nullptr;
      if (is_scalar(f.base)) {
        flatbuffers::voffset_t at = t->GetOptionalFieldOffset(f.voffset);
        if (at == 0) {
          value = default_of(f);
        } else if (!v.VerifyFieldStruct(base, at, scalar_size(f.base), 1)) {
          value = bad(obj, &f, "bad scalar");
        } else {
          value = scalar_at(f.base, base + at);
        }
      } else {
        flatbuffers::voffset_t at = t->GetOptionalFieldOffset(f.voffset);
        if (at == 0) {
          value = Py_NewRef(Py_None);
        } else {
          flatbuffers::uoffset_t o = v.VerifyOffset(base, at);
          if (o == 0) {
            value = bad(obj, &f, "bad offset");
          } else {
            const uint8_t *p = base + at + o;
            if (f.base == BaseType::String) {
              value = string(obj, f, p);
            } else if (f.base == BaseType::Vector) {
              value = vector(obj, f, p);
            } else if (f.base == BaseType::Obj && !(*schema->objects)[f.index].is_struct) {
              value = table(f.index, reinterpret_cast<const flatbuffers::Table *>(p));
            } else if (f.base == BaseType::Union) {
              int type = 0;
              if (f.utype_field >= 0) {
                const FieldInfo &tf = obj.fields[f.utype_field];
                flatbuffers::voffset_t tat = t->GetOptionalFieldOffset(tf.voffset);
                if (tat != 0 && v.VerifyFieldStruct(base, tat, 1, 1)) type = base[tat];
              }
              const UnionInfo &u = (*schema->unions)[f.index];
              if (type <= 0 || static_cast<size_t>(type) >= u.objects.size() || u.objects[type] < 0) {
                value = bad(obj, &f, "unknown union type");
              } else {
                value = table(u.objects[type], reinterpret_cast<const flatbuffers::Table *>(p));
              }
            } else {
              value = bad(obj, &f, "field type not supported");
            }
          }
        }
      }
      if (value == nullptr || PyDict_SetItem(dict, f.key, value) < 0) {
        Py_XDECREF(value);
        Py_DECREF(dict);
        return nullptr;
      }
      Py_DECREF(value);
    }
    v.EndTable();
    return dict;
  }
};

// ---------------------------------------------------------------------------------------------
// The Python type

PyObject *Schema_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
  static const char *kwlist[] = {"bfbs", nullptr};
  Py_buffer view;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*", const_cast<char **>(kwlist), &view)) return nullptr;
  auto *self = reinterpret_cast<SchemaObject *>(type->tp_alloc(type, 0));
  if (self == nullptr) {
    PyBuffer_Release(&view);
    return nullptr;
  }
  self->objects = new std::vector<ObjectInfo>();
  self->unions = new std::vector<UnionInfo>();
  self->builder = new flatbuffers::FlatBufferBuilder(1024);
  bool ok = load_schema(self, static_cast<const uint8_t *>(view.buf), static_cast<size_t>(view.len));
  PyBuffer_Release(&view);
  if (!ok) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "the schema's root table was not found");
    Py_DECREF(self);
    return nullptr;
  }
  return reinterpret_cast<PyObject *>(self);
}

void Schema_dealloc(SchemaObject *self) {
  if (self->objects != nullptr) {
    for (ObjectInfo &obj : *self->objects) {
      for (FieldInfo &f : obj.fields) Py_XDECREF(f.key);
    }
  }
  delete self->objects;
  delete self->unions;
  delete self->builder;
  Py_TYPE(self)->tp_free(reinterpret_cast<PyObject *>(self));
}

PyObject *Schema_encode(SchemaObject *self, PyObject *value) {
  if (!PyDict_Check(value)) {
    PyErr_SetString(PyExc_TypeError, "encode() takes a dict");
    return nullptr;
  }
  flatbuffers::FlatBufferBuilder &fbb = *self->builder;
  fbb.Clear();
  Encoder encoder{self, fbb};
  flatbuffers::uoffset_t root;
  if (!encoder.table(self->root, value, &root)) {
    fbb.Clear();
    return nullptr;
  }
  fbb.FinishSizePrefixed(flatbuffers::Offset<void>(root));
  PyObject *out = PyBytes_FromStringAndSize(reinterpret_cast<const char *>(fbb.GetBufferPointer()),
                                            static_cast<Py_ssize_t>(fbb.GetSize()));
  if (fbb.GetSize() > 64 * 1024) fbb.Reset();  // do not keep a large message's buffer around
  return out;
}

PyObject *Schema_decode(SchemaObject *self, PyObject *arg) {
  Py_buffer view;
  if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return nullptr;
  const auto *buf = static_cast<const uint8_t *>(view.buf);
  auto len = static_cast<size_t>(view.len);
  PyObject *out = nullptr;
  if (len < sizeof(flatbuffers::uoffset_t) || len >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    PyErr_SetString(PyExc_ValueError, "invalid frame: too short");
  } else {
    flatbuffers::Verifier::Options options;
    options.check_alignment = false;  // frames arrive without their size prefix
    options.max_depth = kMaxDepth;
    flatbuffers::Verifier verifier(buf, len, options);
    flatbuffers::uoffset_t o = verifier.VerifyOffset(0);
    if (o == 0) {
      PyErr_SetString(PyExc_ValueError, "invalid frame: bad root offset");
    } else {
      Decoder decoder{self, verifier, buf, kBudgetPerByte * static_cast<int64_t>(len) + kBudgetSlack};
      out = decoder.table(self->root, reinterpret_cast<const flatbuffers::Table *>(buf + o));
    }
  }
  PyBuffer_Release(&view);
  return out;
}

PyMethodDef Schema_methods[] = {
    {"encode", reinterpret_cast<PyCFunction>(Schema_encode), METH_O,
     "encode(message: dict) -> bytes: the root table, size-prefixed as the channel sends it."},
    {"decode", reinterpret_cast<PyCFunction>(Schema_decode), METH_O,
     "decode(frame: bytes) -> dict: a verified root table (without size prefix); ValueError if invalid."},
    {nullptr, nullptr, 0, nullptr},
};

PyTypeObject SchemaType = {PyVarObject_HEAD_INIT(nullptr, 0)};

PyModuleDef codec_module = {PyModuleDef_HEAD_INIT, "_codec",
                            "FlatBuffers <-> dict codec for the mediasoup worker channel.", -1,
                            nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__codec(void) {
  SchemaType.tp_name = "_codec.Schema";
  SchemaType.tp_basicsize = sizeof(SchemaObject);
  SchemaType.tp_flags = Py_TPFLAGS_DEFAULT;
  SchemaType.tp_doc = "Schema(bfbs): a codec for a binary FlatBuffers schema's root table.";
  SchemaType.tp_new = Schema_new;
  SchemaType.tp_dealloc = reinterpret_cast<destructor>(Schema_dealloc);
  SchemaType.tp_methods = Schema_methods;
  if (PyType_Ready(&SchemaType) < 0) return nullptr;
  PyObject *module = PyModule_Create(&codec_module);
  if (module == nullptr) return nullptr;
  Py_INCREF(&SchemaType);
  if (PyModule_AddObject(module, "Schema", reinterpret_cast<PyObject *>(&SchemaType)) < 0) {
    Py_DECREF(&SchemaType);
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}
