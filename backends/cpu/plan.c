/* plan.c - CPU plans: the arena, input and state buffers, data pointers per tensor, the
 * run loop over g->nodes (one barrier per op node), and reads.
 *
 * The kernel table is generated from ops.def, so a row without its CPU kernel fails the
 * build. A run walks the nodes in order; views cost nothing; every op node runs on all
 * threads, each computing its own share, and the threads meet at a barrier after it. */
#include "cpu-int.h"

#include <stdio.h>
#include <string.h>

#define SKIM_CPU_ALIGN 64

static const skim_cpu_kernel kernels[SKIM_OP_COUNT] = {
    [SKIM_OP_NONE] = NULL,
#define SKIM_OP(E, n, s, sh, fl, t) [SKIM_OP_##E] = skim_cpu_op_##n,
#include "ops.def"
#undef SKIM_OP
};

static uint8_t *align_up(uint8_t *p) {
    uintptr_t u = (uintptr_t)p;
    return (uint8_t *)(void *)((u + SKIM_CPU_ALIGN - 1) & ~(uintptr_t)(SKIM_CPU_ALIGN - 1));
}

static uint8_t *alloc_aligned(const skim_allocator *a, size_t size, uint8_t **raw) {
    size_t total;
    if (!skim_add_size(size ? size : 1, SKIM_CPU_ALIGN, &total)) {
        return NULL;
    }
    *raw = skim_alloc(a, total);
    if (!*raw) {
        return NULL;
    }
    memset(*raw, 0, total);
    return align_up(*raw);
}

int32_t skim_cpu_param(const skim_cpu_ctx *c, const skim_tensor *param) {
    int slot = c->p->graph->mem[param->id].slot;
    return slot >= 0 ? c->p->param_values[slot] : param->pdef;
}

void skim_cpu_extent(const skim_cpu_ctx *c, const skim_tensor *t, int64_t ne[4]) {
    memcpy(ne, t->ne, sizeof t->ne);
    if (t->bound && !c->masked) {
        int d = t->n_dims - 1;
        ne[d] = skim_cpu_count(skim_cpu_words(c, t->bound), 0, t->ne[d]);
    }
}

/* ---------------------------------------------------------------- data pointers */

static uint8_t *leaf_ptr(const skim_cpu_plan *cp, const skim_graph *g, const skim_tensor *t) {
    const skim_tensor_mem *m = &g->mem[t->id];
    switch (m->kind) {
    case SKIM_MEM_WEIGHT: return (uint8_t *)(uintptr_t)t->data;
    case SKIM_MEM_INPUT: return align_up(cp->inputs_raw[m->slot]);
    case SKIM_MEM_STATE: return cp->states[m->slot];
    case SKIM_MEM_ARENA: return cp->arena + m->offset;
    default: return NULL;
    }
}

/* Fills cp->ptr for every tensor of the graph; false when a weight has no data. */
static bool resolve(skim_cpu_plan *cp, const skim_graph *g, const skim_tensor **missing) {
    *missing = NULL;
    for (int i = 0; i < g->n_weights; i++) {
        cp->ptr[g->weights[i]->id] = leaf_ptr(cp, g, g->weights[i]);
        if (!g->weights[i]->data && !*missing) {
            *missing = g->weights[i];
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        cp->ptr[g->inputs[i]->id] = leaf_ptr(cp, g, g->inputs[i]);
    }
    for (int i = 0; i < g->n_states; i++) {
        cp->ptr[g->states[i]->id] = leaf_ptr(cp, g, g->states[i]);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *t = g->nodes[i];
        if (t->view_src) {
            uint8_t *base = cp->ptr[t->view_src->id];
            cp->ptr[t->id] = base ? base + t->view_offs : NULL;
        } else {
            cp->ptr[t->id] = leaf_ptr(cp, g, t);
        }
    }
    return *missing == NULL;
}

/* ---------------------------------------------------------------- scratch */

static size_t node_scratch(const skim_tensor *t) {
    const skim_tensor *a = t->src[0], *b = t->src[1];
    switch (t->op) {
    case SKIM_OP_MUL_MAT:
        return skim_cpu_mm_scratch(a->ne[0], b->ne[1]);
    case SKIM_OP_MUL_MAT_SEL:
    case SKIM_OP_MUL_MAT_SEL_K:
        return skim_cpu_mm_scratch(a->ne[0], b->ne[1]) + 4 * (size_t)b->ne[1] + 16;
    case SKIM_OP_ATTN: {
        const skim_tensor *k = t->src[SKIM_ATTN_K];
        size_t grp = (size_t)(a->ne[1] / k->ne[1]);
        return grp * ((size_t)k->ne[2] + (size_t)k->ne[0] + 16) + 2 * (size_t)k->ne[0] + 64;
    }
    case SKIM_OP_ROPE:
        return 2 * (size_t)a->ne[0] + 16;
    case SKIM_OP_SOFT_MAX:
        return (size_t)a->ne[0] + 16;
    case SKIM_OP_SELECT_TOPK:
        return 2 * (size_t)a->ne[0] + 16;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------- create, destroy */

void skim_cpu_plan_destroy(skim_plan *p) {
    skim_cpu_plan *cp = p->impl;
    if (!cp) {
        return;
    }
    const skim_allocator *a = &p->be->alloc;
    const skim_graph *g = p->graph;
    for (int i = 0; cp->inputs_raw && i < g->n_inputs; i++) {
        skim_free(a, cp->inputs_raw[i]);
    }
    skim_free(a, cp->inputs_raw);
    skim_free(a, cp->states);
    skim_free(a, cp->arena_raw);
    skim_free(a, cp->ptr);
    skim_free(a, cp->scratch_raw);
    skim_free(a, cp->scratch);
    skim_free(a, cp->errs);
    skim_free(a, cp->theta);
    skim_free(a, cp->theta_raw);
    skim_free(a, cp);
    p->impl = NULL;
}

static bool alloc_buffers(skim_plan *p, skim_cpu_plan *cp) {
    const skim_allocator *a = &p->be->alloc;
    const skim_graph *g = p->graph;
    cp->inputs_raw = skim_calloc(a, (size_t)g->n_inputs + 1, sizeof *cp->inputs_raw);
    cp->states = skim_calloc(a, (size_t)g->n_states + 1, sizeof *cp->states);
    cp->ptr = skim_calloc(a, (size_t)g->n_ids + 1, sizeof *cp->ptr);
    if (!cp->inputs_raw || !cp->states || !cp->ptr ||
        !alloc_aligned(a, g->arena_size, &cp->arena_raw)) {
        return false;
    }
    cp->arena = align_up(cp->arena_raw);
    for (int i = 0; i < g->n_inputs; i++) {
        if (!alloc_aligned(a, skim_tensor_nbytes(g->inputs[i]), &cp->inputs_raw[i])) {
            return false;
        }
    }
    uint8_t **held = p->store->impl; /* the store's raw blocks, per store slot */
    for (int i = 0; i < g->n_states; i++) {
        cp->states[i] = align_up(held[skim_store_slot(p->store, g->states[i])]);
    }
    return true;
}

static bool alloc_scratch(skim_plan *p, skim_cpu_plan *cp) {
    const skim_allocator *a = &p->be->alloc;
    const skim_graph *g = p->graph;
    int nth = cp->cb->n_threads;
    size_t need = 64;
    for (int i = 0; i < g->n_nodes; i++) {
        size_t s = node_scratch(g->nodes[i]);
        need = s > need ? s : need;
    }
    need = (need + 15) & ~(size_t)15; /* 64-byte steps per thread */
    cp->scratch_floats = need;
    size_t total;
    if (!skim_mul_size(need, (size_t)nth, &total) || !skim_add_size(total, 16, &total)) {
        return false;
    }
    cp->scratch_raw = skim_calloc(a, total, sizeof(float));
    cp->scratch = skim_calloc(a, (size_t)nth, sizeof *cp->scratch);
    cp->errs = skim_calloc(a, (size_t)nth, sizeof *cp->errs);
    if (!cp->scratch_raw || !cp->scratch || !cp->errs) {
        return false;
    }
    float *base = (float *)(void *)align_up((uint8_t *)cp->scratch_raw);
    for (int i = 0; i < nth; i++) {
        cp->scratch[i] = base + (size_t)i * need;
    }
    return true;
}

/* Each rope's frequencies, once per plan (the kernel would compute them per token). */
static bool alloc_theta(skim_plan *p, skim_cpu_plan *cp) {
    const skim_allocator *a = &p->be->alloc;
    const skim_graph *g = p->graph;
    size_t total = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i]->op == SKIM_OP_ROPE) {
            total += (size_t)(g->nodes[i]->params.rope.n_dims / 2);
        }
    }
    if (total == 0) {
        return true;
    }
    cp->theta = skim_calloc(a, (size_t)g->n_nodes, sizeof *cp->theta);
    cp->theta_raw = skim_calloc(a, total, sizeof *cp->theta_raw);
    if (!cp->theta || !cp->theta_raw) {
        return false;
    }
    double *at = cp->theta_raw;
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *t = g->nodes[i];
        if (t->op == SKIM_OP_ROPE) {
            cp->theta[i] = at;
            for (int64_t j = 0; j < t->params.rope.n_dims / 2; j++) {
                *at++ = skim_cpu_rope_theta(&t->params.rope, j);
            }
        }
    }
    return true;
}

skim_status skim_cpu_plan_create(skim_backend *be, skim_plan *p) {
    skim_cpu_plan *cp = skim_calloc(&be->alloc, 1, sizeof *cp);
    if (!cp) {
        return skim_plan_fail(p, SKIM_ERR_OUT_OF_MEMORY, "plan_create: out of memory");
    }
    cp->cb = be->impl;
    p->impl = cp;
    if (!alloc_buffers(p, cp) || !alloc_scratch(p, cp) || !alloc_theta(p, cp)) {
        return skim_plan_fail(p, SKIM_ERR_OUT_OF_MEMORY, "plan_create: out of memory "
                              "(arena of %zu bytes)", p->graph->arena_size);
    }
    const skim_tensor *missing = NULL;
    resolve(cp, p->graph, &missing); /* weights may get their data later */
    p->submits = 0;
    p->recordings = 0;
    return SKIM_OK; /* the store filled the states when it was made */
}

skim_status skim_cpu_set_input(skim_plan *p, int slot, const void *data, size_t size) {
    skim_cpu_plan *cp = p->impl;
    memcpy(align_up(cp->inputs_raw[slot]), data, size);
    return SKIM_OK;
}

static void fill_state(const skim_tensor *s, uint8_t *d) {
    int64_t n = skim_tensor_nelements(s);
    if (s->type == SKIM_TYPE_F32) {
        float *f = (float *)(void *)d;
        for (int64_t j = 0; j < n; j++) {
            f[j] = s->fill;
        }
    } else if (s->type == SKIM_TYPE_F16) {
        uint16_t h = skim_fp32_to_fp16(s->fill), *f = (uint16_t *)(void *)d;
        for (int64_t j = 0; j < n; j++) {
            f[j] = h;
        }
    } else {
        memset(d, 0, skim_tensor_nbytes(s));
    }
}

skim_status skim_cpu_reset_states(skim_plan *p) {
    skim_cpu_plan *cp = p->impl;
    const skim_graph *g = p->graph;
    for (int i = 0; i < g->n_states; i++) {
        fill_state(g->states[i], cp->states[i]);
    }
    return SKIM_OK;
}

/* ---------------------------------------------------------------- stores
 * Weights stay where their data is (a memory-mapped file is read in place); the store
 * holds the states, one aligned block each (impl: the raw blocks by store slot). */

void skim_cpu_store_destroy(skim_store *s) {
    uint8_t **raw = s->impl;
    for (int i = 0; i < s->n_states; i++) {
        skim_free(&s->be->alloc, raw[i]);
    }
    skim_free(&s->be->alloc, raw);
    s->impl = NULL;
}

skim_status skim_cpu_store_create(skim_backend *be, skim_store *s) {
    uint8_t **raw = skim_calloc(&be->alloc, (size_t)s->n_states + 1, sizeof *raw);
    if (!raw) {
        return skim_backend_fail(be, SKIM_ERR_OUT_OF_MEMORY, "store_create: out of memory");
    }
    s->impl = raw;
    for (int i = 0; i < s->n_states; i++) {
        size_t n = skim_tensor_nbytes(s->states[i]);
        uint8_t *d = alloc_aligned(&be->alloc, n, &raw[i]);
        if (!d) {
            return skim_backend_fail(be, SKIM_ERR_OUT_OF_MEMORY, "store_create: out of memory "
                                     "(state %s of %zu bytes)", s->states[i]->name, n);
        }
        fill_state(s->states[i], d);
        s->state_bytes += n;
    }
    return SKIM_OK;
}

skim_status skim_cpu_store_fill(skim_store *s, int i) {
    fill_state(s->states[i], align_up(((uint8_t **)s->impl)[i]));
    return SKIM_OK;
}

/* ---------------------------------------------------------------- runs */

/* Elements a node reads and writes: below SMALL_NODE, thread 0 runs it alone and no
 * barrier follows (a barrier costs about a microsecond on two cores, more than splitting
 * a few thousand elements saves); the others meet thread 0 at the next split node.
 * Kernels give the same bits for any thread count, so this changes no result. */
#define SMALL_NODE 16384

/* From the static shapes (run extents are read from selections that thread 0 may be
 * writing; every thread must take the same decision). */
static bool small_node(const skim_tensor *t) {
    double n = (double)t->ne[0] * (double)t->ne[1] * (double)t->ne[2] * (double)t->ne[3];
    for (int s = 0; s < SKIM_MAX_SRC; s++) {
        const skim_tensor *a = t->src[s];
        if (a) {
            n += (double)a->ne[0] * (double)a->ne[1] * (double)a->ne[2] * (double)a->ne[3];
        }
    }
    return n < SMALL_NODE;
}

static void run_node(const skim_cpu_ctx *c, const skim_cpu_plan *cp, const skim_tensor *t,
                     int i) {
    skim_cpu_node nd;
    memset(&nd, 0, sizeof nd);
    nd.t = t;
    nd.index = i;
    nd.dst = cp->ptr[t->id];
    nd.theta = cp->theta ? cp->theta[i] : NULL;
    skim_cpu_extent(c, t, nd.ne);
    for (int s = 0; s < SKIM_MAX_SRC; s++) {
        if (t->src[s]) {
            nd.src[s] = cp->ptr[t->src[s]->id];
            skim_cpu_extent(c, t->src[s], nd.sne[s]);
        }
    }
    kernels[t->op](c, &nd);
}

static void run_job(void *arg, int ith, int nth) {
    skim_plan *p = arg;
    skim_cpu_plan *cp = p->impl;
    const skim_graph *g = p->graph;
    skim_cpu_ctx c = {p, cp, p->mode == SKIM_MODE_MASKED_DENSE, cp->cb->avx2, cp->cb->avx512,
                      cp->cb->vnni, ith, nth, cp->scratch[ith], cp->scratch_floats,
                      &cp->errs[ith], (p->flags & SKIM_PLAN_QUANTIZED_ACTIVATIONS) != 0};
    skim_cpu_ctx c1 = c; /* thread 0 alone */
    c1.nth = 1;
    bool pending = false; /* thread 0 ran small nodes since the last barrier */
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *t = g->nodes[i];
        if (t->kind == SKIM_KIND_VIEW || t->op <= SKIM_OP_NONE || t->op >= SKIM_OP_COUNT) {
            continue;
        }
        if (nth > 1 && small_node(t)) {
            if (ith == 0) {
                run_node(&c1, cp, t, i);
            }
            pending = true;
            continue;
        }
        if (pending) {
            skim_cpu_pool_barrier(cp->cb->pool);
            pending = false;
        }
        run_node(&c, cp, t, i);
        skim_cpu_pool_barrier(cp->cb->pool);
    }
}

skim_status skim_cpu_run_async(skim_plan *p) {
    skim_cpu_plan *cp = p->impl;
    const skim_graph *g = p->graph;
    const skim_tensor *missing = NULL;
    if (!resolve(cp, g, &missing)) {
        return skim_plan_fail(p, SKIM_ERR_STATE, "run: weight %s has no data",
                              missing->name[0] ? missing->name : "(unnamed)");
    }
    int nth = cp->cb->n_threads;
    for (int i = 0; i < nth; i++) {
        cp->errs[i].node = -1;
    }
    skim_cpu_pool_run(cp->cb->pool, run_job, p);
    p->submits = 0;
    p->recordings = 0;
    const skim_cpu_err *first = NULL;
    for (int i = 0; i < nth; i++) {
        const skim_cpu_err *e = &cp->errs[i];
        if (e->node >= 0 && (!first || e->node < first->node ||
                             (e->node == first->node && e->row < first->row))) {
            first = e;
        }
    }
    cp->run_status = SKIM_OK;
    if (first) {
        const skim_tensor *t = g->nodes[first->node];
        cp->run_status = skim_plan_fail(p, SKIM_ERR_RANGE, "run: set_rows %s: index %d of row "
                                        "%lld is outside 0..%lld; the row was skipped",
                                        t->name[0] ? t->name : "(unnamed)", (int)first->value,
                                        (long long)first->row, (long long)(first->n_slots - 1));
    }
    return cp->run_status;
}

skim_status skim_cpu_wait(skim_plan *p) {
    skim_cpu_plan *cp = p->impl;
    const skim_graph *g = p->graph;
    for (int i = 0; i < g->n_sels; i++) {
        const skim_tensor *s = g->sels[i];
        memcpy(p->sel_host[i], cp->ptr[s->id], 4 * SKIM_SEL_WORDS(s->ne[1], s->ne[0]));
    }
    return SKIM_OK;
}

/* ---------------------------------------------------------------- reads */

/* Copies t as contiguous bytes. In SKIP mode the rows of a bounded tensor past its
 * selection's count read as zero. */
skim_status skim_cpu_read(skim_plan *p, const skim_tensor *t, void *dst, size_t size) {
    skim_cpu_plan *cp = p->impl;
    const uint8_t *src = cp->ptr[t->id];
    if (t->kind == SKIM_KIND_WEIGHT) {
        src = t->data;
    }
    if (!src) {
        return skim_plan_fail(p, SKIM_ERR_STATE, "get_output: tensor has no data");
    }
    if (t->sel_kind) {
        memcpy(dst, src, size);
        return SKIM_OK;
    }
    skim_cpu_ctx c = {p, cp, p->mode == SKIM_MODE_MASKED_DENSE, false, false, false, 0, 1, NULL,
                      0, NULL, false};
    int64_t ext[4];
    skim_cpu_extent(&c, t, ext);
    size_t bb = skim_type_block_bytes(t->type);
    int64_t nblk = t->ne[0] / skim_type_block_size(t->type);
    size_t row = (size_t)nblk * bb;
    uint8_t *out = dst;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++) {
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++) {
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++) {
                int64_t idx[4] = {0, i1, i2, i3};
                bool live = idx[t->n_dims - 1] < ext[t->n_dims - 1] || t->n_dims == 1;
                const uint8_t *r = src + (size_t)i1 * t->nb[1] + (size_t)i2 * t->nb[2] +
                                   (size_t)i3 * t->nb[3];
                if (!live) {
                    memset(out, 0, row);
                } else if (t->n_dims == 1 && ext[0] < t->ne[0]) { /* bounded along ne[0] */
                    memset(out, 0, row);
                    memcpy(out, r, (size_t)ext[0] * bb);
                } else if (t->nb[0] == bb) {
                    memcpy(out, r, row);
                } else {
                    for (int64_t b = 0; b < nblk; b++) {
                        memcpy(out + (size_t)b * bb, r + (size_t)b * t->nb[0], bb);
                    }
                }
                out += row;
            }
        }
    }
    (void)size;
    return SKIM_OK;
}
