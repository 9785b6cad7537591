/* run.c - the public backend and plan API: argument checks, plan bookkeeping, and
 * forwarding through the backend's table (skim_backend_i).
 *
 * Contract with backends:
 * - iface->destroy frees everything of the backend, the skim_backend struct included.
 * - iface->plan_create is called on a plan whose graph, mode, param_values (defaults),
 *   input_set, sel_host (zeroed words) and sel_stats are filled. On failure it returns the
 *   status with a message (skim_plan_fail or skim_backend_fail) and either frees what it
 *   made and leaves p->impl NULL, or leaves p->impl for plan_destroy, which is then called.
 *   The message ends up in skim_backend_error.
 * - iface->run_async may return SKIM_ERR_RANGE for a run that completed with a set_rows
 *   index out of range: the run is then treated as started (wait still follows).
 * - After a successful wait the common layer counts the run and computes the stats. */
#include "skim-graph-int.h"

#include <stdio.h>
#include <string.h>

skim_status skim_plan_fail(skim_plan *p, skim_status s, const char *fmt, ...) {
    if (p && fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->msg, sizeof p->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* A backend's message is the calling thread's, as errno is: plans of one backend may be
 * created on several threads at once, and each caller reads what its own call said. One
 * slot per thread, holding the message of its last failure and the backend it was on. */
static _Thread_local struct {
    const skim_backend *be;
    char msg[SKIM_MSG_LEN];
} tl_fail;

skim_status skim_backend_fail(skim_backend *be, skim_status s, const char *fmt, ...) {
    if (be && fmt) {
        char msg[SKIM_MSG_LEN]; /* fmt's arguments may be the slot's own message */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        memcpy(tl_fail.msg, msg, sizeof msg);
        tl_fail.be = be;
    }
    return s;
}

void skim_backend_clear(const skim_backend *be) {
    if (tl_fail.be == be) {
        tl_fail.msg[0] = '\0';
    }
}

/* ---------------------------------------------------------------- backends */

void skim_backend_destroy(skim_backend *be) {
    skim_backend_clear(be); /* a later backend at the same address starts with no message */
    if (be && be->iface && be->iface->destroy) {
        be->iface->destroy(be);
    }
}

const char *skim_backend_name(const skim_backend *be) {
    return be && be->iface && be->iface->name ? be->iface->name : "";
}

const char *skim_backend_device(const skim_backend *be) {
    return be ? be->device : "";
}

const char *skim_backend_error(const skim_backend *be) {
    if (!be) {
        return "invalid backend (NULL)";
    }
    return tl_fail.be == be ? tl_fail.msg : "";
}

bool skim_backend_supports(skim_backend *be, const skim_tensor *node) {
    if (!be || !be->iface || !node) {
        return false;
    }
    if (node->kind != SKIM_KIND_NODE && node->kind != SKIM_KIND_VIEW) {
        return true; /* leaves are data, not work */
    }
    return be->iface->supports && be->iface->supports(be, node);
}

/* ---------------------------------------------------------------- plans */

static void plan_free(skim_plan *p) {
    const skim_allocator *a = &p->be->alloc;
    if (p->sel_host) {
        for (int i = 0; i < p->graph->n_sels; i++) {
            skim_free(a, p->sel_host[i]);
        }
    }
    skim_free(a, p->sel_host);
    skim_free(a, p->sel_stats);
    skim_free(a, p->param_values);
    skim_free(a, p->input_set);
    skim_store_release(p->store);
    skim_free(a, p);
}

/* A selection's words are int32 (counts and indices: graph/ and every backend): its groups
 * and capacity, and all its words, must fit that before anything is allocated for it. */
static skim_status check_sel_sizes(skim_backend *be, const skim_graph *g) {
    char nm[SKIM_TNAME_LEN];
    for (int i = 0; i < g->n_sels; i++) {
        const skim_tensor *s = g->sels[i];
        uint64_t groups = (uint64_t)s->ne[1], cap = (uint64_t)s->ne[0];
        if (s->ne[0] < 0 || s->ne[1] < 0 || groups > INT32_MAX || cap > INT32_MAX ||
            groups * (cap + 1) + 1 > INT32_MAX) {
            return skim_backend_fail(be, SKIM_ERR_TOO_LARGE, "plan_create: selection %s holds "
                                     "%llu groups of capacity %llu; a plan addresses at most "
                                     "%d words of a selection", skim_core_tname(s, nm),
                                     (unsigned long long)groups, (unsigned long long)cap,
                                     INT32_MAX);
        }
    }
    return SKIM_OK;
}

static skim_status plan_alloc(skim_backend *be, skim_graph *g, skim_plan_mode mode,
                              skim_plan **out) {
    skim_status cs = check_sel_sizes(be, g);
    if (cs != SKIM_OK) {
        return cs;
    }
    const skim_allocator *a = &be->alloc;
    skim_plan *p = skim_calloc(a, 1, sizeof *p);
    if (!p) {
        return skim_backend_fail(be, SKIM_ERR_OUT_OF_MEMORY, "plan_create: out of memory");
    }
    p->be = be;
    p->graph = g;
    p->mode = mode;
    p->param_values = skim_calloc(a, (size_t)g->n_params, sizeof *p->param_values);
    p->input_set = skim_calloc(a, (size_t)g->n_inputs, sizeof *p->input_set);
    p->sel_host = skim_calloc(a, (size_t)g->n_sels, sizeof *p->sel_host);
    p->sel_stats = skim_calloc(a, (size_t)g->n_sels, sizeof *p->sel_stats);
    bool ok = p->param_values && p->input_set && p->sel_host && p->sel_stats;
    for (int i = 0; ok && i < g->n_sels; i++) {
        const skim_tensor *s = g->sels[i];
        p->sel_host[i] = skim_calloc(a, SKIM_SEL_WORDS(s->ne[1], s->ne[0]), sizeof(int32_t));
        ok = p->sel_host[i] != NULL;
        p->sel_stats[i].sel = s;
        p->sel_stats[i].capacity = s->ne[0] * s->ne[1];
    }
    if (!ok) {
        plan_free(p);
        return skim_backend_fail(be, SKIM_ERR_OUT_OF_MEMORY, "plan_create: out of memory");
    }
    for (int i = 0; i < g->n_params; i++) {
        p->param_values[i] = g->params[i]->pdef;
    }
    p->stats.n_selections = g->n_sels;
    p->stats.selections = p->sel_stats;
    *out = p;
    return SKIM_OK;
}

static skim_status check_supported(skim_backend *be, const skim_graph *g) {
    char nm[SKIM_TNAME_LEN];
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *t = g->nodes[i];
        if (!skim_backend_supports(be, t)) {
            return skim_backend_fail(be, SKIM_ERR_UNSUPPORTED, "plan_create: backend %s does "
                                     "not support op %s (%s %s)", skim_backend_name(be),
                                     t->kind == SKIM_KIND_VIEW ? "view" : skim_op_name(t->op),
                                     skim_type_name(t->type), skim_core_tname(t, nm));
        }
    }
    return SKIM_OK;
}

skim_status skim_plan_create(skim_backend *be, skim_graph *g, const skim_plan_desc *desc,
                             skim_plan **out_plan) {
    if (!be || !be->iface) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (!g || !out_plan) {
        return skim_backend_fail(be, SKIM_ERR_INVALID_ARG, "plan_create: graph or out_plan NULL");
    }
    skim_plan_mode mode = desc ? desc->mode : SKIM_MODE_SKIP;
    if (mode != SKIM_MODE_SKIP && mode != SKIM_MODE_MASKED_DENSE) {
        return skim_backend_fail(be, SKIM_ERR_INVALID_ARG, "plan_create: unknown mode %d",
                                 (int)mode);
    }
    uint32_t flags = desc ? desc->flags : 0;
    const uint32_t known = SKIM_PLAN_QUANTIZED_ACTIVATIONS | SKIM_PLAN_HALF_PRODUCTS;
    if (flags & ~known) {
        return skim_backend_fail(be, SKIM_ERR_INVALID_ARG, "plan_create: unknown flags 0x%x",
                                 (unsigned)(flags & ~known));
    }
    if (g->ctx->status != SKIM_OK) {
        return skim_backend_fail(be, SKIM_ERR_STATE, "plan_create: the graph's context has an "
                                 "error: %s", g->ctx->msg);
    }
    skim_status st = check_supported(be, g);
    if (st != SKIM_OK) {
        return st;
    }
    skim_plan *p = NULL;
    skim_backend_clear(be);
    st = plan_alloc(be, g, mode, &p);
    if (st != SKIM_OK) {
        return st;
    }
    p->flags = flags;
    st = skim_store_attach(be, g, desc ? desc->store : NULL, &p->store);
    if (st != SKIM_OK) {
        plan_free(p);
        return st;
    }
    if (!be->iface->plan_create) {
        plan_free(p);
        return skim_backend_fail(be, SKIM_ERR_UNSUPPORTED, "plan_create: not implemented by %s",
                                 skim_backend_name(be));
    }
    st = be->iface->plan_create(be, p);
    if (st != SKIM_OK) {
        if (p->msg[0]) {
            skim_backend_fail(be, st, "%s", p->msg);
        } else if (!skim_backend_error(be)[0]) {
            skim_backend_fail(be, st, "plan_create: %s", skim_status_str(st));
        }
        if (p->impl && be->iface->plan_destroy) {
            be->iface->plan_destroy(p);
        }
        plan_free(p);
        return st;
    }
    *out_plan = p;
    return SKIM_OK;
}

void skim_plan_destroy(skim_plan *p) {
    if (!p) {
        return;
    }
    if (p->running && p->be->iface->wait) {
        p->be->iface->wait(p);
    }
    if (p->be->iface->plan_destroy) {
        p->be->iface->plan_destroy(p);
    }
    plan_free(p);
}

const char *skim_plan_error(const skim_plan *p) {
    return p ? p->msg : "invalid plan (NULL)";
}

/* Common checks: plan usable, t a tensor of the plan's graph. */
static skim_status plan_tensor(skim_plan *p, const skim_tensor *t, const char *what) {
    if (!t) {
        return skim_plan_fail(p, SKIM_ERR_INVALID_ARG, "%s: tensor is NULL", what);
    }
    if (!skim_graph_contains(p->graph, t)) {
        char nm[SKIM_TNAME_LEN];
        return skim_plan_fail(p, SKIM_ERR_INVALID_ARG, "%s: tensor %s is not in the plan's "
                              "graph", what, skim_core_tname(t, nm));
    }
    return SKIM_OK;
}

skim_status skim_plan_set_input(skim_plan *p, const skim_tensor *input, const void *data,
                                size_t size) {
    if (!p) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_status st = plan_tensor(p, input, "set_input");
    if (st != SKIM_OK) {
        return st;
    }
    char nm[SKIM_TNAME_LEN];
    if (input->kind != SKIM_KIND_INPUT) {
        return skim_plan_fail(p, SKIM_ERR_INVALID_ARG, "set_input: %s is not an input",
                              skim_core_tname(input, nm));
    }
    if (!data) {
        return skim_plan_fail(p, SKIM_ERR_INVALID_ARG, "set_input: data is NULL");
    }
    if (size != skim_tensor_nbytes(input)) {
        return skim_plan_fail(p, SKIM_ERR_SHAPE, "set_input: %zu bytes given for %s, which "
                              "holds %zu", size, skim_core_tname(input, nm),
                              skim_tensor_nbytes(input));
    }
    if (p->running) {
        return skim_plan_fail(p, SKIM_ERR_STATE, "set_input: a run is in progress (wait first)");
    }
    if (!p->be->iface->set_input) {
        return skim_plan_fail(p, SKIM_ERR_UNSUPPORTED, "set_input: not implemented by %s",
                              skim_backend_name(p->be));
    }
    int slot = skim_graph_slot(p->graph, input);
    st = p->be->iface->set_input(p, slot, data, size);
    if (st == SKIM_OK) {
        p->input_set[slot] = true;
    }
    return st;
}

skim_status skim_plan_set_param(skim_plan *p, const skim_tensor *param, int32_t value) {
    if (!p) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_status st = plan_tensor(p, param, "set_param");
    if (st != SKIM_OK) {
        return st;
    }
    char nm[SKIM_TNAME_LEN];
    if (param->kind != SKIM_KIND_PARAM) {
        return skim_plan_fail(p, SKIM_ERR_INVALID_ARG, "set_param: %s is not a run parameter",
                              skim_core_tname(param, nm));
    }
    if (value < param->pmin || value > param->pmax) {
        return skim_plan_fail(p, SKIM_ERR_RANGE, "set_param: %d for %s is outside [%d, %d]",
                              (int)value, skim_core_tname(param, nm), (int)param->pmin,
                              (int)param->pmax);
    }
    if (p->running) {
        return skim_plan_fail(p, SKIM_ERR_STATE, "set_param: a run is in progress (wait first)");
    }
    p->param_values[skim_graph_slot(p->graph, param)] = value;
    return SKIM_OK;
}

skim_status skim_plan_reset_states(skim_plan *p) {
    if (!p) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (p->running) {
        return skim_plan_fail(p, SKIM_ERR_STATE, "reset_states: a run is in progress (wait first)");
    }
    if (!p->be->iface->reset_states) {
        return skim_plan_fail(p, SKIM_ERR_UNSUPPORTED, "reset_states: not implemented by %s",
                              skim_backend_name(p->be));
    }
    return p->be->iface->reset_states(p);
}

/* ---------------------------------------------------------------- runs */

skim_status skim_plan_run_async(skim_plan *p) {
    if (!p) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (p->running) {
        return skim_plan_fail(p, SKIM_ERR_STATE, "run: a run is in progress (wait first)");
    }
    const skim_graph *g = p->graph;
    char nm[SKIM_TNAME_LEN];
    for (int i = 0; i < g->n_inputs; i++) {
        if (!p->input_set[i]) {
            return skim_plan_fail(p, SKIM_ERR_STATE, "run: input %s was never set",
                                  skim_core_tname(g->inputs[i], nm));
        }
    }
    if (!p->be->iface->run_async || !p->be->iface->wait) {
        return skim_plan_fail(p, SKIM_ERR_UNSUPPORTED, "run: not implemented by %s",
                              skim_backend_name(p->be));
    }
    skim_status st = p->be->iface->run_async(p);
    if (st == SKIM_OK || st == SKIM_ERR_RANGE) {
        p->running = true;
        skim_atomic_add(&p->store->running, 1);
    }
    return st;
}

skim_status skim_plan_wait(skim_plan *p) {
    if (!p) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (!p->running) {
        return SKIM_OK; /* nothing in flight: waiting is a no-op */
    }
    skim_status st = p->be->iface->wait(p);
    p->running = false;
    skim_atomic_add(&p->store->running, -1);
    if (st == SKIM_OK || st == SKIM_ERR_RANGE) {
        p->has_run = true;
        p->stats.runs++;
        skim_plan_compute_stats(p);
    }
    return st;
}

skim_status skim_plan_run(skim_plan *p) {
    skim_status st = skim_plan_run_async(p);
    if (st != SKIM_OK && st != SKIM_ERR_RANGE) {
        return st;
    }
    skim_status sw = skim_plan_wait(p);
    return sw != SKIM_OK ? sw : st;
}

/* Only tensors whose memory is never reused can be read after a run. */
static bool readable(const skim_graph *g, const skim_tensor *t) {
    if (t->kind == SKIM_KIND_INPUT || t->kind == SKIM_KIND_STATE || t->kind == SKIM_KIND_WEIGHT) {
        return true;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        if (g->outputs[i] == t) {
            return true;
        }
    }
    return false;
}

skim_status skim_plan_get_output(skim_plan *p, const skim_tensor *t, void *dst, size_t size) {
    if (!p) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_status st = plan_tensor(p, t, "get_output");
    if (st != SKIM_OK) {
        return st;
    }
    char nm[SKIM_TNAME_LEN];
    if (!dst) {
        return skim_plan_fail(p, SKIM_ERR_INVALID_ARG, "get_output: dst is NULL");
    }
    if (!readable(p->graph, t)) {
        return skim_plan_fail(p, SKIM_ERR_INVALID_ARG, "get_output: %s is an intermediate whose "
                              "memory may be reused; make it an output of the graph",
                              skim_core_tname(t, nm));
    }
    if (t->type != SKIM_TYPE_F32 && t->type != SKIM_TYPE_F16 && t->type != SKIM_TYPE_I32) {
        return skim_plan_fail(p, SKIM_ERR_TYPE, "get_output: %s is %s (F32, F16, I32 only)",
                              skim_core_tname(t, nm), skim_type_name(t->type));
    }
    if (size != skim_tensor_nbytes(t)) {
        return skim_plan_fail(p, SKIM_ERR_SHAPE, "get_output: %zu bytes asked of %s, which "
                              "holds %zu", size, skim_core_tname(t, nm), skim_tensor_nbytes(t));
    }
    if (p->running) {
        return skim_plan_fail(p, SKIM_ERR_STATE, "get_output: a run is in progress (wait first)");
    }
    if (p->graph->mem[t->id].kind == SKIM_MEM_ARENA && !p->has_run) {
        return skim_plan_fail(p, SKIM_ERR_STATE, "get_output: %s before the first run",
                              skim_core_tname(t, nm));
    }
    if (!p->be->iface->read) {
        return skim_plan_fail(p, SKIM_ERR_UNSUPPORTED, "get_output: not implemented by %s",
                              skim_backend_name(p->be));
    }
    return p->be->iface->read(p, t, dst, size);
}

skim_status skim_plan_get_selection(skim_plan *p, const skim_tensor *sel, int32_t *counts,
                                    int32_t *idx) {
    if (!p) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_status st = plan_tensor(p, sel, "get_selection");
    if (st != SKIM_OK) {
        return st;
    }
    char nm[SKIM_TNAME_LEN];
    int slot = sel->sel_kind ? skim_graph_slot(p->graph, sel) : -1;
    if (slot < 0) {
        return skim_plan_fail(p, SKIM_ERR_INVALID_ARG, "get_selection: %s is not a selection",
                              skim_core_tname(sel, nm));
    }
    if (!counts) {
        return skim_plan_fail(p, SKIM_ERR_INVALID_ARG, "get_selection: counts is NULL");
    }
    if (p->running || !p->has_run) {
        return skim_plan_fail(p, SKIM_ERR_STATE, "get_selection: no finished run");
    }
    const int32_t *w = p->sel_host[slot];
    int64_t groups = sel->ne[1], cap = sel->ne[0];
    for (int64_t gi = 0; gi < groups; gi++) {
        int32_t c = w[gi];
        c = c < 0 ? 0 : (c > cap ? (int32_t)cap : c);
        counts[gi] = c;
        if (idx) {
            memcpy(idx + gi * cap, w + groups + gi * cap, (size_t)c * sizeof *idx);
        }
    }
    return SKIM_OK;
}

skim_status skim_plan_get_stats(const skim_plan *p, skim_run_stats *out) {
    if (!p || !out) {
        return SKIM_ERR_INVALID_ARG;
    }
    *out = p->stats;
    return SKIM_OK;
}
