/* views.c - reshape, view, permute, transpose: new metadata over the same storage.
 *
 * A view is SKIM_KIND_VIEW with op SKIM_OP_NONE, src[0] = the viewed tensor, view_src =
 * the storage base (never a view) and view_offs = byte offset into the base. Views of
 * selections and params are refused. A tensor bounded by a selection has only `count`
 * compact rows at run time, so the only view it takes is a reshape that keeps its
 * outermost dimension (the bound carries over); view/permute/transpose give SELECTION. */
#include "skim-graph-int.h"

#include <stdio.h>
#include <string.h>

static bool view_source_ok(skim_context *ctx, const char *what, const skim_tensor *a) {
    if (!ctx || ctx->status != SKIM_OK) {
        return false;
    }
    if (!a) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "%s: tensor is NULL", what);
        return false;
    }
    char nm[SKIM_TNAME_LEN];
    if (a->ctx != ctx) {
        skim_ctx_fail(ctx, SKIM_ERR_GRAPH, "%s: tensor %s belongs to another context", what,
                      skim_core_tname(a, nm));
        return false;
    }
    if (a->sel_kind) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "%s: tensor %s is a selection", what,
                      skim_core_tname(a, nm));
        return false;
    }
    if (a->kind == SKIM_KIND_PARAM) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "%s: tensor %s is a run parameter", what,
                      skim_core_tname(a, nm));
        return false;
    }
    return true;
}

static void view_init(skim_tensor *v, const skim_tensor *a, size_t offset, const char *suffix) {
    memset(v, 0, sizeof *v);
    v->kind = SKIM_KIND_VIEW;
    v->op = SKIM_OP_NONE;
    v->type = a->type;
    v->src[0] = (skim_tensor *)a;
    v->view_src = skim_tensor_base(a);
    v->view_offs = a->view_offs + offset;
    if (a->name[0]) {
        snprintf(v->name, sizeof v->name, "%.*s (%s)", SKIM_MAX_NAME - 16, a->name, suffix);
    }
}

/* Bytes from the first byte of t to one past its last, following its strides. false on
 * overflow. */
static bool span_bytes(const skim_tensor *t, size_t *out) {
    int64_t bs = skim_type_block_size(t->type);
    size_t s = skim_type_block_bytes(t->type), step;
    int64_t n0 = t->ne[0] / bs;
    for (int i = 0; i < SKIM_MAX_DIMS; i++) {
        int64_t n = i == 0 ? n0 : t->ne[i];
        if (!skim_mul_size((size_t)(n - 1), t->nb[i], &step) || !skim_add_size(s, step, &s)) {
            return false;
        }
    }
    *out = s;
    return true;
}

static bool shape_ok(skim_context *ctx, const char *what, skim_type type, int n_dims,
                     const int64_t *ne, int64_t out[SKIM_MAX_DIMS]) {
    if (n_dims < 1 || n_dims > SKIM_MAX_DIMS || !ne) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "%s: n_dims %d not in 1..4 or ne NULL", what,
                      n_dims);
        return false;
    }
    for (int i = 0; i < SKIM_MAX_DIMS; i++) {
        out[i] = i < n_dims ? ne[i] : 1;
        if (out[i] < 1) {
            skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: ne[%d] = %lld is not >= 1", what, i,
                          (long long)out[i]);
            return false;
        }
    }
    if (out[0] % skim_type_block_size(type) != 0) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: ne[0] = %lld is not a multiple of %s's block",
                      what, (long long)out[0], skim_type_name(type));
        return false;
    }
    return true;
}

skim_tensor *skim_reshape(skim_context *ctx, skim_tensor *a, int n_dims, const int64_t *ne) {
    const char *what = "reshape";
    if (!view_source_ok(ctx, what, a)) {
        return NULL;
    }
    char nm[SKIM_TNAME_LEN];
    skim_tensor v;
    view_init(&v, a, 0, "reshaped");
    if (!shape_ok(ctx, what, a->type, n_dims, ne, v.ne)) {
        return NULL;
    }
    if (!skim_tensor_is_contiguous(a)) {
        return skim_ctx_fail(ctx, SKIM_ERR_NOT_CONTIGUOUS, "%s: tensor %s is not contiguous",
                             what, skim_core_tname(a, nm));
    }
    int64_t nel = 1;
    for (int i = 0; i < SKIM_MAX_DIMS; i++) {
        if (v.ne[i] > skim_tensor_nelements(a) / nel) {
            nel = -1;
            break;
        }
        nel *= v.ne[i];
    }
    if (nel != skim_tensor_nelements(a)) {
        return skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: tensor %s has %lld elements, the new shape "
                             "a different count", what, skim_core_tname(a, nm),
                             (long long)skim_tensor_nelements(a));
    }
    if (a->bound && v.ne[n_dims - 1] != skim_tensor_outer(a)) {
        return skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "%s: tensor %s is bounded by a selection; "
                             "its outermost size %lld must stay outermost", what,
                             skim_core_tname(a, nm), (long long)skim_tensor_outer(a));
    }
    size_t nbytes;
    if (!skim_core_contig_strides(a->type, v.ne, v.nb, &nbytes)) {
        return skim_ctx_fail(ctx, SKIM_ERR_TOO_LARGE, "%s: size overflows", what);
    }
    v.n_dims = n_dims;
    v.bound = a->bound;
    return skim_core_add_tensor(ctx, &v, what);
}

skim_tensor *skim_reshape_2d(skim_context *ctx, skim_tensor *a, int64_t ne0, int64_t ne1) {
    int64_t ne[2] = {ne0, ne1};
    return skim_reshape(ctx, a, 2, ne);
}

skim_tensor *skim_reshape_3d(skim_context *ctx, skim_tensor *a, int64_t ne0, int64_t ne1,
                             int64_t ne2) {
    int64_t ne[3] = {ne0, ne1, ne2};
    return skim_reshape(ctx, a, 3, ne);
}

static skim_tensor *refuse_bounded(skim_context *ctx, const char *what, const skim_tensor *a) {
    char nm[SKIM_TNAME_LEN];
    return skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "%s: tensor %s is bounded by a selection "
                         "(only a reshape keeping its outermost dimension is allowed)", what,
                         skim_core_tname(a, nm));
}

/* nb[i] for i in 1..n_dims-1 are read from the caller's array (indexed like ne; nb[0] is
 * ignored: it is the type's element or block size). */
skim_tensor *skim_view(skim_context *ctx, skim_tensor *a, int n_dims, const int64_t *ne,
                       const size_t *nb, size_t offset) {
    const char *what = "view";
    if (!view_source_ok(ctx, what, a)) {
        return NULL;
    }
    if (a->bound) {
        return refuse_bounded(ctx, what, a);
    }
    char nm[SKIM_TNAME_LEN];
    skim_tensor v;
    view_init(&v, a, offset, "view");
    if (!shape_ok(ctx, what, a->type, n_dims, ne, v.ne)) {
        return NULL;
    }
    if (n_dims > 1 && !nb) {
        return skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "%s: nb is NULL", what);
    }
    size_t bb = skim_type_block_bytes(a->type);
    v.nb[0] = bb;
    for (int i = 1; i < SKIM_MAX_DIMS; i++) {
        if (i < n_dims) {
            v.nb[i] = nb[i];
        } else if (!skim_mul_size(v.nb[i - 1], (size_t)v.ne[i - 1], &v.nb[i])) {
            return skim_ctx_fail(ctx, SKIM_ERR_TOO_LARGE, "%s: strides overflow", what);
        }
        if (v.nb[i] % bb != 0) {
            return skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: nb[%d] = %zu is not a multiple of "
                                 "%s's block bytes", what, i, v.nb[i], skim_type_name(a->type));
        }
    }
    if (offset % bb != 0) {
        return skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: offset %zu is not a multiple of %zu",
                             what, offset, bb);
    }
    size_t span_a, span_v, end;
    if (!span_bytes(a, &span_a) || !span_bytes(&v, &span_v) ||
        !skim_add_size(offset, span_v, &end)) {
        return skim_ctx_fail(ctx, SKIM_ERR_TOO_LARGE, "%s: size overflows", what);
    }
    if (end > span_a) {
        return skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: the view (ends at byte %zu) leaves "
                             "tensor %s (%zu bytes)", what, end, skim_core_tname(a, nm), span_a);
    }
    v.n_dims = n_dims;
    return skim_core_add_tensor(ctx, &v, what);
}

skim_tensor *skim_permute(skim_context *ctx, skim_tensor *a, int axis0, int axis1, int axis2,
                          int axis3) {
    const char *what = "permute";
    if (!view_source_ok(ctx, what, a)) {
        return NULL;
    }
    if (a->bound) {
        return refuse_bounded(ctx, what, a);
    }
    int axis[SKIM_MAX_DIMS] = {axis0, axis1, axis2, axis3};
    int seen = 0;
    for (int i = 0; i < SKIM_MAX_DIMS; i++) {
        if (axis[i] < 0 || axis[i] >= SKIM_MAX_DIMS || (seen & (1 << axis[i]))) {
            return skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "%s: axes (%d, %d, %d, %d) are not "
                                 "a permutation of 0..3", what, axis0, axis1, axis2, axis3);
        }
        seen |= 1 << axis[i];
    }
    char nm[SKIM_TNAME_LEN];
    if (skim_type_block_size(a->type) != 1 && axis0 != 0) {
        return skim_ctx_fail(ctx, SKIM_ERR_TYPE, "%s: tensor %s of block type %s must keep "
                             "dimension 0 first", what, skim_core_tname(a, nm),
                             skim_type_name(a->type));
    }
    skim_tensor v;
    view_init(&v, a, 0, "permuted");
    int n_dims = 1;
    for (int i = 0; i < SKIM_MAX_DIMS; i++) {
        v.ne[axis[i]] = a->ne[i];
        v.nb[axis[i]] = a->nb[i];
        if (i < a->n_dims && axis[i] + 1 > n_dims) {
            n_dims = axis[i] + 1;
        }
    }
    v.n_dims = n_dims;
    return skim_core_add_tensor(ctx, &v, what);
}

skim_tensor *skim_transpose(skim_context *ctx, skim_tensor *a) {
    return skim_permute(ctx, a, 1, 0, 2, 3);
}
