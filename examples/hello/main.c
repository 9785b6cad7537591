/* hello - a small gated transformer block stack with random (seeded) weights, run on the
 * CPU backend in skip mode and in masked-dense mode: prints both outputs' checksums and
 * the work the selections skipped.
 *
 * Per layer: p_halt = sigmoid(w_halt . rms_norm(x) + b) over the running tokens decides
 * which tokens halt (token_halt, chained across layers); per-token head scores
 * sigmoid(W_gate rms_norm(x) + b_gate) decide which heads run for which token (head_gate); Q is
 * computed per head for its own tokens (mul_mat_sel), K and V for every running token,
 * attention for the selected head-token pairs, the output projection over the selected
 * heads (mul_mat_sel_k), an MLP on the running tokens, and both are added back to the
 * residual stream of the running tokens only (scatter_add_sel).
 *
 * Usage: hello [seed] */
#include "skim.h"
#include "skim-backend.h"
#include "skim-cpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_LAYER = 3, N_TOK = 48, N_EMBD = 64, N_HEAD = 8, N_KV_HEAD = 4, HEAD_DIM = 8, N_FF = 128 };

static uint64_t rng_state;
static float frand(void) { /* splitmix64 -> [-1, 1) */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 4503599627370496.0 - 1.0);
}

static float *weights[64];
static int n_weights;

static skim_tensor *weight(skim_context *ctx, const char *name, int64_t ne0, int64_t ne1, float amp,
                           float offset) {
    float *w = malloc((size_t)(ne0 * ne1) * sizeof(float));
    for (int64_t i = 0; i < ne0 * ne1; i++) w[i] = offset + amp * frand();
    weights[n_weights++] = w;
    return skim_tensor_set_name(skim_new_weight_2d(ctx, SKIM_TYPE_F32, ne0, ne1, w), name);
}

typedef struct block_out {
    skim_tensor *tok_sel, *head_sel, *x;
} block_out;

static block_out block(skim_context *ctx, int l, skim_tensor *x, skim_tensor *pos, skim_tensor *prev) {
    const float a = 1.0f / sqrtf((float)N_EMBD);
    char nm[32];
    block_out b;
    /* halting: one probability per running token */
    skim_tensor *xr = prev ? skim_get_rows_sel(ctx, x, prev) : x;
    snprintf(nm, sizeof nm, "w_halt.%d", l);
    skim_tensor *p = skim_mul_mat(ctx, weight(ctx, nm, N_EMBD, 1, 2.0f * a, 0), skim_rms_norm(ctx, xr, 1e-5f));
    snprintf(nm, sizeof nm, "b_halt.%d", l); /* later layers halt more tokens */
    p = skim_sigmoid(ctx, skim_add(ctx, p, weight(ctx, nm, 1, 1, 0, -1.5f + 0.5f * (float)l)));
    b.tok_sel = skim_token_halt(ctx, p, 0.5f, prev);
    skim_tensor *sel = b.tok_sel;
    skim_tensor *h = skim_rms_norm(ctx, skim_get_rows_sel(ctx, x, sel), 1e-5f);
    skim_tensor *ps = skim_get_rows_sel(ctx, pos, sel);
    /* per-token head gates */
    snprintf(nm, sizeof nm, "w_gate.%d", l);
    skim_tensor *g = skim_mul_mat(ctx, weight(ctx, nm, N_EMBD, N_HEAD, 2.0f * a, 0), h);
    snprintf(nm, sizeof nm, "b_gate.%d", l);
    g = skim_sigmoid(ctx, skim_add(ctx, g, weight(ctx, nm, N_HEAD, 1, 1.0f, 0.8f)));
    b.head_sel = skim_head_gate(ctx, g, 0.5f);
    skim_tensor *q = skim_mul_mat_sel(ctx, weight(ctx, "wq", N_EMBD, N_HEAD * HEAD_DIM, a, 0), h,
                                      b.head_sel, HEAD_DIM);
    skim_tensor *k = skim_mul_mat(ctx, weight(ctx, "wk", N_EMBD, N_KV_HEAD * HEAD_DIM, a, 0), h);
    skim_tensor *v = skim_mul_mat(ctx, weight(ctx, "wv", N_EMBD, N_KV_HEAD * HEAD_DIM, a, 0), h);
    skim_attn_desc ad = {0};
    ad.q = skim_rope(ctx, skim_reshape_3d(ctx, q, HEAD_DIM, N_HEAD, N_TOK), ps, SKIM_ROPE_NORM, HEAD_DIM, 1e4f);
    ad.k = skim_rope(ctx, skim_reshape_3d(ctx, k, HEAD_DIM, N_KV_HEAD, N_TOK), ps, SKIM_ROPE_NORM, HEAD_DIM, 1e4f);
    ad.v = skim_reshape_3d(ctx, v, HEAD_DIM, N_KV_HEAD, N_TOK);
    ad.q_pos = ps;
    ad.k_pos = ps;
    ad.heads = b.head_sel;
    skim_tensor *att = skim_reshape_2d(ctx, skim_attn(ctx, &ad), N_HEAD * HEAD_DIM, N_TOK);
    skim_tensor *o = skim_mul_mat_sel_k(ctx, weight(ctx, "wo", N_HEAD * HEAD_DIM, N_EMBD, a, 0), att,
                                        b.head_sel, HEAD_DIM);
    x = skim_scatter_add_sel(ctx, x, o, sel);
    skim_tensor *h2 = skim_rms_norm(ctx, skim_get_rows_sel(ctx, x, sel), 1e-5f);
    skim_tensor *up = skim_swiglu(ctx, skim_mul_mat(ctx, weight(ctx, "wg", N_EMBD, N_FF, a, 0), h2),
                                  skim_mul_mat(ctx, weight(ctx, "wu", N_EMBD, N_FF, a, 0), h2));
    skim_tensor *down = skim_mul_mat(ctx, weight(ctx, "wd", N_FF, N_EMBD, 1.0f / sqrtf(N_FF), 0), up);
    b.x = skim_scatter_add_sel(ctx, x, down, sel);
    return b;
}

static int fail(const char *what, skim_status s, const char *msg) {
    fprintf(stderr, "hello: %s: %s: %s\n", what, skim_status_str(s), msg);
    return 1;
}

static double run(skim_backend *be, skim_graph *g, skim_plan_mode mode, skim_tensor *const *in,
                  const void *const *data, skim_tensor *out, float *y, skim_run_stats *st, skim_plan **keep) {
    skim_plan_desc pd = {.mode = mode};
    skim_plan *p = NULL;
    skim_status s = skim_plan_create(be, g, &pd, &p);
    for (int i = 0; s == SKIM_OK && i < 2; i++) s = skim_plan_set_input(p, in[i], data[i], skim_tensor_nbytes(in[i]));
    if (s == SKIM_OK) s = skim_plan_run(p);
    if (s == SKIM_OK) s = skim_plan_get_output(p, out, y, skim_tensor_nbytes(out));
    if (s == SKIM_OK) s = skim_plan_get_stats(p, st);
    if (s != SKIM_OK) {
        fail("run", s, p ? skim_plan_error(p) : skim_backend_error(be));
        skim_plan_destroy(p);
        return NAN;
    }
    *keep = p;
    double sum = 0;
    for (int64_t i = 0; i < N_EMBD * N_TOK; i++) sum += y[i];
    return sum;
}

static double pct(double a, double b) { return b > 0 ? 100.0 * a / b : 0.0; }

int main(int argc, char **argv) {
    rng_state = argc > 1 ? strtoull(argv[1], NULL, 10) : 42;
    skim_context *ctx = NULL;
    skim_backend *be = NULL;
    skim_status s = skim_context_create(NULL, &ctx);
    if (s != SKIM_OK) return fail("context", s, "");
    s = skim_backend_create_cpu(NULL, &be);
    if (s != SKIM_OK) return fail("cpu backend", s, "");

    skim_tensor *x = skim_tensor_set_name(skim_new_input_2d(ctx, SKIM_TYPE_F32, N_EMBD, N_TOK), "x");
    skim_tensor *pos = skim_tensor_set_name(skim_new_input_1d(ctx, SKIM_TYPE_I32, N_TOK), "pos");
    skim_tensor *prev = NULL, *cur = x;
    block_out bo[N_LAYER];
    for (int l = 0; l < N_LAYER; l++) {
        bo[l] = block(ctx, l, cur, pos, prev);
        cur = bo[l].x;
        prev = bo[l].tok_sel;
    }
    skim_graph *g = NULL;
    s = skim_graph_build(ctx, &cur, 1, &g);
    if (s != SKIM_OK) return fail("graph_build", s, skim_context_error(ctx));

    static float xd[N_EMBD * N_TOK], y_skip[N_EMBD * N_TOK], y_dense[N_EMBD * N_TOK];
    static int32_t pd_[N_TOK];
    for (int i = 0; i < N_EMBD * N_TOK; i++) xd[i] = frand();
    for (int t = 0; t < N_TOK; t++) pd_[t] = t;
    skim_tensor *in[2] = {x, pos};
    const void *data[2] = {xd, pd_};
    skim_run_stats st, sd;
    skim_plan *ps = NULL, *pdn = NULL;
    double c_skip = run(be, g, SKIM_MODE_SKIP, in, data, cur, y_skip, &st, &ps);
    double c_dense = run(be, g, SKIM_MODE_MASKED_DENSE, in, data, cur, y_dense, &sd, &pdn);
    if (isnan(c_skip) || isnan(c_dense)) return 1;
    double maxd = 0;
    for (int i = 0; i < N_EMBD * N_TOK; i++) maxd = fmax(maxd, fabs((double)y_skip[i] - y_dense[i]));

    printf("skim hello: %d layers, %d tokens, %d heads (%d KV), d=%d, seed %llu, %s\n", N_LAYER, N_TOK,
           N_HEAD, N_KV_HEAD, N_EMBD, (unsigned long long)(argc > 1 ? strtoull(argv[1], NULL, 10) : 42),
           skim_backend_device(be));
    printf("output checksum: skip %.6f, masked-dense %.6f, max |difference| %.3g\n", c_skip, c_dense, maxd);
    printf("selections (skip run):\n");
    for (int l = 0; l < N_LAYER; l++) {
        for (int i = 0; i < st.n_selections; i++) {
            const skim_sel_stats *ss = &st.selections[i];
            const char *kind = ss->sel == bo[l].tok_sel ? "tokens running" : ss->sel == bo[l].head_sel ? "head-token pairs" : NULL;
            if (kind)
                printf("  layer %d %-17s %5lld / %-5lld (%5.1f%%)%s\n", l, kind, (long long)ss->count,
                       (long long)ss->capacity, pct((double)ss->count, (double)ss->capacity),
                       ss->nan_count ? " NaN kept" : "");
        }
    }
    printf("head-ops          %7lld of %7lld executed (%5.1f%%, %5.1f%% skipped)\n",
           (long long)st.head_ops_executed, (long long)st.head_ops_dense,
           pct((double)st.head_ops_executed, (double)st.head_ops_dense),
           100.0 - pct((double)st.head_ops_executed, (double)st.head_ops_dense));
    printf("token-layer ops   %7lld of %7lld executed (%5.1f%%, %5.1f%% skipped)\n",
           (long long)st.token_layer_ops_executed, (long long)st.token_layer_ops_dense,
           pct((double)st.token_layer_ops_executed, (double)st.token_layer_ops_dense),
           100.0 - pct((double)st.token_layer_ops_executed, (double)st.token_layer_ops_dense));
    printf("FLOPs             %7.3g of %7.3g executed (%5.1f%%, %5.1f%% skipped)\n", st.flops_executed,
           st.flops_dense, pct(st.flops_executed, st.flops_dense), 100.0 - pct(st.flops_executed, st.flops_dense));
    printf("masked-dense run: %.3g FLOPs executed\n", sd.flops_executed);

    /* The dense-equivalence law: both modes agree (here to float rounding). */
    double ymax = 0;
    for (int i = 0; i < N_EMBD * N_TOK; i++) ymax = fmax(ymax, fabs((double)y_dense[i]));
    int rc = maxd <= 1e-4 * ymax ? 0 : 1;
    if (rc) printf("MISMATCH: skip and masked-dense differ by %.3g\n", maxd);

    skim_plan_destroy(ps);
    skim_plan_destroy(pdn);
    skim_backend_destroy(be);
    skim_context_destroy(ctx);
    for (int i = 0; i < n_weights; i++) free(weights[i]);
    return rc;
}
