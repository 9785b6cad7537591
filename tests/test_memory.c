/* test_memory.c - the liveness plan reuses intermediate memory, and reuse never clobbers
 * a value still needed: a long chain with an early intermediate kept as an output, run
 * twice on one plan with different inputs, checked against values computed here. */
#include "test_common.h"

#include "skim-cpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N0 256
#define N1 64
#define STEPS 24

int main(void) {
    skim_context *ctx = NULL;
    skim_backend *be = NULL;
    if (skim_context_create(NULL, &ctx) != SKIM_OK || skim_backend_create_cpu(NULL, &be) != SKIM_OK) {
        printf("FAIL: context/backend\n");
        return 1;
    }
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, N0, N1);
    skim_tensor *b = skim_new_input_2d(ctx, SKIM_TYPE_F32, N0, 1);
    skim_tensor *t = x, *early = NULL;
    for (int i = 0; i < STEPS; i++) {
        t = (i % 3 == 0) ? skim_add(ctx, t, b) : (i % 3 == 1) ? skim_scale(ctx, t, 0.5f) : skim_mul(ctx, t, b);
        if (i == 2) early = t;
    }
    skim_tensor *outs[2] = {t, early};
    skim_graph *g = NULL;
    skim_status s = skim_graph_build(ctx, outs, 2, &g);
    CHECK(s == SKIM_OK, "graph_build -> %s: %s", skim_status_str(s), skim_context_error(ctx));
    if (s != SKIM_OK) return 1;
    size_t arena = skim_graph_arena_size(g), unshared = skim_graph_unshared_size(g);
    size_t one = (size_t)N0 * N1 * sizeof(float);
    printf("arena %zu bytes, unshared %zu bytes (%d intermediates of %zu bytes)\n", arena, unshared,
           STEPS, one);
    CHECK(unshared >= (size_t)STEPS * one, "unshared size %zu < %d intermediates of %zu bytes", unshared,
          STEPS, one);
    CHECK(arena < unshared, "arena %zu is not smaller than unshared %zu on a chain", arena, unshared);
    CHECK(arena >= 3 * one, "arena %zu cannot hold the early output and two live steps", arena);
    CHECK(arena <= 4 * (one + 256), "arena %zu: a chain needs about 3 buffers", arena);
    CHECK(skim_graph_n_nodes(g) >= STEPS, "graph has %d nodes", skim_graph_n_nodes(g));

    skim_plan *p = NULL;
    s = skim_plan_create(be, g, NULL, &p);
    CHECK(s == SKIM_OK, "plan_create -> %s: %s", skim_status_str(s), skim_backend_error(be));
    if (s != SKIM_OK) return 1;
    trng r;
    trng_seed(&r, 3);
    static float xd[N0 * N1], bd[N0], out[N0 * N1], eout[N0 * N1];
    static double ref[N0 * N1], eref[N0 * N1];
    for (int run = 0; run < 2; run++) {
        fill_uniform(&r, xd, N0 * N1, -1, 1);
        fill_uniform(&r, bd, N0, 0.5f, 1.5f);
        CHECK_OK(skim_plan_set_input(p, x, xd, sizeof xd), skim_plan_error(p));
        CHECK_OK(skim_plan_set_input(p, b, bd, sizeof bd), skim_plan_error(p));
        CHECK_OK(skim_plan_run(p), skim_plan_error(p));
        for (int e = 0; e < N0 * N1; e++) {
            double v = xd[e], bb = bd[e % N0];
            for (int i = 0; i < STEPS; i++) {
                v = (i % 3 == 0) ? v + bb : (i % 3 == 1) ? v * 0.5 : v * bb;
                if (i == 2) eref[e] = v;
            }
            ref[e] = v;
        }
        if (read_f32(p, t, out, "final") && read_f32(p, early, eout, "early")) {
            double e1 = nmse_f32(out, ref, N0 * N1), e2 = nmse_f32(eout, eref, N0 * N1);
            CHECK(e1 <= 1e-11, "run %d: final output NMSE %.3g", run, e1);
            CHECK(e2 <= 1e-12, "run %d: the early output was overwritten (NMSE %.3g)", run, e2);
        }
    }
    skim_plan_destroy(p);
    skim_graph_destroy(g);
    skim_context_destroy(ctx);
    skim_backend_destroy(be);
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures != 0;
}
