#!/usr/bin/env python3
"""Reads a GGUF file written by skim's writer (test_gguf_roundtrip KEEP.gguf) with an
independent reader (the GGUF v3 layout from the ggml specification, Python's struct only)
and checks every byte against what test_gguf_roundtrip.c wrote: each metadata value type,
arrays of every element type, nested and empty arrays, strings with NUL bytes, the key
order, tensor infos, tensor data at multiples of general.alignment (64), and nothing else
in the file but zero padding.

    python3 tests/gguf/check_written.py KEEP.gguf
"""
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: '<B', I8: '<b', U16: '<H', I16: '<h', U32: '<I', I32: '<i', F32: '<f',
       BOOL: '<B', U64: '<Q', I64: '<q', F64: '<d'}


class Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take('<Q')
        assert self.pos + n <= len(self.buf), 'string past the end'
        s = self.buf[self.pos:self.pos + n]
        self.pos += n
        return s

    def value(self, t):
        if t == STR:
            return (STR, self.string())
        if t == ARR:
            et, n = self.take('<I'), self.take('<Q')
            return (ARR, et, [self.value(et) for _ in range(n)])
        v = self.take(FMT[t])
        if t == BOOL:
            assert v in (0, 1), 'bool not 0 or 1'
        return (t, v)


def f32(x):
    return struct.unpack('<f', struct.pack('<f', x))[0]


def arr(et, values):
    return (ARR, et, [(et, v) for v in values])


def expected_kv():
    s = lambda b: (STR, b)
    return [
        ('general.alignment', (U32, 64)),
        ('t.u8', (U8, 200)), ('t.i8', (I8, -100)), ('t.u16', (U16, 60000)),
        ('t.i16', (I16, -30000)), ('t.u32', (U32, 4000000000)), ('t.i32', (I32, -2000000000)),
        ('t.f32', (F32, -1.25)), ('t.bool', (BOOL, 1)), ('t.str', s(b'hello, gguf')),
        ('t.u64', (U64, 0xFEDCBA9876543210)), ('t.i64', (I64, -2**63 + 5)),
        ('t.f64', (F64, 3.141592653589793)), ('t.str_nul', s(b'a\0b')), ('t.str_empty', s(b'')),
        ('t.replaced', s(b'second')),
        ('a.u8', arr(U8, [0, 1, 255])), ('a.i8', arr(I8, [-128, 0, 127])),
        ('a.u16', arr(U16, [1, 65535])), ('a.i16', arr(I16, [-32768, 32767])),
        ('a.u32', arr(U32, [7, 0xFFFFFFFF, 3])), ('a.i32', arr(I32, [-1, 2, -3, 4])),
        ('a.f32', arr(F32, [0.5, -2.0, f32(1e30)])), ('a.bool', arr(BOOL, [1, 0, 1])),
        ('a.u64', arr(U64, [1, 2**64 - 1])), ('a.i64', arr(I64, [-2**63, 2**63 - 1])),
        ('a.f64', arr(F64, [1e-300, -0.0])), ('a.empty', (ARR, F32, [])),
        ('a.str', (ARR, STR, [s(b'one'), s(b''), s(b'three')])),
        ('a.nested', (ARR, ARR, [arr(U8, [0, 1, 255]),
                                 (ARR, STR, [s(b'one'), s(b''), s(b'three')]),
                                 (ARR, ARR, [(ARR, I16, []), arr(I32, [-1, 2, -3, 4])]),
                                 (ARR, ARR, [])])),
    ]


def expected_tensors():
    f32s = b''.join(struct.pack('<f', i * 0.5 - 3.0) for i in range(15))
    f16s = b''.join(struct.pack('<H', 0x3C00 + i) for i in range(7))
    q8 = bytes((i * 7 + 1) & 0xFF for i in range(2 * 2 * 34))
    q4 = bytes((i * 13 + 5) & 0xFF for i in range(4 * 18))
    i32 = struct.pack('<3i', -1, 0, 123456)
    # name, ne, ggml type number (F32 0, F16 1, Q4_0 2, Q8_0 8, I32 26), bytes
    return [('f32', [5, 3], 0, f32s), ('f16', [7], 1, f16s), ('q8_0', [64, 2], 8, q8),
            ('q4_0', [32, 1, 2, 2], 2, q4), ('i32', [3], 26, i32)]


def same(a, b):
    """Equality that tells -0.0 from 0.0 (the file must keep the sign bit)."""
    if isinstance(a, float) or isinstance(b, float):
        return struct.pack('<d', a) == struct.pack('<d', b)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def main(path):
    buf = open(path, 'rb').read()
    r = Reader(buf)
    assert buf[:4] == b'GGUF', 'magic'
    r.pos = 4
    version, n_tensors, n_kv = r.take('<I'), r.take('<Q'), r.take('<Q')
    assert version == 3, f'version {version}'
    kv = [(r.string().decode(), r.value(r.take('<I'))) for _ in range(n_kv)]
    want = expected_kv()
    assert [k for k, _ in kv] == [k for k, _ in want], f'keys {[k for k, _ in kv]}'
    for (k, got), (_, exp) in zip(kv, want):
        assert same(got, exp), f'{k}: {got} != {exp}'
    infos = []
    for _ in range(n_tensors):
        name = r.string().decode()
        nd = r.take('<I')
        ne = [r.take('<Q') for _ in range(nd)]
        infos.append((name, ne, r.take('<I'), r.take('<Q')))
    data = r.pos + (-r.pos) % 64
    assert not any(buf[r.pos:data]), 'padding before the data section is not zero'
    end = data
    for (name, ne, t, off), (ename, ene, et, ebytes) in zip(infos, expected_tensors()):
        assert (name, ne, t) == (ename, ene, et), f'tensor info {(name, ne, t)}'
        assert off % 64 == 0 and data + off >= end, f'{name}: offset {off}'
        assert not any(buf[end:data + off]), f'padding before {name} is not zero'
        got = buf[data + off:data + off + len(ebytes)]
        assert got == ebytes, f'{name}: data differs'
        end = data + off + len(ebytes)
    assert len(infos) == len(expected_tensors()), f'{len(infos)} tensors'
    assert not any(buf[end:]) and len(buf) % 64 == 0, 'the file does not end in zero padding'
    print(f'{path}: {n_kv} keys and {n_tensors} tensors read back as written '
          f'({len(buf)} bytes, alignment 64)')


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: check_written.py FILE.gguf')
    main(sys.argv[1])
