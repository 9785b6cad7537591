"""A minimal GGUF v3 writer (little-endian), enough for the shipped gated model.

Layout: magic "GGUF", u32 version 3, u64 tensor count, u64 kv count, the key-values
(key: u64 length + bytes; u32 value type; value), the tensor infos (name; u32 n_dims;
u64 ne[n_dims], ggml order, ne[0] innermost; u32 type; u64 offset relative to the data
section), zero padding to general.alignment, then the data, each tensor starting at a
multiple of the alignment.
"""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3

T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, \
    T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = range(13)

GGML_F32, GGML_F16 = 0, 1

_scalar_fmt = {T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h", T_UINT32: "<I",
               T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<?", T_UINT64: "<Q", T_INT64: "<q",
               T_FLOAT64: "<d"}


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(vtype, v):
    if vtype == T_STRING:
        return _str(v)
    if vtype == T_ARRAY:
        etype, items = v
        out = struct.pack("<IQ", etype, len(items))
        return out + b"".join(_value(etype, it) for it in items)
    return struct.pack(_scalar_fmt[vtype], v)


class GGUFWriter:
    def __init__(self, alignment=32):
        self.alignment = alignment
        self.kv = []       # (key, type, value)
        self.tensors = []  # (name, ne (ggml order), ggml type, bytes)
        self.add("general.alignment", T_UINT32, alignment)

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, value))

    def add_tensor(self, name, array_rowmajor, dtype=GGML_F32):
        """array_rowmajor: numpy array in C order; its last axis becomes ne[0]."""
        a = np.ascontiguousarray(array_rowmajor)
        if dtype == GGML_F32:
            data = a.astype("<f4").tobytes()
        elif dtype == GGML_F16:
            data = a.astype("<f2").tobytes()
        else:
            raise ValueError("type")
        ne = list(reversed(a.shape))
        self.tensors.append((name, ne, dtype, data))

    def write(self, path):
        pad = lambda n: (-n) % self.alignment  # noqa: E731
        head = bytearray()
        head += GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))
        for key, vt, val in self.kv:
            head += _str(key) + struct.pack("<I", vt) + _value(vt, val)
        off = 0
        offsets = []
        for name, ne, dt, data in self.tensors:
            offsets.append(off)
            head += _str(name) + struct.pack("<I", len(ne))
            head += b"".join(struct.pack("<Q", n) for n in ne)
            head += struct.pack("<IQ", dt, off)
            off += len(data) + pad(len(data))
        head += b"\0" * pad(len(head))
        with open(path, "wb") as f:
            f.write(head)
            for (name, ne, dt, data), o in zip(self.tensors, offsets):
                f.write(data)
                f.write(b"\0" * pad(len(data)))


def read_gguf(path):
    """A small reader for self-checks: returns (kv dict, {name: (ne, type, bytes)})."""
    buf = open(path, "rb").read()
    pos = 0

    def rd(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def rstr():
        nonlocal pos
        n = rd("<Q")
        s = buf[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def rval(t):
        if t == T_STRING:
            return rstr()
        if t == T_ARRAY:
            et, n = rd("<I"), rd("<Q")
            return [rval(et) for _ in range(n)]
        return rd(_scalar_fmt[t])

    assert buf[:4] == GGUF_MAGIC
    pos = 4
    ver, nt, nkv = rd("<I"), rd("<Q"), rd("<Q")
    assert ver == 3
    kv = {}
    for _ in range(nkv):
        k = rstr()
        kv[k] = rval(rd("<I"))
    infos = []
    for _ in range(nt):
        name = rstr()
        nd = rd("<I")
        ne = [rd("<Q") for _ in range(nd)]
        infos.append((name, ne, rd("<I"), rd("<Q")))
    al = kv.get("general.alignment", 32)
    pos += (-pos) % al
    tensors = {}
    for name, ne, t, off in infos:
        n = int(np.prod(ne)) * (4 if t == GGML_F32 else 2)
        tensors[name] = (ne, t, buf[pos + off:pos + off + n])
    return kv, tensors
