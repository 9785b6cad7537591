/* skim-graph-int.h - helpers shared by the files of graph/ only (not by backends).
 * Backends use skim-impl.h; nothing here is part of any contract with them. */
#ifndef SKIM_GRAPH_INT_H
#define SKIM_GRAPH_INT_H

#include "skim-impl.h"

/* A printable name for messages: the tensor's name, or "#<id>" kept in buf. */
#define SKIM_TNAME_LEN (SKIM_MAX_NAME + 24)
SKIM_HIDDEN const char *skim_core_tname(const skim_tensor *t, char buf[SKIM_TNAME_LEN]);

/* Fills nb[] for a contiguous tensor of type/ne; false on overflow. *nbytes gets the
 * bytes of the whole tensor. */
SKIM_HIDDEN bool skim_core_contig_strides(skim_type type, const int64_t ne[SKIM_MAX_DIMS],
                                          size_t nb[SKIM_MAX_DIMS], size_t *nbytes);

/* Allocates a tensor in ctx from a filled template (kind, type, n_dims, ne, nb, op ...):
 * enforces max_tensors (TOO_LARGE), assigns the id, registers it. NULL after recording
 * the error on ctx. `what` names the builder for messages. */
SKIM_HIDDEN skim_tensor *skim_core_add_tensor(skim_context *ctx, const skim_tensor *tmpl,
                                              const char *what);

/* Removes a graph from its context's list (graph destroy). */
SKIM_HIDDEN void skim_core_forget_graph(skim_context *ctx, skim_graph *g);
/* Appends a graph to its context's list; false (error recorded) on OOM. */
SKIM_HIDDEN bool skim_core_remember_graph(skim_context *ctx, skim_graph *g);
/* Frees a graph's memory without touching the context's list. */
SKIM_HIDDEN void skim_graph_free(skim_graph *g);

/* Fills g->mem, g->last_use, arena_size, unshared_size from g->nodes and the leaf
 * lists (plan.c). */
SKIM_HIDDEN skim_status skim_graph_plan_memory(skim_graph *g);
/* The memory plan's invariant, checked after every plan_memory in every build: each arena
 * tensor aligned, inside the arena, and disjoint from every tensor still read while it is
 * written (liveness recomputed from the graph). SKIM_ERR_GRAPH naming both tensors. */
SKIM_HIDDEN skim_status skim_graph_check_memory(skim_graph *g);

/* Shape functions, one per row of ops.def: validate node->src/params (errors recorded
 * on ctx, status returned) and fill node->type, n_dims, ne, bound, sel_kind (and for
 * writes: nb, view_src, view_offs, writes). */
#define SKIM_OP(E, n, s, sh, fl, t) \
    SKIM_HIDDEN skim_status skim_shape_##n(skim_context *ctx, skim_tensor *node);
#include "ops.def"
#undef SKIM_OP

/* Validates the sources of a filled node template (context, selection and param slots),
 * runs the op's shape function, sets contiguous strides and registers the node. NULL
 * (error recorded) on failure or when ctx already has an error. */
SKIM_HIDDEN skim_tensor *skim_op_build(skim_context *ctx, skim_tensor *node);
/* The invariants of a node once its shape function ran and its strides are set (n_dims,
 * all four ne, strides against the type): false after recording SKIM_ERR_GRAPH naming the
 * op. skim_op_build checks every node with it; tests feed it broken nodes. */
SKIM_HIDDEN bool skim_op_check_node(skim_context *ctx, const skim_tensor *node);
/* Records INVALID_ARG naming op and argument when t is NULL. */
SKIM_HIDDEN bool skim_op_need(skim_context *ctx, skim_op op, const char *arg, const skim_tensor *t);
/* Formats ne as "[a, b, c, d]" (n_dims entries). */
#define SKIM_NE_LEN 96
SKIM_HIDDEN const char *skim_core_fmt_ne(const skim_tensor *t, char buf[SKIM_NE_LEN]);

/* Shared validation helpers of ops.c / ops_sel.c. Each records an error naming the op
 * and argument and returns false. */
SKIM_HIDDEN bool skim_op_check_f32(skim_context *ctx, const skim_tensor *node,
                                   const char *arg, const skim_tensor *t);
SKIM_HIDDEN bool skim_op_check_rows(skim_context *ctx, const skim_tensor *node,
                                    const char *arg, const skim_tensor *t);
SKIM_HIDDEN bool skim_op_check_contig(skim_context *ctx, const skim_tensor *node,
                                      const char *arg, const skim_tensor *t);
SKIM_HIDDEN bool skim_op_check_vector(skim_context *ctx, const skim_tensor *node,
                                      const char *arg, const skim_tensor *t, int64_t n);
SKIM_HIDDEN bool skim_op_check_sel(skim_context *ctx, const skim_tensor *node,
                                   const char *arg, const skim_tensor *sel,
                                   skim_sel_kind kind, int64_t groups, int64_t cap);
SKIM_HIDDEN bool skim_op_same_bound(skim_context *ctx, const skim_tensor *node,
                                    const char *arg_a, const skim_tensor *a,
                                    const char *arg_b, const skim_tensor *b);
/* Outermost size (ne[n_dims-1]). */
static inline int64_t skim_tensor_outer(const skim_tensor *t) {
    return t->ne[t->n_dims - 1];
}
/* The version of a state that t stands for: through views (src[0]) to the STATE leaf or
 * to a write node (set_rows/cpy result); NULL when t is not a state's storage. */
static inline const skim_tensor *skim_core_state_version(const skim_tensor *t) {
    while (t && t->kind == SKIM_KIND_VIEW) {
        t = t->src[0];
    }
    if (t && (t->kind == SKIM_KIND_STATE || t->writes)) {
        return t;
    }
    return NULL;
}
/* Fills node as a selection of kind/groups/capacity. */
SKIM_HIDDEN void skim_op_make_sel(skim_tensor *node, skim_sel_kind kind, int64_t groups,
                                  int64_t cap);

#endif /* SKIM_GRAPH_INT_H */
