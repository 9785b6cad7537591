/* select.c - the selection producers: head_gate, token_halt, select_topk. They are
 * small, so thread 0 computes them alone. Storage (int32 words): counts[groups],
 * idx[groups][capacity] ascending (unused entries zero), then the NaN count. Both modes
 * produce the same selections: in MASKED_DENSE a bounded input keeps every token's row,
 * and only the rows of its selection are read. */
#include "cpu-int.h"

#include <math.h>
#include <string.h>

static int32_t *begin(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t;
    int32_t *w = (int32_t *)(void *)nd->dst;
    memset(w, 0, 4 * SKIM_SEL_WORDS(t->ne[1], t->ne[0]));
    (void)c;
    return w;
}

static void set_nan(const skim_tensor *t, int32_t *w, int32_t nan) {
    w[SKIM_SEL_WORDS(t->ne[1], t->ne[0]) - 1] = nan;
}

/* score >= tau is active; NaN is active and counted. */
void skim_cpu_op_head_gate(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    if (c->ith != 0) {
        return;
    }
    const skim_tensor *t = nd->t, *sc = t->src[0];
    float tau = t->params.gate.tau;
    int32_t *w = begin(c, nd), nan = 0;
    int64_t groups = t->ne[1], cap = t->ne[0];
    if (t->sel_kind == SKIM_SEL_HEADS) {
        const float *s = (const float *)(const void *)nd->src[0];
        for (int64_t h = 0; h < sc->ne[0]; h++) {
            if (s[h] >= tau || isnan(s[h])) {
                nan += isnan(s[h]) ? 1 : 0;
                w[1 + w[0]++] = (int32_t)h;
            }
        }
        set_nan(t, w, nan);
        return;
    }
    /* [n_head, n_tok]: entries are rows (compact rows of bounded scores). */
    int64_t rows = sc->bound ? skim_cpu_count(skim_cpu_words(c, sc->bound), 0, sc->ne[1])
                             : sc->ne[1];
    for (int64_t i = 0; i < rows; i++) {
        int64_t row = skim_cpu_row_of(c, sc->bound, i);
        const float *s = (const float *)(const void *)(nd->src[0] + (size_t)row * sc->nb[1]);
        for (int64_t h = 0; h < groups; h++) {
            if (s[h] >= tau || isnan(s[h])) {
                nan += isnan(s[h]) ? 1 : 0;
                w[groups + h * cap + w[h]++] = (int32_t)i;
            }
        }
    }
    set_nan(t, w, nan);
}

/* Tokens of prev (all when NULL) with p < tau; NaN is active and counted. */
void skim_cpu_op_token_halt(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    if (c->ith != 0) {
        return;
    }
    const skim_tensor *t = nd->t, *p = t->src[0], *prev = t->src[1];
    const float *ph = (const float *)(const void *)nd->src[0];
    float tau = t->params.gate.tau;
    int64_t cap = t->ne[0];
    const int32_t *pw = prev ? skim_cpu_words(c, prev) : NULL;
    int64_t n = pw ? skim_cpu_count(pw, 0, cap) : cap;
    int32_t *w = begin(c, nd), nan = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t tok = pw ? pw[1 + r] : r;
        if (tok < 0 || tok >= cap) {
            continue;
        }
        /* bounded p: entry r belongs to token prev[r]; MASKED_DENSE keeps it at row tok */
        float v = ph[p->bound && !c->masked ? r : tok];
        if (v < tau || isnan(v)) {
            nan += isnan(v) ? 1 : 0;
            w[1 + w[0]++] = (int32_t)tok;
        }
    }
    set_nan(t, w, nan);
}

/* a before b: larger first, NaN largest, ties by lower index. */
static bool better(const float *v, int32_t a, int32_t b) {
    float x = v[a], y = v[b];
    if (isnan(x) || isnan(y)) {
        return isnan(x) && isnan(y) ? a < b : isnan(x);
    }
    return x > y || (x == y && a < b);
}

/* Stable bottom-up merge sort of n indices by `better`. */
static void sort_idx(const float *v, int32_t *a, int32_t *tmp, int64_t n) {
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                tmp[k++] = better(v, a[j], a[i]) ? a[j++] : a[i++];
            }
            while (i < mid) {
                tmp[k++] = a[i++];
            }
            while (j < hi) {
                tmp[k++] = a[j++];
            }
        }
        memcpy(a, tmp, (size_t)n * sizeof *a);
    }
}

void skim_cpu_op_select_topk(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    if (c->ith != 0) {
        return;
    }
    const skim_tensor *t = nd->t;
    const float *v = (const float *)(const void *)nd->src[0];
    int64_t n = t->src[0]->ne[0], k = t->params.topk.k;
    int32_t *ord = (int32_t *)(void *)c->scratch, *tmp = ord + n;
    for (int64_t i = 0; i < n; i++) {
        ord[i] = (int32_t)i;
    }
    sort_idx(v, ord, tmp, n);
    k = k < n ? k : n;
    memset(tmp, 0, (size_t)n * sizeof *tmp); /* now: flags */
    for (int64_t i = 0; i < k; i++) {
        tmp[ord[i]] = 1;
    }
    int32_t *w = begin(c, nd), nan = 0;
    for (int64_t i = 0; i < n; i++) {
        if (tmp[i]) {
            nan += isnan(v[i]) ? 1 : 0;
            w[1 + w[0]++] = (int32_t)i;
        }
    }
    set_nan(t, w, nan);
}
