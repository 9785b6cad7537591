/* types.c - the type table, fp16 conversions, Q8_0 / Q4_0 (ggml's block layouts); BF16 and
 * the K quants are in quant_k.c. */
#include "skim-graph-int.h"

#include <math.h>
#include <string.h>

typedef struct skim_type_info {
    const char *name;
    int64_t block_size;
    size_t block_bytes;
} skim_type_info;

static const skim_type_info skim_types[SKIM_TYPE_COUNT] = {
    [SKIM_TYPE_F32] = {"f32", 1, 4},
    [SKIM_TYPE_F16] = {"f16", 1, 2},
    [SKIM_TYPE_Q8_0] = {"q8_0", SKIM_QK, 2 + SKIM_QK},
    [SKIM_TYPE_Q4_0] = {"q4_0", SKIM_QK, 2 + SKIM_QK / 2},
    [SKIM_TYPE_I32] = {"i32", 1, 4},
    [SKIM_TYPE_BF16] = {"bf16", 1, 2},
    [SKIM_TYPE_Q4_K] = {"q4_k", SKIM_QK_K, 2 + 2 + 12 + SKIM_QK_K / 2},
    [SKIM_TYPE_Q6_K] = {"q6_k", SKIM_QK_K, SKIM_QK_K / 2 + SKIM_QK_K / 4 + SKIM_QK_K / 16 + 2},
};

static bool type_ok(skim_type t) {
    return (int)t >= 0 && (int)t < SKIM_TYPE_COUNT;
}

const char *skim_type_name(skim_type t) {
    return type_ok(t) ? skim_types[t].name : "unknown type";
}

int64_t skim_type_block_size(skim_type t) {
    return type_ok(t) ? skim_types[t].block_size : 0;
}

size_t skim_type_block_bytes(skim_type t) {
    return type_ok(t) ? skim_types[t].block_bytes : 0;
}

size_t skim_row_size(skim_type t, int64_t n) {
    if (!type_ok(t) || n < 0 || n % skim_types[t].block_size != 0) {
        return 0;
    }
    size_t out;
    if (!skim_mul_size((size_t)(n / skim_types[t].block_size), skim_types[t].block_bytes, &out)) {
        return 0;
    }
    return out;
}

/* ---------------------------------------------------------------- fp16 */

/* Rounds m >> shift to nearest, ties to even (shift in 1..31). */
static uint32_t shift_round_even(uint32_t m, int shift) {
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) {
        q++;
    }
    return q;
}

uint16_t skim_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) { /* NaN: quiet, keep the top payload bits */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    }
    if (ax >= 0x47800000u) { /* >= 65536 (and inf): inf */
        return (uint16_t)(sign | 0x7c00u);
    }
    uint32_t e = ax >> 23;
    if (e < 102) { /* below 2^-25: rounds to zero */
        return sign;
    }
    if (e < 113) { /* half subnormal: value / 2^-24, with the implicit bit */
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        return (uint16_t)(sign | shift_round_even(m, (int)(126 - e)));
    }
    /* Normal: a carry out of the mantissa bumps the exponent, up to inf, as it should. */
    uint32_t h = ((e - 112) << 10) | ((ax & 0x7fffffu) >> 13);
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) {
        h++;
    }
    return (uint16_t)(sign | h);
}

float skim_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    uint32_t x;
    if (e == 0) {
        /* zero or subnormal: m * 2^-24 is exact in float */
        float v = (float)m * 5.9604644775390625e-8f;
        memcpy(&x, &v, sizeof x);
        x |= sign;
    } else if (e == 31) {
        x = sign | 0x7f800000u | (m << 13);
    } else {
        x = sign | ((e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* ---------------------------------------------------------------- blocks */

static void put_f16(uint8_t *dst, float v) {
    uint16_t h = skim_fp32_to_fp16(v);
    memcpy(dst, &h, 2);
}

static float get_f16(const uint8_t *src) {
    uint16_t h;
    memcpy(&h, src, 2);
    return skim_fp16_to_fp32(h);
}

static void quantize_q8_0_block(const float *x, uint8_t *out) {
    float amax = 0.0f;
    for (int j = 0; j < SKIM_QK; j++) {
        float a = fabsf(x[j]);
        if (a > amax) {
            amax = a;
        }
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(out, d);
    for (int j = 0; j < SKIM_QK; j++) {
        float v = roundf(x[j] * id);
        if (!(v == v)) {
            v = 0.0f; /* NaN input: the cast would be undefined */
        }
        v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
        out[2 + j] = (uint8_t)(int8_t)v;
    }
}

static int q4_nibble(float v) {
    float y = v + 8.5f;
    if (!(y >= 0.0f)) {
        return 0;
    }
    int q = y >= 15.0f ? 15 : (int)y;
    return q;
}

static void quantize_q4_0_block(const float *x, uint8_t *out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < SKIM_QK; j++) {
        float a = fabsf(x[j]);
        if (amax < a) {
            amax = a;
            max = x[j];
        }
    }
    float d = max / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(out, d);
    for (int j = 0; j < SKIM_QK / 2; j++) {
        int lo = q4_nibble(x[j] * id);
        int hi = q4_nibble(x[j + SKIM_QK / 2] * id);
        out[2 + j] = (uint8_t)(lo | (hi << 4));
    }
}

size_t skim_quantize(skim_type t, const float *src, void *dst, int64_t n_rows, int64_t n_per_row) {
    if (!type_ok(t) || t == SKIM_TYPE_I32 || !src || !dst || n_rows < 0 || n_per_row < 0) {
        return 0;
    }
    size_t row = skim_row_size(t, n_per_row);
    size_t total;
    if ((row == 0 && n_per_row != 0) || !skim_mul_size(row, (size_t)n_rows, &total)) {
        return 0;
    }
    uint8_t *out = dst;
    int64_t n = n_rows * n_per_row;
    switch (t) {
    case SKIM_TYPE_F32:
        memcpy(dst, src, total);
        break;
    case SKIM_TYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            put_f16(out + 2 * i, src[i]);
        }
        break;
    case SKIM_TYPE_Q8_0:
        for (int64_t b = 0; b < n / SKIM_QK; b++) {
            quantize_q8_0_block(src + b * SKIM_QK, out + (size_t)b * skim_types[t].block_bytes);
        }
        break;
    case SKIM_TYPE_Q4_0:
        for (int64_t b = 0; b < n / SKIM_QK; b++) {
            quantize_q4_0_block(src + b * SKIM_QK, out + (size_t)b * skim_types[t].block_bytes);
        }
        break;
    case SKIM_TYPE_BF16:
    case SKIM_TYPE_Q4_K:
    case SKIM_TYPE_Q6_K:
        skim_quant_k_from_f32(t, src, out, n);
        break;
    default:
        return 0;
    }
    return total;
}

void skim_row_to_f32(skim_type t, const void *src, float *dst, int64_t n) {
    const uint8_t *in = src;
    switch (t) {
    case SKIM_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case SKIM_TYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            dst[i] = get_f16(in + 2 * i);
        }
        break;
    case SKIM_TYPE_I32:
        for (int64_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, in + 4 * i, 4);
            dst[i] = (float)v;
        }
        break;
    case SKIM_TYPE_Q8_0:
        for (int64_t b = 0; b < n / SKIM_QK; b++) {
            const uint8_t *blk = in + (size_t)b * (2 + SKIM_QK);
            float d = get_f16(blk);
            for (int j = 0; j < SKIM_QK; j++) {
                dst[b * SKIM_QK + j] = (float)(int8_t)blk[2 + j] * d;
            }
        }
        break;
    case SKIM_TYPE_Q4_0:
        for (int64_t b = 0; b < n / SKIM_QK; b++) {
            const uint8_t *blk = in + (size_t)b * (2 + SKIM_QK / 2);
            float d = get_f16(blk);
            for (int j = 0; j < SKIM_QK / 2; j++) {
                dst[b * SKIM_QK + j] = (float)((blk[2 + j] & 0x0f) - 8) * d;
                dst[b * SKIM_QK + j + SKIM_QK / 2] = (float)((blk[2 + j] >> 4) - 8) * d;
            }
        }
        break;
    case SKIM_TYPE_BF16:
    case SKIM_TYPE_Q4_K:
    case SKIM_TYPE_Q6_K:
        skim_quant_k_to_f32(t, in, dst, n);
        break;
    default:
        break;
    }
}

bool skim_dequantize(skim_type t, const void *src, float *dst, int64_t n) {
    if (!type_ok(t) || !src || !dst || n < 0 || n % skim_types[t].block_size != 0) {
        return false;
    }
    skim_row_to_f32(t, src, dst, n);
    return true;
}
