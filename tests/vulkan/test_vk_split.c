/* test_vk_split.c - ops over tensors past maxStorageBufferRange run in pieces (vk_split.c):
 * with SKIM_VK_MAX_RANGE=4096 as a stand-in for lavapipe's 128 MiB (a 128256-row
 * embedding, a 32000 x 2048 output matrix), get_rows of an embedding and mul_mat of an
 * output matrix, F32/F16/Q8_0/Q4_0, agree with the CPU backend, in more dispatches than
 * the same plan takes without the limit, the out-of-range indices of get_rows still give
 * zero rows; a row wider than the limit, and a plain eltwise op past it, are refused with
 * TOO_LARGE and a message. A product followed by silu, fused into one dispatch when whole,
 * stays unfused when split. Validation on (any message fails). Exits 77 without a device. */
#define _POSIX_C_SOURCE 200809L
#include "skim-cpu.h"
#include "skim-vulkan.h"
#include "test_backends.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int failures;
#define EXPECT(c, ...) do { if (!(c)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)

enum { K = 64, M = 100, N = 40, R = 12 };
#define LIMIT 4096

static uint32_t rng = 777u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

typedef struct outs {
    float mm[M * N], rows[K * R], act[M];
    long long dispatches;
    skim_status st;
} outs;

/* get_rows(w, idx), mul_mat(w, x) and silu(mul_mat(w, x's first column)) (a chain the
 * backend fuses into one dispatch, unless the product is split) with w [K, M] of type t. */
static void run_case(skim_backend *be, skim_type t, const void *wdata, const float *x,
                     const int32_t *idx, outs *o) {
    memset(o, 0, sizeof *o);
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    skim_tensor *w = skim_new_weight_2d(ctx, t, K, M, wdata);
    skim_tensor *xi = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
    skim_tensor *ii = skim_new_input_1d(ctx, SKIM_TYPE_I32, R);
    skim_tensor *x1 = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, 1);
    skim_tensor *y[3] = {skim_mul_mat(ctx, w, xi), skim_get_rows(ctx, w, ii),
                         skim_silu(ctx, skim_mul_mat(ctx, w, x1))};
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    o->st = skim_graph_build(ctx, y, 3, &g);
    if (o->st == SKIM_OK) o->st = skim_plan_create(be, g, NULL, &p);
    if (o->st == SKIM_OK) {
        skim_plan_set_input(p, xi, x, sizeof(float) * K * N);
        skim_plan_set_input(p, ii, idx, sizeof(int32_t) * R);
        skim_plan_set_input(p, x1, x, sizeof(float) * K);
        o->st = skim_plan_run(p);
    }
    if (o->st == SKIM_OK) o->st = skim_plan_get_output(p, y[0], o->mm, sizeof o->mm);
    if (o->st == SKIM_OK) o->st = skim_plan_get_output(p, y[1], o->rows, sizeof o->rows);
    if (o->st == SKIM_OK) o->st = skim_plan_get_output(p, y[2], o->act, sizeof o->act);
    if (o->st == SKIM_OK) {
        skim_run_stats rs;
        skim_plan_get_stats(p, &rs);
        o->dispatches = rs.dispatches;
    } else {
        printf("%s: %s\n", skim_type_name(t), p ? skim_plan_error(p) : skim_backend_error(be));
    }
    skim_plan_destroy(p);
    skim_graph_destroy(g);
    skim_context_destroy(ctx);
}

static double max_rel(const float *a, const float *b, int n) {
    double e = 0, m = 0;
    for (int i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? e / m : e;
}

/* The refusals: one weight row wider than the limit (get_rows cannot split it), and an
 * eltwise op over a tensor past it (only get_rows and mul_mat are split). */
static void refusals(skim_backend *vk) {
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    static float wide[2048 * 4];
    skim_tensor *w = skim_new_weight_2d(ctx, SKIM_TYPE_F32, 2048, 4, wide); /* 8 KiB rows */
    skim_tensor *ii = skim_new_input_1d(ctx, SKIM_TYPE_I32, 2);
    skim_tensor *y = skim_get_rows(ctx, w, ii);
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    skim_status s = skim_graph_build(ctx, &y, 1, &g);
    if (s == SKIM_OK) s = skim_plan_create(vk, g, NULL, &p);
    EXPECT(s == SKIM_ERR_TOO_LARGE && strstr(skim_backend_error(vk), "maxStorageBufferRange"),
           "a row past the limit -> %s (%s)", skim_status_str(s), skim_backend_error(vk));
    printf("row past the limit:   %s: %s\n", skim_status_str(s), skim_backend_error(vk));
    skim_plan_destroy(p);
    skim_graph_destroy(g);
    skim_context_destroy(ctx);

    skim_context_create(NULL, &ctx);
    skim_tensor *x = skim_new_input_1d(ctx, SKIM_TYPE_F32, 2 * LIMIT);
    y = skim_scale(ctx, x, 2.0f);
    g = NULL;
    p = NULL;
    s = skim_graph_build(ctx, &y, 1, &g);
    if (s == SKIM_OK) s = skim_plan_create(vk, g, NULL, &p);
    EXPECT(s == SKIM_ERR_TOO_LARGE && strstr(skim_backend_error(vk), "maxStorageBufferRange"),
           "scale past the limit -> %s (%s)", skim_status_str(s), skim_backend_error(vk));
    printf("scale past the limit: %s: %s\n", skim_status_str(s), skim_backend_error(vk));
    skim_plan_destroy(p);
    skim_graph_destroy(g);
    skim_context_destroy(ctx);
}

int main(void) {
    skim_backend *cpu, *vk, *vk_split;
    int rc = test_vulkan_pair_with("SKIM_VK_MAX_RANGE", "4096", &cpu, &vk, &vk_split);
    if (rc != 0) {
        return rc;
    }
    EXPECT(vk_split, "no backend with a 4096-byte limit");
    static float wf[K * M], x[K * N];
    static unsigned char wq[K * M * 4];
    for (int i = 0; i < K * M; i++) wf[i] = frand();
    for (int i = 0; i < K * N; i++) x[i] = frand();
    /* Rows of every piece, the first and last, and out-of-range indices (zero rows). */
    int32_t idx[R] = {0, 99, 50, -1, 7, 100, 63, 1000, 98, 31, 64, 2};
    const skim_type types[] = {SKIM_TYPE_F32, SKIM_TYPE_F16, SKIM_TYPE_Q8_0, SKIM_TYPE_Q4_0};
    for (size_t k = 0; vk_split && k < sizeof types / sizeof types[0]; k++) {
        skim_type t = types[k];
        size_t bytes = skim_quantize(t, wf, wq, M, K);
        outs *ref = malloc(sizeof *ref), *whole = malloc(sizeof *whole), *split = malloc(sizeof *split);
        run_case(cpu, t, wq, x, idx, ref);
        run_case(vk, t, wq, x, idx, whole);
        run_case(vk_split, t, wq, x, idx, split);
        EXPECT(ref->st == SKIM_OK && whole->st == SKIM_OK && split->st == SKIM_OK,
               "%s: cpu %s, vulkan %s, vulkan split %s", skim_type_name(t),
               skim_status_str(ref->st), skim_status_str(whole->st), skim_status_str(split->st));
        double em = max_rel(split->mm, ref->mm, M * N), er = max_rel(split->rows, ref->rows, K * R);
        double ew = max_rel(whole->mm, ref->mm, M * N);
        double ea = max_rel(split->act, ref->act, M), eaw = max_rel(whole->act, ref->act, M);
        EXPECT(ea < 1e-5 && eaw < 1e-5, "%s: silu(mul_mat) vs CPU: split %g, whole (fused) %g",
               skim_type_name(t), ea, eaw);
        /* The pieces do what the whole dispatch does: the same sums in the same order. */
        EXPECT(memcmp(split->mm, whole->mm, sizeof split->mm) == 0 &&
               memcmp(split->rows, whole->rows, sizeof split->rows) == 0,
               "%s: the split run differs from the whole one", skim_type_name(t));
        EXPECT(em < 1e-5 && er == 0, "%s: split vs CPU: mul_mat %g, get_rows %g", skim_type_name(t),
               em, er);
        for (int r = 0; r < R; r++) {
            bool out_of_range = idx[r] < 0 || idx[r] >= M;
            bool zero = true;
            for (int i = 0; i < K; i++) zero = zero && split->rows[r * K + i] == 0.0f;
            EXPECT(!out_of_range || zero, "%s: index %d gave a row that is not zero",
                   skim_type_name(t), idx[r]);
        }
        /* At least one piece per LIMIT bytes of the weights, of x and of the output. */
        long long min_pieces = (long long)((bytes + LIMIT - 1) / LIMIT);
        /* whole: the product, get_rows, and the fused product + silu */
        EXPECT(whole->dispatches == 3 && split->dispatches >= 3 * min_pieces + 1,
               "%s: dispatches %lld whole, %lld split (at least %lld pieces per op)",
               skim_type_name(t), whole->dispatches, split->dispatches, min_pieces);
        printf("%-5s %5zu weight bytes: dispatches %lld -> %lld; split vs CPU: mul_mat %.2e, "
               "get_rows %.1e (whole: %.2e)\n", skim_type_name(t), bytes, whole->dispatches,
               split->dispatches, em, er, ew);
        free(ref);
        free(whole);
        free(split);
    }
    if (vk_split) refusals(vk_split);
    skim_backend_destroy(vk_split);
    skim_backend_destroy(vk);
    skim_backend_destroy(cpu);
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures != 0;
}
