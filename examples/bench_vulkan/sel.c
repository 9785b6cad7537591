/* sel.c - bench_vulkan's selection producers at large n: head_gate (per-run heads,
 * scores [n]), token_halt (p_halt [n], no prev) and select_topk (k = n / 4) alone in a
 * graph whose output is the selection, at n = 4096 and 65536 candidates, on every backend
 * given; the median microseconds per run. A graph of one tiny add is timed beside them:
 * the run's fixed cost (recording, submit and wait on Vulkan), which the producers' times
 * include. The scores are uniform in [-1, 1); tau 0.5 keeps a quarter of them. */
#define _POSIX_C_SOURCE 200809L
#include "bench_vulkan.h"

#include <stdio.h>
#include <stdlib.h>

enum { PROD_TINY, PROD_HEAD_GATE, PROD_TOKEN_HALT, PROD_TOPK, N_PROD };
static const char *const prod_name[N_PROD] = {"tiny add", "head_gate", "token_halt", "top_k"};

/* Median seconds per run of producer `which` over n candidates on be; -1 on error. */
static double time_producer(skim_backend *be, int which, int64_t n, int reps) {
    skim_context *c = NULL;
    if (skim_context_create(NULL, &c) != SKIM_OK) return -1;
    int64_t len = which == PROD_TINY ? 1 : n;
    skim_tensor *in = skim_new_input_1d(c, SKIM_TYPE_F32, len), *out = NULL;
    switch (which) {
    case PROD_TINY: out = skim_add(c, in, in); break;
    case PROD_HEAD_GATE: out = skim_head_gate(c, in, 0.5f); break;
    case PROD_TOKEN_HALT: out = skim_token_halt(c, in, 0.5f, NULL); break;
    default: out = skim_select_topk(c, in, (int)(n / 4)); break;
    }
    float *x = malloc((size_t)len * sizeof *x);
    uint32_t r = 12345u;
    for (int64_t i = 0; x && i < len; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)((r >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    double med = -1, t[32];
    reps = reps < 1 ? 1 : reps > 32 ? 32 : reps;
    if (x && skim_graph_build(c, &out, 1, &g) == SKIM_OK &&
        skim_plan_create(be, g, NULL, &p) == SKIM_OK &&
        skim_plan_set_input(p, in, x, (size_t)len * sizeof *x) == SKIM_OK &&
        bench_timed_run(p) >= 0) { /* the first run warms up */
        int i = 0;
        for (; i < reps && (t[i] = bench_timed_run(p)) >= 0; i++) {}
        if (i == reps) med = bench_median(t, reps);
    } else {
        fprintf(stderr, "%s n=%lld: %s\n", prod_name[which], (long long)n,
                p ? skim_plan_error(p) : skim_backend_error(be));
    }
    skim_plan_destroy(p);
    skim_context_destroy(c);
    free(x);
    return med;
}

void bench_producers(skim_backend **be, int n_be, int reps) {
    static const int64_t ns[2] = {4096, 65536};
    printf("selection producers (median of %d runs after a warm-up, microseconds per run):\n",
           reps);
    for (int b = 0; b < n_be; b++) {
        for (int w = 0; w < N_PROD; w++) {
            for (int k = 0; k < (w == PROD_TINY ? 1 : 2); k++) {
                double s = time_producer(be[b], w, ns[k], reps);
                if (s < 0) continue;
                if (w == PROD_TINY) {
                    printf("  %-7s %-10s %6s   %10.1f us/run  (the run's fixed cost)\n",
                           skim_backend_name(be[b]), prod_name[w], "n=1", s * 1e6);
                } else {
                    printf("  %-7s %-10s n=%-6lld %10.1f us/run%s\n", skim_backend_name(be[b]),
                           prod_name[w], (long long)ns[k], s * 1e6,
                           w == PROD_TOPK ? "  (k = n / 4)" : "  (tau 0.5)");
                }
                fflush(stdout);
            }
        }
    }
}
