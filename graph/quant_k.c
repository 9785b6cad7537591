/* quant_k.c - BF16 and the K quants Q4_K and Q6_K (ggml's block layouts, in GGUF files):
 * conversion to floats for every backend's reference path, and a plain quantiser (scales
 * from each sub-block's range, no error search) so that skim_quantize covers every type.
 *
 * Q4_K, 144 bytes per 256 elements: fp16 d, fp16 dmin, scales[12], qs[128]. Sub-block j
 * (32 elements) has a 6-bit scale and a 6-bit min: for j < 4 the low 6 bits of scales[j]
 * and scales[j + 4]; for j >= 4 the low nibble (scale) and high nibble (min) of
 * scales[j + 4], topped by the two high bits of scales[j - 4] (scale) and scales[j] (min).
 * Elements 64c .. 64c + 31 are the low nibbles of qs[32c ..], the next 32 the high ones.
 * Q6_K, 210 bytes per 256 elements: ql[128], qh[64], int8 scales[16], fp16 d. Each half
 * of 128 elements uses 64 bytes of ql and 32 of qh: its quarter g (32 elements, lane l)
 * takes the low (g < 2) or high nibble of ql[l + 32 (g & 1)] and bits 2g, 2g + 1 of qh[l]
 * as the top two bits; the 6-bit value minus 32 times d times scales[8 half + 2g + l/16]. */
#include "skim-graph-int.h"

#include <math.h>
#include <string.h>

#define QK_K 256

static float ld_f16(const uint8_t *p) {
    uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
    return skim_fp16_to_fp32(h);
}

static float st_f16(uint8_t *p, float v) {
    uint16_t h = skim_fp32_to_fp16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
    return skim_fp16_to_fp32(h); /* the value a reader will see */
}

static float bf16_to_f32(const uint8_t *p) {
    uint32_t u = (uint32_t)(p[0] | (p[1] << 8)) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void f32_to_bf16(float f, uint8_t *p) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        u = (u | 0x00400000u) >> 16; /* NaN stays a (quiet) NaN */
    } else {
        u = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16; /* to nearest, ties to even */
    }
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
}

/* ---------------------------------------------------------------- Q4_K */

static void q4_k_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void q4_k_block_to_f32(const uint8_t *b, float *y) {
    float d = ld_f16(b), dmin = ld_f16(b + 2);
    const uint8_t *qs = b + 16;
    for (int c = 0; c < 4; c++) {
        int sc0, m0, sc1, m1;
        q4_k_scale_min(b + 4, 2 * c, &sc0, &m0);
        q4_k_scale_min(b + 4, 2 * c + 1, &sc1, &m1);
        for (int l = 0; l < 32; l++) {
            uint8_t q = qs[32 * c + l];
            y[64 * c + l] = d * (float)sc0 * (float)(q & 15) - dmin * (float)m0;
            y[64 * c + 32 + l] = d * (float)sc1 * (float)(q >> 4) - dmin * (float)m1;
        }
    }
}

static int clampi(long v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : (int)v;
}

/* Each sub-block spans [min(0, lo), hi] with 15 steps; the 6-bit scales and mins are the
 * sub-blocks' steps and offsets over d and dmin, which are the largest of them over 63. */
static void q4_k_block_from_f32(const float *x, uint8_t *b) {
    float step[8], off[8], smax = 0.0f, omax = 0.0f;
    for (int j = 0; j < 8; j++) {
        float lo = 0.0f, hi = 0.0f;
        for (int l = 0; l < 32; l++) {
            float v = x[32 * j + l];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        step[j] = (hi - lo) / 15.0f;
        off[j] = -lo;
        smax = step[j] > smax ? step[j] : smax;
        omax = off[j] > omax ? off[j] : omax;
    }
    float d = st_f16(b, smax / 63.0f), dmin = st_f16(b + 2, omax / 63.0f);
    uint8_t *s = b + 4, *qs = b + 16;
    memset(s, 0, 12);
    int sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = d > 0.0f ? clampi(lroundf(step[j] / d), 0, 63) : 0;
        m[j] = dmin > 0.0f ? clampi(lroundf(off[j] / dmin), 0, 63) : 0;
        if (j < 4) {
            s[j] |= (uint8_t)sc[j];
            s[j + 4] |= (uint8_t)m[j];
        } else {
            s[j + 4] = (uint8_t)((sc[j] & 15) | ((m[j] & 15) << 4));
            s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            s[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
    memset(qs, 0, QK_K / 2);
    for (int i = 0; i < QK_K; i++) {
        int j = i / 32;
        float scale = d * (float)sc[j];
        int q = scale > 0.0f ? clampi(lroundf((x[i] + dmin * (float)m[j]) / scale), 0, 15) : 0;
        qs[32 * (i / 64) + i % 32] |= (uint8_t)(q << (j & 1 ? 4 : 0));
    }
}

/* ---------------------------------------------------------------- Q6_K */

static void q6_k_block_to_f32(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(const void *)(b + 192);
    float d = ld_f16(b + 208);
    /* Group g of half h: low nibbles of ql[64h + 32(g & 1) + l] (high nibbles for g >= 2),
     * bits 2g..2g+1 of qh[32h + l] on top; each 16 elements share a scale. Loops over l
     * with everything else fixed, so that the compiler vectorises them. */
    for (int h = 0; h < 2; h++) {
        for (int g = 0; g < 4; g++) {
            const uint8_t *lo = ql + 64 * h + 32 * (g & 1), *hi = qh + 32 * h;
            int lo_shift = g >= 2 ? 4 : 0, hi_shift = 2 * g;
            for (int half = 0; half < 2; half++) {
                float s = d * (float)sc[8 * h + 2 * g + half];
                float *o = y + 128 * h + 32 * g + 16 * half;
                for (int l = 16 * half; l < 16 * half + 16; l++) {
                    int q = ((lo[l] >> lo_shift) & 15) | (((hi[l] >> hi_shift) & 3) << 4);
                    o[l - 16 * half] = s * (float)(q - 32);
                }
            }
        }
    }
}

/* Each 16-element sub-block's step is its largest magnitude over 31 (so no value needs
 * -32); the int8 scales are the steps over d, the largest step over 127. */
static void q6_k_block_from_f32(const float *x, uint8_t *b) {
    float step[16], smax = 0.0f;
    for (int j = 0; j < 16; j++) {
        float a = 0.0f;
        for (int l = 0; l < 16; l++) {
            float v = fabsf(x[16 * j + l]);
            a = v > a ? v : a;
        }
        step[j] = a / 31.0f;
        smax = step[j] > smax ? step[j] : smax;
    }
    float d = st_f16(b + 208, smax / 127.0f);
    uint8_t *ql = b, *qh = b + 128;
    memset(b, 0, 192);
    for (int j = 0; j < 16; j++) {
        int s = d > 0.0f ? clampi(lroundf(step[j] / d), 0, 127) : 0;
        b[192 + j] = (uint8_t)s;
        for (int l = 0; l < 16; l++) {
            int i = 16 * j + l, h = i / 128, g = (i % 128) / 32, k = i % 32;
            float scale = d * (float)s;
            int q = scale > 0.0f ? clampi(lroundf(x[i] / scale), -32, 31) + 32 : 32;
            ql[64 * h + 32 * (g & 1) + k] |= (uint8_t)((q & 15) << (g < 2 ? 0 : 4));
            qh[32 * h + k] |= (uint8_t)((q >> 4) << (2 * g));
        }
    }
}

/* ---------------------------------------------------------------- rows */

void skim_quant_k_to_f32(skim_type t, const uint8_t *src, float *dst, int64_t n) {
    switch (t) {
    case SKIM_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            dst[i] = bf16_to_f32(src + 2 * i);
        }
        break;
    case SKIM_TYPE_Q4_K:
        for (int64_t b = 0; b < n / QK_K; b++) {
            q4_k_block_to_f32(src + (size_t)b * 144, dst + b * QK_K);
        }
        break;
    case SKIM_TYPE_Q6_K:
        for (int64_t b = 0; b < n / QK_K; b++) {
            q6_k_block_to_f32(src + (size_t)b * 210, dst + b * QK_K);
        }
        break;
    default:
        break;
    }
}

void skim_quant_k_from_f32(skim_type t, const float *src, uint8_t *dst, int64_t n) {
    switch (t) {
    case SKIM_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            f32_to_bf16(src[i], dst + 2 * i);
        }
        break;
    case SKIM_TYPE_Q4_K:
        for (int64_t b = 0; b < n / QK_K; b++) {
            q4_k_block_from_f32(src + b * QK_K, dst + (size_t)b * 144);
        }
        break;
    case SKIM_TYPE_Q6_K:
        for (int64_t b = 0; b < n / QK_K; b++) {
            q6_k_block_from_f32(src + b * QK_K, dst + (size_t)b * 210);
        }
        break;
    default:
        break;
    }
}
