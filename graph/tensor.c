/* tensor.c - leaf tensors (weights, inputs, states, params), accessors, free views. */
#include "skim-graph-int.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The largest tensor accepted: byte offsets must fit a signed 64-bit value so that
 * backends can do pointer arithmetic on them (and Vulkan offsets are 64-bit). */
#define SKIM_MAX_TENSOR_BYTES ((size_t)INT64_MAX / 2)

bool skim_core_contig_strides(skim_type type, const int64_t ne[SKIM_MAX_DIMS],
                              size_t nb[SKIM_MAX_DIMS], size_t *nbytes) {
    size_t row = skim_row_size(type, ne[0]);
    if (row == 0) {
        return false;
    }
    nb[0] = skim_type_block_bytes(type);
    nb[1] = row;
    for (int i = 2; i < SKIM_MAX_DIMS; i++) {
        if (!skim_mul_size(nb[i - 1], (size_t)ne[i - 1], &nb[i])) {
            return false;
        }
    }
    size_t total;
    if (!skim_mul_size(nb[3], (size_t)ne[3], &total) || total > SKIM_MAX_TENSOR_BYTES) {
        return false;
    }
    *nbytes = total;
    return true;
}

/* Validates type, n_dims and ne of a new tensor and fills tmpl's shape and strides. */
static bool leaf_shape(skim_context *ctx, const char *what, skim_type type, int n_dims,
                       const int64_t *ne, skim_tensor *tmpl) {
    if ((int)type < 0 || (int)type >= SKIM_TYPE_COUNT) {
        skim_ctx_fail(ctx, SKIM_ERR_TYPE, "%s: unknown type %d", what, (int)type);
        return false;
    }
    if (n_dims < 1 || n_dims > SKIM_MAX_DIMS || !ne) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "%s: n_dims %d not in 1..4 or ne NULL", what,
                      n_dims);
        return false;
    }
    tmpl->type = type;
    tmpl->n_dims = n_dims;
    for (int i = 0; i < SKIM_MAX_DIMS; i++) {
        tmpl->ne[i] = i < n_dims ? ne[i] : 1;
        if (tmpl->ne[i] < 1) {
            skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: ne[%d] = %lld is not >= 1", what, i,
                          (long long)tmpl->ne[i]);
            return false;
        }
    }
    int64_t bs = skim_type_block_size(type);
    if (ne[0] % bs != 0) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: ne[0] = %lld is not a multiple of %s's block of %lld",
                      what, (long long)ne[0], skim_type_name(type), (long long)bs);
        return false;
    }
    int64_t nel = 1;
    for (int i = 0; i < SKIM_MAX_DIMS; i++) {
        if (tmpl->ne[i] > INT64_MAX / nel) {
            skim_ctx_fail(ctx, SKIM_ERR_TOO_LARGE, "%s: element count overflows", what);
            return false;
        }
        nel *= tmpl->ne[i];
    }
    size_t nbytes;
    if (!skim_core_contig_strides(type, tmpl->ne, tmpl->nb, &nbytes)) {
        skim_ctx_fail(ctx, SKIM_ERR_TOO_LARGE, "%s: size in bytes overflows", what);
        return false;
    }
    return true;
}

static skim_tensor *new_leaf(skim_context *ctx, skim_tensor_kind kind, const char *what,
                             skim_type type, int n_dims, const int64_t *ne) {
    if (!ctx || ctx->status != SKIM_OK) {
        return NULL;
    }
    skim_tensor tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.kind = kind;
    tmpl.op = SKIM_OP_NONE;
    if (!leaf_shape(ctx, what, type, n_dims, ne, &tmpl)) {
        return NULL;
    }
    return skim_core_add_tensor(ctx, &tmpl, what);
}

skim_tensor *skim_new_weight(skim_context *ctx, skim_type type, int n_dims, const int64_t *ne,
                             const void *data) {
    skim_tensor *t = new_leaf(ctx, SKIM_KIND_WEIGHT, "new_weight", type, n_dims, ne);
    if (t) {
        t->data = data;
    }
    return t;
}

skim_tensor *skim_new_input(skim_context *ctx, skim_type type, int n_dims, const int64_t *ne) {
    return new_leaf(ctx, SKIM_KIND_INPUT, "new_input", type, n_dims, ne);
}

skim_tensor *skim_new_state(skim_context *ctx, skim_type type, int n_dims, const int64_t *ne,
                            float fill) {
    if (ctx && ctx->status == SKIM_OK &&
        type != SKIM_TYPE_F32 && type != SKIM_TYPE_F16 && type != SKIM_TYPE_I32) {
        return skim_ctx_fail(ctx, SKIM_ERR_TYPE, "new_state: type %s (states are F32, F16, I32)",
                             skim_type_name(type));
    }
    skim_tensor *t = new_leaf(ctx, SKIM_KIND_STATE, "new_state", type, n_dims, ne);
    if (t) {
        t->fill = type == SKIM_TYPE_I32 ? 0.0f : fill;
    }
    return t;
}

skim_tensor *skim_new_param(skim_context *ctx, int32_t min, int32_t max, int32_t def) {
    if (!ctx || ctx->status != SKIM_OK) {
        return NULL;
    }
    if (min > max || def < min || def > max) {
        return skim_ctx_fail(ctx, SKIM_ERR_RANGE, "new_param: need min %d <= def %d <= max %d",
                             (int)min, (int)def, (int)max);
    }
    int64_t ne[1] = {1};
    skim_tensor *t = new_leaf(ctx, SKIM_KIND_PARAM, "new_param", SKIM_TYPE_I32, 1, ne);
    if (t) {
        t->pmin = min;
        t->pmax = max;
        t->pdef = def;
    }
    return t;
}

skim_tensor *skim_new_weight_2d(skim_context *ctx, skim_type type, int64_t ne0, int64_t ne1,
                                const void *data) {
    int64_t ne[2] = {ne0, ne1};
    return skim_new_weight(ctx, type, 2, ne, data);
}

skim_tensor *skim_new_input_1d(skim_context *ctx, skim_type type, int64_t ne0) {
    int64_t ne[1] = {ne0};
    return skim_new_input(ctx, type, 1, ne);
}

skim_tensor *skim_new_input_2d(skim_context *ctx, skim_type type, int64_t ne0, int64_t ne1) {
    int64_t ne[2] = {ne0, ne1};
    return skim_new_input(ctx, type, 2, ne);
}

/* ---------------------------------------------------------------- accessors */

skim_status skim_tensor_set_data(skim_tensor *t, const void *data, size_t size) {
    if (!t || !data) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (t->kind != SKIM_KIND_WEIGHT) {
        return SKIM_ERR_STATE;
    }
    if (size != skim_tensor_nbytes(t)) {
        return SKIM_ERR_SHAPE;
    }
    t->data = data;
    return SKIM_OK;
}

skim_tensor *skim_tensor_set_name(skim_tensor *t, const char *name) {
    if (t) {
        snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    }
    return t;
}

const char *skim_tensor_name(const skim_tensor *t) {
    return t ? t->name : "";
}

skim_type skim_tensor_type(const skim_tensor *t) {
    return t ? t->type : SKIM_TYPE_COUNT;
}

skim_tensor_kind skim_tensor_get_kind(const skim_tensor *t) {
    return t ? t->kind : SKIM_KIND_WEIGHT;
}

int skim_tensor_n_dims(const skim_tensor *t) {
    return t ? t->n_dims : 0;
}

int64_t skim_tensor_ne(const skim_tensor *t, int dim) {
    if (!t || dim < 0 || dim >= SKIM_MAX_DIMS) {
        return 0;
    }
    return t->ne[dim];
}

size_t skim_tensor_nb(const skim_tensor *t, int dim) {
    if (!t || dim < 0 || dim >= SKIM_MAX_DIMS) {
        return 0;
    }
    return t->nb[dim];
}

int64_t skim_tensor_nelements(const skim_tensor *t) {
    return t ? t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] : 0;
}

size_t skim_tensor_nbytes(const skim_tensor *t) {
    if (!t) {
        return 0;
    }
    if (t->sel_kind) {
        return 4 * SKIM_SEL_WORDS(t->ne[1], t->ne[0]);
    }
    /* Sizes were overflow-checked when the tensor was made. */
    return skim_row_size(t->type, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
}

bool skim_tensor_is_contiguous(const skim_tensor *t) {
    if (!t) {
        return false;
    }
    size_t expect = skim_type_block_bytes(t->type);
    if (t->nb[0] != expect) {
        return false;
    }
    expect = skim_row_size(t->type, t->ne[0]);
    for (int i = 1; i < SKIM_MAX_DIMS; i++) {
        /* A dimension of size 1 is never stepped over, so its stride does not matter. */
        if (t->ne[i] != 1 && t->nb[i] != expect) {
            return false;
        }
        expect *= (size_t)t->ne[i];
    }
    return true;
}

skim_tensor *skim_tensor_bound(const skim_tensor *t) {
    return t ? t->bound : NULL;
}

bool skim_tensor_is_selection(const skim_tensor *t) {
    return t && t->sel_kind != 0;
}

skim_sel_kind skim_selection_kind(const skim_tensor *sel) {
    return sel ? sel->sel_kind : (skim_sel_kind)0;
}

int32_t skim_selection_capacity(const skim_tensor *sel) {
    return sel && sel->sel_kind ? (int32_t)sel->ne[0] : 0;
}

int32_t skim_selection_groups(const skim_tensor *sel) {
    return sel && sel->sel_kind ? (int32_t)sel->ne[1] : 0;
}
