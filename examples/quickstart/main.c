/* Quick start: a head-gated projection. Heads whose gate score is below 0.5 are skipped:
 * their rows of y are zero and their multiply-adds are never executed. */
#include "skim.h"
#include "skim-backend.h"
#include "skim-cpu.h"

#include <stdio.h>

int main(void) {
    enum { K = 4, HEADS = 3, BLOCK = 2, N = 2 };
    static float w[K * HEADS * BLOCK];
    for (int i = 0; i < K * HEADS * BLOCK; i++) w[i] = (float)(i % 5) - 2.0f;

    /* Build once: x [K, N], gate scores [HEADS], y = the selected heads' rows of w^T x. */
    skim_context *ctx = NULL;
    if (skim_context_create(NULL, &ctx) != SKIM_OK) return 1;
    skim_tensor *wt = skim_new_weight_2d(ctx, SKIM_TYPE_F32, K, HEADS * BLOCK, w);
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
    skim_tensor *scores = skim_new_input_1d(ctx, SKIM_TYPE_F32, HEADS);
    skim_tensor *heads = skim_head_gate(ctx, scores, 0.5f);
    skim_tensor *y = skim_mul_mat_sel(ctx, wt, x, heads, BLOCK);
    skim_graph *g = NULL;
    if (skim_graph_build(ctx, &y, 1, &g) != SKIM_OK) { /* builder errors surface here */
        fprintf(stderr, "build: %s\n", skim_context_error(ctx));
        return 1;
    }

    /* Plan once on a backend, then run as often as needed. */
    skim_backend *cpu = NULL;
    skim_plan *plan = NULL;
    if (skim_backend_create_cpu(NULL, &cpu) != SKIM_OK ||
        skim_plan_create(cpu, g, NULL, &plan) != SKIM_OK) return 1;
    const float xs[K * N] = {1, 2, 3, 4, -1, 0, 1, 0};
    const float gate[HEADS] = {0.9f, 0.1f, 0.7f}; /* head 1 is skipped */
    float out[HEADS * BLOCK * N];
    skim_plan_set_input(plan, x, xs, sizeof xs);
    skim_plan_set_input(plan, scores, gate, sizeof gate);
    if (skim_plan_run(plan) != SKIM_OK ||
        skim_plan_get_output(plan, y, out, sizeof out) != SKIM_OK) {
        fprintf(stderr, "run: %s\n", skim_plan_error(plan));
        return 1;
    }
    for (int n = 0; n < N; n++) {
        printf("y[:, %d] =", n);
        for (int m = 0; m < HEADS * BLOCK; m++) printf(" %g", out[n * HEADS * BLOCK + m]);
        printf("\n");
    }
    skim_run_stats st;
    skim_plan_get_stats(plan, &st);
    printf("FLOPs executed: %.0f of %.0f\n", st.flops_executed, st.flops_dense);

    skim_plan_destroy(plan);
    skim_backend_destroy(cpu);
    skim_context_destroy(ctx);
    return 0;
}
