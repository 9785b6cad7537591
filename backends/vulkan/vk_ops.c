/* vk_ops.c - skim_vk_op_<name> for the dense ops: each fills a dispatch (shader variant,
 * push constants, the grid, and for a bounded output the indirect-dispatch rule) and
 * hands it to skim_vk_emit. The selection ops are in vk_ops_sel.c. */
#include "vk-int.h"

#include <math.h>
#include <string.h>

void skim_vk_set_strides(uint32_t nb[4], const skim_tensor *t) {
    size_t u = skim_vk_unit(t->type);
    for (int k = 0; k < 4; k++) {
        nb[k] = (uint32_t)(t->nb[k] / u);
    }
}

static void set_ne(uint32_t ne[4], const skim_tensor *t) {
    for (int k = 0; k < 4; k++) {
        ne[k] = (uint32_t)t->ne[k];
    }
}

void skim_vk_dispatch_init(skim_vk_dispatch *d, skim_vk_shader_id shader, const skim_tensor *node) {
    memset(d, 0, sizeof *d);
    d->shader = shader;
    d->bounded_sel = -1;
    d->grid[0] = d->grid[1] = d->grid[2] = 1;
    if (!node) {
        return;
    }
    d->bind[0] = node;
    set_ne(d->pc.ne, node);
    skim_vk_set_strides(d->pc.nbd, node);
    for (int k = 0; k < 8; k++) {
        const skim_tensor *s = node->src[k];
        d->bind[k + 1] = s && s->kind != SKIM_KIND_PARAM ? s : NULL;
    }
    if (node->bound) {
        d->pc.bound = (uint32_t)node->n_dims;
        d->bind_bound = node->bound;
    }
}

/* A grid of n items over workgroups of `per` (rows or elements), folded into y past
 * 65535 groups. A bounded output with an unfolded grid runs indirect: count * (n / outer)
 * items. */
static void grid_items(skim_vk_rec *r, skim_vk_dispatch *d, const skim_tensor *node,
                       int64_t n, uint32_t per) {
    int64_t wgs = (n + per - 1) / per;
    if (wgs > 65535) {
        d->grid[0] = 65535;
        d->grid[1] = (uint32_t)((wgs + 65534) / 65535);
    } else {
        d->grid[0] = (uint32_t)wgs;
    }
    const skim_tensor *b = node ? node->bound : NULL;
    if (b && wgs <= 65535) {
        int64_t outer = node->ne[node->n_dims - 1];
        d->bounded_sel = skim_graph_slot(r->p->graph, b);
        d->bmul = (uint32_t)(n / outer);
        d->bdiv = per;
        d->bdim = 0;
    }
}

static int64_t rows_of(const skim_tensor *t) {
    return t->ne[1] * t->ne[2] * t->ne[3];
}

/* A fused chain's dispatch (vk_fuse.c) writes the chain's last result, reads its operand
 * at binding k and applies its epilogue. Its shape, strides and bound are the head's. */
static void fuse_into(skim_vk_rec *r, skim_vk_dispatch *d, int k) {
    const skim_vk_fusion *f = r->cur;
    if (!f) {
        return;
    }
    d->bind[0] = f->last;
    skim_vk_set_strides(d->pc.nbd, f->last);
    d->bind[k] = f->operand;
    d->pc.op |= f->epi;
}

/* ---------------------------------------------------------------- elementwise */

static skim_status eltwise(skim_vk_rec *r, const skim_tensor *node, uint32_t op) {
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, SKIM_VK_SHADER_ELTWISE, node);
    d.pc.op = op;
    skim_vk_set_strides(d.pc.nba, node->src[0]);
    const skim_tensor *b = node->src[1];
    if (b) {
        set_ne(d.pc.neb, b);
        skim_vk_set_strides(d.pc.nbb, b);
    } else {
        d.pc.neb[0] = d.pc.neb[1] = d.pc.neb[2] = d.pc.neb[3] = 1;
    }
    if (op == SKIM_VK_OP_SCALE) {
        d.pc.f[0] = node->params.scale.s;
    }
    grid_items(r, &d, node, skim_tensor_nelements(node), 256);
    return skim_vk_emit(r, &d);
}

skim_status skim_vk_op_add(skim_vk_rec *r, const skim_tensor *n) { return eltwise(r, n, SKIM_VK_OP_ADD); }
skim_status skim_vk_op_mul(skim_vk_rec *r, const skim_tensor *n) { return eltwise(r, n, SKIM_VK_OP_MUL); }
skim_status skim_vk_op_swiglu(skim_vk_rec *r, const skim_tensor *n) { return eltwise(r, n, SKIM_VK_OP_SWIGLU); }
skim_status skim_vk_op_scale(skim_vk_rec *r, const skim_tensor *n) { return eltwise(r, n, SKIM_VK_OP_SCALE); }
skim_status skim_vk_op_silu(skim_vk_rec *r, const skim_tensor *n) { return eltwise(r, n, SKIM_VK_OP_SILU); }
skim_status skim_vk_op_gelu(skim_vk_rec *r, const skim_tensor *n) { return eltwise(r, n, SKIM_VK_OP_GELU); }
skim_status skim_vk_op_sigmoid(skim_vk_rec *r, const skim_tensor *n) { return eltwise(r, n, SKIM_VK_OP_SIGMOID); }

/* ---------------------------------------------------------------- rows */

static skim_status norm(skim_vk_rec *r, const skim_tensor *node, uint32_t op) {
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, r->vb->info.subgroup_arith ? SKIM_VK_SHADER_NORM_SG
                                                         : SKIM_VK_SHADER_NORM, node);
    d.pc.op = op;
    d.pc.f[0] = node->params.norm.eps;
    skim_vk_set_strides(d.pc.nba, node->src[0]);
    grid_items(r, &d, node, rows_of(node), 1);
    fuse_into(r, &d, 2);
    return skim_vk_emit(r, &d);
}

skim_status skim_vk_op_rms_norm(skim_vk_rec *r, const skim_tensor *n) { return norm(r, n, SKIM_VK_OP_RMS_NORM); }
skim_status skim_vk_op_layer_norm(skim_vk_rec *r, const skim_tensor *n) { return norm(r, n, SKIM_VK_OP_LAYER_NORM); }

skim_status skim_vk_op_soft_max(skim_vk_rec *r, const skim_tensor *node) {
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, r->vb->info.subgroup_arith ? SKIM_VK_SHADER_SOFT_MAX_SG
                                                         : SKIM_VK_SHADER_SOFT_MAX, node);
    d.pc.f[0] = node->params.soft_max.scale;
    skim_vk_set_strides(d.pc.nba, node->src[0]);
    const skim_tensor *m = node->src[1];
    d.pc.neb[0] = d.pc.neb[1] = d.pc.neb[2] = d.pc.neb[3] = 1;
    if (m) {
        d.pc.i[0] = 1;
        set_ne(d.pc.neb, m);
        skim_vk_set_strides(d.pc.nbb, m);
    }
    grid_items(r, &d, node, rows_of(node), 1);
    return skim_vk_emit(r, &d);
}

/* Rope over the active heads only: when node's rows are q of attention over a head
 * selection and nothing reads the skipped heads' rows (skim_vk_head_rows_unread), the
 * workgroups go over the listed heads: a HEADS selection, or the head list of a per-token
 * one of one token; on the GPU an indirect dispatch of count * head_dim * n_tok items.
 * A per-token one of many tokens: over its producer's list of active (head, token)
 * pairs, an indirect dispatch of pairs * head_dim items. */
static void rope_listed(skim_vk_rec *r, skim_vk_dispatch *d, const skim_tensor *node) {
    const skim_graph *g = r->p->graph;
    const skim_tensor *heads = NULL;
    for (int i = 0; i < g->n_nodes && !heads; i++) {
        const skim_tensor *n = g->nodes[i];
        if (n->op == SKIM_OP_ATTN && n->src[SKIM_ATTN_Q] &&
            skim_tensor_base(n->src[SKIM_ATTN_Q]) == node) {
            heads = n->src[SKIM_ATTN_HEADS];
        }
    }
    int64_t items = node->ne[0] * node->ne[2];
    if (!heads || node->ne[3] != 1 || d->grid[1] != 1 ||
        !skim_vk_head_rows_unread(g, node, heads, node->ne[0], 0)) {
        return;
    }
    VkDeviceSize hl = 0;
    if (heads->sel_kind == SKIM_SEL_HEAD_TOKENS && heads->ne[1] == node->ne[1] &&
        node->ne[2] > 1 && heads->ne[0] == node->ne[2] && skim_vk_pair_list(r, heads, &hl)) {
        d->raw[3] = &r->vp->indirect;
        d->raw_off[3] = hl;
        d->pc.i[3] = (int32_t)heads->ne[0];
        d->bounded_sel = skim_graph_slot(g, heads);
        d->bmul = (uint32_t)node->ne[0];
        d->bdiv = 256;
        d->bdim = 0;
        d->bsrc = 1;
        return;
    }
    if (node->bound && node->ne[2] != 1) {
        return;
    }
    if (heads->sel_kind == SKIM_SEL_HEADS && heads->ne[0] == node->ne[1]) {
        d->bind[3] = heads;
    } else if (heads->sel_kind == SKIM_SEL_HEAD_TOKENS && heads->ne[1] == node->ne[1] &&
               node->ne[2] == 1 && skim_vk_head_list(r, heads, &hl)) {
        d->raw[3] = &r->vp->indirect;
        d->raw_off[3] = hl;
        d->bsrc = 1;
    } else {
        return;
    }
    d->pc.i[2] = (int32_t)node->ne[1];
    d->bounded_sel = skim_graph_slot(g, heads);
    d->bmul = (uint32_t)items;
    d->bdiv = 256;
    d->bdim = 0;
    d->bgate = 0;
    skim_vk_head_gate_by(r, d, heads, node->bound);
}

skim_status skim_vk_op_rope(skim_vk_rec *r, const skim_tensor *node) {
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, SKIM_VK_SHADER_ROPE, node);
    skim_vk_set_strides(d.pc.nba, node->src[0]);
    d.pc.i[0] = node->params.rope.mode;
    d.pc.i[1] = node->params.rope.n_dims;
    d.pc.f[0] = node->params.rope.freq_base;
    grid_items(r, &d, node, skim_tensor_nelements(node), 256);
    rope_listed(r, &d, node);
    return skim_vk_emit(r, &d);
}

/* ---------------------------------------------------------------- sequence mixers */

skim_status skim_vk_op_causal_conv(skim_vk_rec *r, const skim_tensor *node) {
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, SKIM_VK_SHADER_CAUSAL_CONV, node);
    skim_vk_set_strides(d.pc.nba, node->src[0]);
    d.pc.i[0] = (int32_t)node->src[1]->ne[0];
    d.pc.i[1] = node->src[2] != NULL;
    d.pc.i[2] = (int32_t)node->src[0]->ne[1];
    grid_items(r, &d, node, skim_tensor_nelements(node), 256);
    return skim_vk_emit(r, &d);
}

/* One invocation per channel, looping over the tokens. */
skim_status skim_vk_op_linear_rec(skim_vk_rec *r, const skim_tensor *node) {
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, SKIM_VK_SHADER_LINEAR_REC, node);
    skim_vk_set_strides(d.pc.nba, node->src[0]);
    skim_vk_set_strides(d.pc.nbb, node->src[1]);
    skim_vk_set_strides(d.pc.neb, node->src[2]);
    d.pc.i[0] = node->src[3] != NULL;
    grid_items(r, &d, node, node->ne[0], 64);
    return skim_vk_emit(r, &d);
}

skim_status skim_vk_op_argmax(skim_vk_rec *r, const skim_tensor *node) {
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, SKIM_VK_SHADER_ARGMAX, node);
    skim_vk_set_strides(d.pc.nba, node->src[0]);
    set_ne(d.pc.neb, node->src[0]);
    grid_items(r, &d, node, skim_tensor_nelements(node), 64);
    return skim_vk_emit(r, &d);
}

/* ---------------------------------------------------------------- copies */

static skim_vk_shader_id copy_shader(skim_type src, skim_type dst) {
    bool s16 = src == SKIM_TYPE_F16, d16 = dst == SKIM_TYPE_F16;
    return s16 ? (d16 ? SKIM_VK_SHADER_COPY_F16_F16 : SKIM_VK_SHADER_COPY_F16_F32)
               : (d16 ? SKIM_VK_SHADER_COPY_F32_F16 : SKIM_VK_SHADER_COPY_32);
}

static skim_status copy(skim_vk_rec *r, const skim_tensor *node, const skim_tensor *src) {
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, copy_shader(src->type, node->type), node);
    d.bind[1] = src;
    d.bind[2] = NULL;
    set_ne(d.pc.neb, src);
    skim_vk_set_strides(d.pc.nba, src);
    grid_items(r, &d, node, skim_tensor_nelements(node), 256);
    return skim_vk_emit(r, &d);
}

skim_status skim_vk_op_cont(skim_vk_rec *r, const skim_tensor *node) {
    return copy(r, node, node->src[0]);
}

skim_status skim_vk_op_cpy(skim_vk_rec *r, const skim_tensor *node) {
    return copy(r, node, node->src[0]);
}

/* ---------------------------------------------------------------- weights */

static skim_vk_shader_id by_wtype(skim_type t, skim_vk_shader_id f32) {
    /* The F32, F16, Q8_0, Q4_0, BF16, Q4_K, Q6_K variants are consecutive in shaders.cmake. */
    switch (t) {
    case SKIM_TYPE_F16: return (skim_vk_shader_id)(f32 + 1);
    case SKIM_TYPE_Q8_0: return (skim_vk_shader_id)(f32 + 2);
    case SKIM_TYPE_Q4_0: return (skim_vk_shader_id)(f32 + 3);
    case SKIM_TYPE_BF16: return (skim_vk_shader_id)(f32 + 4);
    case SKIM_TYPE_Q4_K: return (skim_vk_shader_id)(f32 + 5);
    case SKIM_TYPE_Q6_K: return (skim_vk_shader_id)(f32 + 6);
    default: return f32;
    }
}

/* get_rows from rows [row0, row0 + w->ne[1]) of a matrix of `rows` rows. */
static skim_status get_rows_piece(skim_vk_rec *r, const skim_tensor *node, const skim_tensor *w,
                                  int64_t row0, int64_t rows) {
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, by_wtype(w->type, SKIM_VK_SHADER_GET_ROWS_F32), node);
    d.bind[1] = w;
    skim_vk_set_strides(d.pc.nba, w);
    d.pc.i[0] = (int32_t)w->ne[1];
    d.pc.i[1] = (int32_t)row0;
    d.pc.i[2] = (int32_t)rows;
    grid_items(r, &d, node, skim_tensor_nelements(node), 256);
    return skim_vk_emit(r, &d);
}

/* A matrix past maxStorageBufferRange (an embedding): one dispatch per range of rows. */
skim_status skim_vk_op_get_rows(skim_vk_rec *r, const skim_tensor *node) {
    const skim_tensor *w = node->src[0];
    if (skim_vk_fits(r, w) || w->ne[2] * w->ne[3] != 1) {
        return get_rows_piece(r, node, w, 0, w->ne[1]);
    }
    int64_t per = skim_vk_rows_per_piece(r, w);
    if (per < 1) {
        return skim_vk_split_fail(r, node, w, "one row of it does too");
    }
    skim_status st = SKIM_OK;
    for (int64_t r0 = 0; st == SKIM_OK && r0 < w->ne[1]; r0 += per) {
        skim_tensor piece;
        skim_vk_rows_view(&piece, w, r0, w->ne[1] - r0 < per ? w->ne[1] - r0 : per);
        st = get_rows_piece(r, node, &piece, r0, w->ne[1]);
    }
    return st;
}

/* Whether mul_mat.comp's VEC4 variant can run node: F32 x with contiguous rows, K (and
 * for SEL_K the head block) a multiple of 4, x's row and batch strides and start
 * multiples of 4 elements, and the same of F32 / F16 weights (block weights are read by
 * bytes: any place). A byte offset that is a multiple of 4 elements stays one after
 * bind_info aligns the binding down. */
static bool vec4_ok(skim_vk_rec *r, const skim_tensor *node, uint32_t op) {
    const skim_tensor *w = node->src[0], *x = node->src[1];
    bool blocks = w->type == SKIM_TYPE_Q8_0 || w->type == SKIM_TYPE_Q4_0;
    if ((w->type != SKIM_TYPE_F32 && w->type != SKIM_TYPE_F16 && !blocks) ||
        x->type != SKIM_TYPE_F32 || r->vb->no_vec4 || x->ne[0] % 4 != 0 ||
        (op == SKIM_VK_OP_MUL_MAT_SEL_K && node->params.block.block % 4 != 0)) {
        return false;
    }
    size_t uw = skim_vk_unit(w->type);
    if ((!blocks && w->nb[0] != uw) || x->nb[0] != 4) {
        return false;
    }
    for (int k = 1; k < 4; k++) {
        if ((!blocks && (w->nb[k] / uw) % 4 != 0) || (x->nb[k] / 4) % 4 != 0) {
            return false;
        }
    }
    skim_vk_buffer *b;
    VkDeviceSize ow, ox, end;
    return skim_vk_locate(r->p, w, &b, &ow, &end) && (blocks || ow % (4 * uw) == 0) &&
           skim_vk_locate(r->p, x, &b, &ox, &end) && ox % 16 == 0;
}

static skim_vk_shader_id vec4_shader(skim_type t) {
    switch (t) {
    case SKIM_TYPE_F16: return SKIM_VK_SHADER_MUL_MAT_F16_V4;
    case SKIM_TYPE_Q8_0: return SKIM_VK_SHADER_MUL_MAT_Q8_0_V4;
    case SKIM_TYPE_Q4_0: return SKIM_VK_SHADER_MUL_MAT_Q4_0_V4;
    default: return SKIM_VK_SHADER_MUL_MAT_F32_V4;
    }
}

/* mul_mat.comp's TILE variants (shaders.cmake; these match the rows' TILE_RM and TILE_RN
 * defines): TILE_RM x TILE_RN outputs per invocation for a dense mul_mat of at least
 * MUL_MAT_TILE_MIN_N columns that can take VEC4 (prefill). */
#define TILE_RM 16
#define TILE_RN 8
#define MUL_MAT_TILE_MIN_N 32

static skim_vk_shader_id tile_shader(skim_type t) {
    switch (t) {
    case SKIM_TYPE_F16: return SKIM_VK_SHADER_MUL_MAT_F16_T;
    case SKIM_TYPE_Q8_0: return SKIM_VK_SHADER_MUL_MAT_Q8_0_T;
    case SKIM_TYPE_Q4_0: return SKIM_VK_SHADER_MUL_MAT_Q4_0_T;
    default: return SKIM_VK_SHADER_MUL_MAT_F32_T;
    }
}

/* SKIM_PLAN_HALF_PRODUCTS applies to node (include/skim-backend.h: a plain product of F16
 * weights and at least MUL_MAT_TILE_MIN_N x rows; judged on the whole product, so that
 * every piece of a split one keeps the rule). mul_mat then runs the TILE variant's HALF
 * twin where VEC4 can run (K a multiple of 4, aligned x), the exact product elsewhere. */
static bool half_products(const skim_vk_rec *r, const skim_tensor *node) {
    return (r->p->flags & SKIM_PLAN_HALF_PRODUCTS) && node->src[0]->type == SKIM_TYPE_F16 &&
           node->src[1]->type == SKIM_TYPE_F32 && node->ne[1] >= MUL_MAT_TILE_MIN_N;
}

/* Whether mul_mat_sel node runs over its listed heads only, leaving the skipped heads'
 * rows unwritten: a HEADS selection (the list is the selection), or a per-token one of a
 * single column (the list is its producer's head list, at *hl in the indirect buffer);
 * head blocks of whole 4-row groups (an invocation's rows stay in one head); nothing
 * reading those rows (of the fused chain's result when node heads one). */
static bool sel_compact(skim_vk_rec *r, const skim_tensor *node, uint32_t op, VkDeviceSize *hl) {
    const skim_tensor *sel = node->src[2];
    const skim_tensor *out = r->cur ? r->cur->last : node;
    int64_t block = node->params.block.block;
    *hl = 0;
    if (op != SKIM_VK_OP_MUL_MAT_SEL || block % 4 != 0 || node->ne[2] * node->ne[3] != 1 ||
        node->ne[0] > 256 * 65535 || !skim_vk_head_rows_unread(r->p->graph, out, sel, block, 0)) {
        return false;
    }
    return sel->sel_kind == SKIM_SEL_HEADS || (node->ne[1] == 1 && skim_vk_head_list(r, sel, hl));
}

/* Whether mul_mat_sel node of many columns under a per-token head selection runs over each
 * head's own list of columns (mul_mat.comp's runs: no workgroup for a head's columns with
 * no active one, and only the listed columns gathered from x), leaving the skipped (head,
 * column) outputs unwritten: the selection's producer writes the dispatch's command (the
 * runs' count), the heads tile the rows, nothing reads the skipped outputs (of the fused
 * chain's result when node heads one) and the dense grid fits one grid row. */
static bool sel_runs(skim_vk_rec *r, const skim_tensor *node, uint32_t op) {
    const skim_tensor *sel = node->src[2];
    const skim_tensor *out = r->cur ? r->cur->last : node;
    int64_t block = node->params.block.block;
    if (op != SKIM_VK_OP_MUL_MAT_SEL || sel->sel_kind != SKIM_SEL_HEAD_TOKENS) {
        return false;
    }
    int64_t grid = (block + 63) / 64 * sel->ne[1] * ((node->ne[1] + 15) / 16);
    return node->ne[1] > 1 && node->ne[2] * node->ne[3] == 1 && sel->ne[0] == node->ne[1] &&
           sel->ne[1] * block == node->ne[0] && r->vp->gpu_resolve &&
           skim_vk_fills_own(r->vb, sel) &&
           grid <= (int64_t)r->vb->props.limits.maxComputeWorkGroupCount[0] &&
           skim_vk_head_rows_unread(r->p->graph, out, sel, block, 0);
}

/* mul_mat, mul_mat_sel, mul_mat_sel_k: a workgroup makes 64 rows x 16 columns, 256 rows x
 * 4 columns for at most 4 columns (decode), or 256 x 32 (TILE, a dense product of many). */
static skim_status mul_mat(skim_vk_rec *r, const skim_tensor *node, uint32_t op, bool half) {
    const skim_tensor *w = node->src[0], *x = node->src[1], *sel = node->src[2];
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, by_wtype(w->type, SKIM_VK_SHADER_MUL_MAT_F32), node);
    d.pc.op = op;
    skim_vk_set_strides(d.pc.nba, w);
    skim_vk_set_strides(d.pc.nbb, x);
    set_ne(d.pc.neb, x);
    d.pc.i[3] = (int32_t)((x->ne[2] / w->ne[2]) | ((x->ne[3] / w->ne[3]) << 16));
    if (sel) {
        d.pc.i[0] = node->params.block.block;
        d.pc.i[1] = (int32_t)sel->ne[1] | (sel->sel_kind == SKIM_SEL_HEAD_TOKENS ? 1 << 16 : 0);
        d.pc.i[2] = (int32_t)sel->ne[0];
    }
    d.grid[0] = (uint32_t)((node->ne[0] + 63) / 64); /* 16 x 4 rows per workgroup */
    d.grid[1] = (uint32_t)((node->ne[1] + 15) / 16); /* 4 x 4 columns */
    d.grid[2] = (uint32_t)(node->ne[2] * node->ne[3]);
    bool v4 = vec4_ok(r, node, op);
    half = half && v4 && op == SKIM_VK_OP_MUL_MAT;
    bool narrow = node->ne[1] <= 4 && !half;
    if (v4) {
        d.shader = vec4_shader(w->type);
    }
    bool tile = v4 && op == SKIM_VK_OP_MUL_MAT && (node->ne[1] >= MUL_MAT_TILE_MIN_N || half);
    if (tile) { /* 16 x TILE_RM rows, 4 x TILE_RN columns per workgroup */
        d.shader = !half ? tile_shader(w->type)
                 : r->vb->info.path_float16 ? SKIM_VK_SHADER_MUL_MAT_F16_T_HALF16
                                            : SKIM_VK_SHADER_MUL_MAT_F16_T_HALF;
        d.grid[0] = (uint32_t)((node->ne[0] + 16 * TILE_RM - 1) / (16 * TILE_RM));
        d.grid[1] = (uint32_t)((node->ne[1] + 4 * TILE_RN - 1) / (4 * TILE_RN));
    }
    if (narrow) { /* 256 rows x 4 columns per workgroup */
        d.shader = by_wtype(w->type, v4 ? SKIM_VK_SHADER_MUL_MAT_F32_V4_N
                                        : SKIM_VK_SHADER_MUL_MAT_F32_N);
        d.grid[0] = (uint32_t)((node->ne[0] + 255) / 256);
        d.grid[1] = 1;
    }
    /* Decode on a GPU: subgroups along k (mul_mv.comp, a fused chain's epilogue too), 8
     * rows per workgroup. Not on a CPU
     * device: lavapipe (Mesa 22.3) ran a 4096^2 matvec 2.5x slower that way than with
     * mul_mat.comp's 4 rows per invocation. */
    bool mv_ok = op == SKIM_VK_OP_MUL_MAT && !half && !node->bound && node->ne[1] <= 4 &&
                 node->ne[0] <= 8 * 65535 && r->vb->info.subgroup_arith;
    /* SKIM_PLAN_QUANTIZED_ACTIVATIONS: its rule (mul_mv.comp QA) wherever mul_mv runs. */
    skim_vk_buffer *wbuf;
    VkDeviceSize woff = 1, wend;
    bool qa = mv_ok && (r->p->flags & SKIM_PLAN_QUANTIZED_ACTIVATIONS) && x->ne[1] == 1 &&
              (w->type == SKIM_TYPE_Q8_0 || w->type == SKIM_TYPE_Q4_0) &&
              skim_vk_locate(r->p, w, &wbuf, &woff, &wend) && woff % 2 == 0; /* word reads */
    if (mv_ok && (qa || r->vb->info.device_type != VK_PHYSICAL_DEVICE_TYPE_CPU || r->vb->force_mul_mv)) {
        d.shader = skim_vk_mv_shader(r->vb, w->type, qa);
        d.grid[0] = (uint32_t)((node->ne[0] + 7) / 8);
        d.grid[1] = 1;
    }
    fuse_into(r, &d, 4);
    VkDeviceSize hl = 0;
    if (op == SKIM_VK_OP_MUL_MAT_SEL_K && sel->sel_kind == SKIM_SEL_HEAD_TOKENS &&
        node->ne[1] == 1 && skim_vk_head_list(r, sel, &hl)) {
        /* One column of per-token head gates: its active heads are the producer's head
         * list, which the shader loops over as it does a HEADS selection. */
        d.raw[3] = &r->vp->indirect;
        d.raw_off[3] = hl;
        d.pc.i[1] = 1;
        d.pc.i[2] = (int32_t)sel->ne[1];
        hl = 0;
    }
    if (sel_compact(r, node, op, &hl)) {
        /* Workgroups over the listed heads' rows only (count * block rows, on the GPU an
         * indirect dispatch); a column bound is kept by the shader's extent. */
        uint32_t rows = narrow ? 256u : 64u;
        int64_t cap = hl ? sel->ne[1] : sel->ne[0];
        if (hl) {
            d.raw[3] = &r->vp->indirect;
            d.raw_off[3] = hl;
            d.bsrc = 1;
        }
        d.pc.i[1] |= 1 << 17;
        d.pc.i[2] = (int32_t)cap;
        d.grid[0] = (uint32_t)((cap * node->params.block.block + rows - 1) / rows);
        d.bounded_sel = skim_graph_slot(r->p->graph, sel);
        d.bmul = (uint32_t)node->params.block.block;
        d.bdiv = rows;
        d.bdim = 0;
        skim_vk_head_gate_by(r, &d, sel, node->bound);
    } else if (sel_runs(r, node, op)) {
        /* A workgroup per (64-row block of a head, run of up to 16 of its listed columns):
         * 64 rows x 16 columns as the plain layout, on the GPU an indirect dispatch of
         * ceil(block / 64) times the runs' count, which the producer writes (src 3). */
        uint32_t rbs = (uint32_t)((node->params.block.block + 63) / 64);
        d.shader = v4 ? vec4_shader(w->type) : by_wtype(w->type, SKIM_VK_SHADER_MUL_MAT_F32);
        d.pc.i[1] |= 1 << 18;
        d.grid[0] = rbs * (uint32_t)sel->ne[1] * (uint32_t)((node->ne[1] + 15) / 16);
        d.grid[1] = 1;
        d.bounded_sel = skim_graph_slot(r->p->graph, sel);
        d.bmul = rbs;
        d.bdiv = 16;
        d.bdim = 0;
        d.bsrc = 3;
    } else if (node->bound && node->n_dims == 2) {
        d.bounded_sel = skim_graph_slot(r->p->graph, node->bound);
        d.bmul = 1;
        d.bdiv = narrow ? 4 : tile ? 4 * TILE_RN : 16;
        d.bdim = 1;
    } else if (node->bound && node->n_dims >= 3) {
        d.bounded_sel = skim_graph_slot(r->p->graph, node->bound);
        d.bmul = (uint32_t)(node->ne[2] * node->ne[3] / node->ne[node->n_dims - 1]);
        d.bdiv = 1;
        d.bdim = 2;
    }
    return skim_vk_emit(r, &d);
}

/* A dense mul_mat whose weights, x or output pass maxStorageBufferRange (an output matrix
 * over a large vocabulary): pieces of at most `mp` weight rows (output rows) times `np`
 * columns, each binding those rows of the weights, those columns of x and that block of
 * the output. */
static skim_status mul_mat_split(skim_vk_rec *r, const skim_tensor *node) {
    const skim_tensor *w = node->src[0], *x = node->src[1];
    if (node->bound || node->ne[2] * node->ne[3] != 1 || w->ne[2] * w->ne[3] != 1 ||
        x->ne[2] * x->ne[3] != 1) {
        return skim_vk_split_fail(r, node, w, "is batched or bounded (only a plain 2-D "
                                  "mul_mat is split)");
    }
    bool half = half_products(r, node);
    int64_t mp = skim_vk_rows_per_piece(r, w);
    int64_t np = skim_vk_rows_per_piece(r, x);
    skim_tensor dt = *node; /* the output's columns as rows of a matrix */
    int64_t nd = skim_vk_rows_per_piece(r, &dt);
    np = nd < np ? nd : np;
    if (mp < 1 || np < 1) {
        return skim_vk_split_fail(r, node, mp < 1 ? w : x, "one row of it does too");
    }
    skim_status st = SKIM_OK;
    for (int64_t n0 = 0; st == SKIM_OK && n0 < node->ne[1]; n0 += np) {
        int64_t nn = node->ne[1] - n0 < np ? node->ne[1] - n0 : np;
        for (int64_t m0 = 0; st == SKIM_OK && m0 < node->ne[0]; m0 += mp) {
            int64_t mm = node->ne[0] - m0 < mp ? node->ne[0] - m0 : mp;
            skim_tensor wp, xp, dp;
            skim_vk_rows_view(&wp, w, m0, mm);
            skim_vk_rows_view(&xp, x, n0, nn);
            skim_vk_rows_view(&dp, node, n0, nn);
            dp.ne[0] = mm;
            dp.view_offs += (size_t)m0 * node->nb[0];
            dp.src[0] = &wp;
            dp.src[1] = &xp;
            st = mul_mat(r, &dp, SKIM_VK_OP_MUL_MAT, half);
        }
    }
    return st;
}

skim_status skim_vk_op_mul_mat(skim_vk_rec *r, const skim_tensor *n) {
    if (!skim_vk_fits(r, n->src[0]) || !skim_vk_fits(r, n->src[1]) || !skim_vk_fits(r, n)) {
        return mul_mat_split(r, n);
    }
    return mul_mat(r, n, SKIM_VK_OP_MUL_MAT, half_products(r, n));
}
skim_status skim_vk_op_mul_mat_sel(skim_vk_rec *r, const skim_tensor *n) { return mul_mat(r, n, SKIM_VK_OP_MUL_MAT_SEL, false); }
skim_status skim_vk_op_mul_mat_sel_k(skim_vk_rec *r, const skim_tensor *n) { return mul_mat(r, n, SKIM_VK_OP_MUL_MAT_SEL_K, false); }

/* ---------------------------------------------------------------- support */

/* BF16, Q4_K and Q6_K are weight types: only get_rows and the mul_mats read them. */
static bool weight_only_type(skim_type t) {
    return t == SKIM_TYPE_BF16 || t == SKIM_TYPE_Q4_K || t == SKIM_TYPE_Q6_K;
}

bool skim_vk_supports(skim_backend *be, const skim_tensor *node) {
    if (node->kind == SKIM_KIND_VIEW) {
        return true;
    }
    const skim_tensor *a = node->src[0];
    bool reads_w = node->op == SKIM_OP_GET_ROWS || node->op == SKIM_OP_MUL_MAT ||
                   node->op == SKIM_OP_MUL_MAT_SEL || node->op == SKIM_OP_MUL_MAT_SEL_K;
    for (int i = 0; i < SKIM_MAX_SRC; i++) {
        if (node->src[i] && weight_only_type(node->src[i]->type) && !(reads_w && i == 0)) {
            return false;
        }
    }
    switch (node->op) {
    case SKIM_OP_CONT:
        return a->type == SKIM_TYPE_F32 || a->type == SKIM_TYPE_I32 || a->type == SKIM_TYPE_F16;
    case SKIM_OP_MUL_MAT:
    case SKIM_OP_MUL_MAT_SEL:
    case SKIM_OP_MUL_MAT_SEL_K:
        return node->ne[0] <= 64 * 65535 && node->ne[1] <= 16 * 65535 &&
               node->ne[2] * node->ne[3] <= 65535;
    case SKIM_OP_ATTN: {
        const skim_tensor *k = node->src[SKIM_ATTN_K], *v = node->src[SKIM_ATTN_V];
        return k->type == v->type && node->ne[0] <= 256 && node->ne[1] <= 65535 &&
               node->ne[2] <= 65535;
    }
    default:
        return node->op > SKIM_OP_NONE && node->op < SKIM_OP_COUNT;
    }
}
