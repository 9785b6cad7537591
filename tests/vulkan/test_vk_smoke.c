/* test_vk_smoke.c - the Vulkan backend against values computed here in double precision:
 * elementwise, norms, soft_max, mul_mat for F32/F16/Q8_0/Q4_0 weights, a token-halt /
 * get_rows_sel / scatter_add_sel chain resolved on the GPU with indirect dispatches, the
 * recording/submit counts, the pipeline cache, and failure paths (bad device index, a
 * tensor past maxStorageBufferRange) that leave Vulkan and the CPU backend usable.
 * Validation on; any validation message fails. Exits 77 (SKIP) without a Vulkan device. */
#define _POSIX_C_SOURCE 200809L
#include "skim-cpu.h"
#include "skim-vulkan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

skim_status test_vulkan_create(skim_backend **out);

static int failures;
#define EXPECT(c, ...) do { if (!(c)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)

static uint32_t rng = 12345u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static double nmse(const float *o, const double *r, size_t n) {
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        e += (o[i] - r[i]) * (o[i] - r[i]);
        s += r[i] * r[i];
    }
    return s > 0 ? e / s : e;
}

/* Builds, plans and runs a one-output graph with input x; returns the output in out. */
static int run1(skim_backend *be, skim_context *ctx, skim_tensor *x, const float *xd,
                skim_tensor *y, float *out, skim_plan **keep) {
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    skim_status s = skim_graph_build(ctx, &y, 1, &g);
    if (s != SKIM_OK) { printf("build: %s %s\n", skim_status_str(s), skim_context_error(ctx)); return 1; }
    s = skim_plan_create(be, g, NULL, &p);
    if (s != SKIM_OK) { printf("plan: %s %s\n", skim_status_str(s), skim_backend_error(be)); return 1; }
    if (x) skim_plan_set_input(p, x, xd, skim_tensor_nbytes(x));
    s = skim_plan_run(p);
    if (s == SKIM_OK) s = skim_plan_get_output(p, y, out, skim_tensor_nbytes(y));
    if (s != SKIM_OK) { printf("run: %s %s\n", skim_status_str(s), skim_plan_error(p)); }
    if (keep) *keep = p; else skim_plan_destroy(p);
    return s != SKIM_OK;
}

static void test_elementwise(skim_backend *be) {
    enum { N0 = 37, N1 = 5 };
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    float a[N0 * N1], b[N0], out[N0 * N1];
    double ref[N0 * N1];
    for (int i = 0; i < N0 * N1; i++) a[i] = frand();
    for (int i = 0; i < N0; i++) b[i] = frand();
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, N0, N1);
    skim_tensor *w = skim_new_weight_2d(ctx, SKIM_TYPE_F32, N0, 1, b);
    skim_tensor *y = skim_silu(ctx, skim_add(ctx, skim_scale(ctx, x, 0.5f), w));
    EXPECT(!run1(be, ctx, x, a, y, out, NULL), "silu(add(scale))");
    for (int i = 0; i < N0 * N1; i++) {
        double v = 0.5 * a[i] + b[i % N0];
        ref[i] = v / (1 + exp(-v));
    }
    EXPECT(nmse(out, ref, N0 * N1) < 1e-10, "eltwise nmse %g", nmse(out, ref, N0 * N1));
    skim_context_destroy(ctx);

    skim_context_create(NULL, &ctx);
    x = skim_new_input_2d(ctx, SKIM_TYPE_F32, N0, N1);
    y = skim_soft_max(ctx, skim_rms_norm(ctx, x, 1e-5f), NULL, 0.7f);
    EXPECT(!run1(be, ctx, x, a, y, out, NULL), "soft_max(rms_norm)");
    for (int r = 0; r < N1; r++) {
        double ss = 0, mx = -1e300, sum = 0;
        for (int i = 0; i < N0; i++) ss += (double)a[r * N0 + i] * a[r * N0 + i];
        double sc = 1 / sqrt(ss / N0 + 1e-5);
        for (int i = 0; i < N0; i++) mx = fmax(mx, a[r * N0 + i] * sc * 0.7);
        for (int i = 0; i < N0; i++) sum += exp(a[r * N0 + i] * sc * 0.7 - mx);
        for (int i = 0; i < N0; i++) ref[r * N0 + i] = exp(a[r * N0 + i] * sc * 0.7 - mx) / sum;
    }
    EXPECT(nmse(out, ref, N0 * N1) < 1e-10, "soft_max nmse %g", nmse(out, ref, N0 * N1));
    skim_context_destroy(ctx);
}

/* Outputs that are strided views read back as their elements in order, as on the CPU:
 * the middle half of each row of scale(x), and its transpose (found by the differential
 * fuzzer: Vulkan once refused non-contiguous outputs with UNSUPPORTED). */
static void test_strided_output(skim_backend *be) {
    enum { N0 = 8, N1 = 3 };
    float a[N0 * N1], out[N0 * N1];
    double ref[N0 * N1];
    for (int i = 0; i < N0 * N1; i++) a[i] = frand();
    for (int k = 0; k < 2; k++) {
        skim_context *ctx;
        skim_context_create(NULL, &ctx);
        skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, N0, N1);
        skim_tensor *y = skim_scale(ctx, x, 2.0f), *v;
        size_t nb[2] = {4, N0 * 4};
        if (k == 0) v = skim_view(ctx, y, 2, (const int64_t[]){N0 / 2, N1}, nb, 4 * (N0 / 4));
        else v = skim_transpose(ctx, y);
        EXPECT(!run1(be, ctx, x, a, v, out, NULL), "reading a strided view (%d)", k);
        int n = 0;
        if (k == 0) {
            for (int r = 0; r < N1; r++)
                for (int i = 0; i < N0 / 2; i++) ref[n++] = 2.0 * a[r * N0 + N0 / 4 + i];
        } else {
            for (int i = 0; i < N0; i++)
                for (int r = 0; r < N1; r++) ref[n++] = 2.0 * a[r * N0 + i];
        }
        EXPECT(nmse(out, ref, (size_t)n) == 0, "strided view %d: nmse %g", k, nmse(out, ref, (size_t)n));
        skim_context_destroy(ctx);
    }
}

static void test_mul_mat(skim_backend *be, skim_type t) {
    enum { K = 96, M = 19, N = 11 };
    static float w[K * M], x[K * N], wq[K * M], out[M * N];
    static unsigned char wdata[K * M * 4];
    double ref[M * N];
    for (int i = 0; i < K * M; i++) w[i] = frand();
    for (int i = 0; i < K * N; i++) x[i] = frand();
    skim_quantize(t, w, wdata, M, K);
    skim_dequantize(t, wdata, wq, K * M);
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    skim_tensor *tw = skim_new_weight_2d(ctx, t, K, M, wdata);
    skim_tensor *tx = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
    skim_tensor *y = skim_mul_mat(ctx, tw, tx);
    EXPECT(!run1(be, ctx, tx, x, y, out, NULL), "mul_mat %s", skim_type_name(t));
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)wq[m * K + k] * x[n * K + k];
            ref[n * M + m] = s;
        }
    double e = nmse(out, ref, M * N);
    EXPECT(e < 1e-9, "mul_mat %s nmse %g", skim_type_name(t), e);
    skim_context_destroy(ctx);
}

/* head_gate -> selection; get_rows_sel -> scale -> scatter_add_sel: rows whose score
 * passes get doubled, the rest pass through; stats and counts after two runs. */
static void test_selection(skim_backend *be) {
    enum { D = 8, T = 300 };
    static float x[D * T], sc[T], out[D * T];
    for (int i = 0; i < D * T; i++) x[i] = frand();
    for (int i = 0; i < T; i++) sc[i] = frand();
    sc[7] = NAN;
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    skim_tensor *tx = skim_new_input_2d(ctx, SKIM_TYPE_F32, D, T);
    skim_tensor *ts = skim_new_input_1d(ctx, SKIM_TYPE_F32, T);
    skim_tensor *sel = skim_token_halt(ctx, ts, 0.25f, NULL);
    skim_tensor *c = skim_scale(ctx, skim_get_rows_sel(ctx, tx, sel), 1.0f);
    skim_tensor *y = skim_scatter_add_sel(ctx, tx, c, sel);
    skim_graph *g;
    skim_plan *p;
    skim_status s = skim_graph_build(ctx, &y, 1, &g);
    EXPECT(s == SKIM_OK, "build %s", skim_context_error(ctx));
    s = skim_plan_create(be, g, NULL, &p);
    EXPECT(s == SKIM_OK, "plan %s", skim_backend_error(be));
    if (s != SKIM_OK) { skim_context_destroy(ctx); return; }
    skim_plan_set_input(p, tx, x, sizeof x);
    for (int run = 0; run < 3; run++) {
        if (run == 2) {
            for (int i = 0; i < T; i++) sc[i] = i % 3 == 0 ? -1.0f : 1.0f;
        }
        skim_plan_set_input(p, ts, sc, sizeof sc);
        s = skim_plan_run(p);
        EXPECT(s == SKIM_OK, "run %s", skim_plan_error(p));
        skim_plan_get_output(p, y, out, sizeof out);
        int count = 0, bad = 0;
        for (int t = 0; t < T; t++) {
            bool keep = isnan(sc[t]) || sc[t] < 0.25f;
            count += keep;
            for (int i = 0; i < D; i++) {
                float want = keep ? x[t * D + i] * 2.0f : x[t * D + i];
                bad += out[t * D + i] != want;
            }
        }
        int32_t cnt = -1;
        skim_plan_get_selection(p, sel, &cnt, NULL);
        skim_run_stats st;
        skim_plan_get_stats(p, &st);
        EXPECT(bad == 0 && cnt == count, "run %d: %d wrong values, count %d want %d", run, bad,
               (int)cnt, count);
        EXPECT(st.submits == 1 && st.recordings == (run == 0 ? 2 : 0),
               "run %d: %lld submits, %lld recordings", run, (long long)st.submits,
               (long long)st.recordings);
        if (run == 1) printf("selection: count %d of %d; stats: %lld recordings, %lld submit\n",
                             (int)cnt, T, (long long)st.recordings, (long long)st.submits);
    }
    skim_plan_destroy(p);
    skim_context_destroy(ctx);
}

typedef struct cache_buf { unsigned char data[1 << 16]; size_t size; int saves, loads; } cache_buf;
static const void *cache_load(void *user, size_t *size) {
    cache_buf *c = user;
    c->loads++;
    *size = c->size;
    return c->data;
}
static void cache_save(void *user, const void *data, size_t size) {
    cache_buf *c = user;
    c->saves++;
    c->size = size < sizeof c->data ? size : 0;
    if (c->size) memcpy(c->data, data, size);
}

/* The pipeline cache goes out at destroy and comes back at create. */
static void test_cache(void) {
    static cache_buf c;
    for (int i = 0; i < 2; i++) {
        skim_vulkan_desc d;
        memset(&d, 0, sizeof d);
        d.cache.load = cache_load;
        d.cache.save = cache_save;
        d.cache.user = &c;
        skim_backend *be = NULL;
        EXPECT(skim_backend_create_vulkan(&d, &be) == SKIM_OK, "create with a cache");
        if (be) test_elementwise(be);
        skim_backend_destroy(be);
    }
    EXPECT(c.saves == 2 && c.loads == 2 && c.size > 0, "cache: %d saves, %d loads, %zu bytes",
           c.saves, c.loads, c.size);
}

static void test_failures(skim_backend *be) {
    skim_vulkan_desc d;
    memset(&d, 0, sizeof d);
    d.device_index = 1000;
    skim_backend *bad = NULL;
    char msg[256];
    skim_status s = skim_backend_create_vulkan_msg(&d, &bad, msg, sizeof msg);
    EXPECT(s == SKIM_ERR_DEVICE && bad == NULL && msg[0], "bad device index -> %s (%s)",
           skim_status_str(s), msg);
    setenv("SKIM_VK_DEVICE", "99", 1); /* the environment overrides the desc */
    s = skim_backend_create_vulkan_msg(NULL, &bad, msg, sizeof msg);
    unsetenv("SKIM_VK_DEVICE");
    EXPECT(s == SKIM_ERR_DEVICE && bad == NULL, "SKIM_VK_DEVICE=99 -> %s (%s)",
           skim_status_str(s), msg);
    skim_vulkan_info info;
    EXPECT(skim_vulkan_query_info(be, &info), "query_info");
    /* A tensor past maxStorageBufferRange. */
    int64_t n = (int64_t)(info.max_storage_range / 4) + 64;
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    skim_tensor *x = skim_new_input_1d(ctx, SKIM_TYPE_F32, n);
    skim_tensor *y = skim_scale(ctx, x, 2.0f);
    skim_graph *g;
    skim_plan *p = NULL;
    s = skim_graph_build(ctx, &y, 1, &g);
    if (s == SKIM_OK) {
        s = skim_plan_create(be, g, NULL, &p);
        EXPECT(s == SKIM_ERR_TOO_LARGE || s == SKIM_ERR_DEVICE_MEMORY, "a %lld-byte tensor -> %s (%s)",
               (long long)n * 4, skim_status_str(s), skim_backend_error(be));
        printf("past maxStorageBufferRange: %s: %s\n", skim_status_str(s), skim_backend_error(be));
    }
    skim_context_destroy(ctx);
    /* A small view of a state larger than maxStorageBufferRange binds only its bytes. */
    skim_context_create(NULL, &ctx);
    int64_t rows = n / 1024 + 8;
    int64_t ne[2] = {1024, rows};
    skim_tensor *st = skim_new_state(ctx, SKIM_TYPE_F32, 2, ne, 1.5f);
    int64_t vne[2] = {1024, 4};
    size_t vnb[2] = {4, 4096};
    skim_tensor *v = skim_view(ctx, st, 2, vne, vnb, (size_t)(rows - 4) * 4096);
    y = skim_scale(ctx, v, 2.0f);
    static float out[1024 * 4];
    s = run1(be, ctx, NULL, NULL, y, out, NULL);
    EXPECT(s == SKIM_OK && out[0] == 3.0f && out[4095] == 3.0f, "a view at the end of a "
           "%lld-byte state: %s, %g", (long long)(rows * 4096), skim_status_str(s), out[0]);
    skim_context_destroy(ctx);
}

/* The guard check can fail: SKIM_VK_GUARD=stray records a 4-byte write into the guard
 * after the first arena tensor, and the run must say so (STATE, "stray write"). */
static void test_guard_check(void) {
    setenv("SKIM_VK_GUARD", "stray", 1);
    skim_backend *be = NULL;
    skim_status s = test_vulkan_create(&be);
    unsetenv("SKIM_VK_GUARD");
    EXPECT(s == SKIM_OK, "create with SKIM_VK_GUARD=stray");
    if (s != SKIM_OK) return;
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    skim_tensor *x = skim_new_input_1d(ctx, SKIM_TYPE_F32, 100);
    skim_tensor *y = skim_add(ctx, skim_scale(ctx, x, 2.0f), x);
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    float xd[100] = {0};
    s = skim_graph_build(ctx, &y, 1, &g);
    if (s == SKIM_OK) s = skim_plan_create(be, g, NULL, &p);
    if (s == SKIM_OK) s = skim_plan_set_input(p, x, xd, sizeof xd);
    if (s == SKIM_OK) s = skim_plan_run(p);
    EXPECT(s == SKIM_ERR_STATE && strstr(skim_plan_error(p), "stray write"),
           "a write into a guard -> %s (%s)", skim_status_str(s), p ? skim_plan_error(p) : "");
    printf("guard check: %s: %s\n", skim_status_str(s), p ? skim_plan_error(p) : "");
    skim_plan_destroy(p);
    skim_graph_destroy(g);
    skim_context_destroy(ctx);
    skim_backend_destroy(be);
}

/* run_async / wait on Vulkan, and a state that persists across runs: each run writes
 * row `slot` of a [4, 8] state with set_rows; the state after run k holds rows 0..k. */
static void test_async_state(skim_backend *be) {
    enum { W = 4, R = 8 };
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    skim_tensor *st = skim_new_state(ctx, SKIM_TYPE_F32, 2, (const int64_t[]){W, R}, -1.0f);
    skim_tensor *row = skim_new_input_2d(ctx, SKIM_TYPE_F32, W, 1);
    skim_tensor *slot = skim_new_input_1d(ctx, SKIM_TYPE_I32, 1);
    skim_tensor *w = skim_set_rows(ctx, st, row, slot);
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    skim_status s = skim_graph_build(ctx, &w, 1, &g);
    if (s == SKIM_OK) s = skim_plan_create(be, g, NULL, &p);
    EXPECT(s == SKIM_OK, "async: plan %s", skim_status_str(s));
    float want[R][W], got[R][W];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < W; j++) want[i][j] = -1.0f;
    for (int k = 0; s == SKIM_OK && k < R; k++) {
        float r[W];
        int32_t sl = k;
        for (int j = 0; j < W; j++) want[k][j] = r[j] = (float)(10 * k + j);
        skim_plan_set_input(p, row, r, sizeof r);
        skim_plan_set_input(p, slot, &sl, sizeof sl);
        s = skim_plan_run_async(p);
        EXPECT(s == SKIM_OK, "run_async %d: %s", k, skim_plan_error(p));
        EXPECT(skim_plan_run(p) == SKIM_ERR_STATE, "a run while one is pending was not refused");
        s = skim_plan_wait(p);
        EXPECT(s == SKIM_OK, "wait %d: %s", k, skim_plan_error(p));
        if (s == SKIM_OK) s = skim_plan_get_output(p, w, got, sizeof got);
        EXPECT(s == SKIM_OK && memcmp(got, want, sizeof got) == 0, "async run %d: the state "
               "differs (%s)", k, skim_status_str(s));
    }
    skim_plan_destroy(p);
    skim_graph_destroy(g);
    skim_context_destroy(ctx);
}

int main(void) {
    skim_backend *be = NULL;
    if (test_vulkan_create(&be) != SKIM_OK) {
        return 1;
    }
    printf("device: %s\n", skim_backend_device(be));
    test_elementwise(be);
    test_strided_output(be);
    test_mul_mat(be, SKIM_TYPE_F32);
    test_mul_mat(be, SKIM_TYPE_F16);
    test_mul_mat(be, SKIM_TYPE_Q8_0);
    test_mul_mat(be, SKIM_TYPE_Q4_0);
    test_selection(be);
    test_async_state(be);
    test_failures(be);
    test_guard_check();
    test_cache();
    test_elementwise(be); /* still usable after the failures */
    skim_backend *cpu = NULL;
    EXPECT(skim_backend_create_cpu(NULL, &cpu) == SKIM_OK, "the CPU backend after Vulkan failures");
    if (cpu) test_elementwise(cpu);
    if (cpu) test_strided_output(cpu);
    skim_backend_destroy(cpu);
    skim_backend_destroy(be);
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures != 0;
}
