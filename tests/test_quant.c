/* test_quant.c - type facts, fp16 conversions (exhaustive where cheap, against a decoder
 * and a rounder written here) and quantise/dequantise of F32, F16, Q8_0 and Q4_0: the
 * block layouts decoded by hand, the rounding error bounded by the block scale, and the
 * refusals (sizes not a multiple of 32, I32) leaving dst untouched. */
#include "test_common.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double half_decode(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0) v = ldexp(m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

/* Round to nearest even with double arithmetic (rint in the default rounding mode). */
static uint16_t half_encode(float f) {
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    double a = fabs((double)f);
    if (isnan(f)) return 0x7E00;
    if (a < ldexp(1, -14)) return (uint16_t)(sign | (uint16_t)rint(a * ldexp(1, 24)));
    int ex;
    frexp(a, &ex);
    int E = ex - 1;
    double m = rint((a / ldexp(1, E) - 1.0) * 1024.0);
    if (m == 1024) { E++; m = 0; }
    if (E + 15 >= 31) return sign | 0x7C00;
    return (uint16_t)(sign | ((E + 15) << 10) | (int)m);
}

static void test_types(void) {
    CHECK(skim_type_block_size(SKIM_TYPE_F32) == 1 && skim_type_block_size(SKIM_TYPE_Q8_0) == 32 &&
              skim_type_block_size(SKIM_TYPE_Q4_0) == 32 && skim_type_block_size(SKIM_TYPE_I32) == 1,
          "block sizes");
    CHECK(skim_type_block_bytes(SKIM_TYPE_F32) == 4 && skim_type_block_bytes(SKIM_TYPE_F16) == 2 &&
              skim_type_block_bytes(SKIM_TYPE_Q8_0) == 34 && skim_type_block_bytes(SKIM_TYPE_Q4_0) == 18 &&
              skim_type_block_bytes(SKIM_TYPE_I32) == 4,
          "block bytes");
    CHECK(skim_row_size(SKIM_TYPE_F32, 7) == 28 && skim_row_size(SKIM_TYPE_F16, 7) == 14 &&
              skim_row_size(SKIM_TYPE_Q8_0, 64) == 68 && skim_row_size(SKIM_TYPE_Q4_0, 64) == 36 &&
              skim_row_size(SKIM_TYPE_Q8_0, 33) == 0 && skim_row_size(SKIM_TYPE_Q4_0, 16) == 0,
          "row sizes");
    static const char *names[] = {"f32", "f16", "q8_0", "q4_0", "i32", "bf16", "q4_k", "q6_k"};
    CHECK(SKIM_TYPE_COUNT == 8, "a type without a name here");
    for (int t = 0; t < SKIM_TYPE_COUNT; t++) {
        const char *n = skim_type_name((skim_type)t);
        CHECK(n != NULL, "type %d has no name", t);
        if (!n) continue;
        char low[16] = {0};
        for (int i = 0; n[i] && i < 15; i++) low[i] = (char)tolower((unsigned char)n[i]);
        CHECK(strcmp(low, names[t]) == 0, "type %d is named %s", t, n);
    }
    CHECK(skim_type_name(SKIM_TYPE_COUNT) != NULL && skim_type_name((skim_type)-1) != NULL,
          "type names out of range must not be NULL");
    for (int s = 0; s <= SKIM_STATUS_COUNT + 1; s++)
        CHECK(skim_status_str((skim_status)s) != NULL && skim_status_str((skim_status)s)[0],
              "status %d has no string", s);
    CHECK(skim_status_str((skim_status)-7) != NULL, "status -7 string is NULL");
}

static void test_fp16(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        double want = half_decode((uint16_t)h);
        float got = skim_fp16_to_fp32((uint16_t)h);
        bool ok = isnan(want) ? isnan(got) : (got == want && !signbit(got) == !signbit(want));
        if (!ok && bad++ < 5) t_fail(__FILE__, __LINE__, "fp16_to_fp32(0x%04x) = %g, want %g", h, got, want);
        if (!isnan(want)) {
            uint16_t back = skim_fp32_to_fp16(got);
            if (back != h && bad++ < 5) t_fail(__FILE__, __LINE__, "fp32_to_fp16(%g) = 0x%04x, want 0x%04x", got, back, h);
        } else if (!isnan(skim_fp16_to_fp32(skim_fp32_to_fp16(got))) && bad++ < 5) {
            t_fail(__FILE__, __LINE__, "NaN 0x%04x does not stay NaN", h);
        }
        /* the midpoint to the next half up: ties go to even */
        if ((h & 0x7C00) != 0x7C00 && (h & 0x7FFF) != 0x7BFF) {
            double mid = (want + half_decode((uint16_t)(h + 1))) / 2;
            float fm = (float)mid; /* exact: 12 significant bits */
            uint16_t r = skim_fp32_to_fp16(fm), w = half_encode(fm);
            if (r != w && bad++ < 5) t_fail(__FILE__, __LINE__, "fp32_to_fp16(midpoint %a) = 0x%04x, want 0x%04x", fm, r, w);
        }
    }
    trng rng;
    trng_seed(&rng, 5);
    for (int i = 0; i < 200000; i++) {
        float f = ldexpf(trng_uniform(&rng, -1, 1), trng_int(&rng, -30, 18));
        uint16_t r = skim_fp32_to_fp16(f), w = half_encode(f);
        if (r != w && bad++ < 10) t_fail(__FILE__, __LINE__, "fp32_to_fp16(%a) = 0x%04x, want 0x%04x", f, r, w);
    }
    CHECK(skim_fp32_to_fp16(65520.0f) == 0x7C00 && skim_fp32_to_fp16(65519.0f) == 0x7BFF,
          "overflow boundary");
    CHECK(skim_fp32_to_fp16(INFINITY) == 0x7C00 && skim_fp32_to_fp16(-INFINITY) == 0xFC00, "infinities");
    CHECK(skim_fp32_to_fp16(-0.0f) == 0x8000 && skim_fp32_to_fp16(ldexpf(1, -25)) == 0 &&
              skim_fp32_to_fp16(ldexpf(3, -25)) == 2,
          "zero and subnormal ties");
}

static void test_quant_type(skim_type t, trng *r) {
    enum { ROWS = 5, N = 96 };
    float src[ROWS * N], deq[ROWS * N];
    fill_uniform(r, src, ROWS * N, -3, 3);
    for (int i = 0; i < 32; i++) src[i] = 0.0f;                   /* an all-zero block */
    for (int i = 32; i < 64; i++) src[i] = (float)(i - 48) * 0.25f; /* exact values */
    src[100] = 50.0f;                                               /* an outlier */
    size_t rb = skim_row_size(t, N), bytes = rb * ROWS;
    unsigned char *q = guard_alloc(bytes);
    size_t w = skim_quantize(t, src, q, ROWS, N);
    CHECK(w == bytes, "%s: quantize wrote %zu bytes, want %zu", skim_type_name(t), w, bytes);
    CHECK(guard_ok(q, bytes), "%s: quantize wrote outside dst", skim_type_name(t));
    float *dq = guard_alloc(sizeof deq);
    CHECK(skim_dequantize(t, q, dq, ROWS * N), "%s: dequantize failed", skim_type_name(t));
    CHECK(guard_ok(dq, sizeof deq), "%s: dequantize wrote outside dst", skim_type_name(t));
    memcpy(deq, dq, sizeof deq);
    int bad = 0;
    for (int b = 0; b < ROWS * N / 32 && t != SKIM_TYPE_F32 && t != SKIM_TYPE_F16; b++) {
        const unsigned char *blk = q + (size_t)b * skim_type_block_bytes(t);
        uint16_t dh;
        memcpy(&dh, blk, 2);
        double d = half_decode(dh), amax = 0;
        for (int j = 0; j < 32; j++) amax = fmax(amax, fabs(src[b * 32 + j]));
        double want_d = t == SKIM_TYPE_Q8_0 ? amax / 127 : amax / 8;
        if (fabs(fabs(d) - want_d) > 1e-3 * want_d + 1e-30 && bad++ < 5)
            t_fail(__FILE__, __LINE__, "%s block %d: scale %g, want about %g", skim_type_name(t), b, d, want_d);
        for (int j = 0; j < 32; j++) {
            int qv = t == SKIM_TYPE_Q8_0 ? (int)(int8_t)blk[2 + j]
                                         : (j < 16 ? (blk[2 + j] & 15) : (blk[2 + j - 16] >> 4)) - 8;
            double v = qv * d, x = src[b * 32 + j];
            if ((float)v != deq[b * 32 + j] && bad++ < 5)
                t_fail(__FILE__, __LINE__, "%s block %d elem %d: dequantized %g, layout gives %g",
                       skim_type_name(t), b, j, deq[b * 32 + j], v);
            /* half a step (a whole one where Q4_0 clamps at +7), plus the scale's own fp16
             * rounding (2^-11 relative) times the largest quant */
            double bound = (t == SKIM_TYPE_Q8_0 ? 0.5 + 128.0 / 2048 : 1.0 + 8.0 / 2048) * fabs(d) + 1e-7;
            if (fabs(v - x) > bound && bad++ < 5)
                t_fail(__FILE__, __LINE__, "%s block %d elem %d: %g quantized to %g (bound %g)",
                       skim_type_name(t), b, j, x, v, bound);
        }
    }
    for (int i = 0; i < ROWS * N; i++) {
        double want = t == SKIM_TYPE_F16 ? skim_fp16_to_fp32(skim_fp32_to_fp16(src[i])) : src[i];
        if ((t == SKIM_TYPE_F32 || t == SKIM_TYPE_F16) && deq[i] != want && bad++ < 5)
            t_fail(__FILE__, __LINE__, "%s: element %d round-trips to %g, want %g", skim_type_name(t), i, deq[i], want);
    }
    for (int i = 0; i < 32; i++)
        if (deq[i] != 0.0f && bad++ < 5) t_fail(__FILE__, __LINE__, "%s: zero block gives %g", skim_type_name(t), deq[i]);
    /* refusals leave dst alone */
    memset(q, 0x33, bytes);
    if (t == SKIM_TYPE_Q8_0 || t == SKIM_TYPE_Q4_0) {
        CHECK(skim_quantize(t, src, q, 2, 48) == 0, "%s: quantize of rows of 48 must return 0", skim_type_name(t));
        CHECK(!skim_dequantize(t, q, dq, 48), "%s: dequantize of 48 elements must fail", skim_type_name(t));
    }
    for (size_t i = 0; i < bytes; i++)
        if (q[i] != 0x33) {
            t_fail(__FILE__, __LINE__, "%s: a refused quantize wrote dst", skim_type_name(t));
            break;
        }
    CHECK(guard_ok(q, bytes) && guard_ok(dq, sizeof deq), "%s: guards", skim_type_name(t));
    guard_free(q);
    guard_free(dq);
}

int main(void) {
    test_types();
    test_fp16();
    trng r;
    trng_seed(&r, 9);
    for (int t = SKIM_TYPE_F32; t <= SKIM_TYPE_Q4_0; t++) test_quant_type((skim_type)t, &r);
    float src[32] = {0};
    int32_t dst[32];
    memset(dst, 0x44, sizeof dst);
    CHECK(skim_quantize(SKIM_TYPE_I32, src, dst, 1, 32) == 0 && dst[0] == 0x44444444,
          "quantize to I32 must return 0 and write nothing");
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures != 0;
}
