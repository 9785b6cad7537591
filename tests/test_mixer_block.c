/* test_mixer_block.c - a pre-norm block whose token mixing is a causal convolution and a
 * gated linear recurrence instead of attention, followed by a SwiGLU MLP:
 *   u = W_in n(x); v = silu(causal_conv(u)); r = linear_rec(v, sigmoid(W_a n(x)),
 *   sigmoid(W_b n(x))); x2 = x + W_o r; y = x2 + W_d swiglu(W_g n(x2), W_u n(x2)).
 * It decodes N_TOK tokens one per run (the two states carried in state tensors) on every
 * backend, and each backend's outputs must equal the CPU's, token by token; on the CPU
 * the decode must also equal the same block run over all N_TOK tokens at once. */
#include "test_backends.h"
#include "test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 64, F = 128, K = 4, N_TOK = 32 };
#define TOL 1e-9

typedef struct block {
    skim_tensor *x, *y, *writes[2];
} block;

static float *rand_f(trng *r, size_t n, float scale) {
    float *p = malloc(n * sizeof *p);
    if (p) fill_uniform(r, p, n, -scale, scale);
    return p;
}

/* The weights, shared by both graphs of a context. */
typedef struct weights {
    skim_tensor *norm, *w_in, *w_a, *w_b, *w_o, *conv, *w_g, *w_u, *w_d;
    skim_tensor *conv_state, *rec_state;
} weights;

static skim_tensor *normed(skim_context *ctx, skim_tensor *x, const weights *w) {
    return skim_mul(ctx, skim_rms_norm(ctx, x, 1e-5f), w->norm);
}

static void build_block(skim_context *ctx, const weights *w, int64_t n, block *b) {
    b->x = skim_new_input_2d(ctx, SKIM_TYPE_F32, D, n);
    skim_tensor *h = normed(ctx, b->x, w);
    skim_tensor *cv = skim_causal_conv(ctx, skim_mul_mat(ctx, w->w_in, h), w->conv, w->conv_state);
    size_t nb[4] = {4, D * 4, 0, 0};
    skim_tensor *v = skim_silu(ctx, skim_view(ctx, cv, 2, (const int64_t[]){D, n}, nb, 0));
    b->writes[0] = skim_cpy(ctx, skim_view(ctx, cv, 2, (const int64_t[]){D, K - 1}, nb,
                                           (size_t)(n * D) * 4), w->conv_state);
    skim_tensor *ga = skim_sigmoid(ctx, skim_mul_mat(ctx, w->w_a, h));
    skim_tensor *gb = skim_sigmoid(ctx, skim_mul_mat(ctx, w->w_b, h));
    skim_tensor *r = skim_linear_rec(ctx, v, ga, gb, w->rec_state);
    b->writes[1] = skim_cpy(ctx, skim_view(ctx, r, 1, (const int64_t[]){D}, nb,
                                           (size_t)((n - 1) * D) * 4), w->rec_state);
    skim_tensor *x2 = skim_add(ctx, b->x, skim_mul_mat(ctx, w->w_o, r));
    skim_tensor *h2 = normed(ctx, x2, w);
    skim_tensor *m = skim_swiglu(ctx, skim_mul_mat(ctx, w->w_g, h2), skim_mul_mat(ctx, w->w_u, h2));
    b->y = skim_add(ctx, x2, skim_mul_mat(ctx, w->w_d, m));
}

/* y gets N_TOK * D floats: the block's output for each token, decoded one per run (n = 1)
 * or in one run (n = N_TOK). */
static bool run(skim_backend *be, const weights *w, skim_context *ctx, int64_t n,
                const float *x, float *y) {
    block b;
    build_block(ctx, w, n, &b);
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    skim_tensor *outs[3] = {b.y, b.writes[0], b.writes[1]};
    skim_status s = skim_graph_build(ctx, outs, 3, &g);
    CHECK(s == SKIM_OK, "graph_build -> %s: %s", skim_status_str(s), skim_context_error(ctx));
    if (s == SKIM_OK) {
        s = skim_plan_create(be, g, NULL, &p);
        CHECK(s == SKIM_OK, "plan_create on %s -> %s: %s", skim_backend_name(be),
              skim_status_str(s), skim_backend_error(be));
    }
    for (int64_t t = 0; s == SKIM_OK && t < N_TOK; t += n) {
        s = skim_plan_set_input(p, b.x, x + t * D, (size_t)(n * D) * sizeof(float));
        if (s == SKIM_OK) s = skim_plan_run(p);
        CHECK(s == SKIM_OK, "run on %s, token %lld -> %s: %s", skim_backend_name(be),
              (long long)t, skim_status_str(s), skim_plan_error(p));
        if (s == SKIM_OK && !read_f32(p, b.y, y + t * D, "y")) s = SKIM_ERR_STATE;
    }
    skim_plan_destroy(p);
    skim_graph_destroy(g);
    return s == SKIM_OK;
}

int main(void) {
    skim_backend *be[4];
    int unavailable = 0, nbe = test_backend_open(be, &unavailable);
    if (nbe == 0) return 1;
    trng r;
    trng_seed(&r, 20261202);
    float *data[9] = {
        rand_f(&r, D, 0.2f), rand_f(&r, (size_t)D * D, 0.15f), rand_f(&r, (size_t)D * D, 0.15f),
        rand_f(&r, (size_t)D * D, 0.15f), rand_f(&r, (size_t)D * D, 0.15f), rand_f(&r, (size_t)K * D, 0.5f),
        rand_f(&r, (size_t)D * F, 0.15f), rand_f(&r, (size_t)D * F, 0.15f), rand_f(&r, (size_t)F * D, 0.1f)};
    for (int i = 0; i < D; i++) data[0][i] += 1.0f; /* the norm's gain near 1 */
    float *x = rand_f(&r, (size_t)N_TOK * D, 1.0f);
    float *y[5];
    for (int i = 0; i < 5; i++) y[i] = calloc((size_t)N_TOK * D, sizeof(float));
    /* y[0..nbe-1]: decoded on backend i; y[4]: all tokens at once on the CPU */
    for (int i = 0; i <= nbe; i++) {
        int bi = i == nbe ? 0 : i;
        skim_context *ctx = NULL;
        if (skim_context_create(NULL, &ctx) != SKIM_OK) return 1;
        weights w = {
            .norm = skim_new_weight(ctx, SKIM_TYPE_F32, 1, (const int64_t[]){D}, data[0]),
            .w_in = skim_new_weight_2d(ctx, SKIM_TYPE_F32, D, D, data[1]),
            .w_a = skim_new_weight_2d(ctx, SKIM_TYPE_F32, D, D, data[2]),
            .w_b = skim_new_weight_2d(ctx, SKIM_TYPE_F32, D, D, data[3]),
            .w_o = skim_new_weight_2d(ctx, SKIM_TYPE_F32, D, D, data[4]),
            .conv = skim_new_weight_2d(ctx, SKIM_TYPE_F32, K, D, data[5]),
            .w_g = skim_new_weight_2d(ctx, SKIM_TYPE_F32, D, F, data[6]),
            .w_u = skim_new_weight_2d(ctx, SKIM_TYPE_F32, D, F, data[7]),
            .w_d = skim_new_weight_2d(ctx, SKIM_TYPE_F32, F, D, data[8]),
            .conv_state = skim_new_state(ctx, SKIM_TYPE_F32, 2, (const int64_t[]){D, K - 1}, 0.0f),
            .rec_state = skim_new_state(ctx, SKIM_TYPE_F32, 1, (const int64_t[]){D}, 0.0f)};
        run(be[bi], &w, ctx, i == nbe ? N_TOK : 1, x, y[i == nbe ? 4 : i]);
        skim_context_destroy(ctx);
    }
    double *ref = malloc((size_t)N_TOK * D * sizeof *ref), worst[5] = {0};
    for (int t = 0; t < N_TOK; t++) {
        for (int j = 0; j < D; j++) ref[j] = y[0][t * D + j];
        for (int i = 1; i < 5; i++) {
            if (i < 4 && i >= nbe) continue;
            double e = nmse_f32(y[i] + t * D, ref, D);
            worst[i] = e > worst[i] ? e : worst[i];
            CHECK(e <= TOL, "token %d: %s against the CPU's decode: NMSE %.3g > %.0e", t,
                  i == 4 ? "the CPU over all tokens at once" : skim_backend_name(be[i]), e, TOL);
        }
    }
    for (int i = 1; i < nbe; i++)
        printf("%s decode against the CPU's, %d tokens: largest NMSE per token %.3g\n",
               skim_backend_name(be[i]), N_TOK, worst[i]);
    printf("cpu, all %d tokens at once against one per run: largest NMSE per token %.3g\n",
           N_TOK, worst[4]);
    for (int i = 0; i < 9; i++) free(data[i]);
    for (int i = 0; i < 5; i++) free(y[i]);
    free(x);
    free(ref);
    for (int i = 0; i < nbe; i++) skim_backend_destroy(be[i]);
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures ? 1 : unavailable ? TEST_SKIP : 0;
}
