/* core.c - statuses, contexts, allocators, error recording, size arithmetic. */
#include "skim-graph-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- statuses */

static const char *const skim_status_names[SKIM_STATUS_COUNT] = {
    [SKIM_OK] = "ok",
    [SKIM_ERR_INVALID_ARG] = "invalid argument",
    [SKIM_ERR_SHAPE] = "shape mismatch",
    [SKIM_ERR_TYPE] = "unsupported type",
    [SKIM_ERR_NOT_CONTIGUOUS] = "tensor not contiguous",
    [SKIM_ERR_SELECTION] = "selection mismatch",
    [SKIM_ERR_TOO_LARGE] = "too large",
    [SKIM_ERR_OUT_OF_MEMORY] = "out of memory",
    [SKIM_ERR_GRAPH] = "invalid graph",
    [SKIM_ERR_STATE] = "invalid state",
    [SKIM_ERR_RANGE] = "value out of range",
    [SKIM_ERR_UNSUPPORTED] = "unsupported",
    [SKIM_ERR_IO] = "i/o error",
    [SKIM_ERR_FORMAT] = "malformed file",
    [SKIM_ERR_DEVICE] = "device error",
    [SKIM_ERR_DEVICE_MEMORY] = "device out of memory",
    [SKIM_ERR_DEVICE_LOST] = "device lost",
};

const char *skim_status_str(skim_status s) {
    if ((int)s < 0 || (int)s >= SKIM_STATUS_COUNT || !skim_status_names[s]) {
        return "unknown status";
    }
    return skim_status_names[s];
}

/* ---------------------------------------------------------------- sizes */

bool skim_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) {
        return false;
    }
    *out = a * b;
    return true;
}

bool skim_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) {
        return false;
    }
    *out = a + b;
    return true;
}

/* ---------------------------------------------------------------- allocators */

void *skim_alloc(const skim_allocator *a, size_t size) {
    if (size == 0) {
        size = 1;
    }
    if (a && a->alloc) {
        return a->alloc(a->user, size);
    }
    return malloc(size);
}

void *skim_calloc(const skim_allocator *a, size_t n, size_t size) {
    size_t total;
    if (!skim_mul_size(n, size, &total)) {
        return NULL;
    }
    void *p = skim_alloc(a, total);
    if (p) {
        memset(p, 0, total);
    }
    return p;
}

void skim_free(const skim_allocator *a, void *p) {
    if (!p) {
        return;
    }
    if (a && a->alloc) {
        if (a->free) {
            a->free(a->user, p);
        }
        return;
    }
    free(p);
}

void *skim_ctx_malloc(skim_context *ctx, size_t size) {
    return skim_alloc(&ctx->alloc, size);
}

void skim_ctx_free(skim_context *ctx, void *p) {
    skim_free(&ctx->alloc, p);
}

/* ---------------------------------------------------------------- errors */

/* Reporting out-of-memory never allocates: the message is a constant copied into the
 * context's fixed buffer, and vsnprintf into that buffer needs no heap either. */
static const char skim_oom_message[] = "out of memory";

void *skim_ctx_fail(skim_context *ctx, skim_status s, const char *fmt, ...) {
    if (!ctx || ctx->status != SKIM_OK || s == SKIM_OK) {
        return NULL;
    }
    ctx->status = s;
    if (s == SKIM_ERR_OUT_OF_MEMORY && !fmt) {
        memcpy(ctx->msg, skim_oom_message, sizeof skim_oom_message);
    } else {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
        va_end(ap);
        if (n < 0) {
            snprintf(ctx->msg, sizeof ctx->msg, "%s", skim_status_str(s));
        }
    }
    if (ctx->log) {
        ctx->log(ctx->log_user, SKIM_LOG_ERROR, ctx->msg);
    }
    return NULL;
}

const char *skim_core_tname(const skim_tensor *t, char buf[SKIM_TNAME_LEN]) {
    if (!t) {
        return "(null)";
    }
    if (t->name[0]) {
        snprintf(buf, SKIM_TNAME_LEN, "'%s'", t->name);
    } else {
        snprintf(buf, SKIM_TNAME_LEN, "#%lld", (long long)t->id);
    }
    return buf;
}

/* ---------------------------------------------------------------- context */

skim_status skim_context_create(const skim_context_desc *desc, skim_context **out_ctx) {
    if (!out_ctx) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_context_desc d;
    memset(&d, 0, sizeof d);
    if (desc) {
        d = *desc;
    }
    if (d.max_tensors < 0 || (d.allocator.alloc && !d.allocator.free) ||
        (!d.allocator.alloc && d.allocator.free)) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_context *ctx = skim_alloc(&d.allocator, sizeof *ctx);
    if (!ctx) {
        return SKIM_ERR_OUT_OF_MEMORY;
    }
    memset(ctx, 0, sizeof *ctx);
    ctx->alloc = d.allocator;
    ctx->log = d.log;
    ctx->log_user = d.log_user;
    ctx->max_tensors = d.max_tensors;
    ctx->status = SKIM_OK;
    *out_ctx = ctx;
    return SKIM_OK;
}

void skim_context_destroy(skim_context *ctx) {
    if (!ctx) {
        return;
    }
    for (int i = 0; i < ctx->n_graphs; i++) {
        skim_graph_free(ctx->graphs[i]);
    }
    skim_ctx_free(ctx, ctx->graphs);
    for (int64_t i = 0; i < ctx->n_tensors; i++) {
        skim_ctx_free(ctx, ctx->tensors[i]);
    }
    skim_ctx_free(ctx, ctx->tensors);
    skim_custom_free_all(ctx);
    skim_allocator a = ctx->alloc;
    skim_free(&a, ctx);
}

skim_status skim_context_status(const skim_context *ctx) {
    return ctx ? ctx->status : SKIM_ERR_INVALID_ARG;
}

const char *skim_context_error(const skim_context *ctx) {
    return ctx ? ctx->msg : "invalid context (NULL)";
}

void skim_context_clear_error(skim_context *ctx) {
    if (ctx) {
        ctx->status = SKIM_OK;
        ctx->msg[0] = '\0';
    }
}

/* ---------------------------------------------------------------- registries */

skim_tensor *skim_core_add_tensor(skim_context *ctx, const skim_tensor *tmpl, const char *what) {
    if (ctx->max_tensors > 0 && ctx->n_tensors >= ctx->max_tensors) {
        return skim_ctx_fail(ctx, SKIM_ERR_TOO_LARGE, "%s: the context holds max_tensors (%lld)",
                             what, (long long)ctx->max_tensors);
    }
    if (ctx->n_tensors == ctx->cap_tensors) {
        int64_t cap = ctx->cap_tensors ? ctx->cap_tensors * 2 : 64;
        skim_tensor **arr = skim_calloc(&ctx->alloc, (size_t)cap, sizeof *arr);
        if (!arr) {
            return skim_ctx_fail(ctx, SKIM_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
        }
        if (ctx->n_tensors) {
            memcpy(arr, ctx->tensors, (size_t)ctx->n_tensors * sizeof *arr);
        }
        skim_ctx_free(ctx, ctx->tensors);
        ctx->tensors = arr;
        ctx->cap_tensors = cap;
    }
    skim_tensor *t = skim_ctx_malloc(ctx, sizeof *t);
    if (!t) {
        return skim_ctx_fail(ctx, SKIM_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
    }
    *t = *tmpl;
    t->ctx = ctx;
    t->id = ctx->n_tensors;
    for (int i = t->n_dims; i < SKIM_MAX_DIMS; i++) {
        t->ne[i] = 1;
    }
    ctx->tensors[ctx->n_tensors++] = t;
    return t;
}

bool skim_core_remember_graph(skim_context *ctx, skim_graph *g) {
    if (ctx->n_graphs == ctx->cap_graphs) {
        int cap = ctx->cap_graphs ? ctx->cap_graphs * 2 : 8;
        skim_graph **arr = skim_calloc(&ctx->alloc, (size_t)cap, sizeof *arr);
        if (!arr) {
            skim_ctx_fail(ctx, SKIM_ERR_OUT_OF_MEMORY, "graph_build: out of memory");
            return false;
        }
        if (ctx->n_graphs) {
            memcpy(arr, ctx->graphs, (size_t)ctx->n_graphs * sizeof *arr);
        }
        skim_ctx_free(ctx, ctx->graphs);
        ctx->graphs = arr;
        ctx->cap_graphs = cap;
    }
    ctx->graphs[ctx->n_graphs++] = g;
    return true;
}

void skim_core_forget_graph(skim_context *ctx, skim_graph *g) {
    for (int i = 0; i < ctx->n_graphs; i++) {
        if (ctx->graphs[i] == g) {
            memmove(&ctx->graphs[i], &ctx->graphs[i + 1],
                    (size_t)(ctx->n_graphs - i - 1) * sizeof *ctx->graphs);
            ctx->n_graphs--;
            return;
        }
    }
}
