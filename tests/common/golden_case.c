#include "golden_case.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tc_begin(tc *c, const char *fmt, ...) {
    va_list ap;
    memset(c, 0, sizeof *c);
    va_start(ap, fmt);
    vsnprintf(c->label, sizeof c->label, fmt, ap);
    va_end(ap);
    c->mode = SKIM_MODE_SKIP;
    skim_status s = skim_context_create(NULL, &c->ctx);
    if (s != SKIM_OK) t_fail(__FILE__, __LINE__, "%s: context_create -> %s", c->label, skim_status_str(s));
}

void *tc_alloc(tc *c, size_t size) {
    if (c->n_keep == TC_MAX_KEEP) {
        t_fail(__FILE__, __LINE__, "%s: too many allocations in a case", c->label);
        return NULL;
    }
    void *p = calloc(1, size ? size : 1);
    if (p) c->keep[c->n_keep++] = p;
    return p;
}

static int64_t nelem(int n_dims, const int64_t *ne) {
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++) n *= ne[i];
    return n;
}

skim_tensor *tc_input(tc *c, skim_type type, int n_dims, const int64_t *ne, const void *data) {
    skim_tensor *t = skim_new_input(c->ctx, type, n_dims, ne);
    if (!t || c->n_in == TC_MAX_IN) return t;
    size_t nb = skim_tensor_nbytes(t);
    void *d = tc_alloc(c, nb);
    if (d && data) memcpy(d, data, nb);
    c->in[c->n_in] = t;
    c->in_data[c->n_in++] = d;
    return t;
}

skim_tensor *tc_input_f32(tc *c, trng *r, int n_dims, const int64_t *ne, float lo, float hi,
                          float **data) {
    int64_t n = nelem(n_dims, ne);
    float *d = tc_alloc(c, (size_t)n * sizeof(float));
    if (!d) return NULL;
    fill_uniform(r, d, (size_t)n, lo, hi);
    skim_tensor *t = tc_input(c, SKIM_TYPE_F32, n_dims, ne, d);
    if (data) *data = c->n_in ? (float *)c->in_data[c->n_in - 1] : d;
    return t;
}

skim_tensor *tc_weight(tc *c, skim_type type, int n_dims, const int64_t *ne, const float *src,
                       double **ref) {
    int64_t n = nelem(n_dims, ne);
    int64_t rows = n / ne[0];
    size_t bytes = skim_row_size(type, ne[0]) * (size_t)rows;
    void *q = tc_alloc(c, bytes);
    double *r = tc_alloc(c, (size_t)n * sizeof(double));
    if (!q || !r) return NULL;
    size_t w = skim_quantize(type, src, q, rows, ne[0]);
    if (w != bytes)
        t_fail(__FILE__, __LINE__, "%s: skim_quantize(%s) wrote %zu bytes, expected %zu",
               c->label, skim_type_name(type), w, bytes);
    if (!to_double(type, q, r, n))
        t_fail(__FILE__, __LINE__, "%s: skim_dequantize(%s) failed", c->label, skim_type_name(type));
    if (ref) *ref = r;
    return skim_new_weight(c->ctx, type, n_dims, ne, q);
}

skim_tensor *tc_param(tc *c, int32_t min, int32_t max, int32_t def, int32_t value) {
    skim_tensor *t = skim_new_param(c->ctx, min, max, def);
    if (t && c->n_par < 4) {
        c->par[c->n_par] = t;
        c->par_val[c->n_par++] = value;
    }
    return t;
}

static tc_expect *add_exp(tc *c, tc_kind kind, const skim_tensor *t) {
    if (c->n_exp == TC_MAX_EXP) {
        t_fail(__FILE__, __LINE__, "%s: too many expectations", c->label);
        return NULL;
    }
    tc_expect *e = &c->exp[c->n_exp++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->t = t;
    e->output = true;
    e->nan_count = -1;
    return e;
}

tc_expect *tc_expect_f32(tc *c, const skim_tensor *t, const double *ref, int64_t n_valid, double tol) {
    tc_expect *e = add_exp(c, TC_F32, t);
    if (!e) return NULL;
    e->ref = tc_alloc(c, (size_t)n_valid * sizeof(double));
    if (e->ref) memcpy(e->ref, ref, (size_t)n_valid * sizeof(double));
    e->n_valid = n_valid;
    e->tol = tol;
    return e;
}

void tc_expect_i32(tc *c, const skim_tensor *t, const int32_t *ref, int64_t n) {
    tc_expect *e = add_exp(c, TC_I32, t);
    if (!e) return;
    e->iref = tc_alloc(c, (size_t)n * sizeof(int32_t));
    if (e->iref) memcpy(e->iref, ref, (size_t)n * sizeof(int32_t));
    e->n_valid = n;
}

void tc_expect_sel(tc *c, const skim_tensor *sel, const int32_t *counts, const int32_t *idx,
                   int64_t nan_count) {
    tc_expect *e = add_exp(c, TC_SEL, sel);
    if (!e || !sel) return;
    int64_t g = skim_selection_groups(sel), cap = skim_selection_capacity(sel);
    e->counts = tc_alloc(c, (size_t)g * sizeof(int32_t));
    e->idx = tc_alloc(c, (size_t)(g * cap) * sizeof(int32_t));
    if (!e->counts || !e->idx) return;
    memcpy(e->counts, counts, (size_t)g * sizeof(int32_t));
    for (int64_t i = 0; i < g; i++)
        memcpy(e->idx + i * cap, idx + i * cap, (size_t)counts[i] * sizeof(int32_t));
    e->nan_count = nan_count;
}

static void tc_free(tc *c) {
    skim_context_destroy(c->ctx);
    for (int i = 0; i < c->n_keep; i++) free(c->keep[i]);
    c->n_keep = 0;
}

static void check_f32(tc *c, const char *bn, skim_plan *p, tc_expect *e) {
    int64_t n = skim_tensor_nelements(e->t);
    float *out = malloc((size_t)n * sizeof(float));
    if (!out) return;
    if (read_f32(p, e->t, out, c->label)) {
        double err = nmse_f32(out, e->ref, (size_t)e->n_valid);
        if (!(err <= e->tol)) {
            int64_t worst = 0;
            double wd = -1;
            for (int64_t i = 0; i < e->n_valid; i++) {
                double d = fabs(out[i] - e->ref[i]);
                if (isnan(d)) d = INFINITY;
                if (d > wd) { wd = d; worst = i; }
            }
            t_fail(__FILE__, __LINE__,
                   "%s [%s] %s: NMSE %.3g > tol %.3g (worst element %lld: got %.9g, want %.9g)",
                   c->label, bn, skim_tensor_name(e->t), err, e->tol, (long long)worst,
                   (double)out[worst], e->ref[worst]);
        }
        if (e->pass_rows) {
            int64_t rows = e->n_valid / e->row_len;
            for (int64_t r = 0; r < rows; r++)
                if (e->pass_rows[r] && memcmp(out + r * e->row_len, e->pass_src + r * e->row_len,
                                              (size_t)e->row_len * sizeof(float)) != 0) {
                    t_fail(__FILE__, __LINE__, "%s [%s]: row %lld should pass through bit-exactly",
                           c->label, bn, (long long)r);
                    break;
                }
        }
    }
    free(out);
}

static void check_i32(tc *c, const char *bn, skim_plan *p, tc_expect *e) {
    int64_t n = skim_tensor_nelements(e->t);
    int32_t *out = malloc((size_t)n * sizeof(int32_t));
    if (!out) return;
    if (read_i32(p, e->t, out, c->label)) {
        for (int64_t i = 0; i < e->n_valid; i++)
            if (out[i] != e->iref[i]) {
                t_fail(__FILE__, __LINE__, "%s [%s]: element %lld is %d, want %d", c->label, bn,
                       (long long)i, out[i], e->iref[i]);
                break;
            }
    }
    free(out);
}

static void check_sel(tc *c, const char *bn, skim_plan *p, tc_expect *e) {
    int32_t g = skim_selection_groups(e->t), cap = skim_selection_capacity(e->t);
    int32_t *counts = guard_alloc((size_t)g * sizeof(int32_t));
    int32_t *idx = guard_alloc((size_t)g * (size_t)cap * sizeof(int32_t));
    if (!counts || !idx) goto done;
    skim_status s = skim_plan_get_selection(p, e->t, counts, idx);
    if (s != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "%s [%s]: get_selection -> %s: %s", c->label, bn,
               skim_status_str(s), skim_plan_error(p));
        goto done;
    }
    if (!guard_ok(counts, (size_t)g * sizeof(int32_t)) ||
        !guard_ok(idx, (size_t)g * (size_t)cap * sizeof(int32_t)))
        t_fail(__FILE__, __LINE__, "%s [%s]: get_selection wrote outside its buffers", c->label, bn);
    for (int32_t i = 0; i < g; i++) {
        if (counts[i] != e->counts[i]) {
            t_fail(__FILE__, __LINE__, "%s [%s]: group %d count %d, want %d", c->label, bn, i,
                   counts[i], e->counts[i]);
            continue;
        }
        for (int32_t j = 0; j < counts[i]; j++)
            if (idx[i * cap + j] != e->idx[i * cap + j]) {
                t_fail(__FILE__, __LINE__, "%s [%s]: group %d entry %d is %d, want %d", c->label,
                       bn, i, j, idx[i * cap + j], e->idx[i * cap + j]);
                break;
            }
    }
    if (e->nan_count >= 0) {
        skim_run_stats st;
        if (skim_plan_get_stats(p, &st) == SKIM_OK) {
            bool found = false;
            for (int i = 0; i < st.n_selections; i++)
                if (st.selections[i].sel == e->t) {
                    found = true;
                    if (st.selections[i].nan_count != e->nan_count)
                        t_fail(__FILE__, __LINE__, "%s [%s]: stats nan_count %lld, want %lld",
                               c->label, bn, (long long)st.selections[i].nan_count,
                               (long long)e->nan_count);
                }
            if (!found)
                t_fail(__FILE__, __LINE__, "%s [%s]: selection missing from run stats", c->label, bn);
        } else {
            t_fail(__FILE__, __LINE__, "%s [%s]: get_stats failed", c->label, bn);
        }
    }
done:
    guard_free(counts);
    guard_free(idx);
}

int tc_n_runs;

static int run_on(tc *c, skim_graph *g, skim_backend *be) {
    const char *bn = skim_backend_name(be);
    tc_n_runs++;
    skim_plan *p = NULL;
    skim_plan_desc pd = {0};
    pd.mode = c->mode;
    skim_status s = skim_plan_create(be, g, &pd, &p);
    if (s != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "%s [%s]: plan_create -> %s: %s", c->label, bn,
               skim_status_str(s), skim_backend_error(be));
        return 1;
    }
    for (int i = 0; i < c->n_in; i++) {
        s = skim_plan_set_input(p, c->in[i], c->in_data[i], skim_tensor_nbytes(c->in[i]));
        if (s != SKIM_OK && s != SKIM_ERR_INVALID_ARG) /* inputs the graph does not use */
            t_fail(__FILE__, __LINE__, "%s [%s]: set_input %d -> %s: %s", c->label, bn, i,
                   skim_status_str(s), skim_plan_error(p));
    }
    for (int i = 0; i < c->n_par; i++) {
        s = skim_plan_set_param(p, c->par[i], c->par_val[i]);
        if (s != SKIM_OK)
            t_fail(__FILE__, __LINE__, "%s [%s]: set_param -> %s: %s", c->label, bn,
                   skim_status_str(s), skim_plan_error(p));
    }
    s = skim_plan_run(p);
    if (s != c->expect_run) {
        t_fail(__FILE__, __LINE__, "%s [%s]: run -> %s, want %s: %s", c->label, bn,
               skim_status_str(s), skim_status_str(c->expect_run), skim_plan_error(p));
    } else {
        for (int i = 0; i < c->n_exp; i++) {
            tc_expect *e = &c->exp[i];
            if (e->kind == TC_F32) check_f32(c, bn, p, e);
            else if (e->kind == TC_I32) check_i32(c, bn, p, e);
            else check_sel(c, bn, p, e);
        }
    }
    skim_plan_destroy(p);
    return 0;
}

int tc_run(tc *c, skim_backend **backends, int n_backends) {
    int before = t_failures;
    skim_tensor *outs[TC_MAX_EXP];
    int n_out = 0;
    for (int i = 0; i < c->n_exp; i++)
        if (c->exp[i].output) outs[n_out++] = (skim_tensor *)c->exp[i].t;
    skim_graph *g = NULL;
    skim_status s = skim_graph_build(c->ctx, outs, n_out, &g);
    if (s == SKIM_ERR_NOT_CONTIGUOUS && c->soft_view) {
        printf("note: %s: the op does not take this view (%s)\n", c->label, skim_context_error(c->ctx));
    } else if (s != c->expect_build) {
        t_fail(__FILE__, __LINE__, "%s: graph_build -> %s, want %s: %s", c->label,
               skim_status_str(s), skim_status_str(c->expect_build), skim_context_error(c->ctx));
    } else if (s == SKIM_OK) {
        for (int b = 0; b < n_backends; b++) run_on(c, g, backends[b]);
    }
    if (g) skim_graph_destroy(g);
    tc_free(c);
    return t_failures - before;
}
