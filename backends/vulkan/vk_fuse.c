/* vk_fuse.c - fusion: a plan-time rewrite of the dispatches (the graph, its results and the
 * CPU backend are unchanged). A chain of consecutive nodes whose inner results nothing
 * else reads runs as one dispatch of its head's shader, which writes the chain's last
 * result through an epilogue (SKIM_VK_EPI_* in the op's upper bits):
 *   - rms_norm / layer_norm, then mul by a vector of ne[0] (the norm's weight);
 *   - mul_mat / mul_mat_sel / mul_mat_sel_k, then optionally add (a vector of ne[0]: a
 *     bias; or a tensor of the same shape: a residual), then optionally sigmoid, gelu or
 *     silu (at least one of the two).
 *   - mul_mat of one column, add of a bias, sigmoid, then a head gate or token halt: the
 *     producer (select.comp) computes the scores (producer_chain).
 * Conditions, each checked the same way in both recording passes: the chain's nodes are
 * consecutive among the graph's op nodes (so no write between them moves a read), every
 * inner result has exactly one reader (the next node, not through a view) and is no
 * output, every node of the chain is F32, contiguous, of the head's shape and bounded by
 * the head's selection, the operand is contiguous F32 and (mul_mat: binding 4 has no
 * offset in push constants) at an offset the device can bind, and the result's bytes
 * overlap none of the head's sources (a result placed over a dead input would be written
 * while other workgroups still read it). A gather of one row (get_rows_sel of a one-row
 * tensor, decode's gathers) records nothing: its readers bind its source (vp->alias,
 * which skim_vk_locate follows; conditions at elidable). SKIM_VK_FUSE=0 turns fusion and
 * that off (comparison). */
#include "vk-int.h"

#include <string.h>

static bool plain_f32(const skim_tensor *t, const skim_tensor *like) {
    if (t->type != SKIM_TYPE_F32 || !skim_tensor_is_contiguous(t)) {
        return false;
    }
    for (int k = 0; k < SKIM_MAX_DIMS; k++) {
        if (like && t->ne[k] != like->ne[k]) {
            return false;
        }
    }
    return true;
}

static bool is_vector_of(const skim_tensor *t, int64_t n) {
    return plain_f32(t, NULL) && t->ne[0] == n && t->ne[1] == 1 && t->ne[2] == 1 && t->ne[3] == 1;
}

/* Whether the bytes of a and b (both bound) overlap. */
static bool overlap(const skim_plan *p, const skim_tensor *a, const skim_tensor *b) {
    skim_vk_buffer *ba, *bb;
    VkDeviceSize oa, ob, ea, eb;
    if (!skim_vk_locate(p, a, &ba, &oa, &ea) || !skim_vk_locate(p, b, &bb, &ob, &eb)) {
        return true;
    }
    return ba == bb && oa < eb && ob < ea;
}

static bool aligned(skim_vk_rec *r, const skim_tensor *t) {
    skim_vk_buffer *b;
    VkDeviceSize o, e;
    return skim_vk_locate(r->p, t, &b, &o, &e) &&
           o % r->vb->props.limits.minStorageBufferOffsetAlignment == 0;
}

/* The activation bit of an op, or 0. */
static uint32_t act_bit(skim_op op) {
    switch (op) {
    case SKIM_OP_SIGMOID: return SKIM_VK_EPI_SIGMOID;
    case SKIM_OP_GELU: return SKIM_VK_EPI_GELU;
    case SKIM_OP_SILU: return SKIM_VK_EPI_SILU;
    default: return 0;
    }
}

/* The other source of binary node n, when one of its two sources is t (else NULL). */
static const skim_tensor *other_src(const skim_tensor *n, const skim_tensor *t) {
    if (n->src[0] == t && n->src[1] != t) return n->src[1];
    if (n->src[1] == t && n->src[0] != t) return n->src[0];
    return NULL;
}

/* Whether the chain may go on from inner result t to node n (the next op node). */
static bool is_output(const skim_graph *g, const skim_tensor *t) {
    for (int i = 0; i < g->n_outputs; i++) {
        if (skim_tensor_base(g->outputs[i]) == t) {
            return true;
        }
    }
    return false;
}

/* Whether the chain may go on from inner result t to node n (the next op node). */
static bool links(const skim_graph *g, const int *uses, const skim_tensor *t,
                  const skim_tensor *n, const skim_tensor *head) {
    return n && t->id < g->n_ids && uses[t->id] == 1 && !is_output(g, t) &&
           n->bound == head->bound && plain_f32(n, head);
}

/* The chain headed by op node nodes[i] (next[]: the op nodes after it, NULL past the end):
 * its length in op nodes (1: none) and its epilogue. */
static int chain(skim_vk_rec *r, const int *uses, const skim_tensor *const *next,
                 const skim_tensor *head, skim_vk_fusion *f) {
    const skim_graph *g = r->p->graph;
    memset(f, 0, sizeof *f);
    if (!plain_f32(head, NULL) || is_output(g, head)) {
        return 1;
    }
    bool norm = head->op == SKIM_OP_RMS_NORM || head->op == SKIM_OP_LAYER_NORM;
    bool mm = head->op == SKIM_OP_MUL_MAT || head->op == SKIM_OP_MUL_MAT_SEL ||
              head->op == SKIM_OP_MUL_MAT_SEL_K;
    const skim_tensor *n1 = next[0];
    if (!(norm || mm) || !links(g, uses, head, n1, head)) {
        return 1;
    }
    /* A product past maxStorageBufferRange is recorded in pieces (vk_split.c), each its own
     * dispatch over a range: no epilogue there. */
    if (mm && (!skim_vk_fits(r, head) || !skim_vk_fits(r, head->src[0]) ||
               !skim_vk_fits(r, head->src[1]))) {
        return 1;
    }
    const skim_tensor *last = NULL, *o = NULL;
    int len = 1;
    if (norm && n1->op == SKIM_OP_MUL && n1->src[0] == head && n1->src[1] != head &&
        is_vector_of(n1->src[1], head->ne[0])) {
        f->epi = SKIM_VK_EPI_ROW;
        o = n1->src[1];
        last = n1;
        len = 2;
    } else if (mm && n1->op == SKIM_OP_ADD && (o = other_src(n1, head)) != NULL) {
        if (is_vector_of(o, head->ne[0]) && n1->src[0] == head) {
            f->epi = SKIM_VK_EPI_ROW;
        } else if (plain_f32(o, head) && o->bound == head->bound) {
            f->epi = SKIM_VK_EPI_FULL;
        } else {
            return 1;
        }
        last = n1;
        len = 2;
        const skim_tensor *n2 = next[1];
        if (!links(g, uses, n1, n2, head) || !act_bit(n2->op) ||
            n2->src[0] != n1) {
            n2 = NULL;
        }
        if (n2) {
            f->epi |= act_bit(n2->op);
            last = n2;
            len = 3;
        }
    } else if (mm && act_bit(n1->op) && n1->src[0] == head) {
        f->epi = act_bit(n1->op);
        last = n1;
        len = 2;
    } else {
        return 1;
    }
    /* The result must not overlap what the head reads, nor (a row operand: every
     * workgroup reads it) its operand; a same-shape operand may be the result itself. */
    for (int k = 0; k < SKIM_MAX_SRC; k++) {
        const skim_tensor *s = head->src[k];
        if (s && s->kind != SKIM_KIND_PARAM && overlap(r->p, last, s)) {
            return 1;
        }
    }
    if (o && overlap(r->p, last, o)) {
        skim_vk_buffer *b1, *b2;
        VkDeviceSize o1, o2, e1, e2;
        if (f->epi & SKIM_VK_EPI_ROW || !skim_vk_locate(r->p, last, &b1, &o1, &e1) ||
            !skim_vk_locate(r->p, o, &b2, &o2, &e2) || o1 != o2) {
            return 1;
        }
    }
    if ((mm && o && !aligned(r, o)) || !skim_vk_fits(r, last) || (o && !skim_vk_fits(r, o))) {
        return 1;
    }
    f->last = last;
    f->operand = o;
    return len;
}

/* Whether inner result t has one reader, n (the next op node, reading it as source 0),
 * and is no output. */
static bool feeds(const skim_graph *g, const int *uses, const skim_tensor *t,
                  const skim_tensor *n) {
    return n && n->src[0] == t && t->id < g->n_ids && uses[t->id] == 1 && !is_output(g, t);
}

/* A head gate or token halt whose scores are sigmoid(mul_mat(W, x) + bias) of one column
 * x: the producer computes each score itself (a dot product of K per candidate, so only
 * for decode's few scores: n_head or one), and the product, the add and the sigmoid record
 * nothing. Returns the chain's length, 4, or 1. */
static int producer_chain(skim_vk_rec *r, const int *uses, const skim_tensor *const *next,
                          const skim_tensor *mm, skim_vk_fusion *f) {
    const skim_graph *g = r->p->graph;
    const skim_tensor *w = mm->src[0], *x = mm->src[1];
    const skim_tensor *n1 = next[0], *n2 = n1 ? next[1] : NULL, *n3 = n2 ? next[2] : NULL;
    if (mm->op != SKIM_OP_MUL_MAT || !plain_f32(mm, NULL) || !plain_f32(w, NULL) ||
        !plain_f32(x, NULL) || w->ne[0] > 4096 || w->ne[2] != 1 || w->ne[3] != 1 ||
        x->ne[1] != 1 || x->ne[2] != 1 || x->ne[3] != 1 || !feeds(g, uses, mm, n1) ||
        n1->op != SKIM_OP_ADD || !is_vector_of(n1->src[1], mm->ne[0]) ||
        !feeds(g, uses, n1, n2) || n2->op != SKIM_OP_SIGMOID || !feeds(g, uses, n2, n3) ||
        (n3->op != SKIM_OP_HEAD_GATE && n3->op != SKIM_OP_TOKEN_HALT) ||
        !skim_vk_fills_own(r->vb, n3)) {
        return 1;
    }
    const skim_tensor *bias = n1->src[1], *bind[3] = {w, x, bias};
    for (int k = 0; k < 3; k++) {
        if (!aligned(r, bind[k]) || !skim_vk_fits(r, bind[k])) {
            return 1;
        }
    }
    memset(f, 0, sizeof *f);
    f->last = n3;
    f->operand = bias;
    f->product = mm;
    return 4;
}

/* Whether gather node t (get_rows_sel) may record nothing, its readers binding its source
 * x instead: x has one row, so the selection (a subset of x's rows, ascending) is empty or
 * row 0, and the rows t's readers read (those below the count: they are bounded by the
 * same selection) are x's bits. x must keep those bits until the last reader: x is its
 * own storage (no view, no write into a state) that nothing writes during the run (a
 * weight, an input, or an intermediate when every intermediate has its own arena range;
 * the liveness layout may reuse x's range after x's last reader, the gather), bindable
 * at any slot; t is no output (the host reads outputs at their own place). */
static bool elidable(skim_vk_rec *r, const skim_tensor *t) {
    const skim_graph *g = r->p->graph;
    const skim_tensor *x = t->src[0];
    if (t->op != SKIM_OP_GET_ROWS_SEL || t->id >= g->n_ids || x->id >= g->n_ids ||
        x->view_src || x->ne[x->n_dims - 1] != 1 || x->type != t->type || is_output(g, t)) {
        return false;
    }
    skim_mem_kind mk = g->mem[x->id].kind;
    bool still = x->kind == SKIM_KIND_WEIGHT || x->kind == SKIM_KIND_INPUT ||
                 (x->kind == SKIM_KIND_NODE && mk == SKIM_MEM_ARENA && r->vp->a_off);
    return still && aligned(r, x) && skim_vk_fits(r, x);
}

/* The gathers that record nothing (elidable), once per plan: both passes see the same. */
static skim_status plan_alias(skim_vk_rec *r) {
    const skim_graph *g = r->p->graph;
    skim_vk_plan *vp = r->vp;
    if (vp->alias || r->vb->no_fuse) {
        return SKIM_OK;
    }
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        n += g->nodes[i]->kind == SKIM_KIND_NODE && elidable(r, g->nodes[i]);
    }
    if (n == 0) {
        return SKIM_OK;
    }
    const skim_tensor **a = skim_calloc(&r->p->be->alloc, (size_t)g->n_ids, sizeof *a);
    if (!a) {
        return skim_plan_fail(r->p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *t = g->nodes[i];
        if (t->kind == SKIM_KIND_NODE && elidable(r, t)) {
            a[t->id] = t->src[0];
        }
    }
    vp->alias = a;
    return SKIM_OK;
}

skim_status skim_vk_fuse_plan(skim_vk_rec *r) {
    const skim_graph *g = r->p->graph;
    int n = g->n_nodes;
    r->fuse = skim_calloc(&r->p->be->alloc, (size_t)(n ? n : 1), sizeof *r->fuse);
    int *uses = skim_calloc(&r->p->be->alloc, (size_t)(g->n_ids ? g->n_ids : 1), sizeof *uses);
    const skim_tensor **ops = skim_calloc(&r->p->be->alloc, (size_t)n + 2, sizeof *ops);
    int *at = skim_calloc(&r->p->be->alloc, (size_t)(n ? n : 1), sizeof *at);
    skim_status st = SKIM_OK;
    if (!r->fuse || !uses || !ops || !at) {
        st = skim_plan_fail(r->p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
        goto done;
    }
    if ((st = plan_alias(r)) != SKIM_OK) {
        goto done;
    }
    int n_ops = 0;
    for (int i = 0; i < n; i++) {
        const skim_tensor *t = g->nodes[i];
        for (int k = 0; k < SKIM_MAX_SRC; k++) {
            const skim_tensor *s = t->src[k];
            if (s && s->id < g->n_ids) {
                uses[s->id]++; /* an elided gather's too: its readers read its source */
            }
        }
        if (t->kind == SKIM_KIND_NODE && r->vp->alias && t->id < g->n_ids &&
            r->vp->alias[t->id]) {
            r->fuse[i].absorbed = true; /* records nothing, and no chain runs through it */
        } else if (t->kind == SKIM_KIND_NODE) {
            at[n_ops] = i;
            ops[n_ops++] = t;
        }
    }
    for (int j = 0; j < n_ops && !r->vb->no_fuse; j++) {
        skim_vk_fusion f;
        int len = producer_chain(r, uses, ops + j + 1, ops[j], &f);
        if (len > 1) {
            f.head = f.last; /* the producer's op function records it */
        } else if ((len = chain(r, uses, ops + j + 1, ops[j], &f)) > 1) {
            f.head = ops[j];
        }
        if (len > 1) {
            r->fuse[at[j + len - 1]] = f;
            for (int k = 0; k < len - 1; k++) {
                r->fuse[at[j + k]].absorbed = true;
            }
            j += len - 1;
        }
    }
done:
    skim_free(&r->p->be->alloc, uses);
    skim_free(&r->p->be->alloc, ops);
    skim_free(&r->p->be->alloc, at);
    return st;
}
