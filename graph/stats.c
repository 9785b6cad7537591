/* stats.c - run extents and run statistics.
 *
 * skim_tensor_extent reads the selection words in p->sel_host: wait fills them after a
 * run; a backend that needs extents during a run keeps sel_host current itself (the CPU
 * backend can copy each selection's words there as soon as it is produced).
 *
 * FLOPs per node (a multiply-add counts 2) by the rule its ops.def row names, "rows" and
 * "pairs" taken from run extents and selections for the executed figure, from full sizes
 * with every selection full for the dense figure:
 *   mul_mat          2 * K * M * rows of x
 *   mul_mat_sel      2 * K * block * active (head, row) pairs
 *   mul_mat_sel_k    2 * block * M * active (head, row) pairs
 *   attn             4 * head_dim * keys * active (head, query) pairs, keys = the n_kv
 *                    value when given, else k's rows
 *   out5             5 per output element (rms_norm, layer_norm, soft_max)
 *   src0, src1       1 per element of that source (gates: 1 per score; cpy, set_rows,
 *                    scatter_add_sel: 1 per element copied or added)
 *   out              1 per output element; leaves and views 0
 * In MASKED_DENSE mode everything ran: executed = dense. */
#include "skim-graph-int.h"

#include <string.h>

static int32_t clamp_count(int32_t c, int64_t cap) {
    return c < 0 ? 0 : (c > cap ? (int32_t)cap : c);
}

void skim_tensor_extent(const skim_plan *p, const skim_tensor *t, int64_t ne[4]) {
    memcpy(ne, t->ne, sizeof t->ne);
    if (!p || !t->bound || p->mode != SKIM_MODE_SKIP || !p->sel_host) {
        return;
    }
    int slot = skim_graph_slot(p->graph, t->bound);
    if (slot < 0 || !p->sel_host[slot]) {
        return;
    }
    int d = t->n_dims - 1;
    ne[d] = clamp_count(p->sel_host[slot][0], t->ne[d]);
}

typedef struct work_ctx {
    const skim_plan *p;
    bool dense;
} work_ctx;

static void ext(const work_ctx *w, const skim_tensor *t, int64_t ne[4]) {
    if (w->dense) {
        memcpy(ne, t->ne, sizeof t->ne);
    } else {
        skim_tensor_extent(w->p, t, ne);
    }
}

static double elements(const work_ctx *w, const skim_tensor *t) {
    int64_t ne[4];
    ext(w, t, ne);
    return (double)ne[0] * (double)ne[1] * (double)ne[2] * (double)ne[3];
}

/* Active entries of a selection summed over groups (dense: groups * capacity). */
static int64_t sel_active(const work_ctx *w, const skim_tensor *sel) {
    int64_t groups = sel->ne[1], cap = sel->ne[0];
    if (w->dense) {
        return groups * cap;
    }
    int slot = skim_graph_slot(w->p->graph, sel);
    if (slot < 0 || !w->p->sel_host || !w->p->sel_host[slot]) {
        return groups * cap;
    }
    int64_t sum = 0;
    for (int64_t g = 0; g < groups; g++) {
        sum += clamp_count(w->p->sel_host[slot][g], cap);
    }
    return sum;
}

/* Active (head, row) pairs of n_head heads over `rows` rows under an optional head
 * selection. */
static int64_t head_pairs(const work_ctx *w, const skim_tensor *sel, int64_t n_head,
                          int64_t rows) {
    if (!sel) {
        return n_head * rows;
    }
    if (sel->sel_kind == SKIM_SEL_HEADS) {
        return sel_active(w, sel) * rows;
    }
    return sel_active(w, sel);
}

static double attn_flops(const work_ctx *w, const skim_tensor *t, int64_t *pairs,
                         int64_t *rows) {
    const skim_tensor *q = t->src[SKIM_ATTN_Q], *k = t->src[SKIM_ATTN_K];
    int64_t qe[4], ke[4];
    ext(w, q, qe);
    ext(w, k, ke);
    double keys = (double)ke[2];
    const skim_tensor *nkv = t->src[SKIM_ATTN_NKV];
    if (nkv) {
        int slot = skim_graph_slot(w->p->graph, nkv);
        keys = slot >= 0 ? (double)w->p->param_values[slot] : (double)nkv->pdef;
    }
    *rows = qe[2];
    *pairs = head_pairs(w, t->src[SKIM_ATTN_HEADS], q->ne[1], qe[2]);
    return 4.0 * (double)q->ne[0] * keys * (double)*pairs;
}

/* The FLOP rules of ops.def's flops column; attn also adds its head and token-layer ops. */
typedef double (*flops_fn)(const work_ctx *w, const skim_tensor *t, int64_t *head_ops,
                           int64_t *tok_ops);

static double flops_out(const work_ctx *w, const skim_tensor *t, int64_t *h, int64_t *k) {
    (void)h, (void)k;
    return elements(w, t);
}

static double flops_out5(const work_ctx *w, const skim_tensor *t, int64_t *h, int64_t *k) {
    (void)h, (void)k;
    return 5.0 * elements(w, t);
}

static double flops_src0(const work_ctx *w, const skim_tensor *t, int64_t *h, int64_t *k) {
    (void)h, (void)k;
    return elements(w, t->src[0]);
}

static double flops_src1(const work_ctx *w, const skim_tensor *t, int64_t *h, int64_t *k) {
    (void)h, (void)k;
    return elements(w, t->src[1]);
}

static double flops_mul_mat(const work_ctx *w, const skim_tensor *t, int64_t *h, int64_t *k) {
    (void)h, (void)k;
    int64_t xe[4];
    ext(w, t->src[1], xe);
    return 2.0 * (double)t->src[0]->ne[0] * (double)t->src[0]->ne[1] * (double)xe[1] *
           (double)xe[2] * (double)xe[3];
}

/* mul_mat_sel (output row blocks) and mul_mat_sel_k (contraction blocks). */
static double flops_mul_mat_sel(const work_ctx *w, const skim_tensor *t, int64_t *h,
                                int64_t *k) {
    (void)h, (void)k;
    const skim_tensor *a = t->src[0];
    int64_t block = t->params.block.block, xe[4];
    bool rows_blocked = t->op == SKIM_OP_MUL_MAT_SEL;
    int64_t n_head = (rows_blocked ? a->ne[1] : a->ne[0]) / block;
    ext(w, t->src[1], xe);
    double pairs = (double)head_pairs(w, t->src[2], n_head, xe[1]);
    double other = rows_blocked ? (double)a->ne[0] : (double)a->ne[1];
    return 2.0 * other * (double)block * pairs;
}

/* causal_conv: K multiply-adds per channel and token (the state rows are copies). */
static double flops_causal_conv(const work_ctx *w, const skim_tensor *t, int64_t *h, int64_t *k) {
    (void)w, (void)h, (void)k;
    const skim_tensor *x = t->src[0], *wt = t->src[1];
    return 2.0 * (double)wt->ne[0] * (double)x->ne[0] * (double)x->ne[1];
}

static double flops_attn(const work_ctx *w, const skim_tensor *t, int64_t *head_ops,
                         int64_t *tok_ops) {
    int64_t pairs, rows;
    double f = attn_flops(w, t, &pairs, &rows);
    *head_ops += pairs;
    *tok_ops += rows;
    return f;
}

/* A row of ops.def naming a rule that does not exist fails to compile here. */
static const flops_fn flops_rules[SKIM_OP_COUNT] = {
    [SKIM_OP_NONE] = NULL, /* leaves and views: 0 */
#define SKIM_OP(E, n, s, sh, fl, t) [SKIM_OP_##E] = flops_##fl,
#include "ops.def"
#undef SKIM_OP
};

static double node_flops(const work_ctx *w, const skim_tensor *t, int64_t *head_ops,
                         int64_t *tok_ops) {
    flops_fn f = t->op > SKIM_OP_NONE && t->op < SKIM_OP_COUNT ? flops_rules[t->op] : NULL;
    return f ? f(w, t, head_ops, tok_ops) : 0.0;
}

static void totals(const skim_plan *p, bool dense, double *flops, int64_t *head_ops,
                   int64_t *tok_ops) {
    work_ctx w = {p, dense};
    *flops = 0.0;
    *head_ops = 0;
    *tok_ops = 0;
    const skim_graph *g = p->graph;
    for (int i = 0; i < g->n_nodes; i++) {
        *flops += node_flops(&w, g->nodes[i], head_ops, tok_ops);
    }
}

void skim_plan_compute_stats(skim_plan *p) {
    const skim_graph *g = p->graph;
    skim_run_stats *s = &p->stats;
    s->nan_scores = 0;
    for (int i = 0; i < g->n_sels; i++) {
        const skim_tensor *sel = g->sels[i];
        int64_t groups = sel->ne[1], cap = sel->ne[0];
        const int32_t *words = p->sel_host[i];
        int64_t count = 0;
        for (int64_t gi = 0; gi < groups; gi++) {
            count += clamp_count(words[gi], cap);
        }
        int32_t nan = words[SKIM_SEL_WORDS(groups, cap) - 1];
        p->sel_stats[i].sel = sel;
        p->sel_stats[i].count = count;
        p->sel_stats[i].capacity = groups * cap;
        p->sel_stats[i].nan_count = nan < 0 ? 0 : nan;
        s->nan_scores += p->sel_stats[i].nan_count;
    }
    s->n_selections = g->n_sels;
    s->selections = p->sel_stats;
    totals(p, true, &s->flops_dense, &s->head_ops_dense, &s->token_layer_ops_dense);
    if (p->mode == SKIM_MODE_MASKED_DENSE) {
        s->flops_executed = s->flops_dense;
        s->head_ops_executed = s->head_ops_dense;
        s->token_layer_ops_executed = s->token_layer_ops_dense;
    } else {
        totals(p, false, &s->flops_executed, &s->head_ops_executed, &s->token_layer_ops_executed);
    }
    s->submits = p->submits;
    s->recordings = p->recordings;
    s->dispatches = p->dispatches;
    s->barriers = p->barriers;
    s->workgroups = p->workgroups;
}
