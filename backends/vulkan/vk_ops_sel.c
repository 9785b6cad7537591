/* vk_ops_sel.c - skim_vk_op_<name> for the writes into states (set_rows), attention, the
 * selection producers (compacted on the GPU by select.comp) and their consumers. */
#include "vk-int.h"

#include <math.h>
#include <string.h>

static void set_ne(uint32_t ne[4], const skim_tensor *t) {
    for (int k = 0; k < 4; k++) {
        ne[k] = (uint32_t)t->ne[k];
    }
}

static void grid_flat(skim_vk_dispatch *d, int64_t n, uint32_t per) {
    int64_t wgs = (n + per - 1) / per;
    d->grid[0] = (uint32_t)(wgs > 65535 ? 65535 : wgs);
    d->grid[1] = (uint32_t)(wgs > 65535 ? (wgs + 65534) / 65535 : 1);
}

skim_status skim_vk_op_set_rows(skim_vk_rec *r, const skim_tensor *node) {
    const skim_tensor *src = node->src[1], *dst = node->src[0];
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, node->type == SKIM_TYPE_F16 ? SKIM_VK_SHADER_SET_ROWS_F16
                                                         : SKIM_VK_SHADER_SET_ROWS_F32, node);
    d.bind[1] = NULL; /* the state's earlier version: binding 0 is its storage */
    set_ne(d.pc.neb, src);
    skim_vk_set_strides(d.pc.nbb, src);
    d.pc.i[0] = (int32_t)dst->ne[1];
    d.pc.bound = src->bound ? 1u : 0u;
    d.bind_bound = src->bound;
    grid_flat(&d, skim_tensor_nelements(src), 256);
    if (src->bound && d.grid[1] == 1) {
        d.bounded_sel = skim_graph_slot(r->p->graph, src->bound);
        d.bmul = (uint32_t)src->ne[0];
        d.bdiv = 256;
        d.bdim = 0;
    }
    return skim_vk_emit(r, &d);
}

/* Whether nothing reads the rows of the heads that `heads` skips in attention output
 * node: it is no output, and every op reading it (through views at offset 0) is a
 * mul_mat_sel_k over the same selection with head-sized blocks, which contracts over the
 * listed heads' rows only. Then those rows need no zeros. */
static bool skipped_rows_unread(const skim_graph *g, const skim_tensor *node,
                                const skim_tensor *heads) {
    for (int i = 0; i < g->n_outputs; i++) {
        if (skim_tensor_base(g->outputs[i]) == node) {
            return false;
        }
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *n = g->nodes[i];
        for (int k = 0; k < SKIM_MAX_SRC && n->kind == SKIM_KIND_NODE; k++) {
            const skim_tensor *s = n->src[k];
            if (!s || skim_tensor_base(s) != node) {
                continue;
            }
            if (n->op != SKIM_OP_MUL_MAT_SEL_K || k != 1 || n->src[2] != heads ||
                n->params.block.block != node->ne[0] || (s->view_src && s->view_offs != 0) ||
                !skim_tensor_is_contiguous(s)) {
                return false;
            }
        }
    }
    return true;
}

bool skim_vk_pair_list(skim_vk_rec *r, const skim_tensor *sel, VkDeviceSize *off) {
    skim_vk_plan *vp = r->vp;
    const skim_graph *g = r->p->graph;
    if (sel->sel_kind != SKIM_SEL_HEAD_TOKENS || !vp->gpu_resolve || !skim_vk_fills_own(r->vb, sel)) {
        return false;
    }
    int slot = skim_graph_slot(g, sel);
    if (!vp->hl_off) {
        vp->hl_off = skim_calloc(&r->p->be->alloc, (size_t)g->n_sels, sizeof *vp->hl_off);
        if (!vp->hl_off) {
            return false; /* the consumer keeps the selection itself */
        }
    }
    if (r->pass == 0) {
        vp->hl_off[slot] = 1;
    }
    *off = vp->hl_off[slot];
    return r->pass == 0 || *off > 1;
}

bool skim_vk_head_list(skim_vk_rec *r, const skim_tensor *sel, VkDeviceSize *off) {
    return sel->ne[0] == 1 && skim_vk_pair_list(r, sel, off);
}

static int node_index(const skim_graph *g, const skim_tensor *t) {
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i] == t) {
            return i;
        }
    }
    return -1;
}

/* The producer reads tok's count (binding 2), so tok must be produced before it, in
 * graph order; every such consumer of heads must be bounded by the same tok. */
void skim_vk_head_gate_by(skim_vk_rec *r, skim_vk_dispatch *d, const skim_tensor *heads,
                          const skim_tensor *tok) {
    skim_vk_plan *vp = r->vp;
    const skim_graph *g = r->p->graph;
    if (!tok || heads->sel_kind != SKIM_SEL_HEADS || !vp->gpu_resolve ||
        !skim_vk_fills_own(r->vb, heads) || node_index(g, tok) < 0 ||
        node_index(g, tok) > node_index(g, heads)) {
        return;
    }
    int slot = skim_graph_slot(g, heads);
    if (!vp->gate_by) {
        vp->gate_by = skim_calloc(&r->p->be->alloc, (size_t)g->n_sels, sizeof *vp->gate_by);
        if (!vp->gate_by) {
            return; /* the count stays ungated */
        }
    }
    if (r->pass == 0 && !vp->gate_by[slot]) {
        vp->gate_by[slot] = tok;
    }
    if (vp->gate_by[slot] == tok) {
        d->bsrc = 2;
        d->bgate = skim_graph_slot(g, tok);
    }
}

/* Whether nothing reads the rows that the head selection `heads` (HEADS) skips in t, whose
 * row blocks of `block` rows are heads: t is no output, and every op reading it (through
 * contiguous views at offset 0 with rows of `block`) is attention over the same heads
 * reading it as q, or a rope (which keeps each row within its head) whose result is read
 * only so in turn. Then a product may leave those rows unwritten. */
bool skim_vk_head_rows_unread(const skim_graph *g, const skim_tensor *t,
                              const skim_tensor *heads, int64_t block, int depth) {
    for (int i = 0; i < g->n_outputs; i++) {
        if (skim_tensor_base(g->outputs[i]) == t) {
            return false;
        }
    }
    for (int i = 0; depth < 3 && i < g->n_nodes; i++) {
        const skim_tensor *n = g->nodes[i];
        for (int k = 0; k < SKIM_MAX_SRC && n->kind == SKIM_KIND_NODE; k++) {
            const skim_tensor *s = n->src[k];
            if (!s || skim_tensor_base(s) != t) {
                continue;
            }
            if ((s->view_src && s->view_offs != 0) || !skim_tensor_is_contiguous(s) ||
                s->ne[0] != block) {
                return false;
            }
            bool q_of_attn = n->op == SKIM_OP_ATTN && k == SKIM_ATTN_Q &&
                             n->src[SKIM_ATTN_HEADS] == heads;
            bool rope = n->op == SKIM_OP_ROPE && k == 0 &&
                        skim_vk_head_rows_unread(g, n, heads, block, depth + 1);
            if (!q_of_attn && !rope) {
                return false;
            }
        }
    }
    return depth < 3;
}

/* Whether attention node can go over the active (head, query) pairs of its per-token head
 * selection (HEAD_TOKENS, one group per head): nothing reads the skipped pairs' rows, the
 * producer bounds its candidates by the selection bounding node's queries (so that it
 * lists none past their count), and one grid row holds every pair. */
static bool pairs_ok(skim_vk_rec *r, const skim_tensor *node, const skim_tensor *heads) {
    const skim_tensor *scores = heads->op == SKIM_OP_HEAD_GATE ? heads->src[0] : NULL;
    return heads->sel_kind == SKIM_SEL_HEAD_TOKENS && heads->ne[1] == node->ne[1] && scores &&
           scores->bound == node->bound &&
           node->ne[1] * node->ne[2] <= (int64_t)r->vb->props.limits.maxComputeWorkGroupCount[0] &&
           skipped_rows_unread(r->p->graph, node, heads);
}

skim_status skim_vk_op_attn(skim_vk_rec *r, const skim_tensor *node) {
    skim_tensor *const *s = node->src;
    const skim_tensor *q = s[SKIM_ATTN_Q], *k = s[SKIM_ATTN_K], *v = s[SKIM_ATTN_V];
    const skim_tensor *heads = s[SKIM_ATTN_HEADS];
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, k->type == SKIM_TYPE_F16 ? SKIM_VK_SHADER_ATTN_F16
                                                      : SKIM_VK_SHADER_ATTN_F32, node);
    skim_vk_set_strides(d.pc.nba, q);
    skim_vk_set_strides(d.pc.nbb, k);
    skim_vk_set_strides(d.pc.nbd, v);
    set_ne(d.pc.neb, k);
    if (s[SKIM_ATTN_NKV]) {
        d.pc.i[0] = skim_graph_slot(r->p->graph, s[SKIM_ATTN_NKV]) + 1;
    }
    d.pc.i[1] = (s[SKIM_ATTN_KPOS] ? 1 : 0) | (s[SKIM_ATTN_KMASK] ? 2 : 0) | (k->bound ? 4 : 0);
    d.bind[1 + SKIM_ATTN_NKV] = k->bound; /* binding 6: the selection bounding the keys */
    if (heads) {
        d.pc.i[2] = heads->sel_kind == SKIM_SEL_HEAD_TOKENS ? 2 : 1;
        d.pc.i[3] = (int32_t)heads->ne[0];
    }
    float scale = node->params.attn.scale;
    d.pc.f[0] = scale != 0.0f ? scale : 1.0f / sqrtf((float)q->ne[0]);
    d.grid[0] = (uint32_t)node->ne[1];
    d.grid[1] = (uint32_t)node->ne[2];
    /* Skipped heads launch nothing when no later op reads their rows: the workgroups go
     * over the listed heads only (i[2] = 3), on the GPU as an indirect dispatch of
     * count(heads) along x. With a token bound too, the larger extent is compacted. */
    const skim_graph *g = r->p->graph;
    VkDeviceSize hl = 0;
    if (heads && node->ne[2] > 1 && pairs_ok(r, node, heads) && skim_vk_pair_list(r, heads, &hl)) {
        /* Per-token heads of many queries: workgroup x is the x-th active (head, query)
         * pair of the producer's pair list, an indirect dispatch of the pairs' count. */
        d.raw[8] = &r->vp->indirect;
        d.raw_off[8] = hl;
        d.pc.i[2] = 4;
        d.grid[0] = (uint32_t)(node->ne[1] * node->ne[2]);
        d.grid[1] = 1;
        d.bounded_sel = skim_graph_slot(g, heads);
        d.bmul = 1;
        d.bdiv = 1;
        d.bdim = 0;
        d.bsrc = 1;
        return skim_vk_emit(r, &d);
    }
    bool listed = heads && heads->sel_kind == SKIM_SEL_HEADS;
    if (heads && !listed && node->ne[2] == 1 && skipped_rows_unread(g, node, heads) &&
        skim_vk_head_list(r, heads, &hl)) {
        /* One query: its (head, token) pairs are the listed heads of the head list. */
        d.raw[8] = &r->vp->indirect;
        d.raw_off[8] = hl;
        d.bsrc = 1;
        d.pc.i[3] = (int32_t)heads->ne[1];
        listed = true;
    }
    if (listed && (!node->bound || node->ne[2] <= node->ne[1]) &&
        skipped_rows_unread(g, node, heads)) {
        d.pc.i[2] = 3;
        d.bounded_sel = skim_graph_slot(g, heads);
        d.bmul = 1;
        d.bdiv = 1;
        d.bdim = 0;
        skim_vk_head_gate_by(r, &d, heads, node->bound);
    } else if (node->bound) {
        d.bounded_sel = skim_graph_slot(g, node->bound);
        d.bmul = 1;
        d.bdiv = 1;
        d.bdim = 1;
    }
    return skim_vk_emit(r, &d);
}

/* ---------------------------------------------------------------- producers */

static skim_status produce(skim_vk_rec *r, const skim_tensor *node, uint32_t op) {
    const skim_tensor *in = node->src[0];
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, r->vb->info.subgroup_arith ? SKIM_VK_SHADER_SELECT_SG
                                                         : SKIM_VK_SHADER_SELECT, node);
    d.pc.op = op;
    d.pc.i[0] = (int32_t)node->ne[1];
    d.pc.i[1] = (int32_t)node->ne[0];
    d.pc.neb[0] = (uint32_t)skim_tensor_nelements(in);
    if (op == SKIM_VK_OP_SELECT_TOPK) {
        d.pc.i[3] = node->params.topk.k;
    } else {
        d.pc.f[0] = node->params.gate.tau;
    }
    const skim_tensor *prev = op == SKIM_VK_OP_TOKEN_HALT ? node->src[1] : NULL;
    if (in->bound && !prev) {
        d.pc.i[2] |= 1;
        d.bind_bound = in->bound;
    }
    if (prev) {
        d.pc.i[2] |= 2 | (in->bound ? 4 : 0);
    }
    const skim_tensor *mm = r->cur ? r->cur->product : NULL;
    if (mm) { /* the scores computed here (vk_fuse.c): W, x, the bias */
        d.bind[4] = mm->src[0];
        d.bind[5] = mm->src[1];
        d.bind[7] = r->cur->operand;
        d.pc.neb[1] = (uint32_t)mm->src[0]->ne[0];
        d.pc.neb[2] = (uint32_t)mm->ne[0];
    }
    /* The consumers' indirect commands, written by this dispatch (no indirect.comp one):
     * the table and commands at binding 3. The entry count is final in the recording
     * pass (the counting pass records nothing). The buffer is bound, and counted as
     * written, even when nothing is filled: synchronization validation counts the
     * shader's writes to binding 3 whatever the push constants say. */
    skim_vk_plan *vp = r->vp;
    d.raw[3] = &vp->indirect;
    d.writes = 1u << 3;
    if (vp->gpu_resolve && skim_vk_fills_own(r->vb, node)) {
        d.pc.nbb[0] = (uint32_t)vp->n_ind;
        d.pc.nbb[1] = (uint32_t)skim_graph_slot(r->p->graph, node);
        d.pc.nbb[2] = (uint32_t)(vp->ind_cmd_off / 4);
    }
    int slot = skim_graph_slot(r->p->graph, node);
    if (r->pass == 1 && vp->hl_off && vp->hl_off[slot] > 1) {
        d.pc.nbb[3] = (uint32_t)(vp->hl_off[slot] / 4);
    }
    if (vp->gate_by && vp->gate_by[slot]) { /* the token count gating the head count */
        d.bind[2] = vp->gate_by[slot];
        d.pc.i[2] |= 8;
    }
    /* A workgroup per (chunk of SKIM_VK_SEL_CHUNK candidates, group); past one chunk per group, a second
     * dispatch writes the entries at the chunks' offsets (select.comp). */
    int64_t chunks = skim_vk_sel_chunks(node);
    d.grid[0] = (uint32_t)chunks;
    d.grid[1] = (uint32_t)node->ne[1];
    if (op == SKIM_VK_OP_HEAD_GATE && node->ne[0] == 1 && node->ne[1] > 1 &&
        node->ne[1] <= SKIM_VK_SEL_CHUNK) {
        /* Decode's per-token gate: one workgroup decides every head (select.comp
         * main_across), not a workgroup per head for one candidate each. */
        d.pc.i[2] |= 16;
        d.grid[1] = 1;
    }
    if (r->pass == 1) {
        d.pc.nba[0] = (uint32_t)(vp->sc_off[slot] / 4);
    }
    skim_status st = skim_vk_emit(r, &d);
    if (st == SKIM_OK && chunks > 1) {
        d.pc.nba[1] = 1;
        st = skim_vk_emit(r, &d);
    }
    return st;
}

skim_status skim_vk_op_head_gate(skim_vk_rec *r, const skim_tensor *n) {
    return produce(r, n, SKIM_VK_OP_HEAD_GATE);
}

skim_status skim_vk_op_token_halt(skim_vk_rec *r, const skim_tensor *n) {
    return produce(r, n, SKIM_VK_OP_TOKEN_HALT);
}

skim_status skim_vk_op_select_topk(skim_vk_rec *r, const skim_tensor *n) {
    return produce(r, n, SKIM_VK_OP_SELECT_TOPK);
}

/* ---------------------------------------------------------------- consumers */

skim_status skim_vk_op_get_rows_sel(skim_vk_rec *r, const skim_tensor *node) {
    const skim_tensor *x = node->src[0];
    int64_t len = skim_tensor_nelements(x) / x->ne[x->n_dims - 1];
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, SKIM_VK_SHADER_GET_ROWS_SEL, node);
    d.pc.i[0] = (int32_t)len;
    grid_flat(&d, skim_tensor_nelements(x), 256);
    if (d.grid[1] == 1) {
        d.bounded_sel = skim_graph_slot(r->p->graph, node->src[1]);
        d.bmul = (uint32_t)len;
        d.bdiv = 256;
        d.bdim = 0;
    }
    return skim_vk_emit(r, &d);
}

skim_status skim_vk_op_scatter_add_sel(skim_vk_rec *r, const skim_tensor *node) {
    const skim_tensor *x = node->src[0];
    int64_t rows = x->ne[x->n_dims - 1];
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, SKIM_VK_SHADER_SCATTER_ADD_SEL, node);
    d.pc.i[0] = (int32_t)(skim_tensor_nelements(x) / rows);
    d.pc.i[1] = (int32_t)rows;
    grid_flat(&d, skim_tensor_nelements(x), 256);
    return skim_vk_emit(r, &d);
}
