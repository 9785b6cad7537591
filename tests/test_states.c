/* test_states.c - state tensors persist across runs of a plan and are refilled by
 * reset_states; run_async/wait behave like run, and the plan refuses calls while a run
 * is pending. A KV-cache-like graph: each run writes one row of a state with set_rows
 * and reads the rows written so far through attn with an n_kv run parameter. */
#include "test_common.h"

#include "skim-cpu.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { HD = 4, SLOTS = 6 };

int main(void) {
    skim_context *ctx = NULL;
    skim_backend *be = NULL;
    if (skim_context_create(NULL, &ctx) != SKIM_OK || skim_backend_create_cpu(NULL, &be) != SKIM_OK) return 1;
    skim_tensor *kv = skim_tensor_set_name(skim_new_state(ctx, SKIM_TYPE_F32, 2, (const int64_t[]){HD, SLOTS}, 0.25f), "kv");
    skim_tensor *row = skim_new_input_2d(ctx, SKIM_TYPE_F32, HD, 1);
    skim_tensor *slot = skim_new_input_1d(ctx, SKIM_TYPE_I32, 1);
    skim_tensor *n_kv = skim_new_param(ctx, 1, SLOTS, SLOTS);
    skim_tensor *written = skim_set_rows(ctx, kv, row, slot);
    skim_attn_desc d = {0};
    d.q = skim_reshape_3d(ctx, row, HD, 1, 1);
    d.k = d.v = skim_reshape_3d(ctx, written, HD, 1, SLOTS);
    d.q_pos = skim_new_input_1d(ctx, SKIM_TYPE_I32, 1);
    d.n_kv = n_kv;
    skim_tensor *att = skim_attn(ctx, &d);
    skim_tensor *outs[2] = {att, written};
    skim_graph *g = NULL;
    skim_status s = skim_graph_build(ctx, outs, 2, &g);
    CHECK(s == SKIM_OK, "graph_build -> %s: %s", skim_status_str(s), skim_context_error(ctx));
    skim_plan *p = NULL;
    if (s == SKIM_OK) {
        s = skim_plan_create(be, g, NULL, &p);
        CHECK(s == SKIM_OK, "plan_create -> %s: %s", skim_status_str(s), skim_backend_error(be));
    }
    if (s != SKIM_OK) return 1;
    trng r;
    trng_seed(&r, 11);
    float rows[SLOTS][HD], cache[SLOTS][HD], got[SLOTS * HD], out[HD];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < SLOTS; i++)
            for (int j = 0; j < HD; j++) cache[i][j] = 0.25f;
        for (int step = 0; step < SLOTS; step++) {
            fill_uniform(&r, rows[step], HD, -1, 1);
            int32_t sl = step, qp = step;
            memcpy(cache[step], rows[step], sizeof rows[step]);
            CHECK_OK(skim_plan_set_input(p, row, rows[step], sizeof rows[step]), skim_plan_error(p));
            CHECK_OK(skim_plan_set_input(p, slot, &sl, sizeof sl), skim_plan_error(p));
            CHECK_OK(skim_plan_set_input(p, d.q_pos, &qp, sizeof qp), skim_plan_error(p));
            CHECK_OK(skim_plan_set_param(p, n_kv, step + 1), skim_plan_error(p));
            if (step % 2) {
                CHECK_OK(skim_plan_run(p), skim_plan_error(p));
            } else {
                CHECK_OK(skim_plan_run_async(p), skim_plan_error(p));
                CHECK(skim_plan_run(p) == SKIM_ERR_STATE, "run while a run is pending was not refused");
                CHECK(skim_plan_get_output(p, att, out, sizeof out) == SKIM_ERR_STATE,
                      "get_output while a run is pending was not refused");
                CHECK_OK(skim_plan_wait(p), skim_plan_error(p));
            }
            /* the state holds every row written so far (this pass), the rest the fill */
            if (read_f32(p, kv, got, "kv state"))
                CHECK(memcmp(got, cache, sizeof got) == 0, "pass %d step %d: the state lost rows", pass, step);
            /* attention over keys 0..step at positions 0..step, the query at position step */
            double sc[SLOTS], mx = -INFINITY, sum = 0, ref[HD] = {0};
            for (int j = 0; j <= step; j++) {
                double dot = 0;
                for (int e = 0; e < HD; e++) dot += (double)rows[step][e] * cache[j][e];
                sc[j] = dot / sqrt((double)HD);
                mx = fmax(mx, sc[j]);
            }
            for (int j = 0; j <= step; j++) sum += (sc[j] = exp(sc[j] - mx));
            for (int j = 0; j <= step; j++)
                for (int e = 0; e < HD; e++) ref[e] += sc[j] / sum * cache[j][e];
            if (read_f32(p, att, out, "attn")) {
                double err = nmse_f32(out, ref, HD);
                CHECK(err <= 1e-9, "pass %d step %d: attention over the cache NMSE %.3g", pass, step, err);
            }
        }
        CHECK_OK(skim_plan_reset_states(p), skim_plan_error(p));
        float fill[SLOTS * HD];
        for (int i = 0; i < SLOTS * HD; i++) fill[i] = 0.25f;
        if (read_f32(p, kv, got, "kv after reset"))
            CHECK(memcmp(got, fill, sizeof got) == 0, "reset_states did not refill the state");
    }
    skim_run_stats st;
    if (skim_plan_get_stats(p, &st) == SKIM_OK)
        CHECK(st.runs == 2 * SLOTS, "stats.runs %lld, want %d", (long long)st.runs, 2 * SLOTS);
    skim_plan_destroy(p);
    skim_graph_destroy(g);
    skim_context_destroy(ctx);
    skim_backend_destroy(be);
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures != 0;
}
