#!/usr/bin/env python3
"""Writes the GGUF reader's test corpus: small malformed (and a few valid) GGUF files.

    python3 tests/gguf/make_corpus.py tests/gguf/corpus

The files are checked in; this script is how they were made. A file's name starts with
the status skim_gguf_open_* must return for it: ok_, format_, too_large_. tests/models.cmake
makes one ctest case per file, and the fuzz target uses them as its seed corpus.
"""
import os
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)


def u32(v):
    return struct.pack('<I', v & 0xFFFFFFFF)


def u64(v):
    return struct.pack('<Q', v & 0xFFFFFFFFFFFFFFFF)


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return u64(len(b)) + b


def header(n_tensors, n_kv, version=3, magic=b'GGUF'):
    return magic + u32(version) + u64(n_tensors) + u64(n_kv)


def kv(key, vtype, payload):
    return gstr(key) + u32(vtype) + payload


def kv_u32(key, v):
    return kv(key, U32, u32(v))


def tinfo(name, ne, ttype=0, offset=0):
    return gstr(name) + u32(len(ne)) + b''.join(u64(n) for n in ne) + u32(ttype) + u64(offset)


def pad_to(b, align=32):
    return b + b'\0' * ((-len(b)) % align)


def with_data(meta, data, align=32):
    return pad_to(meta, align) + data


def f32s(n):
    return b''.join(struct.pack('<f', float(i)) for i in range(n))


QK_K = 256
# ggml's tensor types as GGUF files number them, each with the elements of one block and the
# block's fields in bytes, as the format describes them (h: a 2-byte half). The reader's
# table (models/gguf_common.c) must give the same sizes: test_gguf_independent compares.
GGML_TYPES = {
    'F32': (0, 1, [4]), 'F16': (1, 1, [2]), 'BF16': (30, 1, [2]), 'F64': (28, 1, [8]),
    'I8': (24, 1, [1]), 'I16': (25, 1, [2]), 'I32': (26, 1, [4]), 'I64': (27, 1, [8]),
    'Q4_0': (2, 32, [2, 32 // 2]),                      # d, nibbles
    'Q4_1': (3, 32, [2, 2, 32 // 2]),                   # d, m, nibbles
    'Q5_0': (6, 32, [2, 32 // 8, 32 // 2]),             # d, fifth bits, nibbles
    'Q5_1': (7, 32, [2, 2, 32 // 8, 32 // 2]),
    'Q8_0': (8, 32, [2, 32]),                           # d, int8s
    'Q8_1': (9, 32, [2, 2, 32]),                        # d, s, int8s
    'Q2_K': (10, QK_K, [QK_K // 16, QK_K // 4, 2, 2]),  # scales, 2-bit quants, d, dmin
    'Q3_K': (11, QK_K, [QK_K // 8, QK_K // 4, 12, 2]),  # hmask, low bits, scales, d
    'Q4_K': (12, QK_K, [2, 2, 12, QK_K // 2]),          # d, dmin, scales, nibbles
    'Q5_K': (13, QK_K, [2, 2, 12, QK_K // 8, QK_K // 2]),
    'Q6_K': (14, QK_K, [QK_K // 2, QK_K // 4, QK_K // 16, 2]),  # ql, qh, scales, d
    'Q8_K': (15, QK_K, [4, QK_K, 2 * (QK_K // 16)]),    # float d, int8s, int16 bsums
    'IQ2_XXS': (16, QK_K, [2, 2 * (QK_K // 8)]),
    'IQ2_XS': (17, QK_K, [2, 2 * (QK_K // 8), QK_K // 32]),
    'IQ3_XXS': (18, QK_K, [2, 3 * QK_K // 8]),
    'IQ1_S': (19, QK_K, [2, QK_K // 8, 2 * (QK_K // 32)]),
    'IQ4_NL': (20, 32, [2, 32 // 2]),
    'IQ3_S': (21, QK_K, [2, QK_K // 4, QK_K // 32, QK_K // 8, QK_K // 64]),
    'IQ2_S': (22, QK_K, [2, QK_K // 4, QK_K // 32, QK_K // 32]),
    'IQ4_XS': (23, QK_K, [2, 2, QK_K // 64, QK_K // 2]),
    'IQ1_M': (29, QK_K, [QK_K // 8, QK_K // 16, QK_K // 32]),
    'TQ1_0': (34, QK_K, [(QK_K - 4 * QK_K // 64) // 5, QK_K // 64, 2]),
    'TQ2_0': (35, QK_K, [QK_K // 4, 2]),
    'MXFP4': (39, 32, [1, 32 // 2]),                    # shared exponent, e2m1 nibbles
    'NVFP4': (40, 64, [64 // 16, 64 // 2]),             # e4m3 scale per 16, nibbles
    'Q1_0': (41, 128, [2, 128 // 8]),
    'Q2_0': (42, 64, [2, 64 // 4]),
}


def block_bytes(name):
    return sum(GGML_TYPES[name][2])


def every_ggml_type():
    """One tensor of every type ([2 blocks, 3 rows]), its bytes filled with its index + 1,
    and test.nbytes: each tensor's size as this script computes it."""
    infos, data, sizes = b'', b'', []
    names = sorted(GGML_TYPES, key=lambda n: GGML_TYPES[n][0])
    for i, name in enumerate(names):
        ttype, block, _ = GGML_TYPES[name]
        n = 2 * 3 * block_bytes(name)
        infos += tinfo(name.lower(), [2 * block, 3], ttype=ttype, offset=len(data))
        data += pad_to(bytes([i + 1]) * n)
        sizes.append(n)
    meta = kv('test.nbytes', ARR, u32(U64) + u64(len(sizes)) + b''.join(u64(n) for n in sizes))
    return with_data(header(len(names), 1) + meta + infos, data)


def tiny_model(gated):
    """A valid model small enough for a fuzzing seed: llama (1 block, d 8, 2 heads sharing
    1 KV head, SwiGLU 8, vocab 7, a tokenizer) or skim-gated (2 blocks, head gates, a
    halting MLP before block 1). Weights are small distinct numbers."""
    arch = 'skim-gated' if gated else 'llama'
    a = 'skim' if gated else 'llama'
    d, f, nv, layers = 8, 8, 6 if gated else 7, 2 if gated else 1
    kvs = [kv('general.architecture', STR, gstr(arch)),
           kv_u32(a + '.context_length', 16), kv_u32(a + '.embedding_length', d),
           kv_u32(a + '.block_count', layers), kv_u32(a + '.feed_forward_length', f),
           kv_u32(a + '.attention.head_count', 2),
           kv_u32(a + '.attention.head_count_kv', 2 if gated else 1),
           kv(a + '.attention.layer_norm_rms_epsilon', F32, struct.pack('<f', 1e-5))]
    if gated:
        kvs += [kv_u32('skim.halt.hidden', 4), kv_u32('skim.halt.first_block', 1),
                kv('tokenizer.ggml.model', STR, gstr('char')),
                kv('tokenizer.ggml.tokens', ARR, u32(STR) + u64(nv) +
                   b''.join(gstr(ch) for ch in '\n abcd'))]
    else:
        toks = ['<unk>', '<s>', '</s>', ' ', 'a', 'b', ' a']
        kvs += [kv('tokenizer.ggml.model', STR, gstr('llama')),
                kv('tokenizer.ggml.tokens', ARR, u32(STR) + u64(nv) + b''.join(gstr(t) for t in toks)),
                kv('tokenizer.ggml.scores', ARR, u32(F32) + u64(nv) +
                   b''.join(struct.pack('<f', -float(i)) for i in range(nv))),
                kv('tokenizer.ggml.token_type', ARR, u32(I32) + u64(nv) +
                   b''.join(struct.pack('<i', t) for t in [2, 3, 3, 1, 1, 1, 1])),
                kv_u32('tokenizer.ggml.bos_token_id', 1), kv_u32('tokenizer.ggml.eos_token_id', 2)]
    kvd = 8 if gated else 4
    shapes = [('token_embd.weight', [d, nv]), ('output_norm.weight', [d])]
    for il in range(layers):
        b = 'blk.%d.' % il
        shapes += [(b + 'attn_norm.weight', [d]), (b + 'attn_q.weight', [d, d]),
                   (b + 'attn_k.weight', [d, kvd]), (b + 'attn_v.weight', [d, kvd]),
                   (b + 'attn_output.weight', [d, d]), (b + 'ffn_norm.weight', [d]),
                   (b + 'ffn_up.weight', [d, f]), (b + 'ffn_down.weight', [f, d])]
        if gated:
            shapes += [(b + 'attn_gate.weight', [d, 2]), (b + 'attn_gate.bias', [2])]
            if il >= 1:
                shapes += [(b + 'halt_norm.weight', [d]), (b + 'halt_up.weight', [d, 4]),
                           (b + 'halt_up.bias', [4]), (b + 'halt_down.weight', [4, 1]),
                           (b + 'halt_down.bias', [1])]
        else:
            shapes += [(b + 'ffn_gate.weight', [d, f])]
    infos, data = b'', b''
    for k, (name, ne) in enumerate(shapes):
        n = 1
        for e in ne:
            n *= e
        infos += tinfo(name, ne, offset=len(data))
        data += pad_to(b''.join(struct.pack('<f', ((i * 7 + k) % 11 - 5) / 8.0) for i in range(n)))
    return with_data(header(len(shapes), len(kvs)) + b''.join(kvs) + infos, data)


def cases():
    c = {}
    c['ok_tiny_llama'] = tiny_model(False)
    c['ok_tiny_gated'] = tiny_model(True)
    one = tinfo('w', [4])
    good_meta = header(1, 1) + kv('general.name', STR, gstr('tiny')) + one
    # valid files (seeds for the fuzzer, and the reader must accept them)
    c['ok_empty_model'] = header(0, 0)
    c['ok_one_tensor'] = with_data(good_meta, f32s(4))
    c['ok_all_types'] = header(0, 13) + b''.join([
        kv('a.u8', U8, b'\x07'), kv('a.i8', I8, b'\xff'), kv('a.u16', U16, struct.pack('<H', 65535)),
        kv('a.i16', I16, struct.pack('<h', -2)), kv('a.u32', U32, u32(7)),
        kv('a.i32', I32, struct.pack('<i', -7)), kv('a.f32', F32, struct.pack('<f', 1.5)),
        kv('a.bool', BOOL, b'\x01'), kv('a.str', STR, gstr('x\0y')),
        kv('a.arr', ARR, u32(STR) + u64(2) + gstr('p') + gstr('')),
        kv('a.u64', U64, u64(1 << 40)), kv('a.i64', I64, struct.pack('<q', -(1 << 40))),
        kv('a.f64', F64, struct.pack('<d', -0.25))])
    c['ok_nested_arrays'] = header(0, 1) + kv('n', ARR, u32(ARR) + u64(2) + u32(U8) + u64(2) + b'\x01\x02' +
                                               u32(ARR) + u64(1) + u32(STR) + u64(1) + gstr('z'))
    c['ok_every_ggml_type'] = every_ggml_type()
    c['ok_alignment_64'] = with_data(header(2, 1) + kv_u32('general.alignment', 64) +
                                     tinfo('a', [4]) + tinfo('b', [4], offset=64),
                                     pad_to(f32s(4), 64) + f32s(4), 64)
    # header
    c['format_empty_file'] = b''
    c['format_truncated_magic'] = b'GG'
    c['format_truncated_header'] = b'GGUF' + u32(3) + u64(0)
    c['format_bad_magic'] = header(0, 0, magic=b'GGML')
    c['format_version_1'] = header(0, 0, version=1)
    c['format_version_99'] = header(0, 0, version=99)
    c['format_big_endian'] = header(0, 0, version=0x03000000)
    c['format_huge_kv_count'] = header(0, 1 << 63)
    c['format_huge_tensor_count'] = header(1 << 62, 0)
    c['format_kv_count_past_eof'] = header(0, 3) + kv_u32('a', 1)
    # keys and values
    c['format_key_len_past_eof'] = header(0, 1) + u64(1000) + b'abc' + b'\0' * 20
    c['format_key_len_huge'] = header(0, 1) + u64((1 << 64) - 1) + b'\0' * 20
    c['format_empty_key'] = header(0, 1) + kv('', U32, u32(1))
    c['format_key_with_nul'] = header(0, 1) + kv(b'a\0b', U32, u32(1))
    c['format_string_len_past_eof'] = header(0, 1) + gstr('k') + u32(STR) + u64(500) + b'short'
    c['format_unknown_value_type'] = header(0, 1) + kv('k', 13, u32(0))
    c['format_truncated_value'] = header(0, 1) + kv('k', U64, b'\1\2\3')
    c['format_bool_value_2'] = header(0, 1) + kv('k', BOOL, b'\x02')
    c['format_bool_array_element'] = header(0, 1) + kv('k', ARR, u32(BOOL) + u64(3) + b'\x00\x01\x05')
    c['format_unknown_array_type'] = header(0, 1) + kv('k', ARR, u32(42) + u64(0))
    c['format_array_len_huge'] = header(0, 1) + kv('k', ARR, u32(U32) + u64(1 << 61) + u32(1))
    c['format_string_array_past_eof'] = header(0, 1) + kv('k', ARR, u32(STR) + u64(3) + gstr('a') + u64(99))
    c['format_array_of_arrays_past_eof'] = header(0, 1) + kv('k', ARR, u32(ARR) + u64(2) +
                                                             u32(U8) + u64(1) + b'\x01' + u32(U8) + u64(9))
    deep = u32(U8) + u64(0)
    for _ in range(9):
        deep = u32(ARR) + u64(1) + deep
    c['format_arrays_too_deep'] = header(0, 1) + kv('k', ARR, deep)
    c['format_duplicate_key'] = header(0, 2) + kv_u32('dup', 1) + kv_u32('dup', 2)
    c['format_alignment_not_pow2'] = header(0, 1) + kv_u32('general.alignment', 24)
    c['format_alignment_zero'] = header(0, 1) + kv_u32('general.alignment', 0)
    c['format_alignment_wrong_type'] = header(0, 1) + kv('general.alignment', U64, u64(32))
    # tensor infos
    c['format_tensor_info_truncated'] = header(1, 0) + gstr('w') + u32(2) + u64(4) + u64(4) + u32(0)
    c['format_tensor_name_empty'] = with_data(header(1, 0) + tinfo('', [4]), f32s(4))
    c['format_tensor_name_too_long'] = with_data(header(1, 0) + tinfo('n' * 65, [4]), f32s(4))
    c['format_n_dims_5'] = with_data(header(1, 0) + tinfo('w', [1, 1, 1, 1, 4]), f32s(4))
    c['format_n_dims_0'] = with_data(header(1, 0) + tinfo('w', []), f32s(4))
    c['format_zero_dim'] = with_data(header(1, 0) + tinfo('w', [4, 0]), f32s(4))
    c['format_negative_dim'] = with_data(header(1, 0) + tinfo('w', [1 << 63]), f32s(4))
    c['too_large_dims_overflow'] = with_data(header(1, 0) + tinfo('w', [1 << 32, 1 << 32]), f32s(4))
    c['too_large_bytes_overflow'] = with_data(header(1, 0) + tinfo('w', [1 << 62]), f32s(4))
    c['format_block_size'] = with_data(header(1, 0) + tinfo('w', [30], ttype=8), b'\0' * 34)
    c['format_misaligned_offset'] = with_data(header(1, 0) + tinfo('w', [4], offset=4), f32s(8))
    c['format_tensor_offset_past_eof'] = with_data(header(1, 0) + tinfo('w', [4], offset=4096), f32s(4))
    c['format_tensor_data_past_eof'] = with_data(header(1, 0) + tinfo('w', [64]), f32s(4))
    c['format_tensor_offset_overflow'] = with_data(header(1, 0) + tinfo('w', [4], offset=(1 << 64) - 32), f32s(4))
    c['format_data_section_past_eof'] = header(1, 0) + tinfo('w', [4])
    c['format_overlapping_tensors'] = with_data(header(2, 0) + tinfo('a', [16]) + tinfo('b', [4], offset=32),
                                                f32s(16))
    # tensor types: a number ggml never had, numbers retired from GGUF files, and the size,
    # placement and overlap checks on types skim does not compute with
    c['format_tensor_type_255'] = with_data(header(1, 0) + tinfo('w', [32], ttype=255), b'\0' * 128)
    c['format_tensor_type_retired_4'] = with_data(header(1, 0) + tinfo('w', [32], ttype=4), b'\0' * 128)
    c['format_tensor_type_retired_31'] = with_data(header(1, 0) + tinfo('w', [32], ttype=31), b'\0' * 128)
    c['format_q6_k_data_past_eof'] = with_data(header(1, 0) + tinfo('w', [256], ttype=14),
                                               b'\0' * (block_bytes('Q6_K') - 1))
    c['format_iq2_xxs_block_size'] = with_data(header(1, 0) + tinfo('w', [128, 2], ttype=16), b'\0' * 256)
    c['format_iq4_xs_overlap'] = with_data(header(2, 0) + tinfo('a', [512], ttype=23) +
                                           tinfo('b', [256], ttype=23, offset=256), b'\0' * 512)
    c['format_duplicate_tensor_name'] = with_data(header(2, 0) + tinfo('w', [4]) + tinfo('w', [4], offset=32),
                                                  pad_to(f32s(4)) + f32s(4))
    return c


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(cases().items()):
        with open(os.path.join(out, name + '.gguf'), 'wb') as f:
            f.write(data)
    print(len(cases()), 'files in', out)


if __name__ == '__main__':
    main()
