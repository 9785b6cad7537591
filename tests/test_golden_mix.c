/* test_golden_mix.c - the goldens of the sequence mixers (causal_conv, linear_rec): against a
 * double-precision reference written here, on every backend; then as a decode loop, where
 * the same tokens run all at once, one per run with the state carried in a state tensor,
 * and as a prompt followed by one-token runs of a second plan sharing the state through a
 * store, each giving the reference's outputs and final state; then the builder's
 * refusals of bad shapes, each with its status. */
#include "golden.h"

/* ================================================================ the decode loop */

/* One mixer over T tokens of its inputs (each [ch[i], T], rows one token), reading and
 * writing back its states (made unless st[i] is set); y is the output [C, T], fin[i]
 * the write of state i. */
typedef struct mix_net {
    int n_in;
    int64_t ch[4];
    skim_tensor *in[4];
    skim_tensor *y;
    int n_st;
    skim_tensor *st[2], *fin[2];
} mix_net;
typedef void (*mix_build_fn)(skim_context *ctx, int64_t n_tok, const void *arg, mix_net *m);

/* Runs tokens t0..t1-1 through plan p in runs of `per` tokens, y rows into y. */
static skim_status run_tokens(skim_plan *p, const mix_net *m, float *const *data, int64_t t0,
                              int64_t t1, int64_t per, float *y) {
    int64_t c = skim_tensor_ne(m->y, 0);
    skim_status s = SKIM_OK;
    for (int64_t t = t0; s == SKIM_OK && t < t1; t += per) {
        for (int i = 0; i < m->n_in && s == SKIM_OK; i++) {
            s = skim_plan_set_input(p, m->in[i], data[i] + t * m->ch[i],
                                    (size_t)(per * m->ch[i]) * sizeof(float));
        }
        if (s == SKIM_OK) s = skim_plan_run(p);
        CHECK(s == SKIM_OK, "decode loop: token %lld: %s: %s", (long long)t,
              skim_status_str(s), skim_plan_error(p));
        if (s == SKIM_OK && !read_f32(p, m->y, y + t * c, "y")) s = SKIM_ERR_STATE;
    }
    return s;
}

/* Three ways through T tokens on backend be, inputs from data[i] (ch[i] * T floats):
 * pass 0 one run of the net built for T tokens; pass 1 T runs of the net built for one
 * token; pass 2 a prompt net of n_prompt tokens, then the one-token net for the rest,
 * both in one context sharing the states through a store. y[pass] gets C * T floats,
 * st[pass] the final state 0. Returns false after recording a failure. */
static bool mix_runs(skim_backend *be, mix_build_fn build, const void *arg, int64_t n_tok,
                     int64_t n_prompt, float *const *data, float *const *y, float *const *st) {
    bool ok = true;
    for (int pass = 0; pass < 3 && ok; pass++) {
        skim_context *ctx = NULL;
        skim_graph *g[2] = {NULL, NULL};
        skim_plan *p[2] = {NULL, NULL};
        skim_store *store = NULL;
        mix_net m[2];
        memset(m, 0, sizeof m);
        CHECK_OK(skim_context_create(NULL, &ctx), "context");
        if (!ctx) return false;
        int n_g = pass == 2 ? 2 : 1;
        int64_t len[2] = {pass == 0 ? n_tok : pass == 1 ? 1 : n_prompt, 1};
        skim_status s = SKIM_OK;
        for (int k = 0; k < n_g && s == SKIM_OK; k++) {
            if (k) memcpy(m[1].st, m[0].st, sizeof m[1].st); /* the prompt's states */
            build(ctx, len[k], arg, &m[k]);
            skim_tensor *outs[3] = {m[k].y, m[k].fin[0], m[k].fin[1]};
            s = skim_graph_build(ctx, outs, 1 + m[k].n_st, &g[k]);
            CHECK(s == SKIM_OK, "decode loop: graph_build -> %s: %s", skim_status_str(s),
                  skim_context_error(ctx));
        }
        if (s == SKIM_OK && n_g == 2) {
            s = skim_store_create(be, g, 2, &store);
            CHECK(s == SKIM_OK, "decode loop: store_create -> %s: %s", skim_status_str(s),
                  skim_backend_error(be));
        }
        skim_plan_desc pd = {.store = store};
        for (int k = 0; k < n_g && s == SKIM_OK; k++) {
            s = skim_plan_create(be, g[k], &pd, &p[k]);
            CHECK(s == SKIM_OK, "decode loop: plan_create -> %s: %s", skim_status_str(s),
                  skim_backend_error(be));
        }
        if (s == SKIM_OK) {
            int64_t split = pass == 2 ? n_prompt : 0;
            if (split > 0) s = run_tokens(p[0], &m[0], data, 0, split, split, y[pass]);
            if (s == SKIM_OK) {
                int k = n_g - 1;
                s = run_tokens(p[k], &m[k], data, split, n_tok, len[k], y[pass]);
                if (s == SKIM_OK && !read_f32(p[k], m[k].st[0], st[pass], "state")) {
                    s = SKIM_ERR_STATE;
                }
            }
        }
        ok = s == SKIM_OK;
        for (int k = 0; k < 2; k++) {
            skim_plan_destroy(p[k]);
            skim_graph_destroy(g[k]);
        }
        skim_store_destroy(store);
        skim_context_destroy(ctx);
    }
    return ok;
}

/* The three ways of every backend against the references (y_ref C * T, st_ref n_st values). */
static int mix_check(const char *what, mix_build_fn build, const void *arg, int64_t c,
                     int64_t n_tok, float *const *data, const double *y_ref,
                     const double *st_ref, int64_t n_st, double tol) {
    static const char *const ways[3] = {"all tokens at once", "one token per run",
                                        "a prompt, then one token per run"};
    int before = t_failures;
    float *y[3], *st[3];
    for (int k = 0; k < 3; k++) {
        y[k] = falloc(c * n_tok);
        st[k] = falloc(n_st);
    }
    for (int b = 0; b < G_nbe; b++) {
        if (!mix_runs(G_be[b], build, arg, n_tok, n_tok / 2, data, y, st)) continue;
        const char *be = skim_backend_name(G_be[b]);
        for (int k = 0; k < 3; k++) {
            double e;
            CHECK((e = nmse_f32(y[k], y_ref, (size_t)(c * n_tok))) <= tol,
                  "%s on %s, %lld tokens, %s: NMSE %.3g > %.0e", what, be, (long long)n_tok,
                  ways[k], e, tol);
            CHECK((e = nmse_f32(st[k], st_ref, (size_t)n_st)) <= tol,
                  "%s on %s, %lld tokens, %s: the final state's NMSE %.3g > %.0e", what, be,
                  (long long)n_tok, ways[k], e, tol);
        }
    }
    for (int k = 0; k < 3; k++) {
        free(y[k]);
        free(st[k]);
    }
    return t_failures - before;
}

/* A builder call that must fail with `want`, the message naming the op. */
static int expect_refusal(skim_context *ctx, const skim_tensor *t, skim_status want,
                          const char *op, const char *what) {
    skim_status got = skim_context_status(ctx);
    const char *msg = skim_context_error(ctx);
    int f = 0;
    if (t || got != want || !msg || !strstr(msg, op)) {
        t_fail(__FILE__, __LINE__, "%s: %s -> %s (%s), %s naming %s expected", op, what,
               skim_status_str(got), msg ? msg : "", skim_status_str(want), op);
        f = 1;
    }
    skim_context_clear_error(ctx);
    return f;
}

/* ================================================================ causal_conv */

/* xs = state rows (or zeros) then x rows; y[c, t] = sum_j w[j, c] xs[c, t + j]. */
static void ref_causal_conv(const double *xs, const float *w, int64_t c, int64_t n_tok,
                            int64_t k, double *out) {
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < c; i++) {
            double acc = 0;
            for (int64_t j = 0; j < k; j++) acc += (double)w[i * k + j] * xs[(t + j) * c + i];
            out[t * c + i] = acc;
        }
    for (int64_t r = n_tok; r < n_tok + k - 1; r++)
        for (int64_t i = 0; i < c; i++) out[r * c + i] = xs[r * c + i];
}

static double *conv_xs(const float *state, const float *x, int64_t c, int64_t n_tok,
                       int64_t k, int64_t x_stride) {
    double *xs = dalloc(c * (n_tok + k - 1));
    for (int64_t r = 0; r < k - 1; r++)
        for (int64_t i = 0; i < c; i++) xs[r * c + i] = state ? state[r * c + i] : 0.0;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < c; i++) xs[(k - 1 + t) * c + i] = x[t * x_stride + i];
    return xs;
}

typedef struct conv_arg {
    int64_t c, k;
    const float *w;
    float fill;
} conv_arg;

static void conv_net(skim_context *ctx, int64_t n_tok, const void *arg, mix_net *m) {
    const conv_arg *a = arg;
    int64_t c = a->c, k = a->k;
    m->n_in = 1;
    m->ch[0] = c;
    m->in[0] = skim_new_input_2d(ctx, SKIM_TYPE_F32, c, n_tok);
    skim_tensor *w = skim_new_weight_2d(ctx, SKIM_TYPE_F32, k, c, a->w);
    m->n_st = 1;
    if (!m->st[0]) m->st[0] = skim_new_state(ctx, SKIM_TYPE_F32, 2, NE(c, k - 1), a->fill);
    skim_tensor *out = skim_causal_conv(ctx, m->in[0], w, m->st[0]);
    size_t nb[4] = {4, (size_t)c * 4, 0, 0};
    m->y = skim_view(ctx, out, 2, NE(c, n_tok), nb, 0);
    skim_tensor *next = skim_view(ctx, out, 2, NE(c, k - 1), nb, (size_t)(n_tok * c) * 4);
    m->fin[0] = skim_cpy(ctx, next, m->st[0]);
}

static int conv_decode(int64_t c, int64_t n_tok, int64_t k) {
    float *x = falloc(c * n_tok), *w = falloc(k * c), *st0 = falloc(c * (k - 1));
    fill_uniform(&G_rng, x, (size_t)(c * n_tok), -1, 1);
    fill_uniform(&G_rng, w, (size_t)(k * c), -1, 1);
    conv_arg a = {c, k, w, 0.5f};
    for (int64_t i = 0; i < c * (k - 1); i++) st0[i] = a.fill;
    double *xs = conv_xs(st0, x, c, n_tok, k, c), *ref = dalloc(c * (n_tok + k - 1));
    ref_causal_conv(xs, w, c, n_tok, k, ref);
    char what[96];
    snprintf(what, sizeof what, "causal_conv decode C %lld K %lld", (long long)c, (long long)k);
    int f = mix_check(what, conv_net, &a, c, n_tok, &x, ref, ref + n_tok * c, c * (k - 1),
                      TOL(CAUSAL_CONV));
    free(x);
    free(w);
    free(st0);
    free(xs);
    free(ref);
    return f;
}

static int conv_refusals(void) {
    skim_context *ctx = NULL;
    if (skim_context_create(NULL, &ctx) != SKIM_OK) return 1;
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 5);
    skim_tensor *w = skim_new_input_2d(ctx, SKIM_TYPE_F32, 4, 8);
    skim_tensor *st = skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 3);
    const char *op = "causal_conv";
    int f = 0;
    if (skim_causal_conv(NULL, x, w, st)) f++, t_fail(__FILE__, __LINE__, "causal_conv: built without a context");
    f += expect_refusal(ctx, skim_causal_conv(ctx, NULL, w, st), SKIM_ERR_INVALID_ARG, op, "x NULL");
    f += expect_refusal(ctx, skim_causal_conv(ctx, x, skim_new_input_2d(ctx, SKIM_TYPE_F32, 4, 7), st),
                        SKIM_ERR_SHAPE, op, "w of 7 channels for x of 8");
    f += expect_refusal(ctx, skim_causal_conv(ctx, x, w, skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 2)),
                        SKIM_ERR_SHAPE, op, "a state of 2 rows for 4 taps");
    f += expect_refusal(ctx, skim_causal_conv(ctx, x, skim_new_input_2d(ctx, SKIM_TYPE_F32, 1, 8), st),
                        SKIM_ERR_SHAPE, op, "a state for 1 tap");
    f += expect_refusal(ctx, skim_causal_conv(ctx, skim_new_input(ctx, SKIM_TYPE_F32, 3, NE(8, 5, 2)),
                                              w, st), SKIM_ERR_SHAPE, op, "x 3-D");
    f += expect_refusal(ctx, skim_causal_conv(ctx, skim_new_input_2d(ctx, SKIM_TYPE_F16, 8, 5), w, st),
                        SKIM_ERR_TYPE, op, "x F16");
    skim_tensor *sel = skim_select_topk(ctx, skim_new_input_1d(ctx, SKIM_TYPE_F32, 5), 2);
    f += expect_refusal(ctx, skim_causal_conv(ctx, skim_get_rows_sel(ctx, x, sel), w, st),
                        SKIM_ERR_SELECTION, op, "x bounded by a selection");
    skim_context_destroy(ctx);
    return f;
}

int golden_causal_conv(void) {
    /* C, T, K, with a state, x as a view with rows this far apart (0: contiguous) */
    static const int64_t cases[][5] = {
        {1, 1, 1, 0, 0}, {1, 1, 2, 1, 0}, {7, 5, 3, 1, 0}, {7, 5, 3, 0, 0}, {5, 2, 4, 1, 0},
        {300, 2, 4, 1, 0}, {64, 600, 4, 1, 0}, {33, 9, 2, 1, 40}, {16, 3, 1, 0, 20}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int64_t c = cases[ci][0], n_tok = cases[ci][1], k = cases[ci][2];
        bool has_st = cases[ci][3] != 0;
        int64_t stride = cases[ci][4] ? cases[ci][4] : c;
        tc tcase;
        tc_begin(&tcase, "causal_conv x[%lld,%lld] K %lld%s%s", (long long)c, (long long)n_tok,
                 (long long)k, has_st ? " state" : "", cases[ci][4] ? " strided x" : "");
        float *xd, *wd, *sd = NULL;
        skim_tensor *tx = tc_input_f32(&tcase, &G_rng, 2, NE(stride, n_tok), -1, 1, &xd);
        if (stride != c) tx = view2(tcase.ctx, tx, c, n_tok, stride, 0);
        skim_tensor *tw = tc_input_f32(&tcase, &G_rng, 2, NE(k, c), -1, 1, &wd);
        skim_tensor *ts = has_st ? tc_input_f32(&tcase, &G_rng, 2, NE(c, k - 1), -1, 1, &sd) : NULL;
        double *xs = conv_xs(sd, xd, c, n_tok, k, stride), *ref = dalloc(c * (n_tok + k - 1));
        ref_causal_conv(xs, wd, c, n_tok, k, ref);
        tc_expect_f32(&tcase, skim_causal_conv(tcase.ctx, tx, tw, ts), ref, c * (n_tok + k - 1),
                      TOL(CAUSAL_CONV));
        f += RUN(&tcase);
        free(xs);
        free(ref);
    }
    f += conv_decode(6, 7, 4);   /* T > K - 1 */
    f += conv_decode(300, 2, 4); /* T < K - 1: the next state keeps rows of the old one */
    f += conv_decode(3, 5, 2);
    f += conv_refusals();
    return f;
}

/* ================================================================ linear_rec */

/* h_t = a_t h_{t-1} + b_t x_t from h0 (NULL: zeros); x, a, b rows `stride` apart. */
static void ref_linear_rec(const float *x, const float *a, const float *b, int64_t stride,
                           const float *h0, int64_t c, int64_t n_tok, double *out) {
    for (int64_t i = 0; i < c; i++) {
        double h = h0 ? h0[i] : 0.0;
        for (int64_t t = 0; t < n_tok; t++) {
            int64_t e = t * stride + i;
            h = (double)a[e] * h + (double)b[e] * x[e];
            out[t * c + i] = h;
        }
    }
}

typedef struct rec_arg {
    int64_t c;
    float fill;
} rec_arg;

static void rec_net(skim_context *ctx, int64_t n_tok, const void *arg, mix_net *m) {
    const rec_arg *ra = arg;
    int64_t c = ra->c;
    m->n_in = 3;
    for (int i = 0; i < 3; i++) {
        m->ch[i] = c;
        m->in[i] = skim_new_input_2d(ctx, SKIM_TYPE_F32, c, n_tok);
    }
    m->n_st = 1;
    if (!m->st[0]) m->st[0] = skim_new_state(ctx, SKIM_TYPE_F32, 1, NE(c), ra->fill);
    m->y = skim_linear_rec(ctx, m->in[0], m->in[1], m->in[2], m->st[0]);
    size_t nb[4] = {4, 0, 0, 0};
    skim_tensor *last = skim_view(ctx, m->y, 1, NE(c), nb, (size_t)((n_tok - 1) * c) * 4);
    m->fin[0] = skim_cpy(ctx, last, m->st[0]);
}

static int rec_decode(int64_t c, int64_t n_tok) {
    float *d[3];
    for (int i = 0; i < 3; i++) {
        d[i] = falloc(c * n_tok);
        fill_uniform(&G_rng, d[i], (size_t)(c * n_tok), i == 1 ? 0 : -1, 1);
    }
    rec_arg ra = {c, 0.25f};
    float *h0 = falloc(c);
    for (int64_t i = 0; i < c; i++) h0[i] = ra.fill;
    double *ref = dalloc(c * n_tok);
    ref_linear_rec(d[0], d[1], d[2], c, h0, c, n_tok, ref);
    char what[96];
    snprintf(what, sizeof what, "linear_rec decode C %lld", (long long)c);
    int f = mix_check(what, rec_net, &ra, c, n_tok, d, ref, ref + (n_tok - 1) * c, c,
                      TOL(LINEAR_REC));
    for (int i = 0; i < 3; i++) free(d[i]);
    free(h0);
    free(ref);
    return f;
}

static int rec_refusals(void) {
    skim_context *ctx = NULL;
    if (skim_context_create(NULL, &ctx) != SKIM_OK) return 1;
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 5);
    skim_tensor *a = skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 5);
    skim_tensor *h = skim_new_input_1d(ctx, SKIM_TYPE_F32, 8);
    const char *op = "linear_rec";
    int f = 0;
    if (skim_linear_rec(NULL, x, a, a, h)) f++, t_fail(__FILE__, __LINE__, "linear_rec: built without a context");
    f += expect_refusal(ctx, skim_linear_rec(ctx, x, a, NULL, h), SKIM_ERR_INVALID_ARG, op, "b NULL");
    f += expect_refusal(ctx, skim_linear_rec(ctx, x, skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 4), a, h),
                        SKIM_ERR_SHAPE, op, "a of 4 tokens for x of 5");
    f += expect_refusal(ctx, skim_linear_rec(ctx, x, a, skim_new_input_2d(ctx, SKIM_TYPE_F32, 9, 5), h),
                        SKIM_ERR_SHAPE, op, "b of 9 channels for x of 8");
    f += expect_refusal(ctx, skim_linear_rec(ctx, x, a, a, skim_new_input_1d(ctx, SKIM_TYPE_F32, 7)),
                        SKIM_ERR_SHAPE, op, "h of 7 channels");
    f += expect_refusal(ctx, skim_linear_rec(ctx, x, a, a, skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 2)),
                        SKIM_ERR_SHAPE, op, "h of two rows");
    skim_tensor *x3 = skim_new_input(ctx, SKIM_TYPE_F32, 3, NE(8, 5, 2));
    f += expect_refusal(ctx, skim_linear_rec(ctx, x3, x3, x3, h), SKIM_ERR_SHAPE, op, "x 3-D");
    f += expect_refusal(ctx, skim_linear_rec(ctx, x, skim_new_input_2d(ctx, SKIM_TYPE_F16, 8, 5), a, h),
                        SKIM_ERR_TYPE, op, "a F16");
    skim_tensor *sel = skim_select_topk(ctx, skim_new_input_1d(ctx, SKIM_TYPE_F32, 5), 2);
    skim_tensor *xb = skim_get_rows_sel(ctx, x, sel);
    f += expect_refusal(ctx, skim_linear_rec(ctx, xb, xb, xb, h), SKIM_ERR_SELECTION, op,
                        "x bounded by a selection");
    skim_context_destroy(ctx);
    return f;
}

int golden_linear_rec(void) {
    /* C, T, with h, x a b as views of one [3C, T] tensor */
    static const int64_t cases[][4] = {{1, 1, 1, 0}, {7, 5, 1, 0}, {7, 5, 0, 0}, {300, 3, 1, 0},
                                       {100, 600, 1, 0}, {70, 9, 1, 1}, {5, 1, 0, 1}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int64_t c = cases[ci][0], n_tok = cases[ci][1];
        bool has_h = cases[ci][2] != 0, packed = cases[ci][3] != 0;
        int64_t stride = packed ? 3 * c : c;
        tc tcase;
        tc_begin(&tcase, "linear_rec x[%lld,%lld]%s%s", (long long)c, (long long)n_tok,
                 has_h ? " h" : "", packed ? " packed views" : "");
        float *d[3], *hd = NULL;
        skim_tensor *t[3], *th = NULL;
        if (packed) {
            float *all;
            skim_tensor *ta = tc_input_f32(&tcase, &G_rng, 2, NE(stride, n_tok), -1, 1, &all);
            for (int64_t r = 0; r < n_tok; r++) /* the gate a in [0, 1) */
                for (int64_t i = 0; i < c; i++) all[r * stride + c + i] = 0.5f * (all[r * stride + c + i] + 1);
            for (int i = 0; i < 3; i++) {
                t[i] = view2(tcase.ctx, ta, c, n_tok, stride, i * c);
                d[i] = all + i * c;
            }
        } else {
            for (int i = 0; i < 3; i++)
                t[i] = tc_input_f32(&tcase, &G_rng, 2, NE(c, n_tok), i == 1 ? 0 : -1, 1, &d[i]);
        }
        if (has_h) th = tc_input_f32(&tcase, &G_rng, 1, NE(c), -1, 1, &hd);
        double *ref = dalloc(c * n_tok);
        ref_linear_rec(d[0], d[1], d[2], stride, hd, c, n_tok, ref);
        tc_expect_f32(&tcase, skim_linear_rec(tcase.ctx, t[0], t[1], t[2], th), ref, c * n_tok,
                      TOL(LINEAR_REC));
        f += RUN(&tcase);
        free(ref);
    }
    f += rec_decode(6, 7);
    f += rec_decode(300, 33);
    f += rec_refusals();
    return f;
}
