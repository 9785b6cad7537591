/* test_quant_k.c - BF16, Q4_K and Q6_K weights: a dequantisation written here from the
 * formats' description (include/skim.h, ggml's block layouts) against skim_dequantize on
 * random blocks (bit for bit: every product is exact before the one rounding), the
 * quantiser's round trip, and get_rows and mul_mat on every backend against a
 * double-precision reference over the same blocks.
 *
 *   test_quant_k [seed] */
#include "test_backends.h"
#include "test_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const skim_type k_types[] = {SKIM_TYPE_BF16, SKIM_TYPE_Q4_K, SKIM_TYPE_Q6_K};

/* ---------------------------------------------------------------- the formats, as described */

static double half(const uint8_t *p) {
    return skim_fp16_to_fp32((uint16_t)(p[0] | p[1] << 8));
}

/* Element i of a run of blocks of type t, in double. */
static double ref_elem(skim_type t, const uint8_t *data, int64_t i) {
    if (t == SKIM_TYPE_BF16) {
        uint32_t u = (uint32_t)(data[2 * i] | data[2 * i + 1] << 8) << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    int64_t e = i % 256;
    if (t == SKIM_TYPE_Q4_K) { /* d, dmin, 12 bytes of scales and mins, 128 of nibbles */
        const uint8_t *b = data + (i / 256) * 144, *sm = b + 4;
        int sub = (int)(e / 32), scale, min;
        if (sub < 4) {
            scale = sm[sub] % 64;
            min = sm[sub + 4] % 64;
        } else {
            scale = sm[sub + 4] % 16 + (sm[sub - 4] / 64) * 16;
            min = sm[sub + 4] / 16 + (sm[sub] / 64) * 16;
        }
        int byte = b[16 + (e / 64) * 32 + e % 32];
        int q = sub % 2 ? byte / 16 : byte % 16;
        return half(b) * scale * q - half(b + 2) * min;
    }
    /* Q6_K: ql[128], qh[64], int8 scales[16], d; halves of 128, quarters of 32 */
    const uint8_t *b = data + (i / 256) * 210;
    int64_t h = e / 128, quarter = (e % 128) / 32, lane = e % 32;
    int low = b[64 * h + 32 * (quarter % 2) + lane];
    low = quarter < 2 ? low % 16 : low / 16;
    int high = (b[128 + 32 * h + lane] >> (2 * quarter)) % 4;
    int scale = (int8_t)b[192 + e / 16];
    return half(b + 208) * scale * (low + 16 * high - 32);
}

static size_t type_bytes(skim_type t, int64_t n) {
    return skim_row_size(t, n);
}

/* Random valid data: random bytes, with the scales d (and dmin) random positive halves
 * between 2^-10 and 2^-6 (BF16: random finite floats of moderate size). */
static void random_blocks(trng *r, skim_type t, uint8_t *dst, int64_t n) {
    size_t bytes = type_bytes(t, n);
    for (size_t k = 0; k < bytes; k++) dst[k] = (uint8_t)trng_next(r);
    if (t == SKIM_TYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            float f = trng_uniform(r, -4.0f, 4.0f);
            uint32_t u;
            memcpy(&u, &f, 4);
            dst[2 * i] = (uint8_t)(u >> 16);
            dst[2 * i + 1] = (uint8_t)(u >> 24);
        }
        return;
    }
    size_t bb = skim_type_block_bytes(t);
    for (int64_t blk = 0; blk < n / 256; blk++) {
        uint8_t *b = dst + (size_t)blk * bb;
        for (int k = 0; k < (t == SKIM_TYPE_Q4_K ? 2 : 1); k++) {
            uint16_t h = skim_fp32_to_fp16(ldexpf(trng_uniform(r, 1.0f, 2.0f), trng_int(r, -10, -7)));
            uint8_t *p = t == SKIM_TYPE_Q4_K ? b + 2 * k : b + 208;
            p[0] = (uint8_t)h;
            p[1] = (uint8_t)(h >> 8);
        }
    }
}

/* ---------------------------------------------------------------- the library's conversions */

static void check_layouts(void) {
    CHECK(skim_type_block_size(SKIM_TYPE_BF16) == 1 && skim_type_block_bytes(SKIM_TYPE_BF16) == 2,
          "bf16 layout");
    CHECK(skim_type_block_size(SKIM_TYPE_Q4_K) == 256 && skim_type_block_bytes(SKIM_TYPE_Q4_K) == 144,
          "q4_k layout");
    CHECK(skim_type_block_size(SKIM_TYPE_Q6_K) == 256 && skim_type_block_bytes(SKIM_TYPE_Q6_K) == 210,
          "q6_k layout");
    CHECK(skim_row_size(SKIM_TYPE_Q4_K, 128) == 0 && skim_row_size(SKIM_TYPE_Q6_K, 512) == 420,
          "row sizes");
    CHECK(strcmp(skim_type_name(SKIM_TYPE_Q6_K), "q6_k") == 0, "name");
}

static void check_dequantize(trng *r) {
    enum { N = 256 * 8 };
    static uint8_t data[N * 2];
    static float out[N];
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        skim_type t = k_types[ti];
        random_blocks(r, t, data, N);
        CHECK(skim_dequantize(t, data, out, N), "dequantize %s", skim_type_name(t));
        int bad = 0;
        for (int64_t i = 0; i < N; i++) {
            double want = ref_elem(t, data, i);
            if (out[i] != (float)want && bad++ < 3) {
                CHECK(false, "%s element %lld: %.9g, the format says %.9g", skim_type_name(t),
                      (long long)i, out[i], want);
            }
        }
        CHECK(bad == 0, "%s: %d elements differ", skim_type_name(t), bad);
    }
}

/* BF16: the nearer of the two neighbouring bf16 values, ties to the even one. */
static void check_bf16_rounding(trng *r) {
    for (int k = 0; k < 20000; k++) {
        float f = k < 4 ? (float[]){0.0f, -0.0f, 1.00390625f, 1.01171875f}[k]
                        : ldexpf(trng_uniform(r, -2.0f, 2.0f), trng_int(r, -30, 30));
        uint8_t b[2];
        CHECK(skim_quantize(SKIM_TYPE_BF16, &f, b, 1, 1) == 2, "bf16 quantize");
        uint32_t u, lo, hi;
        memcpy(&u, &f, 4);
        lo = u & 0xffff0000u;
        hi = lo + 0x10000u;
        float flo, fhi;
        memcpy(&flo, &lo, 4);
        memcpy(&fhi, &hi, 4);
        double dlo = fabs((double)f - flo), dhi = fabs((double)fhi - f);
        uint32_t want = dlo < dhi ? lo : dhi < dlo ? hi : ((lo >> 16) & 1u) ? hi : lo;
        uint32_t got = (uint32_t)(b[0] | b[1] << 8) << 16;
        if (got != want) {
            CHECK(false, "bf16(%.9g) = 0x%08x, nearest-even is 0x%08x", f, got, want);
            return;
        }
    }
}

/* Quantise random rows (one all-zero block, one with an outlier) and read them back. */
static void check_roundtrip(trng *r) {
    enum { N = 256 * 16 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    fill_uniform(r, x, N, -1.0f, 1.0f);
    memset(x + 256, 0, 256 * sizeof(float));
    x[600] = 40.0f;
    static const double bound[] = {1e-5, 1e-2, 1e-3}; /* bf16: 8 bits; 4 and 6 bits */
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        skim_type t = k_types[ti];
        CHECK(skim_quantize(t, x, q, 4, N / 4) == type_bytes(t, N), "quantize %s", skim_type_name(t));
        CHECK(skim_dequantize(t, q, y, N), "dequantize %s", skim_type_name(t));
        double num = 0, den = 0;
        for (int i = 0; i < N; i++) {
            if (i / 256 == 2) continue; /* the outlier's block: its own scale */
            num += (y[i] - x[i]) * (double)(y[i] - x[i]);
            den += x[i] * (double)x[i];
        }
        for (int i = 256; i < 512; i++) CHECK(y[i] == 0.0f, "%s: zero block read %g", skim_type_name(t), y[i]);
        CHECK(num / den < bound[ti], "%s round trip: nmse %.3g over %.3g", skim_type_name(t),
              num / den, bound[ti]);
        CHECK(fabsf(y[600] - 40.0f) < 40.0f * 0.07f, "%s outlier read %g", skim_type_name(t), y[600]);
    }
}

/* ---------------------------------------------------------------- ops on every backend */

static void check_ops(skim_backend *be, trng *r, skim_type t, int64_t K, int64_t M, int64_t N) {
    uint8_t *w = malloc(type_bytes(t, K * M));
    float *xv = malloc(sizeof(float) * (size_t)(K * N)), *y = malloc(sizeof(float) * (size_t)(M * N));
    double *ref = malloc(sizeof(double) * (size_t)(M * N) + sizeof(double) * (size_t)(K * 4));
    float *rows = malloc(sizeof(float) * (size_t)(K * 4));
    random_blocks(r, t, w, K * M);
    fill_uniform(r, xv, (size_t)(K * N), -1.0f, 1.0f);
    const int32_t idx[4] = {3, 0, (int32_t)M - 1, (int32_t)(M / 2)};
    skim_context *ctx = NULL;
    CHECK_OK(skim_context_create(NULL, &ctx), "");
    skim_tensor *wt = skim_new_weight_2d(ctx, t, K, M, w);
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
    skim_tensor *ix = skim_new_input_1d(ctx, SKIM_TYPE_I32, 4);
    skim_tensor *outs[2] = {skim_mul_mat(ctx, wt, x), skim_get_rows(ctx, wt, ix)};
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    CHECK_OK(skim_graph_build(ctx, outs, 2, &g), skim_context_error(ctx));
    skim_status st = g ? skim_plan_create(be, g, NULL, &p) : SKIM_ERR_STATE;
    CHECK(st == SKIM_OK, "%s: plan %s: %s", skim_type_name(t), skim_status_str(st),
          p ? "" : skim_backend_error(be));
    if (p) {
        CHECK_OK(skim_plan_set_input(p, x, xv, sizeof(float) * (size_t)(K * N)), "x");
        CHECK_OK(skim_plan_set_input(p, ix, idx, sizeof idx), "idx");
        CHECK_OK(skim_plan_run(p), skim_plan_error(p));
        if (read_f32(p, outs[0], y, "mul_mat")) {
            for (int64_t n = 0; n < N; n++) {
                for (int64_t m = 0; m < M; m++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++) s += ref_elem(t, w, m * K + k) * xv[n * K + k];
                    ref[n * M + m] = s;
                }
            }
            double e = nmse_f32(y, ref, (size_t)(M * N));
            CHECK(e < 1e-10, "%s mul_mat [%lld x %lld] x %lld: nmse %.3g", skim_type_name(t),
                  (long long)K, (long long)M, (long long)N, e);
        }
        if (read_f32(p, outs[1], rows, "get_rows")) {
            for (int j = 0; j < 4; j++) {
                for (int64_t k = 0; k < K; k++) ref[j * K + k] = ref_elem(t, w, idx[j] * K + k);
            }
            double e = nmse_f32(rows, ref, (size_t)(K * 4));
            CHECK(e < 1e-12, "%s get_rows: nmse %.3g", skim_type_name(t), e);
        }
        skim_plan_destroy(p);
    }
    skim_graph_destroy(g);
    skim_context_destroy(ctx);
    free(w);
    free(xv);
    free(y);
    free(ref);
    free(rows);
}

int main(int argc, char **argv) {
    trng r;
    trng_seed(&r, argc > 1 ? strtoull(argv[1], NULL, 10) : 1);
    check_layouts();
    check_dequantize(&r);
    check_bf16_rounding(&r);
    check_roundtrip(&r);
    skim_backend *be[4];
    int unavailable = 0, nb = test_backend_open(be, &unavailable);
    for (int b = 0; b < nb; b++) {
        for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
            check_ops(be[b], &r, k_types[ti], 768, 37, 5); /* 3 blocks per row, odd rows */
            check_ops(be[b], &r, k_types[ti], 256, 9, 1);  /* decode: one column */
        }
        skim_backend_destroy(be[b]);
    }
    if (t_failures) {
        printf("test_quant_k: %d failures\n", t_failures);
        return 1;
    }
    printf("test_quant_k: BF16, Q4_K, Q6_K dequantise as described; get_rows and mul_mat on %d "
           "backend(s)\n", nb);
    return nb == 0 ? 1 : unavailable ? TEST_SKIP : 0;
}
