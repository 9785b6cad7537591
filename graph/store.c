/* store.c - weights and states placed once on a backend and shared by plans
 * (skim_store, skim-backend.h): which tensors a store holds, references, and the checks
 * that a plan's graph is served by the store it is given. The backend places the data
 * (skim_backend_i.store_create). */
#include "skim-graph-int.h"

#include <stdio.h>
#include <string.h>

static void store_free(skim_store *s) {
    const skim_allocator *a = &s->be->alloc;
    if (s->impl && s->be->iface->store_destroy) {
        s->be->iface->store_destroy(s);
    }
    skim_free(a, s->weights);
    skim_free(a, s->states);
    skim_free(a, s->slot);
    skim_free(a, s);
}

void skim_store_release(skim_store *s) {
    if (s && skim_atomic_add(&s->refs, -1) == 0) {
        store_free(s);
    }
}

/* Adds the graph's weights and states the store does not hold yet. */
static void collect(skim_store *s, const skim_graph *g) {
    for (int i = 0; i < g->n_weights; i++) {
        skim_tensor *t = g->weights[i];
        if (s->slot[t->id] < 0) {
            s->slot[t->id] = s->n_weights;
            s->weights[s->n_weights++] = t;
        }
    }
    for (int i = 0; i < g->n_states; i++) {
        skim_tensor *t = g->states[i];
        if (s->slot[t->id] < 0) {
            s->slot[t->id] = s->n_states;
            s->states[s->n_states++] = t;
        }
    }
}

skim_status skim_store_make(skim_backend *be, skim_graph *const *graphs, int n,
                            skim_store **out) {
    if (!graphs || n < 1) {
        return skim_backend_fail(be, SKIM_ERR_INVALID_ARG, "store_create: no graphs");
    }
    size_t nw = 0, ns = 0;
    for (int k = 0; k < n; k++) {
        const skim_graph *g = graphs[k];
        if (!g) {
            return skim_backend_fail(be, SKIM_ERR_INVALID_ARG, "store_create: graph %d is NULL", k);
        }
        if (g->ctx != graphs[0]->ctx) {
            return skim_backend_fail(be, SKIM_ERR_INVALID_ARG, "store_create: graph %d is of "
                                     "another context than graph 0", k);
        }
        if (g->ctx->status != SKIM_OK) {
            return skim_backend_fail(be, SKIM_ERR_STATE, "store_create: the graphs' context has "
                                     "an error: %s", g->ctx->msg);
        }
        nw += (size_t)g->n_weights;
        ns += (size_t)g->n_states;
    }
    const skim_allocator *a = &be->alloc;
    skim_store *s = skim_calloc(a, 1, sizeof *s);
    if (!s) {
        return skim_backend_fail(be, SKIM_ERR_OUT_OF_MEMORY, "store_create: out of memory");
    }
    s->be = be;
    s->ctx = graphs[0]->ctx;
    s->refs = 1;
    s->n_ids = s->ctx->n_tensors;
    s->weights = skim_calloc(a, nw + 1, sizeof *s->weights);
    s->states = skim_calloc(a, ns + 1, sizeof *s->states);
    s->slot = skim_calloc(a, (size_t)s->n_ids + 1, sizeof *s->slot);
    if (!s->weights || !s->states || !s->slot) {
        store_free(s);
        return skim_backend_fail(be, SKIM_ERR_OUT_OF_MEMORY, "store_create: out of memory");
    }
    for (int64_t i = 0; i < s->n_ids; i++) {
        s->slot[i] = -1;
    }
    for (int k = 0; k < n; k++) {
        collect(s, graphs[k]);
    }
    if (!be->iface->store_create) {
        store_free(s);
        return skim_backend_fail(be, SKIM_ERR_UNSUPPORTED, "store_create: not implemented by %s",
                                 skim_backend_name(be));
    }
    skim_status st = be->iface->store_create(be, s);
    if (st != SKIM_OK) {
        store_free(s);
        return st;
    }
    *out = s;
    return SKIM_OK;
}

skim_status skim_store_create(skim_backend *be, skim_graph *const *graphs, int n_graphs,
                              skim_store **out_store) {
    if (!be || !be->iface) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (!out_store) {
        return skim_backend_fail(be, SKIM_ERR_INVALID_ARG, "store_create: out_store is NULL");
    }
    skim_backend_clear(be);
    return skim_store_make(be, graphs, n_graphs, out_store);
}

void skim_store_destroy(skim_store *s) {
    skim_store_release(s);
}

skim_status skim_store_reset_states(skim_store *s) {
    if (!s) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (skim_atomic_add(&s->running, 0) != 0) {
        return skim_backend_fail(s->be, SKIM_ERR_STATE, "store_reset_states: a plan using the "
                                 "store is running (wait first)");
    }
    for (int i = 0; i < s->n_states; i++) {
        skim_status st = s->be->iface->store_fill(s, i);
        if (st != SKIM_OK) {
            return st;
        }
    }
    return SKIM_OK;
}

skim_status skim_store_query_bytes(const skim_store *s, uint64_t *weight_bytes,
                                   uint64_t *state_bytes) {
    if (!s) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (weight_bytes) *weight_bytes = s->weight_bytes;
    if (state_bytes) *state_bytes = s->state_bytes;
    return SKIM_OK;
}

/* Whether every weight and state of g is in s; a message naming the first that is not. */
static skim_status check_served(skim_backend *be, const skim_store *s, const skim_graph *g) {
    char nm[SKIM_TNAME_LEN];
    if (s->be != be) {
        return skim_backend_fail(be, SKIM_ERR_INVALID_ARG, "plan_create: the store was created "
                                 "on backend %s, not on this %s backend",
                                 skim_backend_name(s->be), skim_backend_name(be));
    }
    if (s->ctx != g->ctx) {
        return skim_backend_fail(be, SKIM_ERR_INVALID_ARG, "plan_create: the store holds the "
                                 "tensors of another context than the graph's");
    }
    for (int k = 0; k < 2; k++) {
        int n = k ? g->n_states : g->n_weights;
        skim_tensor *const *list = k ? g->states : g->weights;
        for (int i = 0; i < n; i++) {
            if (skim_store_slot(s, list[i]) < 0) {
                return skim_backend_fail(be, SKIM_ERR_INVALID_ARG, "plan_create: %s %s [%lld, "
                                         "%lld] of the graph is not in the store (create the "
                                         "store from this graph too)", k ? "state" : "weight",
                                         skim_core_tname(list[i], nm), (long long)list[i]->ne[0],
                                         (long long)list[i]->ne[1]);
            }
        }
    }
    return SKIM_OK;
}

skim_status skim_store_attach(skim_backend *be, skim_graph *g, skim_store *shared,
                              skim_store **out) {
    if (!shared) {
        return skim_store_make(be, &g, 1, out);
    }
    skim_status st = check_served(be, shared, g);
    if (st == SKIM_OK) {
        skim_atomic_add(&shared->refs, 1);
        *out = shared;
    }
    return st;
}
