/* test_threads.c - results of the CPU backend do not depend on its thread count: the
 * gated stacks of test_property and large matrix products, each on 1 and 3 threads, in
 * both plan modes, compared bit for bit. Then two plans of one graph, on two backends,
 * run concurrently on two application threads (separate plans may run on separate
 * threads) and must give the same bytes as a plan run alone. soft_max and attention's
 * softmax also give the same bytes on the portable path. */
#include "gated_stack.h"

#include "skim-cpu.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static skim_backend *cpu(int n_threads) { return test_cpu_backend(n_threads); }

/* Runs g on both backends with `set` uploading inputs; compares outputs bytewise. */
typedef skim_status (*set_fn)(const void *user, skim_plan *p);

static void compare(skim_backend *b1, skim_backend *b3, skim_graph *g, set_fn set,
                    const void *user, skim_tensor *const *outs, int n_outs, const char *what) {
    for (int mode = 0; mode < 2; mode++) {
        skim_plan_desc pd = {0};
        pd.mode = (skim_plan_mode)mode;
        skim_plan *p1 = NULL, *p3 = NULL;
        skim_status s1 = skim_plan_create(b1, g, &pd, &p1);
        skim_status s3 = skim_plan_create(b3, g, &pd, &p3);
        if (s1 == SKIM_OK) s1 = set(user, p1);
        if (s3 == SKIM_OK) s3 = set(user, p3);
        if (s1 == SKIM_OK) s1 = skim_plan_run(p1);
        if (s3 == SKIM_OK) s3 = skim_plan_run(p3);
        if (s1 != SKIM_OK || s3 != SKIM_OK) {
            t_fail(__FILE__, __LINE__, "%s mode %d: plan/run -> %s / %s: %s %s", what, mode,
                   skim_status_str(s1), skim_status_str(s3), p1 ? skim_plan_error(p1) : "",
                   p3 ? skim_plan_error(p3) : "");
        } else {
            for (int i = 0; i < n_outs; i++) {
                size_t nb = skim_tensor_nbytes(outs[i]);
                void *a = malloc(nb), *b = malloc(nb);
                if (skim_plan_get_output(p1, outs[i], a, nb) != SKIM_OK ||
                    skim_plan_get_output(p3, outs[i], b, nb) != SKIM_OK)
                    t_fail(__FILE__, __LINE__, "%s mode %d: get_output %d failed", what, mode, i);
                else
                    CHECK(memcmp(a, b, nb) == 0, "%s mode %d: output %d differs between 1 and 3 threads",
                          what, mode, i);
                free(a);
                free(b);
            }
        }
        skim_plan_destroy(p1);
        skim_plan_destroy(p3);
    }
}

static skim_status set_gs(const void *user, skim_plan *p) { return gs_set_inputs(user, p); }

typedef struct mm_inputs {
    skim_tensor *x;
    float *data;
} mm_inputs;

static skim_status set_mm(const void *user, skim_plan *p) {
    const mm_inputs *in = user;
    return skim_plan_set_input(p, in->x, in->data, skim_tensor_nbytes(in->x));
}

typedef struct worker {
    const gs_model *m;
    skim_backend *be;
    const void *want; /* the last layer's output of a plan run alone */
    size_t size;
    int bad;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    skim_plan *p = NULL;
    const skim_tensor *out = w->m->layers[w->m->cfg.n_layer - 1].x_out;
    void *got = malloc(w->size);
    if (!got || skim_plan_create(w->be, w->m->graph, NULL, &p) != SKIM_OK || gs_set_inputs(w->m, p) != SKIM_OK) {
        w->bad = -1;
    } else {
        for (int i = 0; i < 25; i++)
            if (skim_plan_run(p) != SKIM_OK || skim_plan_get_output(p, out, got, w->size) != SKIM_OK ||
                memcmp(got, w->want, w->size) != 0)
                w->bad++;
    }
    skim_plan_destroy(p);
    free(got);
    return NULL;
}

static void concurrent_plans(trng *r) {
    gs_config cfg;
    gs_random_config(r, &cfg);
    cfg.n_tok = 48;
    gs_model m;
    if (gs_build(&m, &cfg, r) != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "concurrent: build: %s", skim_context_error(m.ctx));
        gs_free(&m);
        return;
    }
    const skim_tensor *out = m.layers[cfg.n_layer - 1].x_out;
    size_t size = skim_tensor_nbytes(out);
    void *want = malloc(size);
    skim_backend *b0 = cpu(1), *ba = cpu(2), *bb = cpu(1);
    skim_plan *p = NULL;
    if (b0 && ba && bb && want && skim_plan_create(b0, m.graph, NULL, &p) == SKIM_OK &&
        gs_set_inputs(&m, p) == SKIM_OK && skim_plan_run(p) == SKIM_OK &&
        skim_plan_get_output(p, out, want, size) == SKIM_OK) {
        worker w[2] = {{&m, ba, want, size, 0}, {&m, bb, want, size, 0}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, work, &w[i]);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < 2; i++)
            CHECK(w[i].bad == 0, "concurrent plan %d: %d of 25 runs failed or differed", i, w[i].bad);
    } else {
        t_fail(__FILE__, __LINE__, "concurrent: the reference run failed");
    }
    skim_plan_destroy(p);
    skim_backend_destroy(b0);
    skim_backend_destroy(ba);
    skim_backend_destroy(bb);
    free(want);
    gs_free(&m);
}

/* The decode-shaped products (up to 8 x rows, w decoded in registers) give the bits of
 * the wider products' tiles: y of x[:, 0] and of x[:, 3..4] equal columns of y of x[K, 50]
 * (past the small-N tiles), on 1 and 3 threads, for M not a multiple of 4 or 8. */
static void columns_agree(skim_backend *b1, skim_backend *b3, trng *r) {
    static const skim_type types[] = {SKIM_TYPE_F32,  SKIM_TYPE_F16,  SKIM_TYPE_Q8_0,
                                      SKIM_TYPE_Q4_0, SKIM_TYPE_Q4_K, SKIM_TYPE_Q6_K};
    enum { K = 1024, M = 203, N = 50 };
    float *w = malloc((size_t)K * M * sizeof(float)), *x = malloc((size_t)K * N * sizeof(float));
    float *y5 = malloc((size_t)M * N * sizeof(float)), *y1 = malloc((size_t)M * 3 * sizeof(float));
    void *q = malloc(skim_row_size(SKIM_TYPE_F32, K) * M);
    if (!w || !x || !y5 || !y1 || !q) {
        t_fail(__FILE__, __LINE__, "columns: out of memory");
        free(w), free(x), free(y5), free(y1), free(q);
        return;
    }
    fill_uniform(r, w, (size_t)K * M, -1, 1);
    fill_uniform(r, x, (size_t)K * N, -1, 1);
    for (int ti = 0; ti < 6; ti++) {
        skim_quantize(types[ti], w, q, M, K);
        skim_context *ctx = NULL;
        if (skim_context_create(NULL, &ctx) != SKIM_OK) break;
        skim_tensor *tw = skim_new_weight_2d(ctx, types[ti], K, M, q);
        skim_tensor *x5 = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
        skim_tensor *x1 = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, 1);
        skim_tensor *x2 = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, 2);
        skim_tensor *outs[3] = {skim_mul_mat(ctx, tw, x5), skim_mul_mat(ctx, tw, x1),
                                skim_mul_mat(ctx, tw, x2)};
        skim_graph *g = NULL;
        CHECK(skim_graph_build(ctx, outs, 3, &g) == SKIM_OK, "columns: build: %s", skim_context_error(ctx));
        for (int bi = 0; g && bi < 2; bi++) {
            skim_plan *p = NULL;
            skim_status s = skim_plan_create(bi ? b3 : b1, g, NULL, &p);
            if (s == SKIM_OK) s = skim_plan_set_input(p, x5, x, (size_t)K * N * sizeof(float));
            if (s == SKIM_OK) s = skim_plan_set_input(p, x1, x, (size_t)K * sizeof(float));
            if (s == SKIM_OK) s = skim_plan_set_input(p, x2, x + 3 * K, (size_t)K * 2 * sizeof(float));
            if (s == SKIM_OK) s = skim_plan_run(p);
            if (s == SKIM_OK) s = skim_plan_get_output(p, outs[0], y5, (size_t)M * N * sizeof(float));
            if (s == SKIM_OK) s = skim_plan_get_output(p, outs[1], y1, (size_t)M * sizeof(float));
            if (s == SKIM_OK) s = skim_plan_get_output(p, outs[2], y1 + M, (size_t)M * 2 * sizeof(float));
            CHECK(s == SKIM_OK, "columns %s: run -> %s", skim_type_name(types[ti]), skim_status_str(s));
            if (s == SKIM_OK) {
                CHECK(memcmp(y1, y5, (size_t)M * sizeof(float)) == 0,
                      "columns %s, %d thread(s): y of one x row differs from column 0 of y of 50",
                      skim_type_name(types[ti]), bi ? 3 : 1);
                CHECK(memcmp(y1 + M, y5 + 3 * M, (size_t)M * 2 * sizeof(float)) == 0,
                      "columns %s, %d thread(s): y of two x rows differs from columns 3-4 of y of 50",
                      skim_type_name(types[ti]), bi ? 3 : 1);
            }
            skim_plan_destroy(p);
        }
        skim_context_destroy(ctx);
    }
    free(w), free(x), free(y5), free(y1), free(q);
}

/* Weight blocks with an infinite or NaN scale: the AVX-512 tiles give the AVX2 tiles' bits
 * there too (infinities where a product's weight is an infinity, NaN where it is 0 times
 * one), for 1-9 x rows (8 and 9: Q8_0 and Q4_0 take the k-blocked tiles there; Q4_K's
 * table lookups from 1 to 4, its k-blocked tiles above, against the AVX2 small-N tiles and
 * the core's panels). Run only where the best backend is an AVX-512 one. */
static void scales_nonfinite(skim_backend *b1, trng *r) {
    if (!strstr(skim_backend_device(b1), "avx512")) return;
    skim_cpu_desc d = {0};
    d.n_threads = 1;
    d.max_isa = SKIM_CPU_ISA_AVX2;
    skim_backend *b2 = NULL;
    if (skim_backend_create_cpu(&d, &b2) != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "scales: an AVX2 cpu backend");
        return;
    }
    static const skim_type types[] = {SKIM_TYPE_Q8_0, SKIM_TYPE_Q4_0, SKIM_TYPE_Q4_K};
    static const uint16_t bad[3] = {0x7c00, 0xfc00, 0x7e00}; /* +inf, -inf, NaN (f16) */
    enum { K = 256, M = 19, NMAX = 9 };
    float w[K * M], x[K * NMAX], y[2][M * NMAX];
    for (int ti = 0; ti < 3; ti++) {
        skim_type t = types[ti];
        size_t wrow = skim_row_size(t, K), bb = skim_type_block_bytes(t);
        uint8_t *q = malloc(wrow * M);
        if (!q) break;
        fill_uniform(r, w, (size_t)K * M, -1, 1);
        fill_uniform(r, x, (size_t)K * NMAX, 0.25, 1);
        skim_quantize(t, w, q, M, K);
        for (int i = 0; i < 6; i++) { /* rows 3, 6, 9, ...: one block each, its values 2 or 5
                                        (x > 0: the dot is an infinity, not NaN; Q4_K: d of
                                        the values 25 d - dmin * 5 and 0 d, so NaN too) */
            int64_t nblk = K / skim_type_block_size(t);
            uint8_t *blk = q + (size_t)(3 + 3 * i) * wrow + (size_t)(i % nblk) * bb;
            memcpy(blk, &bad[i % 3], 2);
            memset(blk + 2, t == SKIM_TYPE_Q4_0 ? 0xaa : 0x05, bb - 2);
        }
        for (int64_t N = 1; N <= NMAX; N++) {
            skim_context *ctx = NULL;
            if (skim_context_create(NULL, &ctx) != SKIM_OK) break;
            skim_tensor *tw = skim_new_weight_2d(ctx, t, K, M, q);
            skim_tensor *tx = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
            skim_tensor *ty = skim_mul_mat(ctx, tw, tx);
            skim_graph *g = NULL;
            skim_status s = skim_graph_build(ctx, &ty, 1, &g);
            for (int bi = 0; s == SKIM_OK && bi < 2; bi++) {
                skim_plan *p = NULL;
                s = skim_plan_create(bi ? b2 : b1, g, NULL, &p);
                if (s == SKIM_OK) s = skim_plan_set_input(p, tx, x, (size_t)(K * N) * sizeof(float));
                if (s == SKIM_OK) s = skim_plan_run(p);
                if (s == SKIM_OK) s = skim_plan_get_output(p, ty, y[bi], (size_t)(M * N) * sizeof(float));
                skim_plan_destroy(p);
            }
            CHECK(s == SKIM_OK, "scales %s N=%lld: run -> %s", skim_type_name(t), (long long)N,
                  skim_status_str(s));
            int nonfinite = 0;
            for (int64_t i = 0; i < M * N; i++) nonfinite += !isfinite(y[0][i]);
            CHECK(s != SKIM_OK || memcmp(y[0], y[1], (size_t)(M * N) * sizeof(float)) == 0,
                  "scales %s N=%lld: the AVX-512 and AVX2 products differ", skim_type_name(t),
                  (long long)N);
            CHECK(s != SKIM_OK || nonfinite >= 6 * (int)N, "scales %s N=%lld: %d outputs not finite, want 6 per x row",
                  skim_type_name(t), (long long)N, nonfinite);
            skim_context_destroy(ctx);
        }
        free(q);
    }
    skim_backend_destroy(b2);
}

/* fma(a, b, c) rounded once to float, not from the C library (mingw-w64's fmaf rounds
 * otherwise): a * b is exact in double; the double sum s and its error e (two-sum) give the
 * exact sum s + e; where e is not 0 and s's last bit is even, the double next to s towards
 * the exact sum (round to odd) rounds to float as the exact sum does. */
static float ref_fmaf(float a, float b, float c) {
    double p = (double)a * b, s = p + c;
    if (!isfinite(s)) {
        return (float)s;
    }
    double t = s - p, e = (p - (s - t)) + (c - t);
    double m = frexp(s, &(int){0}) * 9007199254740992.0; /* s's 53-bit significand */
    if (e != 0.0 && fmod(m, 2.0) == 0.0) {
        s = nextafter(s, e > 0.0 ? INFINITY : -INFINITY);
    }
    return (float)s;
}

/* dot(w, x) in the order the matmul core states (matmul.c): lane l sums k = l mod 8 over
 * the first floor(K/8)*8 values, the lanes reduce as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)),
 * then the tail is added in order. fused: each lane step is one fused multiply-add (the
 * AVX2 and NEON paths); else a rounded product, then a rounded sum (the portable path). */
static float order_dot(const float *w, const float *x, int64_t K, int fused) {
    float a[8] = {0};
    int64_t K8 = K & ~(int64_t)7;
    for (int64_t k = 0; k < K8; k++) {
        volatile float prod = w[k] * x[k];
        a[k % 8] = fused ? ref_fmaf(w[k], x[k], a[k % 8]) : a[k % 8] + prod;
    }
    float t = 0.0f;
    for (int64_t k = K8; k < K; k++) {
        volatile float prod = w[k] * x[k];
        t = t + prod;
    }
    return (((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))) + t;
}

/* F32, F16, Q8_0 and Q4_0 products (the small-N tiles: 1-4 x rows per group, 8, 4 or 2 w rows,
 * short tiles; the k-blocked tiles: chunks of 256 values, a short last chunk or none
 * (K = 1024), groups of 32 or 16 w rows and 48 x rows, short panels; with AVX-512 x rows
 * in pairs, 25 leaving the last pair half used and a tile of 1 pair, 16 a tile of 2) give
 * exactly order_dot's bits, fused or not, every output the same way. (K a multiple of 8:
 * a tail's sum may be contracted by the compiler.) Q4_K and Q6_K (whole super-blocks of
 * 256: one or more; the small-N tiles up to 8 x rows, the k-blocked tiles from 9, a chunk
 * being one super-block) likewise, against skim_dequantize's floats. */
static void order_exact(skim_backend *b1, skim_backend *b3, trng *r) {
    static const int64_t Ks[] = {32, 544, 1056, 1024}, Kks[] = {256, 512, 1024, 1280};
    static const int64_t Ns[] = {1, 2, 3, 4, 5, 8, 9, 16, 25, 50};
    enum { M = 37 };
    static const skim_type types[] = {SKIM_TYPE_F32,  SKIM_TYPE_F16,  SKIM_TYPE_Q8_0,
                                      SKIM_TYPE_Q4_0, SKIM_TYPE_Q4_K, SKIM_TYPE_Q6_K};
    for (int ti = 0; ti < 6; ti++) {
        skim_type t = types[ti];
        bool kq = skim_type_block_size(t) == 256;
        for (int ki = 0; ki < 4; ki++) {
            for (int ni = 0; ni < 10; ni++) {
                int64_t K = kq ? Kks[ki] : Ks[ki], N = Ns[ni];
                float *w = malloc((size_t)(K * M) * sizeof(float));
                float *x = malloc((size_t)(K * N) * sizeof(float));
                float *y = malloc((size_t)(M * N) * sizeof(float));
                void *q = malloc(skim_row_size(t, K) * M);
                skim_context *ctx = NULL;
                if (!w || !x || !y || !q || skim_context_create(NULL, &ctx) != SKIM_OK) {
                    t_fail(__FILE__, __LINE__, "order: out of memory");
                    free(w), free(x), free(y), free(q);
                    return;
                }
                fill_uniform(r, w, (size_t)(K * M), -1, 1);
                fill_uniform(r, x, (size_t)(K * N), -1, 1);
                skim_quantize(t, w, q, M, K);
                CHECK(skim_dequantize(t, q, w, K * M), "order: dequantize");
                skim_tensor *tw = skim_new_weight_2d(ctx, t, K, M, q);
                skim_tensor *tx = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
                skim_tensor *ty = skim_mul_mat(ctx, tw, tx);
                skim_graph *g = NULL;
                CHECK(skim_graph_build(ctx, &ty, 1, &g) == SKIM_OK, "order: build: %s", skim_context_error(ctx));
                for (int bi = 0; g && bi < 2; bi++) {
                    skim_plan *p = NULL;
                    skim_status s = skim_plan_create(bi ? b3 : b1, g, NULL, &p);
                    if (s == SKIM_OK) s = skim_plan_set_input(p, tx, x, (size_t)(K * N) * sizeof(float));
                    if (s == SKIM_OK) s = skim_plan_run(p);
                    if (s == SKIM_OK) s = skim_plan_get_output(p, ty, y, (size_t)(M * N) * sizeof(float));
                    CHECK(s == SKIM_OK, "order: run -> %s", skim_status_str(s));
                    int bad[2] = {0, 0};
                    for (int64_t n = 0; s == SKIM_OK && n < N; n++) {
                        for (int64_t m = 0; m < M; m++) {
                            for (int f = 0; f < 2; f++) {
                                float want = order_dot(w + m * K, x + n * K, K, f);
                                bad[f] += memcmp(&want, &y[n * M + m], sizeof want) != 0;
                            }
                        }
                    }
                    CHECK(s != SKIM_OK || bad[0] == 0 || bad[1] == 0,
                          "order %s K=%lld N=%lld, %d thread(s): %d outputs differ from the fused order, %d from the unfused",
                          skim_type_name(t), (long long)K, (long long)N, bi ? 3 : 1, bad[1], bad[0]);
                    skim_plan_destroy(p);
                }
                skim_context_destroy(ctx);
                free(w), free(x), free(y), free(q);
            }
        }
    }
}

/* soft_max and attention's softmax give the same bits with the build's best SIMD path as
 * with the portable one: their exponential is one function with a vector twin. The
 * attention inputs keep every other step the same on every path (small integer q and k
 * make exact dot products, the scale is one rounding, V values 0, 0.5, 1 and 2 make exact
 * products), so only the exponential could make them differ. */
static void isa_agree(skim_backend *b1, trng *r) {
    skim_cpu_desc d = {0};
    d.n_threads = 1;
    d.max_isa = SKIM_CPU_ISA_PORTABLE;
    skim_backend *bp = NULL;
    if (skim_backend_create_cpu(&d, &bp) != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "portable cpu backend");
        return;
    }
    enum { SN = 4099, SR = 6, HD = 16, NH = 4, NKVH = 2, NQ = 3, NK = 37 };
    float *x = malloc(sizeof(float) * SN * SR), *mk = malloc(sizeof(float) * SN);
    float q[HD * NH * NQ], k[HD * NKVH * NK], v[HD * NKVH * NK];
    int32_t qpos[NQ];
    fill_uniform(r, x, SN * SR, -30, 30);
    fill_uniform(r, mk, SN, -2, 2);
    for (int i = 0; i < SN * SR; i += 13) x[i] = -INFINITY;
    for (int i = 0; i < SN; i++) x[SN + i] = -100.0f + 0.05f * (float)i; /* down to 0 */
    for (int i = 0; i < HD * NH * NQ; i++) q[i] = (float)trng_int(r, -3, 3);
    for (int i = 0; i < HD * NKVH * NK; i++) {
        k[i] = (float)trng_int(r, -3, 3);
        v[i] = 0.5f * (float)(1 << trng_int(r, 0, 2)) * (float)trng_int(r, 0, 1);
    }
    for (int i = 0; i < NQ; i++) qpos[i] = NK - NQ + i;
    skim_context *ctx = NULL;
    if (skim_context_create(NULL, &ctx) != SKIM_OK) return;
    int64_t qe[3] = {HD, NH, NQ}, ke[3] = {HD, NKVH, NK}, pe[1] = {NQ};
    skim_attn_desc ad = {0};
    ad.q = skim_new_weight(ctx, SKIM_TYPE_F32, 3, qe, q);
    ad.k = skim_new_weight(ctx, SKIM_TYPE_F32, 3, ke, k);
    ad.v = skim_new_weight(ctx, SKIM_TYPE_F32, 3, ke, v);
    ad.q_pos = skim_new_weight(ctx, SKIM_TYPE_I32, 1, pe, qpos);
    ad.scale = 0.3f;
    skim_tensor *a16 = skim_attn(ctx, &ad);
    /* head dimension 8 (its own AVX2 score kernel), 37 keys: 4 steps of 8 and a tail */
    int64_t qe8[3] = {8, NH, NQ}, ke8[3] = {8, NKVH, NK};
    ad.q = skim_new_weight(ctx, SKIM_TYPE_F32, 3, qe8, q);
    ad.k = skim_new_weight(ctx, SKIM_TYPE_F32, 3, ke8, k);
    ad.v = skim_new_weight(ctx, SKIM_TYPE_F32, 3, ke8, v);
    skim_tensor *outs[3] = {
        skim_soft_max(ctx, skim_new_weight_2d(ctx, SKIM_TYPE_F32, SN, SR, x),
                      skim_new_weight_2d(ctx, SKIM_TYPE_F32, SN, 1, mk), 0.7f),
        a16, skim_attn(ctx, &ad)};
    skim_graph *g = NULL;
    skim_status s = skim_graph_build(ctx, outs, 3, &g);
    skim_plan *p1 = NULL, *pp = NULL;
    if (s == SKIM_OK) s = skim_plan_create(b1, g, NULL, &p1);
    if (s == SKIM_OK) s = skim_plan_create(bp, g, NULL, &pp);
    if (s == SKIM_OK) s = skim_plan_run(p1);
    if (s == SKIM_OK) s = skim_plan_run(pp);
    CHECK(s == SKIM_OK, "isa_agree: build/plan/run -> %s: %s", skim_status_str(s),
          skim_context_error(ctx));
    static const char *const names[3] = {"soft_max", "attn hd 16", "attn hd 8"};
    for (int o = 0; s == SKIM_OK && o < 3; o++) {
        size_t nb = skim_tensor_nbytes(outs[o]);
        float *a = malloc(nb), *b = malloc(nb);
        if (skim_plan_get_output(p1, outs[o], a, nb) != SKIM_OK ||
            skim_plan_get_output(pp, outs[o], b, nb) != SKIM_OK) {
            t_fail(__FILE__, __LINE__, "isa_agree: get_output %s", names[o]);
        } else {
            size_t n = nb / sizeof(float), diff = 0, finite = 0;
            for (size_t i = 0; i < n; i++) {
                diff += memcmp(&a[i], &b[i], sizeof(float)) != 0;
                finite += a[i] > 0.0f && a[i] < 1e30f;
            }
            CHECK(diff == 0, "isa_agree %s: %zu of %zu outputs differ from the portable path",
                  names[o], diff, n);
            CHECK(finite > n / 4, "isa_agree %s: only %zu of %zu outputs positive", names[o],
                  finite, n);
        }
        free(a);
        free(b);
    }
    skim_plan_destroy(p1);
    skim_plan_destroy(pp);
    skim_context_destroy(ctx);
    skim_backend_destroy(bp);
    free(x);
    free(mk);
}

int main(void) {
    skim_backend *b1 = cpu(1), *b3 = cpu(3);
    if (!b1 || !b3) return 1;
    trng r;
    trng_seed(&r, 77);
    for (int seed = 0; seed < 12; seed++) {
        gs_config cfg;
        gs_random_config(&r, &cfg);
        if (seed < 3) cfg.n_tok = 64; /* enough rows to split across threads */
        gs_model m;
        skim_status s = gs_build(&m, &cfg, &r);
        char what[64];
        snprintf(what, sizeof what, "gated stack %d", seed);
        if (s != SKIM_OK) {
            t_fail(__FILE__, __LINE__, "%s: build -> %s: %s", what, skim_status_str(s),
                   skim_context_error(m.ctx));
        } else {
            skim_tensor *outs[GS_MAX_LAYERS];
            for (int l = 0; l < cfg.n_layer; l++) outs[l] = m.layers[l].x_out;
            compare(b1, b3, m.graph, set_gs, &m, outs, cfg.n_layer, what);
        }
        gs_free(&m);
    }
    static const skim_type types[] = {SKIM_TYPE_F32, SKIM_TYPE_F16, SKIM_TYPE_Q8_0, SKIM_TYPE_Q4_0};
    for (int ti = 0; ti < 4; ti++) {
        int64_t K = 512, M = 384, N = 37;
        skim_context *ctx = NULL;
        if (skim_context_create(NULL, &ctx) != SKIM_OK) return 1;
        float *w = malloc((size_t)(K * M) * sizeof(float));
        void *q = malloc(skim_row_size(types[ti], K) * (size_t)M);
        mm_inputs in;
        in.data = malloc((size_t)(K * N) * sizeof(float));
        fill_uniform(&r, w, (size_t)(K * M), -1, 1);
        fill_uniform(&r, in.data, (size_t)(K * N), -1, 1);
        skim_quantize(types[ti], w, q, M, K);
        skim_tensor *tw = skim_new_weight_2d(ctx, types[ti], K, M, q);
        in.x = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
        skim_tensor *y = skim_mul_mat(ctx, tw, in.x);
        skim_tensor *z = skim_soft_max(ctx, skim_rms_norm(ctx, y, 1e-5f), NULL, 1.0f);
        skim_tensor *outs[2] = {y, z};
        skim_graph *g = NULL;
        char what[64];
        snprintf(what, sizeof what, "mul_mat %s [%lld,%lld]x[%lld,%lld]", skim_type_name(types[ti]),
                 (long long)K, (long long)M, (long long)K, (long long)N);
        skim_status s = skim_graph_build(ctx, outs, 2, &g);
        if (s != SKIM_OK)
            t_fail(__FILE__, __LINE__, "%s: build -> %s: %s", what, skim_status_str(s),
                   skim_context_error(ctx));
        else
            compare(b1, b3, g, set_mm, &in, outs, 2, what);
        skim_context_destroy(ctx);
        free(w);
        free(q);
        free(in.data);
    }
    columns_agree(b1, b3, &r);
    isa_agree(b1, &r);
    scales_nonfinite(b1, &r);
    order_exact(b1, b3, &r);
    skim_backend_destroy(b1);
    skim_backend_destroy(b3);
    for (int i = 0; i < 3; i++) concurrent_plans(&r);
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures != 0;
}
