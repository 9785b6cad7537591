/* test_vk_profile.c - device timestamps per dispatch (skim_vulkan_plan_profile): a plan
 * made with profiling on (SKIM_VK_PROFILE=1, set here before its backend is made) reports
 * one row per dispatch the run recorded, each timed over every run, named by the node it
 * writes, and computes the same bits as a plan made without it; the calls' errors.
 * Validation and synchronization validation on (the timestamps sit between barriers).
 * Exits 77 without a device. */
#define _POSIX_C_SOURCE 200809L
#include "skim-cpu.h"
#include "skim-vulkan.h"
#include "test_backends.h"
#include "test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


enum { K = 96, M = 80, N = 6, RUNS = 3 };

typedef struct built {
    skim_context *ctx;
    skim_graph *g;
    skim_tensor *x, *out, *side;
} built;

/* out = soft_max(W2 * rms_norm(W1 * x + b)): named nodes of four ops; side = W1 * x
 * scaled, independent of the chain after the product (an unprofiled plan runs it beside
 * the chain, with no barrier between). */
static bool build(built *b, const float *w1, const float *bias, const float *w2) {
    memset(b, 0, sizeof *b);
    if (skim_context_create(NULL, &b->ctx) != SKIM_OK) return false;
    skim_context *c = b->ctx;
    b->x = skim_new_input_2d(c, SKIM_TYPE_F32, K, N);
    skim_tensor *h = skim_tensor_set_name(
        skim_mul_mat(c, skim_new_weight_2d(c, SKIM_TYPE_F32, K, M, w1), b->x), "proj");
    h = skim_tensor_set_name(skim_add(c, h, skim_new_weight_2d(c, SKIM_TYPE_F32, M, 1, bias)),
                             "proj_bias");
    h = skim_tensor_set_name(skim_rms_norm(c, h, 1e-5f), "norm");
    h = skim_tensor_set_name(
        skim_mul_mat(c, skim_new_weight_2d(c, SKIM_TYPE_F32, M, M, w2), h), "logits");
    b->out = skim_tensor_set_name(skim_soft_max(c, h, NULL, 1.0f), "probs");
    b->side = skim_tensor_set_name(
        skim_scale(c, skim_mul_mat(c, skim_new_weight_2d(c, SKIM_TYPE_F32, K, M, w1), b->x),
                   0.5f), "side");
    skim_tensor *outs[2] = {b->out, b->side};
    return b->out && b->side && skim_graph_build(c, outs, 2, &b->g) == SKIM_OK;
}

static bool run(skim_plan *p, const built *b, const float *x, float *y) {
    skim_status s = skim_plan_set_input(p, b->x, x, sizeof(float) * K * N);
    if (s == SKIM_OK) s = skim_plan_run(p);
    if (s == SKIM_OK) s = skim_plan_get_output(p, b->out, y, sizeof(float) * M * N);
    CHECK(s == SKIM_OK, "run: %s (%s)", skim_status_str(s), skim_plan_error(p));
    return s == SKIM_OK;
}

int main(void) {
    skim_backend *plain = NULL, *prof = NULL;
    if (test_vulkan_create(&plain) != SKIM_OK) {
        return 77;
    }
    skim_status s = test_vulkan_create_with("SKIM_VK_PROFILE", "1", &prof);
    if (s != SKIM_OK) {
        skim_backend_destroy(plain);
        return 1;
    }
    static float w1[K * M], bias[M], w2[M * M], x[K * N], y0[M * N], y1[M * N];
    trng r;
    trng_seed(&r, 7);
    fill_uniform(&r, w1, K * M, -0.5f, 0.5f);
    fill_uniform(&r, bias, M, -1.0f, 1.0f);
    fill_uniform(&r, w2, M * M, -0.5f, 0.5f);
    built b;
    skim_plan *p0 = NULL, *p1 = NULL;
    CHECK(build(&b, w1, bias, w2), "graph");
    s = skim_plan_create(plain, b.g, NULL, &p0);
    CHECK(s == SKIM_OK, "plan: %s", skim_status_str(s));
    s = skim_plan_create(prof, b.g, NULL, &p1);
    CHECK(s == SKIM_OK, "profiled plan: %s", skim_status_str(s));
    int n = -1;
    if (p0 && p1) {
        /* Before any run: the rows exist, with nothing timed. */
        skim_vulkan_profile_row pre[64];
        CHECK(skim_vulkan_plan_profile(p1, pre, 64, &n) == SKIM_OK && n >= 3 && n <= 64,
              "before a run: %d rows", n);
        for (int i = 0; i < n && i < 64; i++) {
            CHECK(pre[i].runs == 0 && pre[i].ms == 0.0, "before a run: row %d timed", i);
        }
        for (int k = 0; k < RUNS; k++) {
            fill_uniform(&r, x, K * N, -1.0f, 1.0f);
            if (!run(p0, &b, x, y0) || !run(p1, &b, x, y1)) break;
            CHECK(memcmp(y0, y1, sizeof y0) == 0, "run %d: the profiled plan's output differs", k);
        }
        skim_run_stats st;
        CHECK(skim_plan_get_stats(p1, &st) == SKIM_OK, "stats");
        s = skim_vulkan_plan_profile(p1, NULL, 0, &n);
        CHECK(s == SKIM_OK && n == (int)st.dispatches && n >= 3,
                "rows: %s, %d against %lld dispatches", skim_status_str(s), n,
                (long long)st.dispatches);
        CHECK(st.barriers == st.dispatches - 1, "profiled: %lld barriers for %lld dispatches, "
              "want one between any two", (long long)st.barriers, (long long)st.dispatches);
        skim_run_stats st0;
        CHECK(skim_plan_get_stats(p0, &st0) == SKIM_OK && st0.dispatches == st.dispatches &&
              st0.barriers < st0.dispatches - 1, "unprofiled: %lld barriers for %lld "
              "dispatches (the side branch should share a level)", (long long)st0.barriers,
              (long long)st0.dispatches);
        skim_vulkan_profile_row rows[64];
        int n2 = 0;
        s = skim_vulkan_plan_profile(p1, rows, 64, &n2);
        CHECK(s == SKIM_OK && n2 == n, "rows again: %s, %d", skim_status_str(s), n2);
        double total = 0.0;
        bool saw_proj = false, saw_probs = false;
        for (int i = 0; i < n2 && i < 64; i++) {
            printf("  %-10s %-12s %-24s %lld runs %.4f ms\n", rows[i].op, rows[i].name,
                   rows[i].shader, (long long)rows[i].runs, rows[i].ms);
            CHECK(rows[i].runs == RUNS, "row %d: %lld runs, want %d", i,
                    (long long)rows[i].runs, RUNS);
            CHECK(rows[i].ms >= 0.0 && rows[i].ms < 60000.0, "row %d: %g ms", i, rows[i].ms);
            CHECK(rows[i].shader && rows[i].shader[0], "row %d: no shader name", i);
            total += rows[i].ms;
            saw_probs |= strcmp(rows[i].name, "probs") == 0 &&
                         strcmp(rows[i].op, "soft_max") == 0;
            /* The product and its bias may be one fused dispatch, named by the add. */
            saw_proj |= (strcmp(rows[i].name, "proj") == 0 && strcmp(rows[i].op, "mul_mat") == 0) ||
                        (strcmp(rows[i].name, "proj_bias") == 0 && strcmp(rows[i].op, "add") == 0);
        }
        CHECK(total > 0.0, "no device time at all");
        CHECK(saw_proj && saw_probs, "the rows miss the product (%d) or the soft_max (%d)",
                saw_proj, saw_probs);
        /* Fewer rows asked for than there are: *n still says how many. */
        n2 = 0;
        CHECK(skim_vulkan_plan_profile(p1, rows, 1, &n2) == SKIM_OK && n2 == n, "cap 1: %d", n2);
        /* Errors. */
        CHECK(skim_vulkan_plan_profile(p0, NULL, 0, &n2) == SKIM_ERR_UNSUPPORTED,
                "an unprofiled plan");
        CHECK(skim_vulkan_plan_profile(p1, NULL, 0, NULL) == SKIM_ERR_INVALID_ARG, "n NULL");
        CHECK(skim_vulkan_plan_profile(p1, NULL, 4, &n2) == SKIM_ERR_INVALID_ARG,
                "rows NULL with cap 4");
        CHECK(skim_vulkan_plan_profile(p1, rows, -1, &n2) == SKIM_ERR_INVALID_ARG, "cap -1");
        CHECK(skim_vulkan_plan_profile(NULL, rows, 1, &n2) == SKIM_ERR_INVALID_ARG, "NULL plan");
        skim_backend *cpu = test_cpu_backend(1);
        skim_plan *pc = NULL;
        if (cpu && skim_plan_create(cpu, b.g, NULL, &pc) == SKIM_OK) {
            CHECK(skim_vulkan_plan_profile(pc, rows, 1, &n2) == SKIM_ERR_INVALID_ARG,
                    "a CPU plan");
        }
        skim_plan_destroy(pc);
        skim_backend_destroy(cpu);
    }
    skim_plan_destroy(p0);
    skim_plan_destroy(p1);
    skim_graph_destroy(b.g);
    skim_context_destroy(b.ctx);
    skim_backend_destroy(plain);
    skim_backend_destroy(prof);
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures != 0;
}
