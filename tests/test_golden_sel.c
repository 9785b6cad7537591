/* test_golden_sel.c - the golden tests of the selection producers and consumers, and of
 * attention (heads, GQA, n_kv, kmask, key positions): part of test_golden. */
#include "golden.h"

/* ================================================================ selections: helpers */

static bool gate_on(float s, float tau) { return isnan(s) || s >= tau; }
static bool halt_keep(float p, float tau) { return isnan(p) || p < tau; }

/* Expected head_gate selection of scores [nh] (nt == 0) or [nh, nt]. */
static int64_t expect_gate(const float *s, int64_t nh, int64_t nt, float tau, int32_t *counts,
                           int32_t *idx) {
    int64_t nan = 0;
    if (nt == 0) {
        counts[0] = 0;
        for (int64_t h = 0; h < nh; h++) {
            if (isnan(s[h])) nan++;
            if (gate_on(s[h], tau)) idx[counts[0]++] = (int32_t)h;
        }
        return nan;
    }
    for (int64_t h = 0; h < nh; h++) {
        counts[h] = 0;
        for (int64_t t = 0; t < nt; t++) {
            float v = s[t * nh + h];
            if (isnan(v)) nan++;
            if (gate_on(v, tau)) idx[h * nt + counts[h]++] = (int32_t)t;
        }
    }
    return nan;
}

/* Scores in [-1, 1) with NaN at the listed positions (negative entries ignored). */
static void scores_with_nan(float *s, int64_t n, int n_nan) {
    fill_uniform(&G_rng, s, (size_t)n, -1, 1);
    for (int i = 0; i < n_nan && n > 1; i++) s[trng_int(&G_rng, 0, (int)n - 1)] = NAN;
}

/* ================================================================ attn */

typedef struct attn_case {
    int64_t hd, nh, nkvh, nq, nk;
    int kv16, kpos, n_kv, kmask, heads;
    float tau, scale;
} attn_case;

static void ref_attn(const attn_case *a, const float *q, const double *k, const double *v,
                     const int32_t *qpos, const int32_t *kpos, int64_t n_kv, const float *kmask,
                     const unsigned char *active, double *out) {
    int64_t hd = a->hd, nh = a->nh, nkvh = a->nkvh;
    double scale = a->scale != 0 ? a->scale : 1.0 / sqrt((double)hd);
    double *sc = dalloc(a->nk);
    for (int64_t i = 0; i < a->nq; i++)
        for (int64_t h = 0; h < nh; h++) {
            double *o = out + (i * nh + h) * hd;
            for (int64_t d = 0; d < hd; d++) o[d] = 0;
            if (active && !active[i * nh + h]) continue;
            int64_t kh = h / (nh / nkvh);
            const float *qr = q + (i * nh + h) * hd;
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < a->nk; j++) {
                int32_t kp = kpos ? kpos[j] : (int32_t)j;
                sc[j] = -INFINITY;
                if (j >= n_kv || kp > qpos[i]) continue;
                const double *kr = k + (j * nkvh + kh) * hd;
                double dot = 0;
                for (int64_t d = 0; d < hd; d++) dot += qr[d] * kr[d];
                sc[j] = dot * scale + (kmask ? kmask[j] : 0.0);
                if (sc[j] > mx) mx = sc[j];
            }
            for (int64_t j = 0; j < a->nk; j++) sum += (sc[j] = sc[j] == -INFINITY ? 0 : exp(sc[j] - mx));
            for (int64_t j = 0; j < a->nk; j++) {
                if (sc[j] == 0) continue;
                const double *vr = v + (j * nkvh + kh) * hd;
                for (int64_t d = 0; d < hd; d++) o[d] += sc[j] / sum * vr[d];
            }
        }
    free(sc);
}

static int attn_one(const attn_case *a) {
    tc c;
    tc_begin(&c, "attn hd %lld heads %lld/%lld q %lld k %lld%s%s%s%s%s tau %g scale %g",
             (long long)a->hd, (long long)a->nh, (long long)a->nkvh, (long long)a->nq,
             (long long)a->nk, a->kv16 ? " kv F16" : "", a->kpos ? " k_pos" : "",
             a->n_kv ? " n_kv" : "", a->kmask ? " kmask" : "",
             a->heads == 1 ? " heads" : a->heads == 2 ? " head-tokens" : "", a->tau, a->scale);
    int64_t hd = a->hd, nkv_el = hd * a->nkvh * a->nk;
    float *q, *kf = falloc(nkv_el), *vf = falloc(nkv_el);
    skim_tensor *tq = tc_input_f32(&c, &G_rng, 3, NE(hd, a->nh, a->nq), -1, 1, &q);
    fill_uniform(&G_rng, kf, (size_t)nkv_el, -1, 1);
    fill_uniform(&G_rng, vf, (size_t)nkv_el, -1, 1);
    skim_type kt = a->kv16 ? SKIM_TYPE_F16 : SKIM_TYPE_F32;
    size_t kb = skim_row_size(kt, nkv_el);
    void *kq = malloc(kb), *vq = malloc(kb);
    skim_quantize(kt, kf, kq, 1, nkv_el);
    skim_quantize(kt, vf, vq, 1, nkv_el);
    double *k = dalloc(nkv_el), *v = dalloc(nkv_el);
    to_double(kt, kq, k, nkv_el);
    to_double(kt, vq, v, nkv_el);
    skim_tensor *tk = tc_input(&c, kt, 3, NE(hd, a->nkvh, a->nk), kq);
    skim_tensor *tv = tc_input(&c, kt, 3, NE(hd, a->nkvh, a->nk), vq);
    int64_t n_kv = a->n_kv ? a->n_kv : a->nk;
    int32_t *qpos = malloc((size_t)a->nq * sizeof(int32_t));
    int32_t *kpos = malloc((size_t)a->nk * sizeof(int32_t));
    for (int64_t i = 0; i < a->nq; i++) qpos[i] = (int32_t)(n_kv - a->nq + i);
    for (int64_t j = 0; j < a->nk; j++) kpos[j] = (int32_t)j;
    if (a->kpos)
        for (int64_t j = a->nk - 1; j > 0; j--) { /* shuffled key positions */
            int r = trng_int(&G_rng, 0, (int)j);
            int32_t t = kpos[j]; kpos[j] = kpos[r]; kpos[r] = t;
        }
    skim_attn_desc d = {0};
    d.q = tq;
    d.k = tk;
    d.v = tv;
    d.q_pos = tc_input(&c, SKIM_TYPE_I32, 1, NE(a->nq), qpos);
    if (a->kpos) d.k_pos = tc_input(&c, SKIM_TYPE_I32, 1, NE(a->nk), kpos);
    if (a->n_kv) d.n_kv = tc_param(&c, 0, (int32_t)a->nk, (int32_t)a->nk, a->n_kv);
    float *km = NULL;
    if (a->kmask) {
        km = falloc(a->nk);
        for (int64_t j = 0; j < a->nk; j++) km[j] = (j % 4 == 3) ? -INFINITY : 0.0f;
        d.kmask = tc_input(&c, SKIM_TYPE_F32, 1, NE(a->nk), km);
    }
    unsigned char *active = NULL;
    int32_t *counts = NULL, *idx = NULL;
    int64_t nan = 0;
    if (a->heads) {
        int64_t nt = a->heads == 2 ? a->nq : 0, ns = a->nh * (nt ? nt : 1);
        float *s = falloc(ns);
        scores_with_nan(s, ns, 2);
        skim_tensor *ts = tc_input(&c, SKIM_TYPE_F32, nt ? 2 : 1, NE(a->nh, nt), s);
        d.heads = skim_head_gate(c.ctx, ts, a->tau);
        active = calloc((size_t)(a->nh * a->nq), 1);
        for (int64_t i = 0; i < a->nq; i++)
            for (int64_t h = 0; h < a->nh; h++)
                active[i * a->nh + h] = gate_on(nt ? s[i * a->nh + h] : s[h], a->tau);
        counts = calloc((size_t)a->nh, sizeof(int32_t));
        idx = calloc((size_t)ns, sizeof(int32_t));
        nan = expect_gate(s, a->nh, nt, a->tau, counts, idx);
        free(s);
    }
    d.scale = a->scale;
    int64_t no = hd * a->nh * a->nq;
    double *ref = dalloc(no);
    ref_attn(a, q, k, v, qpos, a->kpos ? kpos : NULL, n_kv, km, active, ref);
    tc_expect_f32(&c, skim_attn(c.ctx, &d), ref, no, TOL(ATTN));
    if (d.heads) tc_expect_sel(&c, d.heads, counts, idx, nan);
    int fl = RUN(&c);
    free(kf); free(vf); free(kq); free(vq); free(k); free(v); free(qpos); free(kpos);
    free(km); free(active); free(counts); free(idx); free(ref);
    return fl;
}

int golden_attn(void) {
    static const attn_case cs[] = {
        {4, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
        {8, 4, 2, 5, 9, 0, 0, 0, 0, 0, 0, 0},
        {64, 8, 2, 3, 20, 0, 0, 15, 1, 1, 0.5f, 0},
        {16, 4, 4, 6, 6, 0, 0, 0, 0, 2, 0.3f, 0},
        {32, 2, 1, 4, 4, 1, 0, 0, 0, 0, 0, 0},
        {64, 4, 1, 300, 300, 0, 0, 0, 0, 0, 0, 0},
        {8, 2, 2, 4, 7, 0, 1, 0, 0, 0, 0, 0.3f},
        {16, 4, 2, 3, 5, 0, 0, 0, 0, 1, 5.0f, 0},   /* no head selected */
        {16, 4, 2, 3, 5, 0, 0, 0, 0, 2, -5.0f, 0},  /* every head-token selected */
        {32, 8, 4, 300, 300, 1, 0, 0, 1, 2, 0.5f, 0},
        {7, 6, 3, 2, 12, 0, 0, 5, 0, 1, 0.0f, 0},   /* odd head_dim, n_kv < n_k */
    };
    int f = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) f += attn_one(&cs[i]);
    return f;
}

/* ================================================================ head_gate */

int golden_head_gate(void) {
    static const struct { int64_t nh, nt; float tau; int nan; } cs[] = {
        {1, 0, 0.0f, 0}, {8, 0, 0.2f, 1}, {8, 0, 2.0f, 0}, {8, 0, -2.0f, 0}, {300, 0, 0.5f, 3},
        {4, 7, 0.0f, 2}, {16, 300, 0.5f, 5}, {4, 7, 2.0f, 0}, {4, 7, -2.0f, 0}, {1, 1, 0.0f, 0},
        {6, 5, 2.0f, 3} /* only NaN scores pass */,
        /* more candidates than one workgroup of the Vulkan producer (256) per group */
        {700, 0, 0.3f, 6}, {3, 1100, 0.2f, 9}, {2, 2000, 2.0f, 4}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t nh = cs[ci].nh, nt = cs[ci].nt, ns = nh * (nt ? nt : 1);
        tc c;
        char dims[48];
        if (nt) snprintf(dims, sizeof dims, "%lld,%lld", (long long)nh, (long long)nt);
        else snprintf(dims, sizeof dims, "%lld", (long long)nh);
        tc_begin(&c, "head_gate scores[%s] tau %g, %d NaN", dims, cs[ci].tau, cs[ci].nan);
        float *s = falloc(ns);
        scores_with_nan(s, ns, cs[ci].nan);
        skim_tensor *ts = tc_input(&c, SKIM_TYPE_F32, nt ? 2 : 1, NE(nh, nt), s);
        skim_tensor *sel = skim_head_gate(c.ctx, ts, cs[ci].tau);
        CHECK(sel && skim_selection_kind(sel) == (nt ? SKIM_SEL_HEAD_TOKENS : SKIM_SEL_HEADS) &&
                  skim_selection_groups(sel) == (nt ? nh : 1) &&
                  skim_selection_capacity(sel) == (nt ? nt : nh),
              "%s: selection kind/groups/capacity", c.label);
        int32_t *counts = calloc((size_t)nh, sizeof(int32_t)), *idx = calloc((size_t)ns, sizeof(int32_t));
        int64_t nan = expect_gate(s, nh, nt, cs[ci].tau, counts, idx);
        tc_expect_sel(&c, sel, counts, idx, nan);
        f += RUN(&c);
        free(s); free(counts); free(idx);
    }
    return f;
}

/* ================================================================ token_halt */

int golden_token_halt(void) {
    /* n, tau0, chained tau1 (NAN: no chain), NaN count, compact (bounded p_halt) */
    static const struct { int64_t n; float tau0, tau1; int nan, compact; } cs[] = {
        {1, 0.5f, NAN, 0, 0},  {9, 0.5f, NAN, 2, 0},  {300, 0.6f, NAN, 4, 0}, {9, -1.0f, NAN, 0, 0},
        {9, 2.0f, NAN, 0, 0},  {9, 0.7f, 0.6f, 0, 0}, {300, 0.8f, 0.5f, 3, 0}, {9, 0.7f, 0.6f, 0, 1},
        {300, 0.8f, 0.5f, 0, 1}, {12, 2.0f, -1.0f, 0, 1}, {1, 0.5f, 0.5f, 0, 1},
        /* several workgroups of the Vulkan producer (32 candidates each) */
        {3000, 0.5f, NAN, 6, 0}, {3000, 0.7f, 0.5f, 3, 0}, {2000, 0.8f, 0.5f, 0, 1},
        {1000, 2.0f, 0.3f, 2, 1}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t n = cs[ci].n;
        bool chain = !isnan(cs[ci].tau1);
        tc c;
        tc_begin(&c, "token_halt n %lld tau %g%s%s, %d NaN", (long long)n, cs[ci].tau0,
                 chain ? " then chained" : "", cs[ci].compact ? " (compact p_halt)" : "", cs[ci].nan);
        float *p0 = falloc(n), *p1 = falloc(n);
        fill_uniform(&G_rng, p0, (size_t)n, 0, 1);
        fill_uniform(&G_rng, p1, (size_t)n, 0, 1);
        int32_t cnt0 = 0, *idx0 = calloc((size_t)n, sizeof(int32_t));
        int64_t nan0 = 0;
        if (!chain)
            for (int i = 0; i < cs[ci].nan && n > 1; i++) p0[trng_int(&G_rng, 0, (int)n - 1)] = NAN;
        for (int64_t t = 0; t < n; t++) {
            nan0 += isnan(p0[t]);
            if (halt_keep(p0[t], cs[ci].tau0)) idx0[cnt0++] = (int32_t)t;
        }
        skim_tensor *tp0 = tc_input(&c, SKIM_TYPE_F32, 1, NE(n), p0);
        skim_tensor *s0 = skim_token_halt(c.ctx, tp0, cs[ci].tau0, NULL);
        if (!chain) {
            tc_expect_sel(&c, s0, &cnt0, idx0, nan0);
        } else {
            /* NaN on tokens that are still running (counted, kept) and on one that halted
             * (it must stay halted). */
            int64_t nan1 = 0;
            for (int i = 0; i < cs[ci].nan && cnt0 > 0; i++) p1[idx0[trng_int(&G_rng, 0, cnt0 - 1)]] = NAN;
            if (cs[ci].nan && cnt0 < n)
                for (int64_t t = 0; t < n; t++)
                    if (!halt_keep(p0[t], cs[ci].tau0)) { p1[t] = NAN; break; }
            int32_t cnt1 = 0, *idx1 = calloc((size_t)n, sizeof(int32_t));
            for (int32_t i = 0; i < cnt0; i++) {
                float v = p1[idx0[i]];
                nan1 += isnan(v);
                if (halt_keep(v, cs[ci].tau1)) idx1[cnt1++] = idx0[i];
            }
            skim_tensor *s1;
            if (cs[ci].compact) {
                skim_tensor *tp1 = tc_input(&c, SKIM_TYPE_F32, 2, NE(1, n), p1);
                s1 = skim_token_halt(c.ctx, skim_get_rows_sel(c.ctx, tp1, s0), cs[ci].tau1, s0);
            } else {
                skim_tensor *tp1 = tc_input(&c, SKIM_TYPE_F32, 1, NE(n), p1);
                s1 = skim_token_halt(c.ctx, tp1, cs[ci].tau1, s0);
            }
            tc_expect_sel(&c, s0, &cnt0, idx0, -1);
            tc_expect_sel(&c, s1, &cnt1, idx1, cs[ci].nan ? -1 : nan1);
            free(idx1);
        }
        f += RUN(&c);
        free(p0); free(p1); free(idx0);
    }
    return f;
}

/* ================================================================ select_topk */

int golden_select_topk(void) {
    /* n, k, NaN scores (never more than k: a NaN never skips work, so each must be kept) */
    static const struct { uint16_t n; int k, nan; } cs[] = {{1, 1, 0},   {9, 3, 0},   {9, 9, 0},  {300, 37, 0},
                                                            {300, 1, 0}, {12, 5, 0},  {12, 5, 2}, {300, 37, 5},
                                                            {4, 1, 1},
        /* several workgroups of the Vulkan producer (32 candidates each), with many ties
         * across chunks, -0 beside +0 and infinities: k inside a run of equal scores, at
         * both ends, and all */
        {3000, 1, 0}, {3000, 1234, 7}, {3000, 2999, 0}, {3000, 3000, 3}, {700, 300, 0},
        {257, 200, 0}, {4096, 2048, 0}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        size_t n = cs[ci].n;
        int k = cs[ci].k;
        tc c;
        tc_begin(&c, "select_topk n %zu k %d, %d NaN", n, k, cs[ci].nan);
        float *s = falloc((int64_t)n);
        for (size_t i = 0; i < n; i++) s[i] = (float)trng_int(&G_rng, 0, 9); /* many ties */
        if (n > 256) /* signed zeros (equal scores), infinities, negative scores */
            for (size_t i = 0; i < n; i += 5) {
                static const float special[] = {-0.0f, 0.0f, INFINITY, -INFINITY, -3.0f, -0.0f};
                s[i] = special[(size_t)trng_int(&G_rng, 0, 5)];
            }
        for (int i = 0; i < cs[ci].nan; i++) s[(size_t)(i * 7 + 1) % n] = NAN;
        unsigned char *taken = calloc(n, 1);
        for (int r = 0; r < k; r++) { /* the highest not taken (NaN first), lower index on ties */
            size_t best = n;
            for (size_t i = 0; i < n; i++)
                if (!taken[i] && (best == n || (isnan(s[i]) && !isnan(s[best])) ||
                                  (!isnan(s[best]) && s[i] > s[best])))
                    best = i;
            taken[best] = 1;
        }
        int32_t cnt = 0, *idx = calloc(n, sizeof(int32_t));
        for (size_t i = 0; i < n; i++)
            if (taken[i]) idx[cnt++] = (int32_t)i;
        skim_tensor *ts = tc_input(&c, SKIM_TYPE_F32, 1, NE((int64_t)n), s);
        skim_tensor *sel = skim_select_topk(c.ctx, ts, k);
        tc_expect_sel(&c, sel, &cnt, idx, cs[ci].nan);
        f += RUN(&c);
        free(s); free(taken); free(idx);
    }
    return f;
}

/* ================================================================ get_rows_sel */

/* A TOKENS selection of n tokens from token_halt on a fresh input; fills cnt/idx. */
static skim_tensor *make_tokens(tc *c, int64_t n, float tau, int32_t *cnt, int32_t *idx) {
    float *p = falloc(n);
    fill_uniform(&G_rng, p, (size_t)n, 0, 1);
    *cnt = 0;
    for (int64_t t = 0; t < n; t++)
        if (halt_keep(p[t], tau)) idx[(*cnt)++] = (int32_t)t;
    skim_tensor *tp = tc_input(c, SKIM_TYPE_F32, 1, NE(n), p);
    free(p);
    return skim_token_halt(c->ctx, tp, tau, NULL);
}

int golden_get_rows_sel(void) {
    static const struct { int nd; int64_t ne[3]; float tau; } cs[] = {
        {2, {7, 9}, 0.5f}, {2, {300, 5}, 0.6f}, {2, {64, 300}, 0.5f}, {3, {3, 4, 300}, 0.3f},
        {2, {7, 9}, -1.0f}, {2, {7, 9}, 2.0f}, {2, {1, 1}, 2.0f}, {2, {5, 1}, -1.0f}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int nd = cs[ci].nd;
        int64_t n = cs[ci].ne[nd - 1], row = cs[ci].ne[0] * (nd == 3 ? cs[ci].ne[1] : 1);
        tc c;
        tc_begin(&c, "get_rows_sel x[%lld..%lld] (%d dims) tau %g", (long long)cs[ci].ne[0],
                 (long long)n, nd, cs[ci].tau);
        int32_t cnt, *idx = calloc((size_t)n, sizeof(int32_t));
        skim_tensor *sel = make_tokens(&c, n, cs[ci].tau, &cnt, idx);
        float *x;
        skim_tensor *tx = tc_input_f32(&c, &G_rng, nd, cs[ci].ne, -1, 1, &x);
        skim_tensor *out = skim_get_rows_sel(c.ctx, tx, sel);
        CHECK(!out || skim_tensor_bound(out) == sel, "%s: result not bounded by the selection", c.label);
        double *ref = dalloc(row * n);
        for (int32_t i = 0; i < cnt; i++)
            for (int64_t j = 0; j < row; j++) ref[i * row + j] = x[idx[i] * row + j];
        tc_expect_f32(&c, out, ref, row * cnt, TOL(GET_ROWS_SEL));
        f += RUN(&c);
        free(idx); free(ref);
    }
    return f;
}

/* ================================================================ scatter_add_sel */

int golden_scatter_add_sel(void) {
    static const struct { int64_t d, n; float tau; } cs[] = {
        {7, 9, 0.5f}, {300, 5, 0.6f}, {64, 300, 0.5f}, {7, 9, -1.0f}, {7, 9, 2.0f}, {1, 1, 2.0f}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t d = cs[ci].d, n = cs[ci].n;
        tc c;
        tc_begin(&c, "scatter_add_sel x[%lld,%lld] tau %g", (long long)d, (long long)n, cs[ci].tau);
        int32_t cnt, *idx = calloc((size_t)n, sizeof(int32_t));
        skim_tensor *sel = make_tokens(&c, n, cs[ci].tau, &cnt, idx);
        float *x, *y;
        skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(d, n), -1, 1, &x);
        skim_tensor *ty = tc_input_f32(&c, &G_rng, 2, NE(d, n), -1, 1, &y);
        skim_tensor *yc = skim_scale(c.ctx, skim_get_rows_sel(c.ctx, ty, sel), 0.5f);
        skim_tensor *out = skim_scatter_add_sel(c.ctx, tx, yc, sel);
        CHECK(!out || skim_tensor_bound(out) == NULL, "%s: result is bounded", c.label);
        double *ref = dalloc(d * n);
        unsigned char *pass = tc_alloc(&c, (size_t)n);
        for (int64_t i = 0; i < d * n; i++) ref[i] = x[i];
        for (int64_t t = 0; t < n; t++) pass[t] = 1;
        for (int32_t i = 0; i < cnt; i++) {
            pass[idx[i]] = 0;
            for (int64_t j = 0; j < d; j++) ref[idx[i] * d + j] += 0.5 * (double)y[idx[i] * d + j];
        }
        tc_expect *e = tc_expect_f32(&c, out, ref, d * n, TOL(SCATTER_ADD_SEL));
        if (e) {
            e->pass_src = x;
            e->pass_rows = pass;
            e->row_len = d;
        }
        f += RUN(&c);
        free(idx); free(ref);
    }
    return f;
}

/* ================================================================ mul_mat_sel, mul_mat_sel_k */

typedef struct msel_case {
    skim_type type;
    int64_t a, nh, block, N; /* sel: a = K (rows of x); sel_k: a = M (outputs) */
    int form;                /* 1: [n_head] scores, 2: [n_head, N] */
    float tau;
} msel_case;

static int msel_one(const msel_case *mc, bool k_form) {
    int64_t K = k_form ? mc->nh * mc->block : mc->a, M = k_form ? mc->a : mc->nh * mc->block;
    int64_t N = mc->N, nh = mc->nh, nt = mc->form == 2 ? N : 0, ns = nh * (nt ? nt : 1);
    tc c;
    tc_begin(&c, "%s %s w[%lld,%lld] x[%lld,%lld] heads %lld block %lld %s tau %g",
             k_form ? "mul_mat_sel_k" : "mul_mat_sel", skim_type_name(mc->type), (long long)K,
             (long long)M, (long long)K, (long long)N, (long long)nh, (long long)mc->block,
             nt ? "per-token" : "per-run", mc->tau);
    float *wsrc = falloc(K * M), *x, *s = falloc(ns);
    fill_uniform(&G_rng, wsrc, (size_t)(K * M), -1, 1);
    double *w = NULL;
    skim_tensor *tw = tc_weight(&c, mc->type, 2, NE(K, M), wsrc, &w);
    skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(K, N), -1, 1, &x);
    scores_with_nan(s, ns, 1);
    skim_tensor *ts = tc_input(&c, SKIM_TYPE_F32, nt ? 2 : 1, NE(nh, nt), s);
    skim_tensor *sel = skim_head_gate(c.ctx, ts, mc->tau);
    skim_tensor *out = k_form ? skim_mul_mat_sel_k(c.ctx, tw, tx, sel, (int)mc->block)
                              : skim_mul_mat_sel(c.ctx, tw, tx, sel, (int)mc->block);
    double *ref = dalloc(M * N);
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++) {
                int64_t h = (k_form ? k : m) / mc->block;
                if (gate_on(nt ? s[n * nh + h] : s[h], mc->tau)) acc += w[m * K + k] * x[n * K + k];
            }
            ref[n * M + m] = acc;
        }
    tc_expect_f32(&c, out, ref, M * N, k_form ? TOL(MUL_MAT_SEL_K) : TOL(MUL_MAT_SEL));
    int f = RUN(&c);
    free(wsrc); free(s); free(ref);
    return f;
}

static int golden_msel(bool k_form) {
    static const msel_case fcs[] = {
        {SKIM_TYPE_F32, 7, 3, 4, 5, 1, 0.0f},   {SKIM_TYPE_F32, 7, 3, 4, 5, 2, 0.0f},
        {SKIM_TYPE_F32, 32, 5, 1, 2, 1, -0.2f}, {SKIM_TYPE_F16, 9, 8, 8, 3, 2, 0.3f},
        {SKIM_TYPE_F32, 7, 3, 4, 5, 1, 2.0f},   {SKIM_TYPE_F32, 7, 3, 4, 5, 2, -2.0f},
        {SKIM_TYPE_F16, 300, 8, 8, 3, 1, 0.1f},
    };
    static const skim_type qt[] = {SKIM_TYPE_F32, SKIM_TYPE_F16, SKIM_TYPE_Q8_0, SKIM_TYPE_Q4_0};
    int f = 0;
    for (size_t i = 0; i < sizeof fcs / sizeof fcs[0]; i++) f += msel_one(&fcs[i], k_form);
    for (int ti = 0; ti < 4; ti++) {
        /* block 32 keeps K a multiple of 32 in the sel_k form */
        msel_case a = {qt[ti], 64, 4, 32, 3, 1, 0.0f};
        msel_case b = {qt[ti], 96, 4, 32, 300, 2, 0.2f};
        msel_case e = {qt[ti], 64, 2, 160, 7, 2, 2.0f};
        f += msel_one(&a, k_form) + msel_one(&b, k_form) + msel_one(&e, k_form);
    }
    /* Q4_K and Q6_K (K whole super-blocks of 256), 20 x rows (past the small-N tiles): in
     * the sel_k form blocks of 256 are contraction ranges of whole super-blocks (the
     * k-blocked tiles, adding into y), blocks of 128 end inside one (the core's panels) */
    static const skim_type kt[] = {SKIM_TYPE_Q4_K, SKIM_TYPE_Q6_K};
    for (int ti = 0; ti < 2; ti++) {
        msel_case g = {kt[ti], k_form ? 40 : 512, 2, 256, 20, 2, 0.1f};
        msel_case h = {kt[ti], k_form ? 40 : 512, 4, 128, 20, 1, -0.2f};
        f += msel_one(&g, k_form) + msel_one(&h, k_form);
    }
    return f;
}

int golden_mul_mat_sel(void) { return golden_msel(false); }
int golden_mul_mat_sel_k(void) { return golden_msel(true); }

