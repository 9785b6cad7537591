/* test_qact.c - SKIM_PLAN_QUANTIZED_ACTIVATIONS on the CPU backend: products with Q8_0,
 * Q4_0, Q4_K and Q6_K weights whose activations are rounded to 8-bit blocks first.
 *
 * Two references, both computed here in double from the inputs:
 * - the rule itself: for Q8_0 and Q4_0 each block of 32 x values gets d = max|x| / 127 and
 *   q = rint(x / d) (as the header states it, with float d and 1/d), each block product is
 *   an integer sum times dw * d; for Q4_K and Q6_K each super-block of 256 x values gets
 *   one such d and its q, and the super-block's integer sums (read here one weight at a
 *   time, in 64 bits, checked against the bounds matvec_kq.c states) meet the float scale
 *   products d * dx (and dmin * dx). The backend must agree within the float rounding of
 *   summing the terms (a wrong rounding of x, a lost block or the float path taken
 *   instead all miss this by far more);
 * - the exact product of the dequantised weights with x: the difference must stay within
 *   the header's bound, sum over blocks (super-blocks) of (d / 2) * sum |w|.
 * Both apply to products with up to 64 x rows per matrix (decode and small batches); each
 * column of such a product must also equal, bit for bit, the product of that x row alone
 * (the tiles that serve several x rows keep each output's order). With more x rows the
 * flag steps aside and the results must equal a plan without it bit for bit. Also: results
 * equal on 1 and 3 threads bit for bit, a block with a NaN or an infinity gives NaN, the
 * head-selected product (mul_mat_sel_k, contraction over listed blocks) follows the same
 * rule, and an unknown flag is refused. On a CPU with AVX-512 the products must also
 * equal, bit for bit, those of a backend capped at AVX2. */
#include "test_common.h"

#include "skim-cpu.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The flag applies to products with at most this many x rows (include/skim-backend.h). */
#define QA_MAX_N 64

static skim_backend *cpu(int n_threads) { return test_cpu_backend(n_threads); }


/* x quantised by the stated rule; false for a block that is not finite. */
static bool quant_block(const float *x, float *d, int q[32]) {
    float amax = 0.0f;
    for (int i = 0; i < 32; i++) {
        if (!isfinite(x[i])) return false;
        amax = fmaxf(amax, fabsf(x[i]));
    }
    *d = amax / 127.0f;
    float id = *d > 0.0f ? 1.0f / *d : 0.0f;
    for (int i = 0; i < 32; i++) q[i] = (int)lrintf(x[i] * id);
    return true;
}

/* The integer values and scale of weight block b of a row. */
static double w_block(skim_type t, const uint8_t *row, int64_t b, int v[32]) {
    const uint8_t *blk = row + (size_t)b * skim_type_block_bytes(t);
    uint16_t h;
    memcpy(&h, blk, 2);
    for (int i = 0; i < 32; i++) {
        v[i] = t == SKIM_TYPE_Q8_0 ? (int)(int8_t)blk[2 + i]
                                   : (i < 16 ? (blk[2 + i] & 15) : (blk[2 + i - 16] >> 4)) - 8;
    }
    return skim_fp16_to_fp32(h);
}

typedef struct expect {
    double q;     /* by the rule */
    double q_abs; /* sum of |block terms| */
    double exact; /* dequantised w times x */
    double bound; /* sum (d/2) sum |w| */
    bool nan;
} expect;

static double f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return skim_fp16_to_fp32(h);
}

/* x rounded per super-block of 256 for the K quants (matvec_kq.c's rule): d = max|x| / 127,
 * q = rint(x * (1 / d)), ties to even; false for values that are not all finite. */
static bool quant_sb(const float *x, float *d, int q[256]) {
    float amax = 0.0f;
    for (int i = 0; i < 256; i++) {
        if (!isfinite(x[i])) return false;
        amax = fmaxf(amax, fabsf(x[i]));
    }
    *d = amax / 127.0f;
    float id = *d > 0.0f ? 1.0f / *d : 0.0f;
    for (int i = 0; i < 256; i++) q[i] = (int)nearbyintf(x[i] * id);
    return true;
}

/* Weight i (0..255) of a Q4_K super-block as its integer q, scale sc and min m (the
 * weight is d sc q - dmin m), read one value at a time. */
static void q4k_weight(const uint8_t *blk, int i, int *q, int *sc, int *m) {
    int j = i / 32;
    const uint8_t *s = blk + 4;
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
    *q = (blk[16 + 32 * (j / 2) + i % 32] >> (4 * (j & 1))) & 15;
}

/* Weight i of a Q6_K super-block: q - 32 and its int8 scale (the weight is d sc (q - 32)). */
static void q6k_weight(const uint8_t *blk, int i, int *v, int *sc) {
    int h = i / 128, l = i % 32, g = (i % 128) / 32;
    int lo = (blk[64 * h + 32 * (g & 1) + l] >> (g >= 2 ? 4 : 0)) & 15;
    int hi = (blk[128 + 32 * h + l] >> (2 * g)) & 3;
    *v = (lo | hi << 4) - 32;
    *sc = (int8_t)blk[192 + i / 16];
}

/* Super-block sb's term by the rule (integer sums in 64 bits, then the float steps' scale
 * products), the exact sum and sum |w|, for x values xb (rounded: d, q). */
static double sb_term(skim_type t, const uint8_t *wrow, int64_t sb, const float *xb, float d,
                      const int q[256], double *exact, double *wabs, double *tabs) {
    *exact = *wabs = 0;
    long long isum = 0, msum = 0;
    if (t == SKIM_TYPE_Q4_K) {
        const uint8_t *blk = wrow + (size_t)sb * 144;
        float dw = (float)f16_at(blk), dmin = (float)f16_at(blk + 2);
        for (int i = 0; i < 256; i++) {
            int v, sc, m;
            q4k_weight(blk, i, &v, &sc, &m);
            isum += (long long)sc * v * q[i];
            msum += (long long)m * q[i];
            double wv = (double)dw * sc * v - (double)dmin * m;
            *exact += wv * (double)xb[i];
            *wabs += fabs(wv);
        }
        CHECK(llabs(isum) <= 30723840 && llabs(msum) <= 2048256, "Q4_K sums past their bound");
        double a = (double)(dw * d) * (double)isum, m = (double)(dmin * d) * (double)msum;
        *tabs = fabs(a) + fabs(m); /* two sums, each rounds */
        return a - m;
    }
    const uint8_t *blk = wrow + (size_t)sb * 210;
    float dw = (float)f16_at(blk + 208);
    for (int i = 0; i < 256; i++) {
        int v, sc;
        q6k_weight(blk, i, &v, &sc);
        isum += (long long)sc * v * q[i];
        double wv = (double)dw * sc * v;
        *exact += wv * (double)xb[i];
        *wabs += fabs(wv);
    }
    CHECK(llabs(isum) <= 133169152, "Q6_K sum past its bound");
    *tabs = fabs((double)(dw * d) * (double)isum);
    return (double)(dw * d) * (double)isum;
}

/* The K quants: output m for x row x over the super-blocks whose first block's `use` is
 * true (NULL: all). */
static expect expect_of_k(skim_type t, const uint8_t *wrow, const float *x, int64_t nsb,
                          const bool *use) {
    expect e = {0};
    for (int64_t sb = 0; sb < nsb; sb++) {
        if (use && !use[8 * sb]) continue;
        int q[256];
        float d;
        if (!quant_sb(x + 256 * sb, &d, q)) {
            e.nan = true;
            continue;
        }
        double exact, wabs, tabs;
        double term = sb_term(t, wrow, sb, x + 256 * sb, d, q, &exact, &wabs, &tabs);
        e.q += term;
        e.q_abs += tabs;
        e.exact += exact;
        e.bound += 0.5 * d * wabs;
    }
    return e;
}

/* Block b's term by the rule for Q8_0 and Q4_0, the exact sum and sum |w|, for x block xb
 * (quantised: d, q). */
static double block_term(skim_type t, const uint8_t *wrow, int64_t b, const float *xb, float d,
                         const int q[32], double *exact, double *wabs) {
    int v[32];
    long long s = 0;
    *exact = *wabs = 0;
    double dw = w_block(t, wrow, b, v);
    for (int i = 0; i < 32; i++) {
        s += (long long)v[i] * q[i];
        *exact += dw * v[i] * (double)xb[i];
        *wabs += fabs(dw * v[i]);
    }
    return (double)(float)((float)dw * d) * (double)s;
}

/* Output m for x row x, over the blocks whose `use` is true (NULL: all). */
static expect expect_of(skim_type t, const uint8_t *wrow, const float *x, int64_t nb,
                        const bool *use) {
    if (t == SKIM_TYPE_Q4_K || t == SKIM_TYPE_Q6_K) return expect_of_k(t, wrow, x, nb / 8, use);
    expect e = {0};
    for (int64_t b = 0; b < nb; b++) {
        if (use && !use[b]) continue;
        int q[32];
        float d;
        if (!quant_block(x + 32 * b, &d, q)) {
            e.nan = true;
            continue;
        }
        double exact, wabs;
        double term = block_term(t, wrow, b, x + 32 * b, d, q, &exact, &wabs);
        e.q += term;
        e.q_abs += fabs(term);
        e.exact += exact;
        e.bound += 0.5 * d * wabs;
    }
    return e;
}

static bool is_k(skim_type t) { return t == SKIM_TYPE_Q4_K || t == SKIM_TYPE_Q6_K; }

/* Compares y[m, n] with the references; counts failures into *bad. */
static void compare(const char *what, skim_type t, const uint8_t *w, size_t wrow, const float *x,
                    int64_t K, int64_t M, int64_t N, const float *y, const bool *use, int *bad) {
    int64_t nb = K / 32;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t m = 0; m < M; m++) {
            expect e = expect_of(t, w + (size_t)m * wrow, x + K * n, nb, use);
            float got = y[n * M + m];
            if (e.nan) {
                if (!isnan(got) && (*bad)++ < 5)
                    t_fail(__FILE__, __LINE__, "%s %s [%lld,%lld]: %g, want NaN (a block not finite)",
                           what, skim_type_name(t), (long long)m, (long long)n, got);
                continue;
            }
            /* float rounding of the block terms: each term's scale product (1 rounding),
             * its accumulator's sum (even or odd blocks: nb/2 additions), the final
             * addition of the two (1) */
            double tol = ((double)nb / 2 + 5) * ldexp(1, -23) * e.q_abs + 1e-30;
            /* the K quants: per super-block (nb / 8 of them) one product, the int32 sum
             * turned to float (past 2^24 it rounds), one fused step; Q4_K's two sums */
            if (is_k(t)) tol = ((double)nb / 8 + 5) * ldexp(1, -23) * e.q_abs + 1e-30;
            if (!(fabs(got - e.q) <= tol) && (*bad)++ < 5)
                t_fail(__FILE__, __LINE__, "%s %s [%lld,%lld]: %.9g, the rule gives %.9g (tol %.3g)",
                       what, skim_type_name(t), (long long)m, (long long)n, got, e.q, tol);
            if (!(fabs(got - e.exact) <= e.bound + tol) && (*bad)++ < 5)
                t_fail(__FILE__, __LINE__, "%s %s [%lld,%lld]: %.9g is %.3g from the exact %.9g, "
                       "past the bound %.3g", what, skim_type_name(t), (long long)m, (long long)n,
                       got, fabs(got - e.exact), e.exact, e.bound);
        }
    }
}

/* y = w x planned with plan flags `flags` on be; returns false when anything failed. */
static bool run_mm_flags(skim_backend *be, skim_graph *g, skim_tensor *xin, const float *x,
                         skim_tensor *y, float *out, uint32_t flags) {
    skim_plan_desc pd = {.flags = flags};
    skim_plan *p = NULL;
    skim_status s = skim_plan_create(be, g, &pd, &p);
    if (s == SKIM_OK) s = skim_plan_set_input(p, xin, x, skim_tensor_nbytes(xin));
    if (s == SKIM_OK) s = skim_plan_run(p);
    bool ok = s == SKIM_OK && read_f32(p, y, out, "y");
    CHECK(s == SKIM_OK, "plan/run -> %s: %s", skim_status_str(s),
          p ? skim_plan_error(p) : skim_backend_error(be));
    skim_plan_destroy(p);
    return ok;
}

/* The same with the flag on. */
static bool run_mm(skim_backend *be, skim_graph *g, skim_tensor *xin, const float *x,
                   skim_tensor *y, float *out) {
    return run_mm_flags(be, g, xin, x, y, out, SKIM_PLAN_QUANTIZED_ACTIVATIONS);
}

/* Each column of y (N x rows, flag on) against the product of that x row alone. */
static void columns_alone(skim_backend *be, skim_type t, const uint8_t *w, int64_t K, int64_t M,
                          int64_t N, const float *x, const float *y, const char *what) {
    skim_context *ctx = NULL;
    CHECK_OK(skim_context_create(NULL, &ctx), what);
    skim_tensor *wt = skim_new_weight_2d(ctx, t, K, M, w);
    skim_tensor *xin = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, 1);
    skim_tensor *y1 = skim_mul_mat(ctx, wt, xin);
    skim_graph *g = NULL;
    CHECK_OK(skim_graph_build(ctx, &y1, 1, &g), what);
    float *col = malloc(sizeof(float) * (size_t)M);
    int64_t differ = 0;
    for (int64_t n = 0; g && n < N; n++) {
        if (!run_mm(be, g, xin, x + K * n, y1, col)) break;
        for (int64_t m = 0; m < M; m++) {
            float a = y[n * M + m], b = col[m];
            differ += memcmp(&a, &b, sizeof a) != 0;
        }
    }
    CHECK(differ == 0, "%s %s: %lld outputs differ from the x row's product alone", what,
          skim_type_name(t), (long long)differ);
    free(col);
    skim_context_destroy(ctx);
}

/* An AVX2 backend beside an AVX-512 one under test (else NULL): the AVX512_VNNI tiles form
 * the same integer sums and combine them in the same order, so their products must be the
 * AVX2 tiles' bits. */
static skim_backend *b_avx2, *b_port;

static void avx2_same(skim_graph *g, skim_tensor *xin, const float *x, skim_tensor *y,
                      const float *want, int64_t n, const char *what, skim_type t) {
    float *got = malloc(sizeof(float) * (size_t)n);
    if (b_avx2 && got && run_mm(b_avx2, g, xin, x, y, got)) {
        CHECK(memcmp(got, want, sizeof(float) * (size_t)n) == 0,
              "%s %s: the AVX2 and AVX-512 products differ", what, skim_type_name(t));
    }
    /* the K quants' plain C path is their rule's reference (fused steps too): the same
     * bits on every path */
    if (b_port && is_k(t) && got && run_mm(b_port, g, xin, x, y, got)) {
        CHECK(memcmp(got, want, sizeof(float) * (size_t)n) == 0,
              "%s %s: the plain C and SIMD products differ", what, skim_type_name(t));
    }
    free(got);
}

static void test_mul_mat(skim_backend *b1, skim_backend *b3, skim_type t, int64_t K, int64_t M,
                         int64_t N, trng *r, bool with_bad_blocks, bool big_sums) {
    char what[64];
    snprintf(what, sizeof what, "mul_mat K=%lld M=%lld N=%lld", (long long)K, (long long)M,
             (long long)N);
    const char *label = what;
    float *wf = malloc(sizeof(float) * (size_t)(K * M));
    float *x = malloc(sizeof(float) * (size_t)(K * N));
    float *y1 = malloc(sizeof(float) * (size_t)(M * N)), *y3 = malloc(sizeof(float) * (size_t)(M * N));
    size_t wrow = skim_row_size(t, K);
    uint8_t *w = malloc(wrow * (size_t)M);
    fill_uniform(r, wf, (size_t)(K * M), -1, 1);
    fill_uniform(r, x, (size_t)(K * N), -2, 2);
    if (big_sums) {
        /* weights of one sign at their super-block's largest (one per 32 at 0), x of one
         * sign: the K quants' int32 super-block sums pass 2^24 and round when turned to
         * float (the plain C path must round them as the SIMD tiles do) */
        for (int64_t i = 0; i < K * M; i++) wf[i] = i % 32 == 5 ? 0.0f : 1.0f - 0.001f * wf[i];
        for (int64_t i = 0; i < K * N; i++) x[i] = 1.0f + 0.001f * fabsf(x[i]);
    }
    for (int64_t i = 0; i < K * N && !big_sums; i += 97) x[i] *= 40.0f; /* outliers */
    for (int i = 0; i < 32 && K * N >= 64 && !big_sums; i++) x[32 + i] = 0.0f; /* zeros */
    if (with_bad_blocks) {
        x[K * (N > 1) + 3] = NAN;       /* x row 1 (or 0): a NaN */
        x[K * (N - 1) + 40] = INFINITY; /* the last x row: an infinity */
    }
    skim_quantize(t, wf, w, M, K);
    skim_context *ctx = NULL;
    CHECK_OK(skim_context_create(NULL, &ctx), label);
    skim_tensor *wt = skim_new_weight_2d(ctx, t, K, M, w);
    skim_tensor *xin = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
    skim_tensor *y = skim_mul_mat(ctx, wt, xin);
    skim_graph *g = NULL;
    CHECK_OK(skim_graph_build(ctx, &y, 1, &g), label);
    int bad = 0;
    if (g && run_mm(b1, g, xin, x, y, y1) && run_mm(b3, g, xin, x, y, y3)) {
        if (N <= QA_MAX_N) {
            compare(what, t, w, wrow, x, K, M, N, y1, NULL, &bad);
            if (N > 1) columns_alone(b3, t, w, K, M, N, x, y1, what);
            avx2_same(g, xin, x, y, y1, M * N, what, t);
        } else if (run_mm_flags(b1, g, xin, x, y, y3, 0)) {
            /* more than QA_MAX_N x rows: the flag steps aside, the product is the plain one */
            CHECK(memcmp(y1, y3, sizeof(float) * (size_t)(M * N)) == 0,
                  "%s %s: the flag changed a product of %lld x rows", what,
                  skim_type_name(t), (long long)N);
            run_mm(b3, g, xin, x, y, y3);
        }
        CHECK(memcmp(y1, y3, sizeof(float) * (size_t)(M * N)) == 0,
              "%s %s: 1 and 3 threads differ", what, skim_type_name(t));
    }
    skim_context_destroy(ctx);
    free(wf);
    free(x);
    free(y1);
    free(y3);
    free(w);
}

/* Contraction over the listed head blocks only (k ranges that start past 0), heads of blk
 * values. With Q4_K or Q6_K weights and heads that are not whole super-blocks the flag
 * steps aside: the results must equal a plan without it bit for bit. */
static void test_sel_k(skim_backend *be, skim_type t, int N, int blk, trng *r) {
    enum { H = 4, M = 24 };
    int K = H * blk;
    float *wf = malloc(sizeof(float) * (size_t)(K * M)), *x = malloc(sizeof(float) * (size_t)(K * N));
    float *y = malloc(sizeof(float) * (size_t)(M * N)), *y0 = malloc(sizeof(float) * (size_t)(M * N));
    size_t wrow = skim_row_size(t, K);
    uint8_t *w = malloc(wrow * M);
    fill_uniform(r, wf, (size_t)(K * M), -1, 1);
    fill_uniform(r, x, (size_t)(K * N), -1, 1);
    skim_quantize(t, wf, w, M, K);
    const float scores[H] = {0.1f, 0.9f, 0.2f, 0.7f}; /* heads 1 and 3 at tau 0.5 */
    skim_context *ctx = NULL;
    CHECK_OK(skim_context_create(NULL, &ctx), "sel_k");
    skim_tensor *wt = skim_new_weight_2d(ctx, t, K, M, w);
    skim_tensor *xin = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
    skim_tensor *sc = skim_new_input_1d(ctx, SKIM_TYPE_F32, H);
    skim_tensor *sel = skim_head_gate(ctx, sc, 0.5f);
    skim_tensor *yt = skim_mul_mat_sel_k(ctx, wt, xin, sel, blk);
    skim_graph *g = NULL;
    CHECK_OK(skim_graph_build(ctx, &yt, 1, &g), "sel_k");
    bool steps_aside = is_k(t) && blk % 256 != 0;
    for (int pass = 0; pass < 1 + steps_aside; pass++) {
        skim_plan_desc pd = {.flags = pass ? 0 : SKIM_PLAN_QUANTIZED_ACTIVATIONS};
        skim_plan *p = NULL;
        skim_status s = g ? skim_plan_create(be, g, &pd, &p) : SKIM_ERR_STATE;
        if (s == SKIM_OK) s = skim_plan_set_input(p, xin, x, sizeof(float) * (size_t)(K * N));
        if (s == SKIM_OK) s = skim_plan_set_input(p, sc, scores, sizeof scores);
        if (s == SKIM_OK) s = skim_plan_run(p);
        CHECK(s == SKIM_OK, "sel_k plan/run -> %s: %s", skim_status_str(s),
              p ? skim_plan_error(p) : "");
        if (s == SKIM_OK && read_f32(p, yt, pass ? y0 : y, "sel_k y") && !steps_aside) {
            bool *use = malloc(sizeof(bool) * (size_t)(K / 32));
            for (int b = 0; b < K / 32; b++) use[b] = scores[b * 32 / blk] >= 0.5f;
            int bad = 0;
            compare("mul_mat_sel_k", t, w, wrow, x, K, M, N, y, use, &bad);
            free(use);
        }
        skim_plan_destroy(p);
    }
    if (steps_aside)
        CHECK(memcmp(y, y0, sizeof(float) * (size_t)(M * N)) == 0,
              "mul_mat_sel_k %s heads of %d: the flag changed the product", skim_type_name(t), blk);
    skim_context_destroy(ctx);
    free(wf);
    free(x);
    free(y);
    free(y0);
    free(w);
}

static void test_flags_refused(skim_backend *be) {
    skim_context *ctx = NULL;
    CHECK_OK(skim_context_create(NULL, &ctx), "flags");
    skim_tensor *x = skim_new_input_1d(ctx, SKIM_TYPE_F32, 8);
    skim_tensor *y = skim_scale(ctx, x, 2.0f);
    skim_graph *g = NULL;
    CHECK_OK(skim_graph_build(ctx, &y, 1, &g), "flags");
    skim_plan_desc pd = {.flags = 1u << 7};
    skim_plan *p = (skim_plan *)&pd; /* must stay untouched */
    skim_status s = skim_plan_create(be, g, &pd, &p);
    CHECK(s == SKIM_ERR_INVALID_ARG, "unknown flag 0x80 -> %s", skim_status_str(s));
    CHECK(p == (skim_plan *)&pd, "a refused plan_create wrote out_plan");
    CHECK(strstr(skim_backend_error(be), "flags") != NULL, "message '%s' does not name the flags",
          skim_backend_error(be));
    skim_context_destroy(ctx);
}

int main(void) {
    skim_backend *b1 = cpu(1), *b3 = cpu(3);
    if (!b1 || !b3) {
        printf("FAILED: no backend\n");
        return 1;
    }
    if (strstr(skim_backend_device(b1), "avx512")) {
        skim_cpu_desc d = {0};
        d.n_threads = 1;
        d.max_isa = SKIM_CPU_ISA_AVX2;
        CHECK(skim_backend_create_cpu(&d, &b_avx2) == SKIM_OK, "an AVX2 cpu backend");
    }
    if (!strstr(skim_backend_device(b1), "portable")) {
        skim_cpu_desc d = {0};
        d.n_threads = 1;
        d.max_isa = SKIM_CPU_ISA_PORTABLE;
        CHECK(skim_backend_create_cpu(&d, &b_port) == SKIM_OK, "a plain C cpu backend");
    }
    trng r;
    trng_seed(&r, 31);
    const skim_type types[2] = {SKIM_TYPE_Q8_0, SKIM_TYPE_Q4_0};
    for (int i = 0; i < 2; i++) {
        skim_type t = types[i];
        test_mul_mat(b1, b3, t, 64, 7, 1, &r, false, false);
        test_mul_mat(b1, b3, t, 1024, 37, 1, &r, false, false);
        test_mul_mat(b1, b3, t, 4096, 21, 1, &r, false, false); /* odd and even block counts */
        test_mul_mat(b1, b3, t, 4064, 9, 1, &r, false, false);
        test_mul_mat(b1, b3, t, 96, 5, 1, &r, true, false);
        test_mul_mat(b1, b3, t, 96, 5, 3, &r, true, false);
        /* several x rows: tiles of 4, 3, 2 and 1 x rows, odd and even block counts, w rows
         * not a multiple of 8 */
        test_mul_mat(b1, b3, t, 4064, 21, 2, &r, false, false);
        test_mul_mat(b1, b3, t, 4096, 19, 4, &r, false, false);
        test_mul_mat(b1, b3, t, 160, 37, 5, &r, true, false);
        test_mul_mat(b1, b3, t, 1056, 40, 7, &r, false, false);
        test_mul_mat(b1, b3, t, 224, 45, 16, &r, true, false);
        test_mul_mat(b1, b3, t, 4064, 17, 16, &r, false, false);
        test_mul_mat(b1, b3, t, 256, 33, 17, &r, true, false);
        test_mul_mat(b1, b3, t, 128, 9, 50, &r, false, false); /* two x panels */
        test_mul_mat(b1, b3, t, 4096, 11, QA_MAX_N, &r, false, false);
        test_mul_mat(b1, b3, t, 256, 9, QA_MAX_N + 1, &r, true, false); /* the plain product */
        test_sel_k(b1, t, 1, 64, &r);
        test_sel_k(b1, t, 5, 64, &r);
    }
    /* the K quants: super-blocks of 256, one and several x rows (tiles of 4, 3, 2, 1), w
     * rows not a multiple of 8, super-blocks that are not finite, sums past 2^24 */
    const skim_type ktypes[2] = {SKIM_TYPE_Q4_K, SKIM_TYPE_Q6_K};
    for (int i = 0; i < 2; i++) {
        skim_type t = ktypes[i];
        test_mul_mat(b1, b3, t, 256, 7, 1, &r, false, false);
        test_mul_mat(b1, b3, t, 4096, 21, 1, &r, false, false);
        test_mul_mat(b1, b3, t, 768, 9, 1, &r, true, false);
        test_mul_mat(b1, b3, t, 512, 5, 3, &r, true, false);
        test_mul_mat(b1, b3, t, 2048, 21, 2, &r, false, false);
        test_mul_mat(b1, b3, t, 4096, 19, 4, &r, false, false);
        test_mul_mat(b1, b3, t, 1280, 37, 5, &r, true, false);
        test_mul_mat(b1, b3, t, 1024, 40, 7, &r, false, false);
        test_mul_mat(b1, b3, t, 768, 45, 16, &r, true, false);
        test_mul_mat(b1, b3, t, 256, 33, 17, &r, true, false);
        test_mul_mat(b1, b3, t, 256, 9, 50, &r, false, false);
        test_mul_mat(b1, b3, t, 2048, 11, QA_MAX_N, &r, false, false);
        test_mul_mat(b1, b3, t, 256, 9, QA_MAX_N + 1, &r, true, false); /* the plain product */
        test_mul_mat(b1, b3, t, 2048, 19, 1, &r, false, true);
        test_mul_mat(b1, b3, t, 1024, 9, 3, &r, false, true);
        test_sel_k(b1, t, 1, 256, &r);
        test_sel_k(b1, t, 5, 256, &r);
        test_sel_k(b1, t, 3, 64, &r); /* heads inside super-blocks: exact */
    }
    test_flags_refused(b1);
    skim_backend_destroy(b1);
    skim_backend_destroy(b3);
    if (b_avx2) skim_backend_destroy(b_avx2);
    if (b_port) skim_backend_destroy(b_port);
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures != 0;
}
