/* sel_ops.c - the selection consumers: get_rows_sel, scatter_add_sel, mul_mat_sel,
 * mul_mat_sel_k.
 *
 * MASKED_DENSE computes everything and then selects: skipped entries become exact zeros
 * (or pass-through rows) by a select, never a multiply, so NaN or inf in skipped data
 * cannot leak. Selected entries use the same arithmetic in both modes. */
#include "cpu-int.h"

#include <string.h>

#define MC 32 /* output rows per task */
#define NB 48 /* x rows per matmul call */

static int64_t list_find(const int32_t *list, int64_t n, int64_t v) {
    int64_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (list[mid] == v) {
            return mid;
        }
        if (list[mid] < v) {
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return -1;
}

/* Bytes of one outermost slice (a "row" of the selection) of a contiguous tensor. */
static size_t slice_bytes(const skim_tensor *t) {
    return skim_tensor_nbytes(t) / (size_t)t->ne[t->n_dims - 1];
}

void skim_cpu_op_get_rows_sel(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t, *x = t->src[0], *sel = t->src[1];
    size_t sb = slice_bytes(x);
    int64_t n = x->ne[x->n_dims - 1], rb, re;
    const int32_t *w = skim_cpu_words(c, sel);
    int64_t cnt = c->masked ? n : skim_cpu_count(w, 0, n);
    skim_cpu_split(cnt, c->ith, c->nth, &rb, &re);
    for (int64_t r = rb; r < re; r++) {
        int64_t src = c->masked ? r : w[1 + r];
        if (src >= 0 && src < n) {
            memcpy(nd->dst + (size_t)r * sb, nd->src[0] + (size_t)src * sb, sb);
        }
    }
}

/* out = x; out[sel[r]] = x[sel[r]] + y[r] (y's row r is compact in SKIP, token sel[r] in
 * MASKED_DENSE). Each thread owns a range of output rows. */
void skim_cpu_op_scatter_add_sel(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t, *x = t->src[0], *sel = t->src[2];
    size_t sb = slice_bytes(x);
    int64_t n = x->ne[x->n_dims - 1], d = (int64_t)(sb / sizeof(float)), rb, re;
    const int32_t *w = skim_cpu_words(c, sel);
    int64_t cnt = skim_cpu_count(w, 0, n);
    skim_cpu_split(n, c->ith, c->nth, &rb, &re);
    if (rb >= re) {
        return;
    }
    memcpy(nd->dst + (size_t)rb * sb, nd->src[0] + (size_t)rb * sb, (size_t)(re - rb) * sb);
    for (int64_t r = 0; r < cnt; r++) {
        int64_t tok = w[1 + r];
        if (tok < rb || tok >= re) {
            continue;
        }
        int64_t yr = c->masked ? tok : r;
        float *o = (float *)(void *)(nd->dst + (size_t)tok * sb);
        const float *xa = (const float *)(const void *)(nd->src[0] + (size_t)tok * sb);
        const float *ya = (const float *)(const void *)(nd->src[1] + (size_t)yr * sb);
        for (int64_t e = 0; e < d; e++) {
            o[e] = xa[e] + ya[e];
        }
    }
}

/* ---------------------------------------------------------------- mul_mat_sel(_k) */

typedef struct sel_setup {
    const skim_tensor *w, *x, *sel;
    int64_t block, n_head, M, N; /* N: rows of x in the run extent */
    const int32_t *words;
    bool grouped; /* HEAD_TOKENS */
} sel_setup;

static void setup(const skim_cpu_ctx *c, const skim_cpu_node *nd, sel_setup *s) {
    const skim_tensor *t = nd->t;
    s->w = t->src[0];
    s->x = t->src[1];
    s->sel = t->src[2];
    s->block = t->params.block.block;
    s->M = s->w->ne[1];
    s->N = nd->sne[1][1];
    s->n_head = (t->op == SKIM_OP_MUL_MAT_SEL ? s->w->ne[1] : s->w->ne[0]) / s->block;
    s->words = skim_cpu_words(c, s->sel);
    s->grouped = s->sel->sel_kind == SKIM_SEL_HEAD_TOKENS;
}

/* Rows of x (run-extent rows) head h runs on, into rows[]; returns how many. In
 * MASKED_DENSE every row is listed (the caller selects afterwards). */
static int64_t head_rows(const skim_cpu_ctx *c, const sel_setup *s, int64_t h, int64_t *rows) {
    int64_t n = 0;
    if (c->masked) {
        for (int64_t i = 0; i < s->N; i++) {
            rows[n++] = i;
        }
        return n;
    }
    if (!s->grouped) {
        if (list_find(s->words + 1, skim_cpu_count(s->words, 0, s->n_head), h) < 0) {
            return 0;
        }
        for (int64_t i = 0; i < s->N; i++) {
            rows[n++] = i;
        }
        return n;
    }
    int64_t cap = s->sel->ne[0], cnt = skim_cpu_count(s->words, h, cap);
    const int32_t *list = s->words + s->n_head + h * cap;
    for (int64_t i = 0; i < cnt; i++) {
        if (list[i] >= 0 && list[i] < s->N) {
            rows[n++] = list[i];
        }
    }
    return n;
}

/* MASKED_DENSE: marks in flags[] the rows (token rows of x) where head h is selected. */
static void head_flags(const skim_cpu_ctx *c, const sel_setup *s, int64_t h, uint8_t *flags) {
    if (!s->grouped) {
        bool on = list_find(s->words + 1, skim_cpu_count(s->words, 0, s->n_head), h) >= 0;
        memset(flags, on ? 1 : 0, (size_t)s->N);
        return;
    }
    memset(flags, 0, (size_t)s->N);
    int64_t cap = s->sel->ne[0], cnt = skim_cpu_count(s->words, h, cap);
    const int32_t *list = s->words + s->n_head + h * cap;
    /* entries are compact rows of x: past the bound's count they name no token */
    const skim_tensor *b = s->x->bound;
    int64_t n_rows = b ? skim_cpu_count(skim_cpu_words(c, b), 0, b->ne[0]) : s->N;
    for (int64_t i = 0; i < cnt; i++) {
        if (list[i] < 0 || list[i] >= n_rows) {
            continue;
        }
        int64_t row = skim_cpu_row_of(c, b, list[i]);
        if (row >= 0 && row < s->N) {
            flags[row] = 1;
        }
    }
}

/* Runs the matmul core over the x rows listed in rows[] (y columns alike), NB at a time. */
static void mm_rows(const skim_cpu_ctx *c, const skim_cpu_mm *mm, const skim_cpu_node *nd,
                    int64_t m0, int64_t m1, const int64_t *rows, int64_t n) {
    const skim_tensor *x = nd->t->src[1];
    const float *xr[NB];
    for (int64_t b = 0; b < n; b += NB) {
        int64_t e = b + NB < n ? b + NB : n;
        for (int64_t i = b; i < e; i++) {
            xr[i - b] = (const float *)(const void *)(nd->src[1] + (size_t)rows[i] * x->nb[1]);
        }
        skim_cpu_mm_run(c, mm, m0, m1, xr, rows + b, e - b);
    }
}

static void zero_rows(float *y, int64_t ldy, int64_t m0, int64_t m1, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        memset(y + i * ldy + m0, 0, (size_t)(m1 - m0) * sizeof(float));
    }
}

/* Scratch past the matmul core's: rows (int64) then flags (bytes). */
static int64_t *rows_buf(const skim_cpu_ctx *c, const sel_setup *s) {
    return (int64_t *)(void *)(c->scratch + skim_cpu_mm_scratch(s->w->ne[0], s->x->ne[1]));
}

/* Output row blocks of listed heads; HEAD_TOKENS: head h's block for its rows only. */
void skim_cpu_op_mul_mat_sel(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    sel_setup s;
    setup(c, nd, &s);
    float *y = (float *)(void *)nd->dst;
    int64_t per = (s.block + MC - 1) / MC, tb, te;
    int64_t *rows = rows_buf(c, &s);
    uint8_t *flags = (uint8_t *)(rows + s.N + 1);
    skim_cpu_mm mm = {s.w->type, nd->src[0], s.w->nb[1], 0, s.w->ne[0], y, s.M, false,
                      skim_cpu_qa(c, s.x)};
    skim_cpu_split(s.n_head * per, c->ith, c->nth, &tb, &te);
    for (int64_t task = tb; task < te; task++) {
        int64_t h = task / per, m0 = h * s.block + (task % per) * MC;
        int64_t m1 = m0 + MC < (h + 1) * s.block ? m0 + MC : (h + 1) * s.block;
        zero_rows(y, s.M, m0, m1, s.N);
        mm_rows(c, &mm, nd, m0, m1, rows, head_rows(c, &s, h, rows));
        if (c->masked) {
            head_flags(c, &s, h, flags);
            for (int64_t n = 0; n < s.N; n++) {
                if (!flags[n]) {
                    memset(y + n * s.M + m0, 0, (size_t)(m1 - m0) * sizeof(float));
                }
            }
        }
    }
}

/* MASKED_DENSE: every head's partial product for all rows, added where selected. */
static void sel_k_masked(const skim_cpu_ctx *c, const sel_setup *s, const skim_cpu_node *nd,
                         skim_cpu_mm *mm, int64_t m0, int64_t m1, uint8_t *flags) {
    float tmp[MC * NB];
    float *y = (float *)(void *)nd->dst;
    const skim_tensor *x = s->x;
    skim_cpu_mm part = *mm;
    part.w = mm->w + (size_t)m0 * mm->wrow;
    part.y = tmp;
    part.ldy = MC;
    part.acc = false;
    for (int64_t h = 0; h < s->n_head; h++) {
        head_flags(c, s, h, flags);
        part.k0 = h * s->block;
        part.k1 = part.k0 + s->block;
        for (int64_t b = 0; b < s->N; b += NB) {
            int64_t e = b + NB < s->N ? b + NB : s->N, col[NB];
            const float *xr[NB];
            for (int64_t i = b; i < e; i++) {
                xr[i - b] = (const float *)(const void *)(nd->src[1] + (size_t)i * x->nb[1]);
                col[i - b] = i - b;
            }
            skim_cpu_mm_run(c, &part, 0, m1 - m0, xr, col, e - b);
            for (int64_t i = b; i < e; i++) {
                for (int64_t m = m0; m < m1; m++) {
                    y[i * s->M + m] += flags[i] ? tmp[(i - b) * MC + (m - m0)] : 0.0f;
                }
            }
        }
    }
}

/* y[m, n] = sum over heads h selected for row n, ascending, of the block-h partial dot. */
void skim_cpu_op_mul_mat_sel_k(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    sel_setup s;
    setup(c, nd, &s);
    float *y = (float *)(void *)nd->dst;
    int64_t tb, te;
    int64_t *rows = rows_buf(c, &s);
    uint8_t *flags = (uint8_t *)(rows + s.N + 1);
    skim_cpu_mm mm = {s.w->type, nd->src[0], s.w->nb[1], 0, 0, y, s.M, true, skim_cpu_qa(c, s.x)};
    skim_cpu_split((s.M + MC - 1) / MC, c->ith, c->nth, &tb, &te);
    for (int64_t task = tb; task < te; task++) {
        int64_t m0 = task * MC, m1 = m0 + MC < s.M ? m0 + MC : s.M;
        zero_rows(y, s.M, m0, m1, s.N);
        if (c->masked) {
            sel_k_masked(c, &s, nd, &mm, m0, m1, flags);
            continue;
        }
        for (int64_t h = 0; h < s.n_head; h++) {
            mm.k0 = h * s.block;
            mm.k1 = mm.k0 + s.block;
            mm_rows(c, &mm, nd, m0, m1, rows, head_rows(c, &s, h, rows));
        }
    }
}
