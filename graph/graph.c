/* graph.c - skim_graph_build: collect, validate (foreign tensors, cycles, weights without
 * data, aliasing writes into states), order, list leaves and selections.
 * The memory plan is in plan.c.
 *
 * Aliasing. Writes into a state (set_rows, cpy) form versions: the state leaf is version
 * 0, each write node the next one. Rules, each a GRAPH error naming both tensors:
 * - one version is written at most once (two writes taking the same dst would race);
 * - a node that reads a version which a later write W overwrites must be an ancestor of
 *   W (W depends on it), so that every topological order runs it before the overwrite.
 *   Reading a stale version that nothing orders before the overwrite (typically: the
 *   state itself passed where the result of a write was meant) is refused rather than
 *   scheduled silently. */
#include "skim-graph-int.h"

#include <limits.h>
#include <string.h>

enum { WHITE = 0, GREY, BLACK };

typedef struct build {
    skim_context *ctx;
    int64_t n_ids;
    uint8_t *color;
    skim_tensor **order; /* post-order of everything reached */
    int n_order;
    skim_tensor **stack;
    int *next;
} build;

static void build_free(build *b) {
    skim_ctx_free(b->ctx, b->color);
    skim_ctx_free(b->ctx, b->order);
    skim_ctx_free(b->ctx, b->stack);
    skim_ctx_free(b->ctx, b->next);
}

static skim_status fail_oom(skim_context *ctx) {
    skim_ctx_fail(ctx, SKIM_ERR_OUT_OF_MEMORY, "graph_build: out of memory");
    return SKIM_ERR_OUT_OF_MEMORY;
}

static bool ours(const build *b, const skim_tensor *t) {
    return t->ctx == b->ctx && t->id >= 0 && t->id < b->n_ids && b->ctx->tensors[t->id] == t;
}

/* Iterative DFS with colours from one output; appends to b->order in post-order. */
static skim_status visit(build *b, skim_tensor *root) {
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN];
    if (b->color[root->id] != WHITE) {
        return SKIM_OK;
    }
    int sp = 0;
    b->stack[sp] = root;
    b->next[sp++] = 0;
    b->color[root->id] = GREY;
    while (sp > 0) {
        skim_tensor *t = b->stack[sp - 1];
        if (b->next[sp - 1] == SKIM_MAX_SRC) {
            b->color[t->id] = BLACK;
            b->order[b->n_order++] = t;
            sp--;
            continue;
        }
        skim_tensor *s = t->src[b->next[sp - 1]++];
        if (!s) {
            continue;
        }
        if (!ours(b, s)) {
            skim_ctx_fail(b->ctx, SKIM_ERR_GRAPH, "graph_build: %s reads %s of another context",
                          skim_core_tname(t, n1), skim_core_tname(s, n2));
            return SKIM_ERR_GRAPH;
        }
        if (b->color[s->id] == GREY) {
            skim_ctx_fail(b->ctx, SKIM_ERR_GRAPH, "graph_build: cycle through %s and %s",
                          skim_core_tname(t, n1), skim_core_tname(s, n2));
            return SKIM_ERR_GRAPH;
        }
        if (b->color[s->id] == WHITE) {
            b->color[s->id] = GREY;
            b->stack[sp] = s;
            b->next[sp++] = 0;
        }
    }
    return SKIM_OK;
}

static skim_status collect(build *b, skim_tensor *const *outputs, int n_outputs) {
    size_t n = (size_t)b->n_ids;
    b->color = skim_calloc(&b->ctx->alloc, n, 1);
    b->order = skim_calloc(&b->ctx->alloc, n, sizeof *b->order);
    b->stack = skim_calloc(&b->ctx->alloc, n, sizeof *b->stack);
    b->next = skim_calloc(&b->ctx->alloc, n, sizeof *b->next);
    if (!b->color || !b->order || !b->stack || !b->next) {
        return fail_oom(b->ctx);
    }
    char nm[SKIM_TNAME_LEN];
    for (int i = 0; i < n_outputs; i++) {
        skim_tensor *o = outputs[i];
        if (!o) {
            skim_ctx_fail(b->ctx, SKIM_ERR_INVALID_ARG, "graph_build: output %d is NULL", i);
            return SKIM_ERR_INVALID_ARG;
        }
        if (!ours(b, o)) {
            skim_ctx_fail(b->ctx, SKIM_ERR_GRAPH, "graph_build: output %d %s belongs to another "
                          "context", i, skim_core_tname(o, nm));
            return SKIM_ERR_GRAPH;
        }
        skim_status st = visit(b, o);
        if (st != SKIM_OK) {
            return st;
        }
    }
    return SKIM_OK;
}

/* ---------------------------------------------------------------- lists */

static skim_tensor ***list_of(skim_graph *g, const skim_tensor *t, int **count) {
    switch (t->kind) {
    case SKIM_KIND_WEIGHT: *count = &g->n_weights; return &g->weights;
    case SKIM_KIND_INPUT: *count = &g->n_inputs; return &g->inputs;
    case SKIM_KIND_STATE: *count = &g->n_states; return &g->states;
    case SKIM_KIND_PARAM: *count = &g->n_params; return &g->params;
    default: *count = &g->n_nodes; return &g->nodes;
    }
}

static skim_status make_lists(skim_graph *g, const build *b) {
    skim_context *ctx = g->ctx;
    int *cnt;
    for (int pass = 0; pass < 2; pass++) {
        g->n_weights = g->n_inputs = g->n_states = g->n_params = g->n_nodes = g->n_sels = 0;
        for (int i = 0; i < b->n_order; i++) {
            skim_tensor *t = b->order[i];
            skim_tensor ***list = list_of(g, t, &cnt);
            if (pass) {
                (*list)[*cnt] = t;
            }
            (*cnt)++;
            if (t->sel_kind) {
                if (pass) {
                    g->sels[g->n_sels] = t;
                }
                g->n_sels++;
            }
        }
        if (pass) {
            break;
        }
        g->weights = skim_calloc(&ctx->alloc, (size_t)g->n_weights, sizeof(skim_tensor *));
        g->inputs = skim_calloc(&ctx->alloc, (size_t)g->n_inputs, sizeof(skim_tensor *));
        g->states = skim_calloc(&ctx->alloc, (size_t)g->n_states, sizeof(skim_tensor *));
        g->params = skim_calloc(&ctx->alloc, (size_t)g->n_params, sizeof(skim_tensor *));
        g->nodes = skim_calloc(&ctx->alloc, (size_t)g->n_nodes, sizeof(skim_tensor *));
        g->sels = skim_calloc(&ctx->alloc, (size_t)g->n_sels, sizeof(skim_tensor *));
        if (!g->weights || !g->inputs || !g->states || !g->params || !g->nodes || !g->sels) {
            return fail_oom(ctx);
        }
    }
    return SKIM_OK;
}

static skim_status make_outputs(skim_graph *g, skim_tensor *const *outputs, int n_outputs) {
    g->outputs = skim_calloc(&g->ctx->alloc, (size_t)n_outputs, sizeof(skim_tensor *));
    if (!g->outputs) {
        return fail_oom(g->ctx);
    }
    g->n_outputs = 0;
    for (int i = 0; i < n_outputs; i++) {
        bool dup = false;
        for (int j = 0; j < g->n_outputs && !dup; j++) {
            dup = g->outputs[j] == outputs[i];
        }
        if (!dup) {
            g->outputs[g->n_outputs++] = outputs[i];
        }
    }
    return SKIM_OK;
}

static skim_status check_weights(skim_graph *g) {
    char nm[SKIM_TNAME_LEN];
    for (int i = 0; i < g->n_weights; i++) {
        if (!g->weights[i]->data) {
            skim_ctx_fail(g->ctx, SKIM_ERR_STATE, "graph_build: weight %s has no data (use "
                          "skim_tensor_set_data)", skim_core_tname(g->weights[i], nm));
            return SKIM_ERR_STATE;
        }
    }
    return SKIM_OK;
}

/* ---------------------------------------------------------------- aliasing */

static int dst_slot(const skim_tensor *w) {
    return w->op == SKIM_OP_SET_ROWS ? 0 : 1;
}

/* Marks every ancestor of w (its sources, transitively) with 1 in mark[]. */
static void mark_ancestors(build *b, const skim_tensor *w, uint8_t *mark) {
    memset(mark, 0, (size_t)b->n_ids);
    int sp = 0;
    b->stack[sp++] = (skim_tensor *)w;
    while (sp > 0) {
        skim_tensor *t = b->stack[--sp];
        for (int i = 0; i < SKIM_MAX_SRC; i++) {
            skim_tensor *s = t->src[i];
            if (s && !mark[s->id]) {
                mark[s->id] = 1;
                b->stack[sp++] = s;
            }
        }
    }
}

/* The first stale reader of version v (overwritten by w), or NULL. */
static const skim_tensor *stale_reader(const skim_graph *g, const skim_tensor *v,
                                       const skim_tensor *w, const uint8_t *mark) {
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *r = g->nodes[i];
        if (r == w || r->kind == SKIM_KIND_VIEW) {
            continue;
        }
        for (int j = 0; j < SKIM_MAX_SRC; j++) {
            if (r->writes && j == dst_slot(r)) {
                continue;
            }
            if (r->src[j] && skim_core_state_version(r->src[j]) == v && !mark[r->id]) {
                return r;
            }
        }
    }
    return NULL;
}

static skim_status check_aliasing(skim_graph *g, build *b) {
    skim_context *ctx = g->ctx;
    skim_tensor **next_write = skim_calloc(&ctx->alloc, (size_t)b->n_ids, sizeof *next_write);
    uint8_t *mark = skim_calloc(&ctx->alloc, (size_t)b->n_ids, 1);
    if (!next_write || !mark) {
        skim_ctx_free(ctx, next_write);
        skim_ctx_free(ctx, mark);
        return fail_oom(ctx);
    }
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN], n3[SKIM_TNAME_LEN], n4[SKIM_TNAME_LEN];
    skim_status st = SKIM_OK;
    for (int i = 0; i < g->n_nodes && st == SKIM_OK; i++) {
        skim_tensor *w = g->nodes[i];
        if (!w->writes) {
            continue;
        }
        const skim_tensor *v = skim_core_state_version(w->src[dst_slot(w)]);
        if (next_write[v->id]) {
            skim_ctx_fail(ctx, SKIM_ERR_GRAPH, "graph_build: %s and %s both write the same "
                          "version %s of state %s; chain the second write on the first's result",
                          skim_core_tname(next_write[v->id], n1), skim_core_tname(w, n2),
                          skim_core_tname(v, n3), skim_core_tname(w->writes, n4));
            st = SKIM_ERR_GRAPH;
            break;
        }
        next_write[v->id] = w;
    }
    for (int i = 0; i < g->n_nodes && st == SKIM_OK; i++) {
        const skim_tensor *w = g->nodes[i];
        if (!w->writes) {
            continue;
        }
        const skim_tensor *v = skim_core_state_version(w->src[dst_slot(w)]);
        mark_ancestors(b, w, mark);
        const skim_tensor *r = stale_reader(g, v, w, mark);
        if (r) {
            skim_ctx_fail(ctx, SKIM_ERR_GRAPH, "graph_build: %s reads %s, which %s overwrites "
                          "without depending on that read; read the write's result instead",
                          skim_core_tname(r, n1), skim_core_tname(v, n2), skim_core_tname(w, n3));
            st = SKIM_ERR_GRAPH;
        }
    }
    skim_ctx_free(ctx, next_write);
    skim_ctx_free(ctx, mark);
    return st;
}

/* ---------------------------------------------------------------- build */

void skim_graph_free(skim_graph *g) {
    if (!g) {
        return;
    }
    skim_context *ctx = g->ctx;
    skim_ctx_free(ctx, g->nodes);
    skim_ctx_free(ctx, g->weights);
    skim_ctx_free(ctx, g->inputs);
    skim_ctx_free(ctx, g->states);
    skim_ctx_free(ctx, g->params);
    skim_ctx_free(ctx, g->sels);
    skim_ctx_free(ctx, g->outputs);
    skim_ctx_free(ctx, g->mem);
    skim_ctx_free(ctx, g->last_use);
    skim_ctx_free(ctx, g);
}

static skim_status build_graph(skim_graph *g, build *b, skim_tensor *const *outputs,
                               int n_outputs) {
    skim_status st = collect(b, outputs, n_outputs);
    if (st == SKIM_OK) {
        st = make_lists(g, b);
    }
    if (st == SKIM_OK) {
        st = make_outputs(g, outputs, n_outputs);
    }
    if (st == SKIM_OK) {
        st = check_weights(g);
    }
    if (st == SKIM_OK) {
        st = check_aliasing(g, b);
    }
    if (st == SKIM_OK) {
        st = skim_graph_plan_memory(g);
    }
    return st;
}

skim_status skim_graph_build(skim_context *ctx, skim_tensor *const *outputs, int n_outputs,
                             skim_graph **out_graph) {
    if (!ctx) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (ctx->status != SKIM_OK) {
        return ctx->status;
    }
    if (!out_graph || (!outputs && n_outputs > 0)) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "graph_build: outputs or out_graph is NULL");
        return SKIM_ERR_INVALID_ARG;
    }
    if (n_outputs <= 0) {
        skim_ctx_fail(ctx, SKIM_ERR_GRAPH, "graph_build: no outputs (an empty graph)");
        return SKIM_ERR_GRAPH;
    }
    skim_graph *g = skim_calloc(&ctx->alloc, 1, sizeof *g);
    if (!g) {
        return fail_oom(ctx);
    }
    g->ctx = ctx;
    g->n_ids = ctx->n_tensors;
    build b;
    memset(&b, 0, sizeof b);
    b.ctx = ctx;
    b.n_ids = ctx->n_tensors;
    skim_status st = build_graph(g, &b, outputs, n_outputs);
    build_free(&b);
    if (st == SKIM_OK && !skim_core_remember_graph(ctx, g)) {
        st = SKIM_ERR_OUT_OF_MEMORY;
    }
    if (st != SKIM_OK) {
        skim_graph_free(g);
        return st;
    }
    *out_graph = g;
    return SKIM_OK;
}

void skim_graph_destroy(skim_graph *g) {
    if (!g) {
        return;
    }
    skim_core_forget_graph(g->ctx, g);
    skim_graph_free(g);
}

int skim_graph_n_nodes(const skim_graph *g) {
    return g ? g->n_nodes : 0;
}

skim_tensor *skim_graph_node(const skim_graph *g, int i) {
    if (!g || i < 0 || i >= g->n_nodes) {
        return NULL;
    }
    return g->nodes[i];
}

size_t skim_graph_arena_size(const skim_graph *g) {
    return g ? g->arena_size : 0;
}

size_t skim_graph_unshared_size(const skim_graph *g) {
    return g ? g->unshared_size : 0;
}

bool skim_graph_contains(const skim_graph *g, const skim_tensor *t) {
    if (!g || !t || t->ctx != g->ctx || t->id < 0 || t->id >= g->n_ids) {
        return false;
    }
    const skim_tensor_mem *m = &g->mem[t->id];
    return m->kind != SKIM_MEM_NONE || (t->kind == SKIM_KIND_PARAM && m->slot >= 0);
}

int skim_graph_slot(const skim_graph *g, const skim_tensor *t) {
    if (!skim_graph_contains(g, t)) {
        return -1;
    }
    if (t->kind == SKIM_KIND_NODE && !t->sel_kind) {
        return -1;
    }
    if (t->kind == SKIM_KIND_VIEW) {
        return -1;
    }
    return g->mem[t->id].slot;
}
