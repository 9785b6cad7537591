/* test_property.c - random small gated transformer stacks. For every seed:
 * - SKIP and MASKED_DENSE runs agree within PROP_TOL on every layer's output;
 * - the selections read back equal the ones computed here from the inputs, and the
 *   outputs equal a double-precision reference of the masked dense stack written here;
 * - SKIP executed exactly the selected work (head-ops and token-layer ops in the stats);
 * - a halted token's residual row passes through each later layer bit-exactly;
 * - every other backend equals the CPU's skip run within PROP_TOL, with equal stats.
 * Usage: test_property [n_seeds] [first_seed] */
#include "gated_stack.h"
#include "test_backends.h"

#include "skim-cpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Skip and masked-dense compute the same products in possibly different orders; after up
 * to four layers the largest single-op tolerance (1e-9) grows. */
#define PROP_TOL 1e-8
/* Against the double-precision reference: float rounding through up to four layers. */
#define REF_TOL 1e-9

typedef struct expect_sel {
    int32_t tok_count, tok[64];
    int32_t head_counts[8], head_idx[8 * 64];
    int groups, cap;
} expect_sel;

static bool keep_tok(float p, float tau) { return isnan(p) || p < tau; }
static bool keep_head(float s, float tau) { return isnan(s) || s >= tau; }

/* The selections of every layer, from the inputs, and the work they imply. */
static void expected(const gs_model *m, expect_sel *e, int64_t *head_ops, int64_t *tok_ops,
                     int64_t *nans) {
    const gs_config *c = &m->cfg;
    int32_t prev[64], n_prev = c->n_tok;
    for (int t = 0; t < c->n_tok; t++) prev[t] = t;
    *head_ops = *tok_ops = *nans = 0;
    for (int l = 0; l < c->n_layer; l++) {
        const gs_layer *L = &m->layers[l];
        expect_sel *x = &e[l];
        x->tok_count = 0;
        for (int i = 0; i < n_prev; i++) {
            float p = L->halt[prev[i]];
            *nans += isnan(p);
            if (keep_tok(p, L->tau_halt)) x->tok[x->tok_count++] = prev[i];
        }
        int T = x->tok_count;
        *tok_ops += T;
        if (!c->per_token[l]) {
            x->groups = 1;
            x->cap = c->n_head;
            x->head_counts[0] = 0;
            for (int h = 0; h < c->n_head; h++) {
                *nans += isnan(L->gate[h]);
                if (keep_head(L->gate[h], L->tau_head)) x->head_idx[x->head_counts[0]++] = h;
            }
            *head_ops += (int64_t)x->head_counts[0] * T;
        } else {
            /* Indices are rows of the compact tensor: row i is token tok[i]. */
            x->groups = c->n_head;
            x->cap = c->n_tok;
            for (int h = 0; h < c->n_head; h++) {
                x->head_counts[h] = 0;
                for (int i = 0; i < T; i++) {
                    float s = L->gate[x->tok[i] * c->n_head + h];
                    *nans += isnan(s);
                    if (keep_head(s, L->tau_head)) x->head_idx[h * c->n_tok + x->head_counts[h]++] = i;
                }
                *head_ops += x->head_counts[h];
            }
        }
        memcpy(prev, x->tok, sizeof prev);
        n_prev = T;
    }
}


/* ---------------------------------------------------------------- independent reference */

/* The stack in double precision, written from the op definitions: the dense-equivalence
 * law's masked dense run (skipped heads output zero, halted tokens get no update and are
 * absent as keys), independent of both CPU modes. x gets every layer's output. */
static double *deq(const gs_model *m, int i, int64_t n) {
    double *d = malloc((size_t)n * sizeof(double));
    to_double(m->cfg.f16_weights ? SKIM_TYPE_F16 : SKIM_TYPE_F32, m->weights[i], d, n);
    return d;
}

static void matvec(const double *w, int64_t K, int64_t M, const double *x, double *y) {
    for (int64_t mm = 0; mm < M; mm++) {
        double acc = 0;
        for (int64_t k = 0; k < K; k++) acc += w[mm * K + k] * x[k];
        y[mm] = acc;
    }
}

static void rmsnorm(const double *x, int64_t n, double *y) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] * x[i];
    s = 1.0 / sqrt(s / n + 1e-5);
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * s;
}

static void rope1(double *v, int64_t hd, int pos, bool neox) {
    for (int64_t i = 0; i < hd / 2; i++) {
        double th = pos * pow(10000.0, -2.0 * (double)i / (double)hd);
        int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + hd / 2 : 2 * i + 1;
        double a = v[i0], b = v[i1];
        v[i0] = a * cos(th) - b * sin(th);
        v[i1] = a * sin(th) + b * cos(th);
    }
}

static void reference(const gs_model *m, const expect_sel *e, double *out /* [L][T][d] */) {
    const gs_config *c = &m->cfg;
    int64_t d = c->n_embd, T = c->n_tok, nh = c->n_head, nkv = c->n_kv_head, hd = c->head_dim;
    int64_t ff = c->n_ff, Q = nh * hd, KV = nkv * hd;
    double *x = malloc((size_t)(T * d) * sizeof(double));
    for (int64_t i = 0; i < T * d; i++) x[i] = m->x_data[i];
    double *h = malloc((size_t)d * sizeof(double)), *q = malloc((size_t)(T * Q) * sizeof(double));
    double *k = malloc((size_t)(T * KV) * sizeof(double)), *v = malloc((size_t)(T * KV) * sizeof(double));
    double *att = malloc((size_t)(T * Q) * sizeof(double)), *o = malloc((size_t)d * sizeof(double));
    double *g = malloc((size_t)ff * sizeof(double)), *u = malloc((size_t)ff * sizeof(double));
    double *sc = malloc((size_t)T * sizeof(double));
    for (int l = 0; l < c->n_layer; l++) {
        const expect_sel *E = &e[l];
        double *wq = deq(m, l * 7 + 0, d * Q), *wk = deq(m, l * 7 + 1, d * KV), *wv = deq(m, l * 7 + 2, d * KV);
        double *wo = deq(m, l * 7 + 3, Q * d), *wg = deq(m, l * 7 + 4, d * ff), *wu = deq(m, l * 7 + 5, d * ff);
        double *wd = deq(m, l * 7 + 6, ff * d);
        unsigned char act[64 * 8]; /* [compact row i][head] */
        for (int i = 0; i < E->tok_count; i++)
            for (int hh = 0; hh < nh; hh++) act[i * 8 + hh] = 0;
        if (!c->per_token[l]) {
            for (int i = 0; i < E->tok_count; i++)
                for (int j = 0; j < E->head_counts[0]; j++) act[i * 8 + E->head_idx[j]] = 1;
        } else {
            for (int hh = 0; hh < nh; hh++)
                for (int j = 0; j < E->head_counts[hh]; j++) act[E->head_idx[hh * E->cap + j] * 8 + hh] = 1;
        }
        for (int i = 0; i < E->tok_count; i++) {
            int t = E->tok[i];
            rmsnorm(x + t * d, d, h);
            matvec(wq, d, Q, h, q + i * Q);
            matvec(wk, d, KV, h, k + i * KV);
            matvec(wv, d, KV, h, v + i * KV);
            for (int64_t hh = 0; hh < nh; hh++) rope1(q + i * Q + hh * hd, hd, t, false);
            for (int64_t hh = 0; hh < nkv; hh++) rope1(k + i * KV + hh * hd, hd, t, true);
        }
        for (int i = 0; i < E->tok_count; i++)
            for (int64_t hh = 0; hh < nh; hh++) {
                double *ar = att + i * Q + hh * hd;
                for (int64_t j = 0; j < hd; j++) ar[j] = 0;
                if (!act[i * 8 + hh]) continue;
                int64_t kh = hh / (nh / nkv);
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= i; j++) { /* running keys at positions <= the query's */
                    double dot = 0;
                    for (int64_t z = 0; z < hd; z++) dot += q[i * Q + hh * hd + z] * k[j * KV + kh * hd + z];
                    sc[j] = dot / sqrt((double)hd);
                    mx = fmax(mx, sc[j]);
                }
                for (int j = 0; j <= i; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int j = 0; j <= i; j++)
                    for (int64_t z = 0; z < hd; z++) ar[z] += sc[j] / sum * v[j * KV + kh * hd + z];
            }
        for (int i = 0; i < E->tok_count; i++) {
            double *xr = x + E->tok[i] * d;
            matvec(wo, Q, d, att + i * Q, o);
            for (int64_t z = 0; z < d; z++) xr[z] += o[z];
        }
        for (int i = 0; i < E->tok_count; i++) {
            double *xr = x + E->tok[i] * d;
            rmsnorm(xr, d, h);
            matvec(wg, d, ff, h, g);
            matvec(wu, d, ff, h, u);
            for (int64_t z = 0; z < ff; z++) g[z] = g[z] / (1.0 + exp(-g[z])) * u[z];
            matvec(wd, ff, d, g, o);
            for (int64_t z = 0; z < d; z++) xr[z] += o[z];
        }
        memcpy(out + l * T * d, x, (size_t)(T * d) * sizeof(double));
        free(wq); free(wk); free(wv); free(wo); free(wg); free(wu); free(wd);
    }
    free(x); free(h); free(q); free(k); free(v); free(att); free(o); free(g); free(u); free(sc);
}

static void check_sel(skim_plan *p, const skim_tensor *sel, int groups, int cap,
                      const int32_t *counts, const int32_t *idx, const char *what, int seed, int l) {
    int32_t got_c[64], got_i[8 * 64];
    skim_status s = skim_plan_get_selection(p, sel, got_c, got_i);
    if (s != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "seed %d layer %d %s: get_selection -> %s: %s", seed, l, what,
               skim_status_str(s), skim_plan_error(p));
        return;
    }
    for (int g = 0; g < groups; g++) {
        if (got_c[g] != counts[g]) {
            t_fail(__FILE__, __LINE__, "seed %d layer %d %s group %d: count %d, want %d", seed, l,
                   what, g, got_c[g], counts[g]);
            return;
        }
        if (memcmp(got_i + g * cap, idx + g * cap, (size_t)counts[g] * sizeof(int32_t)) != 0) {
            t_fail(__FILE__, __LINE__, "seed %d layer %d %s group %d: indices differ", seed, l, what, g);
            return;
        }
    }
}

static int run_plan(skim_plan *p, const gs_model *m, const char *what, int seed) {
    skim_status s = gs_set_inputs(m, p);
    if (s == SKIM_OK) s = skim_plan_run(p);
    if (s != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "seed %d %s: set inputs/run -> %s: %s", seed, what,
               skim_status_str(s), skim_plan_error(p));
        return 1;
    }
    return 0;
}

static void one_seed(int seed, skim_backend **be, int n_be) {
    trng r;
    trng_seed(&r, 1000 + (uint64_t)seed);
    gs_config cfg;
    gs_random_config(&r, &cfg);
    gs_model m;
    skim_status s = gs_build(&m, &cfg, &r);
    if (s != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "seed %d: build -> %s: %s", seed, skim_status_str(s),
               skim_context_error(m.ctx));
        gs_free(&m);
        return;
    }
    int64_t d = cfg.n_embd, T = cfg.n_tok, L = cfg.n_layer, n_out = d * T;
    skim_plan *skip[4] = {0}, *dense = NULL;
    skim_plan_desc pd = {0};
    for (int b = 0; b < n_be; b++) {
        s = skim_plan_create(be[b], m.graph, &pd, &skip[b]);
        if (s != SKIM_OK) {
            t_fail(__FILE__, __LINE__, "seed %d [%s]: plan -> %s: %s", seed, skim_backend_name(be[b]),
                   skim_status_str(s), skim_backend_error(be[b]));
            goto out;
        }
    }
    pd.mode = SKIM_MODE_MASKED_DENSE;
    s = skim_plan_create(be[0], m.graph, &pd, &dense);
    if (s != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "seed %d: masked-dense plan -> %s: %s", seed, skim_status_str(s),
               skim_backend_error(be[0]));
        goto out;
    }
    float *o_skip = malloc((size_t)(n_out * L) * sizeof(float));
    float *o_other = malloc((size_t)n_out * sizeof(float));
    for (int run = 0; run < 2; run++) {
        if (run == 1) gs_randomize_gates(&m, &r); /* the same plans, new gates */
        if (run_plan(skip[0], &m, "cpu skip", seed) || run_plan(dense, &m, "cpu masked-dense", seed))
            break;
        char what[96];
        for (int l = 0; l < L; l++) {
            snprintf(what, sizeof what, "seed %d run %d layer %d", seed, run, l);
            read_f32(skip[0], m.layers[l].x_out, o_skip + l * n_out, what);
            read_f32(dense, m.layers[l].x_out, o_other, what);
            double *ref = malloc((size_t)n_out * sizeof(double));
            for (int64_t i = 0; i < n_out; i++) ref[i] = o_skip[l * n_out + i];
            double err = nmse_f32(o_other, ref, (size_t)n_out);
            CHECK(err <= PROP_TOL, "%s: masked-dense differs from skip, NMSE %.3g", what, err);
            free(ref);
        }
        /* selections and the work they imply */
        expect_sel e[GS_MAX_LAYERS];
        int64_t head_ops, tok_ops, nans;
        expected(&m, e, &head_ops, &tok_ops, &nans);
        for (int l = 0; l < L; l++) {
            check_sel(skip[0], m.layers[l].tok_sel, 1, (int)T, &e[l].tok_count, e[l].tok, "token_halt",
                      seed, l);
            check_sel(skip[0], m.layers[l].head_sel, e[l].groups, e[l].cap, e[l].head_counts,
                      e[l].head_idx, "head_gate", seed, l);
        }
        skim_run_stats st;
        memset(&st, 0, sizeof st);
        s = skim_plan_get_stats(skip[0], &st);
        CHECK(s == SKIM_OK, "seed %d: get_stats -> %s", seed, skim_status_str(s));
        if (s == SKIM_OK) {
            CHECK(st.head_ops_executed == head_ops && st.head_ops_dense == L * cfg.n_head * T,
                  "seed %d run %d: head-ops %lld of %lld, want %lld of %lld", seed, run,
                  (long long)st.head_ops_executed, (long long)st.head_ops_dense, (long long)head_ops,
                  (long long)(L * cfg.n_head * T));
            CHECK(st.token_layer_ops_executed == tok_ops && st.token_layer_ops_dense == L * T,
                  "seed %d run %d: token-layer ops %lld of %lld, want %lld of %lld", seed, run,
                  (long long)st.token_layer_ops_executed, (long long)st.token_layer_ops_dense,
                  (long long)tok_ops, (long long)(L * T));
            CHECK(st.flops_executed <= st.flops_dense && st.flops_dense > 0,
                  "seed %d: flops executed %g > dense %g", seed, st.flops_executed, st.flops_dense);
            CHECK(st.nan_scores == nans, "seed %d run %d: nan_scores %lld, want %lld", seed, run,
                  (long long)st.nan_scores, (long long)nans);
            CHECK(st.n_selections == 2 * L, "seed %d: %d selections in stats, want %lld", seed,
                  st.n_selections, (long long)(2 * L));
        }
        /* the independent double-precision reference */
        double *ref_all = malloc((size_t)(n_out * L) * sizeof(double));
        reference(&m, e, ref_all);
        for (int l = 0; l < L; l++) {
            double err = nmse_f32(o_skip + l * n_out, ref_all + l * n_out, (size_t)n_out);
            CHECK(err <= REF_TOL, "seed %d run %d layer %d: skip differs from the double reference, NMSE %.3g",
                  seed, run, l, err);
        }
        free(ref_all);
        /* halted tokens pass through bit-exactly */
        for (int l = 0; l < L; l++) {
            const float *before = l ? o_skip + (l - 1) * n_out : m.x_data;
            unsigned char run_t[64] = {0};
            for (int i = 0; i < e[l].tok_count; i++) run_t[e[l].tok[i]] = 1;
            for (int64_t t = 0; t < T; t++)
                if (!run_t[t] && memcmp(o_skip + l * n_out + t * d, before + t * d, (size_t)d * 4) != 0) {
                    t_fail(__FILE__, __LINE__, "seed %d run %d: halted token %lld changed in layer %d",
                           seed, run, (long long)t, l);
                    break;
                }
        }
        /* other backends against the CPU */
        for (int b = 1; b < n_be; b++) {
            const char *bn = skim_backend_name(be[b]);
            if (run_plan(skip[b], &m, bn, seed)) continue;
            for (int l = 0; l < L; l++) {
                snprintf(what, sizeof what, "seed %d run %d layer %d [%s]", seed, run, l, bn);
                if (!read_f32(skip[b], m.layers[l].x_out, o_other, what)) continue;
                double *ref = malloc((size_t)n_out * sizeof(double));
                for (int64_t i = 0; i < n_out; i++) ref[i] = o_skip[l * n_out + i];
                double err = nmse_f32(o_other, ref, (size_t)n_out);
                CHECK(err <= PROP_TOL, "%s: differs from the CPU, NMSE %.3g", what, err);
                free(ref);
                check_sel(skip[b], m.layers[l].tok_sel, 1, (int)T, &e[l].tok_count, e[l].tok,
                          "token_halt", seed, l);
                check_sel(skip[b], m.layers[l].head_sel, e[l].groups, e[l].cap, e[l].head_counts,
                          e[l].head_idx, "head_gate", seed, l);
            }
            skim_run_stats so;
            if (skim_plan_get_stats(skip[b], &so) == SKIM_OK && s == SKIM_OK)
                CHECK(so.head_ops_executed == st.head_ops_executed &&
                          so.token_layer_ops_executed == st.token_layer_ops_executed &&
                          so.flops_executed == st.flops_executed && so.flops_dense == st.flops_dense &&
                          so.nan_scores == st.nan_scores,
                      "seed %d [%s]: run stats differ from the CPU's", seed, bn);
        }
    }
    free(o_skip);
    free(o_other);
out:
    for (int b = 0; b < n_be; b++) skim_plan_destroy(skip[b]);
    skim_plan_destroy(dense);
    gs_free(&m);
}

int main(int argc, char **argv) {
    skim_backend *be[4];
    int unavailable = 0;
    int n_be = test_backend_open(be, &unavailable);
    if (n_be == 0) return 1;
    /* About 10 s on the CI machine: fewer seeds when each also runs on another backend. */
    int n_seeds = argc > 1 ? atoi(argv[1]) : n_be > 1 ? 200 : 2000;
    int first = argc > 2 ? atoi(argv[2]) : 0;
    double t0 = t_now();
    int done = 0;
    for (int seed = first; seed < first + n_seeds; seed++, done++) {
        int before = t_failures;
        one_seed(seed, be, n_be);
        if (t_failures != before) printf("seed %d failed (rerun: test_property 1 %d)\n", seed, seed);
        if (t_failures > 40) {
            printf("too many failures, stopping\n");
            break;
        }
    }
    for (int i = 0; i < n_be; i++) skim_backend_destroy(be[i]);
    printf("%d seeds in %.1f s: %s, %d failure(s)\n", done, t_now() - t0,
           t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures ? 1 : unavailable ? TEST_SKIP : 0;
}
