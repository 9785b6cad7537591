/* custom.c - custom ops (include/skim-custom.h): the builder, which checks the desc and
 * copies it into one context-owned block, and the shape function of the CUSTOM row of
 * ops.def. Knows no backend: compiling the shader is the Vulkan backend's business. */
#include "skim-graph-int.h"
#include "custom_int.h"

#include <stdio.h>
#include <string.h>

void skim_custom_free_all(skim_context *ctx) {
    skim_custom_op *op = ctx->custom_ops;
    while (op) {
        skim_custom_op *next = op->next;
        skim_ctx_free(ctx, op);
        op = next;
    }
    ctx->custom_ops = NULL;
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---------------------------------------------------------------- desc checks */

#define CFAIL(ctx, st, ...) skim_ctx_fail((ctx), (st), "custom op '%s': " __VA_ARGS__)

static bool check_desc(skim_context *ctx, const skim_custom_desc *d, const char *nm, int n_src,
                       const void *params) {
    if (!d->cpu) {
        CFAIL(ctx, SKIM_ERR_INVALID_ARG, "no CPU function (desc.cpu is NULL); every "
              "custom op needs one, the reference the shader is checked against", nm);
        return false;
    }
    if (!d->glsl && !d->spirv) {
        CFAIL(ctx, SKIM_ERR_INVALID_ARG, "no shader: set desc.glsl or desc.spirv", nm);
        return false;
    }
    if (d->glsl && d->spirv) {
        CFAIL(ctx, SKIM_ERR_INVALID_ARG, "both desc.glsl and desc.spirv are set", nm);
        return false;
    }
    if (d->spirv && d->spirv_words < 5) {
        CFAIL(ctx, SKIM_ERR_INVALID_ARG, "desc.spirv_words is %zu; a SPIR-V module has "
              "at least 5 words", nm, d->spirv_words);
        return false;
    }
    if (n_src < 0 || n_src > SKIM_CUSTOM_MAX_SRC) {
        CFAIL(ctx, SKIM_ERR_INVALID_ARG, "%d inputs; 0 to %d are allowed", nm, n_src,
              SKIM_CUSTOM_MAX_SRC);
        return false;
    }
    if (d->params_size > SKIM_CUSTOM_MAX_PARAMS) {
        CFAIL(ctx, SKIM_ERR_TOO_LARGE, "the parameter block is %zu bytes; push constants "
              "hold at most %d (128 minus the %d-byte head)", nm, d->params_size,
              SKIM_CUSTOM_MAX_PARAMS, SKIM_CUSTOM_PC_HEAD);
        return false;
    }
    if (d->params_size > 0 && !params) {
        CFAIL(ctx, SKIM_ERR_INVALID_ARG, "params is NULL but params_size is %zu", nm,
              d->params_size);
        return false;
    }
    if ((int)d->dispatch < 0 || (int)d->dispatch > (int)SKIM_CUSTOM_GRID) {
        CFAIL(ctx, SKIM_ERR_INVALID_ARG, "unknown dispatch mode %d", nm, (int)d->dispatch);
        return false;
    }
    for (int k = 0; k < 3; k++) {
        if (d->grid[k] > 65535) {
            CFAIL(ctx, SKIM_ERR_INVALID_ARG, "grid[%d] = %u is past 65535", nm, k,
                  (unsigned)d->grid[k]);
            return false;
        }
    }
    if (d->type != SKIM_TYPE_F32 && d->type != SKIM_TYPE_F16 && d->type != SKIM_TYPE_I32) {
        CFAIL(ctx, SKIM_ERR_TYPE, "output type %s; F32, F16 or I32 is required", nm,
              skim_type_name(d->type));
        return false;
    }
    return true;
}

/* One block: the struct, the params, the name, the shader (8-byte aligned pieces). */
static skim_custom_op *copy_desc(skim_context *ctx, const skim_custom_desc *d, const void *params) {
    size_t name_len = strlen(d->name) + 1;
    size_t sh = d->glsl ? strlen(d->glsl) + 1 : d->spirv_words * 4;
    size_t up = (sizeof(skim_custom_op) + 7) & ~(size_t)7;
    size_t pp = (d->params_size + 7) & ~(size_t)7;
    size_t nn = (name_len + 7) & ~(size_t)7;
    size_t total;
    if (d->spirv && d->spirv_words > SIZE_MAX / 8) {
        return skim_ctx_fail(ctx, SKIM_ERR_TOO_LARGE, "custom op '%s': spirv_words overflows",
                             d->name);
    }
    if (!skim_add_size(up, pp, &total) || !skim_add_size(total, nn, &total) ||
        !skim_add_size(total, sh, &total)) {
        return skim_ctx_fail(ctx, SKIM_ERR_TOO_LARGE, "custom op '%s': the desc's size overflows",
                             d->name);
    }
    uint8_t *b = skim_ctx_malloc(ctx, total);
    if (!b) {
        return skim_ctx_fail(ctx, SKIM_ERR_OUT_OF_MEMORY, "custom op '%s': out of memory", d->name);
    }
    skim_custom_op *op = (skim_custom_op *)(void *)b;
    memset(op, 0, sizeof *op);
    op->desc = *d;
    uint8_t *at = b + up;
    if (d->params_size) {
        memcpy(at, params, d->params_size);
        op->params = at;
    }
    at += pp;
    memcpy(at, d->name, name_len);
    op->desc.name = (const char *)at;
    at += nn;
    if (d->glsl) {
        memcpy(at, d->glsl, sh);
        op->desc.glsl = (const char *)at;
    } else {
        memcpy(at, d->spirv, sh);
        op->desc.spirv = (const uint32_t *)(void *)at;
    }
    op->shader = at;
    op->shader_bytes = d->glsl ? sh - 1 : sh;
    uint8_t kind = d->glsl ? 'G' : 'S';
    op->hash = fnv1a(fnv1a(14695981039346656037ull, &kind, 1), at, op->shader_bytes);
    return op;
}

skim_tensor *skim_custom(skim_context *ctx, const skim_custom_desc *desc,
                         skim_tensor *const *src, int n_src, const void *params) {
    if (!ctx || ctx->status != SKIM_OK) {
        return NULL;
    }
    if (!desc || !desc->name) {
        return skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "custom: %s is NULL",
                             desc ? "desc.name" : "desc");
    }
    const char *nm = desc->name;
    if (!check_desc(ctx, desc, nm, n_src, params)) {
        return NULL;
    }
    if (n_src > 0 && !src) {
        return CFAIL(ctx, SKIM_ERR_INVALID_ARG, "src is NULL with %d inputs", nm, n_src);
    }
    for (int i = 0; i < n_src; i++) {
        if (!src[i]) {
            return CFAIL(ctx, SKIM_ERR_INVALID_ARG, "input %d is NULL", nm, i);
        }
    }
    skim_custom_op *op = copy_desc(ctx, desc, params);
    if (!op) {
        return NULL;
    }
    skim_tensor node;
    memset(&node, 0, sizeof node);
    node.op = SKIM_OP_CUSTOM;
    node.params.custom.op = op;
    for (int i = 0; i < n_src; i++) {
        node.src[i] = src[i];
    }
    snprintf(node.name, sizeof node.name, "%s", nm);
    skim_tensor *t = skim_op_build(ctx, &node);
    if (!t) {
        skim_ctx_free(ctx, op);
        return NULL;
    }
    op->next = ctx->custom_ops;
    ctx->custom_ops = op;
    return t;
}

/* ---------------------------------------------------------------- the shape function */

static int n_inputs(const skim_tensor *node) {
    int n = 0;
    for (int i = 0; i < SKIM_MAX_SRC; i++) {
        if (node->src[i]) {
            n = i + 1;
        }
    }
    return n;
}

static skim_status out_shape(skim_context *ctx, skim_tensor *node, const skim_custom_op *op,
                             int n) {
    const skim_custom_desc *d = &op->desc;
    const char *nm = d->name;
    int64_t ne[4] = {1, 1, 1, 1};
    int nd = 0;
    if (d->shape_fn) {
        char msg[160] = "";
        if (!d->shape_fn(d->user, n, (const skim_tensor *const *)node->src, op->params, &nd,
                         ne, msg, sizeof msg)) {
            msg[sizeof msg - 1] = '\0';
            CFAIL(ctx, SKIM_ERR_SHAPE, "the shape callback rejected the inputs: %s", nm,
                  msg[0] ? msg : "(no reason given)");
            return ctx->status;
        }
    } else if (d->n_dims == 0) {
        if (n == 0) {
            CFAIL(ctx, SKIM_ERR_SHAPE, "no inputs and no shape (set desc.n_dims and ne)", nm);
            return ctx->status;
        }
        nd = node->src[0]->n_dims;
        memcpy(ne, node->src[0]->ne, sizeof ne);
    } else {
        nd = d->n_dims;
        for (int k = 0; k < 4 && k < nd; k++) {
            ne[k] = d->ne[k];
        }
    }
    if (nd < 1 || nd > SKIM_MAX_DIMS) {
        CFAIL(ctx, SKIM_ERR_SHAPE, "the output has %d dimensions; 1 to 4 are allowed", nm, nd);
        return ctx->status;
    }
    for (int k = 0; k < nd; k++) {
        if (ne[k] < 1 || ne[k] > INT32_MAX) {
            CFAIL(ctx, SKIM_ERR_SHAPE, "output ne[%d] = %lld is outside 1..2^31-1", nm, k,
                  (long long)ne[k]);
            return ctx->status;
        }
    }
    node->n_dims = nd;
    memcpy(node->ne, ne, sizeof ne);
    for (int k = nd; k < SKIM_MAX_DIMS; k++) {
        node->ne[k] = 1;
    }
    return SKIM_OK;
}

/* Every bounded input has the same bound; the output's outermost dimension is its
 * capacity, and the output is bounded by it. */
static skim_status out_bound(skim_context *ctx, skim_tensor *node, const char *nm, int n) {
    skim_tensor *b = NULL;
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN];
    for (int i = 0; i < n; i++) {
        skim_tensor *bi = node->src[i]->bound;
        if (bi && b && bi != b) {
            CFAIL(ctx, SKIM_ERR_SELECTION, "input %d is bounded by %s, an earlier input by "
                  "%s", nm, i, skim_core_tname(bi, n1), skim_core_tname(b, n2));
            return ctx->status;
        }
        b = bi ? bi : b;
    }
    if (!b) {
        return SKIM_OK;
    }
    int64_t outer = skim_tensor_outer(node);
    if (b->sel_kind != SKIM_SEL_TOKENS || b->ne[1] != 1 || outer != b->ne[0]) {
        CFAIL(ctx, SKIM_ERR_SELECTION, "the inputs are bounded by %s (capacity %lld) but "
              "the output's outermost dimension is %lld; it must be the capacity", nm,
              skim_core_tname(b, n1), (long long)b->ne[0], (long long)outer);
        return ctx->status;
    }
    node->bound = b;
    return SKIM_OK;
}

skim_status skim_shape_custom(skim_context *ctx, skim_tensor *node) {
    const skim_custom_op *op = skim_custom_of(node);
    const char *nm = op->desc.name;
    int n = n_inputs(node);
    for (int i = 0; i < n; i++) {
        const skim_tensor *s = node->src[i];
        if (!s) {
            CFAIL(ctx, SKIM_ERR_INVALID_ARG, "input %d is NULL", nm, i);
            return ctx->status;
        }
        if (!skim_tensor_is_contiguous(s)) {
            char t1[SKIM_TNAME_LEN];
            CFAIL(ctx, SKIM_ERR_NOT_CONTIGUOUS, "input %d %s must be contiguous (use cont)",
                  nm, i, skim_core_tname(s, t1));
            return ctx->status;
        }
    }
    skim_status st = out_shape(ctx, node, op, n);
    if (st != SKIM_OK) {
        return st;
    }
    node->type = op->desc.type;
    return out_bound(ctx, node, nm, n);
}
