/* ops.c - the op table, the common node builder, and the dense ops' builders and shape
 * functions (the selection ops are in ops_sel.c).
 *
 * Contiguity, decided per op (NOT_CONTIGUOUS otherwise):
 * - "rows contiguous" (nb[0] is the element size, any row strides nb[1..3]): every F32
 *   data input of elementwise ops, norms, soft_max, rope, argmax, mul_mat's x, attn's q,
 *   k, v, get_rows' w. Kernels walk rows with nb[1..3].
 * - fully contiguous: mul_mat's and mul_mat_sel's w, every index / position / mask /
 *   score vector (get_rows' idx, rope's pos, attn's q_pos, k_pos, kmask, set_rows' idx,
 *   gate scores), the x of the selection consumers (get_rows_sel, scatter_add_sel,
 *   mul_mat_sel, mul_mat_sel_k) and y of scatter_add_sel.
 * - any strides: cont (that is its job) and cpy's src and dst.
 * Outputs of ops are always contiguous (write nodes excepted: they have dst's strides). */
#include "skim-graph-int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const skim_op_info skim_op_table[SKIM_OP_COUNT] = {
    {"none", 0, 0.0},
#define SKIM_OP(E, n, s, sh, fl, t) {#n, s, t},
#include "ops.def"
#undef SKIM_OP
};

typedef skim_status (*skim_shape_fn)(skim_context *ctx, skim_tensor *node);

/* A row of ops.def without its shape function fails to link here. */
static const skim_shape_fn skim_shape_fns[SKIM_OP_COUNT] = {
    NULL,
#define SKIM_OP(E, n, s, sh, fl, t) skim_shape_##n,
#include "ops.def"
#undef SKIM_OP
};

const char *skim_op_name(skim_op op) {
    if ((int)op < 0 || (int)op >= SKIM_OP_COUNT) {
        return "unknown op";
    }
    return skim_op_table[op].name;
}

const char *skim_core_fmt_ne(const skim_tensor *t, char buf[SKIM_NE_LEN]) {
    int n = snprintf(buf, SKIM_NE_LEN, "[");
    for (int i = 0; i < t->n_dims && n > 0 && n < SKIM_NE_LEN; i++) {
        n += snprintf(buf + n, (size_t)(SKIM_NE_LEN - n), "%s%lld", i ? ", " : "",
                      (long long)t->ne[i]);
    }
    if (n > 0 && n < SKIM_NE_LEN) {
        snprintf(buf + n, (size_t)(SKIM_NE_LEN - n), "]");
    }
    return buf;
}

/* ---------------------------------------------------------------- common checks */

bool skim_op_need(skim_context *ctx, skim_op op, const char *arg, const skim_tensor *t) {
    if (!t) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "%s: argument %s is NULL", skim_op_name(op), arg);
        return false;
    }
    return true;
}

bool skim_op_check_f32(skim_context *ctx, const skim_tensor *node, const char *arg,
                       const skim_tensor *t) {
    if (t->type != SKIM_TYPE_F32) {
        char nm[SKIM_TNAME_LEN];
        skim_ctx_fail(ctx, SKIM_ERR_TYPE, "%s: %s %s is %s, F32 is required",
                      skim_op_name(node->op), arg, skim_core_tname(t, nm), skim_type_name(t->type));
        return false;
    }
    return true;
}

bool skim_op_check_rows(skim_context *ctx, const skim_tensor *node, const char *arg,
                        const skim_tensor *t) {
    if (t->nb[0] != skim_type_block_bytes(t->type)) {
        char nm[SKIM_TNAME_LEN];
        skim_ctx_fail(ctx, SKIM_ERR_NOT_CONTIGUOUS, "%s: %s %s needs contiguous rows (nb[0] = %zu)",
                      skim_op_name(node->op), arg, skim_core_tname(t, nm), t->nb[0]);
        return false;
    }
    return true;
}

bool skim_op_check_contig(skim_context *ctx, const skim_tensor *node, const char *arg,
                          const skim_tensor *t) {
    if (!skim_tensor_is_contiguous(t)) {
        char nm[SKIM_TNAME_LEN];
        skim_ctx_fail(ctx, SKIM_ERR_NOT_CONTIGUOUS, "%s: %s %s must be contiguous (use cont)",
                      skim_op_name(node->op), arg, skim_core_tname(t, nm));
        return false;
    }
    return true;
}

bool skim_op_check_vector(skim_context *ctx, const skim_tensor *node, const char *arg,
                          const skim_tensor *t, int64_t n) {
    char nm[SKIM_TNAME_LEN], sh[SKIM_NE_LEN];
    if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: %s %s is %s, a vector of %lld is required",
                      skim_op_name(node->op), arg, skim_core_tname(t, nm),
                      skim_core_fmt_ne(t, sh), (long long)n);
        return false;
    }
    return skim_op_check_contig(ctx, node, arg, t);
}

bool skim_op_check_sel(skim_context *ctx, const skim_tensor *node, const char *arg,
                       const skim_tensor *sel, skim_sel_kind kind, int64_t groups, int64_t cap) {
    static const char *const kinds[] = {"none", "HEADS", "HEAD_TOKENS", "TOKENS"};
    if (sel->sel_kind != kind || sel->ne[1] != groups || sel->ne[0] != cap) {
        char nm[SKIM_TNAME_LEN];
        int k = (int)sel->sel_kind >= 0 && (int)sel->sel_kind <= 3 ? (int)sel->sel_kind : 0;
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "%s: %s %s is %s (%lld groups of capacity %lld); "
                      "%s with %lld groups of capacity %lld is required", skim_op_name(node->op),
                      arg, skim_core_tname(sel, nm), kinds[k], (long long)sel->ne[1],
                      (long long)sel->ne[0], kinds[kind], (long long)groups, (long long)cap);
        return false;
    }
    return true;
}

bool skim_op_same_bound(skim_context *ctx, const skim_tensor *node, const char *arg_a,
                        const skim_tensor *a, const char *arg_b, const skim_tensor *b) {
    const skim_tensor *ba = a ? a->bound : NULL, *bb = b ? b->bound : NULL;
    if (ba != bb) {
        char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN];
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "%s: %s is bounded by %s but %s by %s",
                      skim_op_name(node->op), arg_a, ba ? skim_core_tname(ba, n1) : "nothing",
                      arg_b, bb ? skim_core_tname(bb, n2) : "nothing");
        return false;
    }
    return true;
}

void skim_op_make_sel(skim_tensor *node, skim_sel_kind kind, int64_t groups, int64_t cap) {
    node->type = SKIM_TYPE_I32;
    node->sel_kind = kind;
    node->n_dims = 2;
    node->ne[0] = cap;
    node->ne[1] = groups;
    node->ne[2] = node->ne[3] = 1;
    node->bound = NULL;
}

/* ---------------------------------------------------------------- the node builder */

/* Which sources may be selections or params (everything else must be plain data). */
static bool slot_is_sel(skim_op op, int i) {
    switch (op) {
    case SKIM_OP_GET_ROWS_SEL: return i == 1;
    case SKIM_OP_SCATTER_ADD_SEL:
    case SKIM_OP_MUL_MAT_SEL:
    case SKIM_OP_MUL_MAT_SEL_K: return i == 2;
    case SKIM_OP_TOKEN_HALT: return i == 1;
    case SKIM_OP_ATTN: return i == SKIM_ATTN_HEADS;
    default: return false;
    }
}

static bool slot_is_param(skim_op op, int i) {
    return op == SKIM_OP_ATTN && i == SKIM_ATTN_NKV;
}

static bool check_sources(skim_context *ctx, const skim_tensor *node) {
    const char *op = skim_op_name(node->op);
    char nm[SKIM_TNAME_LEN];
    for (int i = 0; i < SKIM_MAX_SRC; i++) {
        const skim_tensor *s = node->src[i];
        if (!s) {
            continue;
        }
        if (i >= skim_op_table[node->op].n_src) {
            skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "%s: source %d past the op's %d", op, i,
                          skim_op_table[node->op].n_src);
            return false;
        }
        if (s->ctx != ctx) {
            skim_ctx_fail(ctx, SKIM_ERR_GRAPH, "%s: source %d %s belongs to another context", op,
                          i, skim_core_tname(s, nm));
            return false;
        }
        bool want_sel = slot_is_sel(node->op, i), want_param = slot_is_param(node->op, i);
        if (want_sel != (s->sel_kind != 0)) {
            skim_ctx_fail(ctx, SKIM_ERR_SELECTION, want_sel ? "%s: source %d %s is not a selection"
                          : "%s: source %d %s is a selection, data is required", op, i,
                          skim_core_tname(s, nm));
            return false;
        }
        if (want_param != (s->kind == SKIM_KIND_PARAM)) {
            skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, want_param ? "%s: source %d %s is not a run "
                          "parameter" : "%s: source %d %s is a run parameter, data is required",
                          op, i, skim_core_tname(s, nm));
            return false;
        }
    }
    return true;
}

/* The invariants every node meets once its shape function ran, checked in every build
 * before the node joins the context (so before any later shape function, planner or
 * kernel divides by one of its dimensions): n_dims in 1..4; all four ne in 1..SKIM_MAX_NE,
 * 1 past n_dims, ne[0] a multiple of the type's block, the element count without
 * overflow. A shape function that breaks them is a bug in skim, reported as SKIM_ERR_GRAPH
 * naming the op rather than left to crash the host later. */
static bool node_broken(skim_context *ctx, const skim_tensor *node, const char *what, int i,
                        long long v) {
    char sh[SKIM_NE_LEN];
    snprintf(sh, sizeof sh, "[%lld, %lld, %lld, %lld]", (long long)node->ne[0],
             (long long)node->ne[1], (long long)node->ne[2], (long long)node->ne[3]);
    skim_ctx_fail(ctx, SKIM_ERR_GRAPH, "%s: internal error: the result breaks an invariant "
                  "(%s %d is %lld; n_dims %d, ne %s, type %d)", skim_op_name(node->op), what, i,
                  v, node->n_dims, sh, (int)node->type);
    return false;
}

/* The largest dimension, as for leaves: a byte offset into the tensor fits an int64_t. */
#define SKIM_MAX_NE (INT64_MAX / 2)

static bool node_shape_ok(skim_context *ctx, const skim_tensor *node) {
    if (node->n_dims < 1 || node->n_dims > SKIM_MAX_DIMS) {
        return node_broken(ctx, node, "n_dims", 0, node->n_dims);
    }
    if ((int)node->type < 0 || (int)node->type >= SKIM_TYPE_COUNT) {
        return node_broken(ctx, node, "type", 0, (int)node->type);
    }
    int64_t nel = 1;
    for (int i = 0; i < SKIM_MAX_DIMS; i++) {
        int64_t n = node->ne[i];
        if (n < 1 || n > SKIM_MAX_NE || (i >= node->n_dims && n != 1)) {
            return node_broken(ctx, node, "ne", i, (long long)n);
        }
        if (n > INT64_MAX / nel) {
            return node_broken(ctx, node, "ne (element count overflow)", i, (long long)n);
        }
        nel *= n;
    }
    if (node->ne[0] % skim_type_block_size(node->type) != 0) {
        return node_broken(ctx, node, "ne", 0, (long long)node->ne[0]);
    }
    return true;
}

/* Strides, once set (contiguous for results, dst's for write nodes): every one a multiple
 * of the type's block bytes, nb[0] equal to it unless the node writes through a permuted
 * view of a state. */
static bool node_strides_ok(skim_context *ctx, const skim_tensor *node) {
    size_t bb = skim_type_block_bytes(node->type);
    for (int i = 0; i < SKIM_MAX_DIMS; i++) {
        if (node->nb[i] % bb != 0 || (i == 0 && !node->writes && node->nb[0] != bb)) {
            return node_broken(ctx, node, "nb", i, (long long)node->nb[i]);
        }
    }
    return true;
}

bool skim_op_check_node(skim_context *ctx, const skim_tensor *node) {
    return node_shape_ok(ctx, node) && node_strides_ok(ctx, node);
}

skim_tensor *skim_op_build(skim_context *ctx, skim_tensor *node) {
    if (!ctx || ctx->status != SKIM_OK) {
        return NULL;
    }
    node->kind = SKIM_KIND_NODE;
    if (!check_sources(ctx, node)) {
        return NULL;
    }
    if (skim_shape_fns[node->op](ctx, node) != SKIM_OK) {
        return NULL;
    }
    if (!node_shape_ok(ctx, node)) {
        return NULL;
    }
    if (!node->writes) {
        size_t nbytes;
        if (!skim_core_contig_strides(node->type, node->ne, node->nb, &nbytes)) {
            return skim_ctx_fail(ctx, SKIM_ERR_TOO_LARGE, "%s: the result's size overflows",
                                 skim_op_name(node->op));
        }
    }
    if (!node_strides_ok(ctx, node)) {
        return NULL;
    }
    return skim_core_add_tensor(ctx, node, skim_op_name(node->op));
}

static void node_init(skim_tensor *node, skim_op op) {
    memset(node, 0, sizeof *node);
    node->op = op;
}

static void copy_shape(skim_tensor *node, const skim_tensor *a) {
    node->n_dims = a->n_dims;
    memcpy(node->ne, a->ne, sizeof node->ne);
}

/* ---------------------------------------------------------------- shape functions */

static skim_status unary_f32(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *a = node->src[0];
    if (!skim_op_check_f32(ctx, node, "a", a) || !skim_op_check_rows(ctx, node, "a", a)) {
        return ctx->status;
    }
    copy_shape(node, a);
    node->type = SKIM_TYPE_F32;
    node->bound = a->bound;
    return SKIM_OK;
}

/* Bound of an elementwise result: both bounded alike, or the unbounded one broadcasts
 * (size 1) along the bounded one's outermost dimension. */
static skim_status binary_bound(skim_context *ctx, skim_tensor *node, const skim_tensor *a,
                                const skim_tensor *b) {
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN];
    const char *op = skim_op_name(node->op);
    if (a->bound && b->bound) {
        if (a->bound != b->bound || memcmp(a->ne, b->ne, sizeof a->ne) != 0) {
            skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "%s: %s and %s are bounded by different "
                          "selections or differ in shape", op, skim_core_tname(a, n1),
                          skim_core_tname(b, n2));
            return ctx->status;
        }
    } else if (a->bound || b->bound) {
        const skim_tensor *bd = a->bound ? a : b, *ub = a->bound ? b : a;
        if (ub->ne[bd->n_dims - 1] != 1) {
            skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "%s: %s is bounded by a selection; unbounded "
                          "%s must have size 1 along dimension %d to broadcast", op,
                          skim_core_tname(bd, n1), skim_core_tname(ub, n2), bd->n_dims - 1);
            return ctx->status;
        }
    }
    node->bound = a->bound ? a->bound : b->bound;
    return SKIM_OK;
}

static skim_status binary_f32(skim_context *ctx, skim_tensor *node, bool same_shape) {
    const skim_tensor *a = node->src[0], *b = node->src[1];
    if (!skim_op_check_f32(ctx, node, "a", a) || !skim_op_check_f32(ctx, node, "b", b) ||
        !skim_op_check_rows(ctx, node, "a", a) || !skim_op_check_rows(ctx, node, "b", b)) {
        return ctx->status;
    }
    for (int i = 0; i < SKIM_MAX_DIMS; i++) {
        bool ok = same_shape ? a->ne[i] == b->ne[i] : a->ne[i] % b->ne[i] == 0;
        if (!ok) {
            char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN], s1[SKIM_NE_LEN], s2[SKIM_NE_LEN];
            skim_ctx_fail(ctx, SKIM_ERR_SHAPE, same_shape ? "%s: %s %s and %s %s differ in shape"
                          : "%s: %s %s does not broadcast to %s %s", skim_op_name(node->op),
                          skim_core_tname(b, n2), skim_core_fmt_ne(b, s2), skim_core_tname(a, n1),
                          skim_core_fmt_ne(a, s1));
            return ctx->status;
        }
    }
    if (binary_bound(ctx, node, a, b) != SKIM_OK) {
        return ctx->status;
    }
    copy_shape(node, a);
    /* b's dimensions past a's are 1; they matter only when they carry b's bound. */
    if (!a->bound && b->bound && b->n_dims > node->n_dims) {
        node->n_dims = b->n_dims;
    }
    node->type = SKIM_TYPE_F32;
    return SKIM_OK;
}

skim_status skim_shape_add(skim_context *ctx, skim_tensor *node) {
    return binary_f32(ctx, node, false);
}

skim_status skim_shape_mul(skim_context *ctx, skim_tensor *node) {
    return binary_f32(ctx, node, false);
}

skim_status skim_shape_swiglu(skim_context *ctx, skim_tensor *node) {
    return binary_f32(ctx, node, true);
}

skim_status skim_shape_scale(skim_context *ctx, skim_tensor *node) {
    if (!isfinite(node->params.scale.s)) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "scale: factor is not finite");
        return ctx->status;
    }
    return unary_f32(ctx, node);
}

static skim_status shape_norm(skim_context *ctx, skim_tensor *node) {
    float eps = node->params.norm.eps;
    if (!(eps >= 0.0f) || !isfinite(eps)) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "%s: eps must be finite and >= 0",
                      skim_op_name(node->op));
        return ctx->status;
    }
    return unary_f32(ctx, node);
}

skim_status skim_shape_rms_norm(skim_context *ctx, skim_tensor *node) {
    return shape_norm(ctx, node);
}

skim_status skim_shape_layer_norm(skim_context *ctx, skim_tensor *node) {
    return shape_norm(ctx, node);
}

skim_status skim_shape_silu(skim_context *ctx, skim_tensor *node) {
    return unary_f32(ctx, node);
}

skim_status skim_shape_gelu(skim_context *ctx, skim_tensor *node) {
    return unary_f32(ctx, node);
}

skim_status skim_shape_sigmoid(skim_context *ctx, skim_tensor *node) {
    return unary_f32(ctx, node);
}

skim_status skim_shape_cont(skim_context *ctx, skim_tensor *node) {
    (void)ctx; /* every type and every view is accepted */
    const skim_tensor *a = node->src[0];
    copy_shape(node, a);
    node->type = a->type;
    node->bound = a->bound;
    return SKIM_OK;
}

skim_status skim_shape_argmax(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *a = node->src[0];
    if (!skim_op_check_f32(ctx, node, "a", a) || !skim_op_check_rows(ctx, node, "a", a)) {
        return ctx->status;
    }
    if (a->bound && a->n_dims < 2) {
        char nm[SKIM_TNAME_LEN];
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "argmax: a %s is bounded along the dimension "
                      "argmax reduces", skim_core_tname(a, nm));
        return ctx->status;
    }
    node->type = SKIM_TYPE_I32;
    node->n_dims = a->n_dims > 1 ? a->n_dims - 1 : 1;
    node->ne[0] = a->ne[1];
    node->ne[1] = a->ne[2];
    node->ne[2] = a->ne[3];
    node->ne[3] = 1;
    node->bound = a->bound;
    return SKIM_OK;
}

skim_status skim_shape_get_rows(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *w = node->src[0], *idx = node->src[1];
    char nm[SKIM_TNAME_LEN], sh[SKIM_NE_LEN];
    if (w->type == SKIM_TYPE_I32) {
        skim_ctx_fail(ctx, SKIM_ERR_TYPE, "get_rows: w %s is I32", skim_core_tname(w, nm));
        return ctx->status;
    }
    if (idx->type != SKIM_TYPE_I32) {
        skim_ctx_fail(ctx, SKIM_ERR_TYPE, "get_rows: idx %s is %s, I32 is required",
                      skim_core_tname(idx, nm), skim_type_name(idx->type));
        return ctx->status;
    }
    if (w->ne[2] != 1 || w->ne[3] != 1) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "get_rows: w %s is %s, 2-D is required",
                      skim_core_tname(w, nm), skim_core_fmt_ne(w, sh));
        return ctx->status;
    }
    if (!skim_op_check_rows(ctx, node, "w", w) ||
        !skim_op_check_vector(ctx, node, "idx", idx, idx->ne[0])) {
        return ctx->status;
    }
    if (w->bound) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "get_rows: w %s is bounded by a selection",
                      skim_core_tname(w, nm));
        return ctx->status;
    }
    node->type = SKIM_TYPE_F32;
    node->n_dims = 2;
    node->ne[0] = w->ne[0];
    node->ne[1] = idx->ne[0];
    node->ne[2] = node->ne[3] = 1;
    node->bound = idx->bound;
    return SKIM_OK;
}

skim_status skim_shape_mul_mat(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *w = node->src[0], *x = node->src[1];
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN], s1[SKIM_NE_LEN], s2[SKIM_NE_LEN];
    if (w->type == SKIM_TYPE_I32) {
        skim_ctx_fail(ctx, SKIM_ERR_TYPE, "mul_mat: w %s is I32", skim_core_tname(w, n1));
        return ctx->status;
    }
    if (!skim_op_check_f32(ctx, node, "x", x) || !skim_op_check_contig(ctx, node, "w", w) ||
        !skim_op_check_rows(ctx, node, "x", x)) {
        return ctx->status;
    }
    if (w->ne[0] != x->ne[0] || x->ne[2] % w->ne[2] != 0 || x->ne[3] % w->ne[3] != 0) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "mul_mat: w %s %s and x %s %s do not fit",
                      skim_core_tname(w, n1), skim_core_fmt_ne(w, s1), skim_core_tname(x, n2),
                      skim_core_fmt_ne(x, s2));
        return ctx->status;
    }
    if (w->bound || (x->bound && x->n_dims < 2)) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "mul_mat: w %s must be unbounded and x %s bounded "
                      "only along its rows", skim_core_tname(w, n1), skim_core_tname(x, n2));
        return ctx->status;
    }
    node->type = SKIM_TYPE_F32;
    node->n_dims = x->n_dims;
    node->ne[0] = w->ne[1];
    node->ne[1] = x->ne[1];
    node->ne[2] = x->ne[2];
    node->ne[3] = x->ne[3];
    node->bound = x->bound;
    return SKIM_OK;
}

skim_status skim_shape_rope(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *x = node->src[0], *pos = node->src[1];
    const skim_rope_params *rp = &node->params.rope;
    char nm[SKIM_TNAME_LEN], sh[SKIM_NE_LEN];
    if (!skim_op_check_f32(ctx, node, "x", x) || !skim_op_check_rows(ctx, node, "x", x)) {
        return ctx->status;
    }
    if (pos->type != SKIM_TYPE_I32) {
        skim_ctx_fail(ctx, SKIM_ERR_TYPE, "rope: pos %s must be I32", skim_core_tname(pos, nm));
        return ctx->status;
    }
    if (x->ne[3] != 1) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "rope: x %s is %s, [head_dim, n_head, n_tok] required",
                      skim_core_tname(x, nm), skim_core_fmt_ne(x, sh));
        return ctx->status;
    }
    if (!skim_op_check_vector(ctx, node, "pos", pos, x->ne[2])) {
        return ctx->status;
    }
    if (rp->mode != SKIM_ROPE_NORM && rp->mode != SKIM_ROPE_NEOX) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "rope: unknown mode %d", (int)rp->mode);
        return ctx->status;
    }
    if (rp->n_dims < 2 || rp->n_dims % 2 != 0 || rp->n_dims > x->ne[0]) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "rope: n_dims %d must be even, >= 2 and <= head_dim "
                      "%lld", (int)rp->n_dims, (long long)x->ne[0]);
        return ctx->status;
    }
    if (!(rp->freq_base > 0.0f) || !isfinite(rp->freq_base)) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "rope: freq_base must be finite and > 0");
        return ctx->status;
    }
    if (!skim_op_same_bound(ctx, node, "x", x, "pos", pos)) {
        return ctx->status;
    }
    if (x->bound && x->n_dims != 3) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "rope: bounded x %s must be 3-D (tokens outermost)",
                      skim_core_tname(x, nm));
        return ctx->status;
    }
    copy_shape(node, x);
    node->type = SKIM_TYPE_F32;
    node->bound = x->bound;
    return SKIM_OK;
}

static skim_status soft_max_mask(skim_context *ctx, skim_tensor *node, const skim_tensor *x,
                                 const skim_tensor *m) {
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN], s1[SKIM_NE_LEN], s2[SKIM_NE_LEN];
    if (!skim_op_check_f32(ctx, node, "mask", m) || !skim_op_check_rows(ctx, node, "mask", m)) {
        return ctx->status;
    }
    bool fits = m->ne[0] == x->ne[0];
    for (int i = 1; i < SKIM_MAX_DIMS; i++) {
        fits = fits && x->ne[i] % m->ne[i] == 0;
    }
    if (!fits) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "soft_max: mask %s %s does not broadcast over x %s %s",
                      skim_core_tname(m, n2), skim_core_fmt_ne(m, s2), skim_core_tname(x, n1),
                      skim_core_fmt_ne(x, s1));
        return ctx->status;
    }
    if (m->bound) {
        if (!skim_op_same_bound(ctx, node, "x", x, "mask", m)) {
            return ctx->status;
        }
    } else if (x->bound && m->ne[x->n_dims - 1] != 1) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "soft_max: x %s is bounded; unbounded mask %s "
                      "must have size 1 along dimension %d", skim_core_tname(x, n1),
                      skim_core_tname(m, n2), x->n_dims - 1);
        return ctx->status;
    }
    return SKIM_OK;
}

skim_status skim_shape_soft_max(skim_context *ctx, skim_tensor *node) {
    if (!isfinite(node->params.soft_max.scale)) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "soft_max: scale is not finite");
        return ctx->status;
    }
    if (unary_f32(ctx, node) != SKIM_OK) {
        return ctx->status;
    }
    if (node->src[1]) {
        return soft_max_mask(ctx, node, node->src[0], node->src[1]);
    }
    return SKIM_OK;
}

/* ---------------------------------------------------------------- builders */

static skim_tensor *build1(skim_context *ctx, skim_op op, skim_tensor *a) {
    if (!ctx || ctx->status != SKIM_OK || !skim_op_need(ctx, op, "a", a)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, op);
    node.src[0] = a;
    return skim_op_build(ctx, &node);
}

static skim_tensor *build2(skim_context *ctx, skim_op op, const char *an, skim_tensor *a,
                           const char *bn, skim_tensor *b) {
    if (!ctx || ctx->status != SKIM_OK || !skim_op_need(ctx, op, an, a) ||
        !skim_op_need(ctx, op, bn, b)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, op);
    node.src[0] = a;
    node.src[1] = b;
    return skim_op_build(ctx, &node);
}

skim_tensor *skim_get_rows(skim_context *ctx, skim_tensor *w, skim_tensor *idx) {
    return build2(ctx, SKIM_OP_GET_ROWS, "w", w, "idx", idx);
}

skim_tensor *skim_add(skim_context *ctx, skim_tensor *a, skim_tensor *b) {
    return build2(ctx, SKIM_OP_ADD, "a", a, "b", b);
}

skim_tensor *skim_mul(skim_context *ctx, skim_tensor *a, skim_tensor *b) {
    return build2(ctx, SKIM_OP_MUL, "a", a, "b", b);
}

skim_tensor *skim_swiglu(skim_context *ctx, skim_tensor *a, skim_tensor *b) {
    return build2(ctx, SKIM_OP_SWIGLU, "a", a, "b", b);
}

skim_tensor *skim_mul_mat(skim_context *ctx, skim_tensor *w, skim_tensor *x) {
    return build2(ctx, SKIM_OP_MUL_MAT, "w", w, "x", x);
}

skim_tensor *skim_silu(skim_context *ctx, skim_tensor *a) {
    return build1(ctx, SKIM_OP_SILU, a);
}

skim_tensor *skim_gelu(skim_context *ctx, skim_tensor *a) {
    return build1(ctx, SKIM_OP_GELU, a);
}

skim_tensor *skim_sigmoid(skim_context *ctx, skim_tensor *a) {
    return build1(ctx, SKIM_OP_SIGMOID, a);
}

skim_tensor *skim_cont(skim_context *ctx, skim_tensor *a) {
    return build1(ctx, SKIM_OP_CONT, a);
}

skim_tensor *skim_argmax(skim_context *ctx, skim_tensor *a) {
    return build1(ctx, SKIM_OP_ARGMAX, a);
}

skim_tensor *skim_scale(skim_context *ctx, skim_tensor *a, float s) {
    if (!ctx || ctx->status != SKIM_OK || !skim_op_need(ctx, SKIM_OP_SCALE, "a", a)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, SKIM_OP_SCALE);
    node.src[0] = a;
    node.params.scale.s = s;
    return skim_op_build(ctx, &node);
}

static skim_tensor *build_norm(skim_context *ctx, skim_op op, skim_tensor *a, float eps) {
    if (!ctx || ctx->status != SKIM_OK || !skim_op_need(ctx, op, "a", a)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, op);
    node.src[0] = a;
    node.params.norm.eps = eps;
    return skim_op_build(ctx, &node);
}

skim_tensor *skim_rms_norm(skim_context *ctx, skim_tensor *a, float eps) {
    return build_norm(ctx, SKIM_OP_RMS_NORM, a, eps);
}

skim_tensor *skim_layer_norm(skim_context *ctx, skim_tensor *a, float eps) {
    return build_norm(ctx, SKIM_OP_LAYER_NORM, a, eps);
}

skim_tensor *skim_rope(skim_context *ctx, skim_tensor *x, skim_tensor *pos, skim_rope_mode mode,
                       int n_dims, float freq_base) {
    if (!ctx || ctx->status != SKIM_OK || !skim_op_need(ctx, SKIM_OP_ROPE, "x", x) ||
        !skim_op_need(ctx, SKIM_OP_ROPE, "pos", pos)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, SKIM_OP_ROPE);
    node.src[0] = x;
    node.src[1] = pos;
    node.params.rope.mode = (int32_t)mode;
    node.params.rope.n_dims = n_dims;
    node.params.rope.freq_base = freq_base;
    return skim_op_build(ctx, &node);
}

skim_tensor *skim_soft_max(skim_context *ctx, skim_tensor *x, skim_tensor *mask, float scale) {
    if (!ctx || ctx->status != SKIM_OK || !skim_op_need(ctx, SKIM_OP_SOFT_MAX, "x", x)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, SKIM_OP_SOFT_MAX);
    node.src[0] = x;
    node.src[1] = mask;
    node.params.soft_max.scale = scale;
    return skim_op_build(ctx, &node);
}
