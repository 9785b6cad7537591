/* A skim consumer: builds a small head-gated graph through the public API, runs it on
 * the CPU backend (and, in consumer_vulkan, on the Vulkan backend when a device is there)
 * and checks every output against the same arithmetic done here in double precision.
 * Exit status 0: all values match; 1: a mismatch or an API failure (printed). */
#include "skim.h"
#include "skim-backend.h"
#include "skim-cpu.h"
#ifdef CONSUMER_VULKAN
#include "skim-vulkan.h"
#endif

#include <math.h>
#include <stdio.h>

enum { K = 5, HEADS = 3, BLOCK = 2, M = HEADS * BLOCK, N = 3 };

static float w[M * K], xs[K * N];
static const float gate[HEADS] = {0.8f, 0.2f, 0.5f}; /* tau 0.5: heads 0 and 2 run */

/* y = 0.5 * (rows of the kept heads of w^T x), the other heads' rows zero. */
static void expected(double y[N * M]) {
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double s = 0.0;
            if (gate[m / BLOCK] >= 0.5f)
                for (int k = 0; k < K; k++) s += (double)w[m * K + k] * xs[n * K + k];
            y[n * M + m] = 0.5 * s;
        }
}

static int run_on(skim_backend *be, const char *name) {
    skim_context *ctx = NULL;
    if (skim_context_create(NULL, &ctx) != SKIM_OK) return 1;
    skim_tensor *wt = skim_new_weight_2d(ctx, SKIM_TYPE_F32, K, M, w);
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
    skim_tensor *scores = skim_new_input_1d(ctx, SKIM_TYPE_F32, HEADS);
    skim_tensor *y = skim_scale(ctx, skim_mul_mat_sel(ctx, wt, x, skim_head_gate(ctx, scores, 0.5f),
                                                      BLOCK), 0.5f);
    skim_graph *g = NULL;
    skim_plan *plan = NULL;
    float out[N * M];
    int bad = 0;
    if (skim_graph_build(ctx, &y, 1, &g) != SKIM_OK) {
        fprintf(stderr, "%s: build: %s\n", name, skim_context_error(ctx));
        skim_context_destroy(ctx);
        return 1;
    }
    if (skim_plan_create(be, g, NULL, &plan) != SKIM_OK) {
        fprintf(stderr, "%s: plan_create failed\n", name);
        bad = 1;
    } else if (skim_plan_set_input(plan, x, xs, sizeof xs) != SKIM_OK ||
               skim_plan_set_input(plan, scores, gate, sizeof gate) != SKIM_OK ||
               skim_plan_run(plan) != SKIM_OK ||
               skim_plan_get_output(plan, y, out, sizeof out) != SKIM_OK) {
        fprintf(stderr, "%s: run: %s\n", name, skim_plan_error(plan));
        bad = 1;
    } else {
        double ref[N * M];
        skim_run_stats st;
        expected(ref);
        for (int i = 0; i < N * M; i++)
            if (fabs(out[i] - ref[i]) > 1e-4 * (1.0 + fabs(ref[i]))) {
                fprintf(stderr, "%s: y[%d] = %g, expected %g\n", name, i, out[i], ref[i]);
                bad = 1;
            }
        if (skim_plan_get_stats(plan, &st) != SKIM_OK || !(st.flops_executed < st.flops_dense)) {
            fprintf(stderr, "%s: the gated head was not skipped\n", name);
            bad = 1;
        }
    }
    skim_plan_destroy(plan);
    skim_graph_destroy(g);
    skim_context_destroy(ctx);
    printf("%s: %s\n", name, bad ? "FAILED" : "ok");
    return bad;
}

int main(void) {
    for (int i = 0; i < M * K; i++) w[i] = (float)((i * 7) % 11) - 5.0f;
    for (int i = 0; i < K * N; i++) xs[i] = 0.25f * (float)(i % 6) - 0.5f;

    skim_backend *cpu = NULL;
    skim_cpu_desc cd = {0};
    cd.n_threads = 2; /* the pool is part of what a consumer links */
    if (skim_backend_create_cpu(&cd, &cpu) != SKIM_OK) {
        fprintf(stderr, "cpu: backend create failed\n");
        return 1;
    }
    int bad = run_on(cpu, "cpu");
    skim_backend_destroy(cpu);
#ifdef CONSUMER_VULKAN
    skim_backend *vk = NULL;
    char msg[256];
    skim_status s = skim_backend_create_vulkan_msg(NULL, &vk, msg, sizeof msg);
    if (s == SKIM_OK) {
        bad |= run_on(vk, "vulkan");
        skim_backend_destroy(vk);
    } else if (s == SKIM_ERR_DEVICE) {
        printf("vulkan: no device (%s), not run\n", msg);
    } else {
        fprintf(stderr, "vulkan: %s: %s\n", skim_status_str(s), msg);
        bad = 1;
    }
#endif
    return bad;
}
