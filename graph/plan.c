/* plan.c - memory planning of a built graph by liveness.
 *
 * Every NODE that is not a write into a state gets an arena slot (size rounded up to
 * SKIM_ALIGN, offset a multiple of it). A slot is allocated before its node runs and
 * freed after the last node that reads it, directly or through views, so a node's output
 * never shares memory with its inputs. Outputs are never freed, nor are selections: the
 * backend copies every selection's words at the end of a run (wait) and bounded tensors
 * read their selection's count throughout. Freed space is reused best-fit, falling back
 * to growing a free block at the top of the arena. Views and write nodes get their base's
 * placement (its kind, offset, size and slot); their own offset is view_offs. */
#include "skim-graph-int.h"

#include <limits.h>
#include <string.h>

typedef struct blk {
    size_t off, size;
} blk;

typedef struct planner {
    skim_context *ctx;
    blk *free; /* sorted by offset, disjoint, never adjacent */
    int n_free;
    size_t end; /* high-water mark */
} planner;

static void remove_blk(planner *pl, int i) {
    memmove(&pl->free[i], &pl->free[i + 1], (size_t)(pl->n_free - i - 1) * sizeof(blk));
    pl->n_free--;
}

static bool arena_alloc(planner *pl, size_t need, size_t *out) {
    int best = -1;
    for (int i = 0; i < pl->n_free; i++) {
        if (pl->free[i].size >= need && (best < 0 || pl->free[i].size < pl->free[best].size)) {
            best = i;
        }
    }
    if (best >= 0) {
        *out = pl->free[best].off;
        pl->free[best].off += need;
        pl->free[best].size -= need;
        if (pl->free[best].size == 0) {
            remove_blk(pl, best);
        }
        return true;
    }
    size_t off = pl->end;
    if (pl->n_free > 0) {
        blk *top = &pl->free[pl->n_free - 1];
        if (top->off + top->size == pl->end) {
            off = top->off;
            remove_blk(pl, pl->n_free - 1);
        }
    }
    if (!skim_add_size(off, need, &pl->end)) {
        return false;
    }
    *out = off;
    return true;
}

static void arena_release(planner *pl, size_t off, size_t size) {
    int i = 0;
    while (i < pl->n_free && pl->free[i].off < off) {
        i++;
    }
    memmove(&pl->free[i + 1], &pl->free[i], (size_t)(pl->n_free - i) * sizeof(blk));
    pl->free[i].off = off;
    pl->free[i].size = size;
    pl->n_free++;
    if (i + 1 < pl->n_free && pl->free[i].off + pl->free[i].size == pl->free[i + 1].off) {
        pl->free[i].size += pl->free[i + 1].size;
        remove_blk(pl, i + 1);
    }
    if (i > 0 && pl->free[i - 1].off + pl->free[i - 1].size == pl->free[i].off) {
        pl->free[i - 1].size += pl->free[i].size;
        remove_blk(pl, i);
    }
}

static bool in_arena(const skim_tensor *t) {
    return t->kind == SKIM_KIND_NODE && !t->writes;
}

static void place_leaves(skim_graph *g) {
    for (int64_t i = 0; i < g->n_ids; i++) {
        g->mem[i].kind = SKIM_MEM_NONE;
        g->mem[i].slot = -1;
        g->last_use[i] = -1;
    }
    struct { skim_tensor **list; int n; skim_mem_kind kind; } lists[] = {
        {g->weights, g->n_weights, SKIM_MEM_WEIGHT},
        {g->inputs, g->n_inputs, SKIM_MEM_INPUT},
        {g->states, g->n_states, SKIM_MEM_STATE},
        {g->params, g->n_params, SKIM_MEM_NONE},
    };
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        for (int i = 0; i < lists[l].n; i++) {
            skim_tensor_mem *m = &g->mem[lists[l].list[i]->id];
            m->kind = lists[l].kind;
            m->slot = i;
            m->size = lists[l].kind == SKIM_MEM_NONE ? 0 : skim_tensor_nbytes(lists[l].list[i]);
        }
    }
    for (int i = 0; i < g->n_sels; i++) {
        g->mem[g->sels[i]->id].slot = i;
    }
}

static void compute_last_use(skim_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *t = g->nodes[i];
        for (int j = 0; j < SKIM_MAX_SRC; j++) {
            const skim_tensor *s = t->src[j];
            if (s) {
                g->last_use[s->id] = i;
                g->last_use[skim_tensor_base(s)->id] = i;
            }
        }
        if (t->bound) {
            g->last_use[t->bound->id] = i;
        }
    }
    for (int i = 0; i < g->n_outputs; i++) {
        g->last_use[g->outputs[i]->id] = INT_MAX;
        g->last_use[skim_tensor_base(g->outputs[i])->id] = INT_MAX;
    }
}

/* Frees the arena slots whose last reader is node i. */
static void release_after(skim_graph *g, planner *pl, int i, uint8_t *freed) {
    const skim_tensor *t = g->nodes[i];
    for (int j = 0; j < SKIM_MAX_SRC; j++) {
        if (!t->src[j]) {
            continue;
        }
        const skim_tensor *c[2] = {t->src[j], skim_tensor_base(t->src[j])};
        for (int k = 0; k < 2; k++) {
            const skim_tensor *s = c[k];
            if (in_arena(s) && !s->sel_kind && g->last_use[s->id] == i && !freed[s->id]) {
                freed[s->id] = 1;
                arena_release(pl, g->mem[s->id].offset, g->mem[s->id].size);
            }
        }
    }
}

static skim_status place_nodes(skim_graph *g, planner *pl, uint8_t *freed) {
    char nm[SKIM_TNAME_LEN];
    for (int i = 0; i < g->n_nodes; i++) {
        skim_tensor *t = g->nodes[i];
        skim_tensor_mem *m = &g->mem[t->id];
        if (!in_arena(t)) { /* a view or a write: the base's placement */
            *m = g->mem[skim_tensor_base(t)->id];
            release_after(g, pl, i, freed);
            continue;
        }
        size_t size = skim_tensor_nbytes(t), rounded;
        if (!skim_add_size(size, SKIM_ALIGN - 1, &rounded)) {
            goto too_large;
        }
        rounded -= rounded % SKIM_ALIGN;
        if (rounded == 0) {
            rounded = SKIM_ALIGN;
        }
        m->kind = SKIM_MEM_ARENA;
        m->size = rounded;
        if (!arena_alloc(pl, rounded, &m->offset) ||
            !skim_add_size(g->unshared_size, rounded, &g->unshared_size)) {
            goto too_large;
        }
        release_after(g, pl, i, freed);
        continue;
    too_large:
        skim_ctx_fail(g->ctx, SKIM_ERR_TOO_LARGE, "graph_build: the arena overflows at %s",
                      skim_core_tname(t, nm));
        return SKIM_ERR_TOO_LARGE;
    }
    return SKIM_OK;
}

/* ---------------------------------------------------------------- the plan's invariant */

/* Node index after which nothing reads t's storage, recomputed here from the graph alone
 * (not from the planner's last_use): its last reader directly or through a view; never
 * for outputs and selections (read at the end of the run, and by bounded tensors
 * throughout). */
static void storage_ends(const skim_graph *g, int *end) {
    for (int64_t i = 0; i < g->n_ids; i++) {
        end[i] = -1;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *t = g->nodes[i];
        end[t->id] = t->sel_kind ? INT_MAX : (end[t->id] > i ? end[t->id] : i);
        for (int j = 0; j < SKIM_MAX_SRC; j++) {
            int *e = t->src[j] ? &end[skim_tensor_base(t->src[j])->id] : NULL;
            if (e && *e < i) {
                *e = i;
            }
        }
    }
    for (int i = 0; i < g->n_outputs; i++) {
        end[skim_tensor_base(g->outputs[i])->id] = INT_MAX;
    }
}

static skim_status mem_broken(skim_graph *g, const skim_tensor *a, const skim_tensor *b,
                              const char *why) {
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN];
    const skim_tensor_mem *ma = &g->mem[a->id], *mb = &g->mem[b->id];
    if (a == b) {
        skim_ctx_fail(g->ctx, SKIM_ERR_GRAPH, "graph_build: internal error: the memory plan %s: "
                      "%s of %zu bytes at [%zu, %zu) of an arena of %zu bytes", why,
                      skim_core_tname(a, n1), skim_tensor_nbytes(a), ma->offset,
                      ma->offset + ma->size, g->arena_size);
        return SKIM_ERR_GRAPH;
    }
    skim_ctx_fail(g->ctx, SKIM_ERR_GRAPH, "graph_build: internal error: the memory plan %s: %s "
                  "at [%zu, %zu) and %s at [%zu, %zu) of an arena of %zu bytes", why,
                  skim_core_tname(a, n1), ma->offset, ma->offset + ma->size,
                  skim_core_tname(b, n2), mb->offset, mb->offset + mb->size, g->arena_size);
    return SKIM_ERR_GRAPH;
}

skim_status skim_graph_check_memory(skim_graph *g) {
    skim_context *ctx = g->ctx;
    int *end = skim_calloc(&ctx->alloc, (size_t)g->n_ids, sizeof *end);
    int *live = skim_calloc(&ctx->alloc, (size_t)g->n_nodes + 1, sizeof *live);
    if (!end || !live) {
        skim_ctx_free(ctx, end);
        skim_ctx_free(ctx, live);
        skim_ctx_fail(ctx, SKIM_ERR_OUT_OF_MEMORY, "graph_build: out of memory");
        return SKIM_ERR_OUT_OF_MEMORY;
    }
    storage_ends(g, end);
    skim_status st = SKIM_OK;
    int n_live = 0;
    for (int i = 0; i < g->n_nodes && st == SKIM_OK; i++) {
        const skim_tensor *t = g->nodes[i];
        if (!in_arena(t)) {
            continue;
        }
        const skim_tensor_mem *m = &g->mem[t->id];
        size_t top;
        if (m->kind != SKIM_MEM_ARENA || m->offset % SKIM_ALIGN != 0 ||
            m->size < skim_tensor_nbytes(t) || !skim_add_size(m->offset, m->size, &top) ||
            top > g->arena_size) {
            st = mem_broken(g, t, t, "misplaces a tensor");
            break;
        }
        int k = 0;
        for (int j = 0; j < n_live; j++) { /* drop what nothing reads from node i on */
            if (end[g->nodes[live[j]]->id] >= i) {
                live[k++] = live[j];
            }
        }
        n_live = k;
        for (int j = 0; j < n_live; j++) {
            const skim_tensor *u = g->nodes[live[j]];
            const skim_tensor_mem *mu = &g->mem[u->id];
            if (m->offset < mu->offset + mu->size && mu->offset < m->offset + m->size) {
                st = mem_broken(g, u, t, "overlaps two live tensors");
                break;
            }
        }
        live[n_live++] = i;
    }
    skim_ctx_free(ctx, end);
    skim_ctx_free(ctx, live);
    return st;
}

skim_status skim_graph_plan_memory(skim_graph *g) {
    skim_context *ctx = g->ctx;
    g->mem = skim_calloc(&ctx->alloc, (size_t)g->n_ids, sizeof *g->mem);
    g->last_use = skim_calloc(&ctx->alloc, (size_t)g->n_ids, sizeof *g->last_use);
    uint8_t *freed = skim_calloc(&ctx->alloc, (size_t)g->n_ids, 1);
    planner pl;
    memset(&pl, 0, sizeof pl);
    pl.ctx = ctx;
    pl.free = skim_calloc(&ctx->alloc, (size_t)g->n_nodes + 2, sizeof(blk));
    if (!g->mem || !g->last_use || !freed || !pl.free) {
        skim_ctx_free(ctx, freed);
        skim_ctx_free(ctx, pl.free);
        skim_ctx_fail(ctx, SKIM_ERR_OUT_OF_MEMORY, "graph_build: out of memory");
        return SKIM_ERR_OUT_OF_MEMORY;
    }
    place_leaves(g);
    compute_last_use(g);
    g->unshared_size = 0;
    skim_status st = place_nodes(g, &pl, freed);
    g->arena_size = pl.end;
    skim_ctx_free(ctx, freed);
    skim_ctx_free(ctx, pl.free);
    return st == SKIM_OK ? skim_graph_check_memory(g) : st;
}
