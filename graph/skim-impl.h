/* skim-impl.h - internal structures shared by graph/ and the backends. Not installed.
 * graph/ includes no backend header; backends include this one. */
#ifndef SKIM_IMPL_H
#define SKIM_IMPL_H

#include "skim.h"
#include "skim-backend.h"
#include "skim-platform.h"

#include <stdarg.h>

#if defined(__GNUC__)
#  if defined(_WIN32) /* a DLL exports only what is dllexport: hidden is the default there */
#    define SKIM_HIDDEN
#  else
#    define SKIM_HIDDEN __attribute__((visibility("hidden")))
#  endif
#  if defined(__MINGW32__) /* C99 printf there (__USE_MINGW_ANSI_STDIO), not msvcrt's */
#    define SKIM_PRINTF(a, b) __attribute__((format(gnu_printf, a, b)))
#  else
#    define SKIM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#  endif
#else
#  define SKIM_HIDDEN
#  define SKIM_PRINTF(a, b)
#endif

#define SKIM_MSG_LEN 256
/* Arena offsets and sizes are multiples of this (Vulkan's largest
 * minStorageBufferOffsetAlignment in practice). */
#define SKIM_ALIGN 256
#define SKIM_QK 32 /* elements per Q8_0 / Q4_0 block */
#define SKIM_QK_K 256 /* elements per Q4_K / Q6_K block: the largest block of any type */

/* ---------------------------------------------------------------- the op table */

typedef enum skim_op {
    SKIM_OP_NONE = 0, /* leaves (weights, inputs, states, params) and views */
#define SKIM_OP(E, n, s, sh, fl, t) SKIM_OP_##E,
#include "ops.def"
#undef SKIM_OP
    SKIM_OP_COUNT
} skim_op;

typedef struct { float s; } skim_scale_params;
typedef struct { float eps; } skim_norm_params;
typedef struct { int32_t mode, n_dims; float freq_base; } skim_rope_params;
typedef struct { float scale; } skim_soft_max_params;
typedef struct { float scale; } skim_attn_params;
typedef struct { float tau; } skim_gate_params;
typedef struct { int32_t k; } skim_topk_params;
typedef struct { int32_t block; } skim_block_params;
/* A custom op (graph/custom_int.h): the context-owned copy of its desc. */
struct skim_custom_op;
typedef struct { const struct skim_custom_op *op; } skim_custom_params;

typedef union skim_op_params {
    int32_t none;
    skim_scale_params scale;
    skim_norm_params norm;
    skim_rope_params rope;
    skim_soft_max_params soft_max;
    skim_attn_params attn;
    skim_gate_params gate;
    skim_topk_params topk;
    skim_block_params block;
    skim_custom_params custom;
} skim_op_params;

typedef struct skim_op_info {
    const char *name;
    int n_src;
    double tol;
} skim_op_info;

/* Indexed by skim_op; row 0 is "none". */
SKIM_HIDDEN extern const skim_op_info skim_op_table[SKIM_OP_COUNT];
SKIM_INTERNAL const char *skim_op_name(skim_op op);

/* Source slots of SKIM_OP_ATTN. */
enum {
    SKIM_ATTN_Q = 0, SKIM_ATTN_K, SKIM_ATTN_V, SKIM_ATTN_QPOS, SKIM_ATTN_KPOS,
    SKIM_ATTN_NKV, SKIM_ATTN_KMASK, SKIM_ATTN_HEADS
};

/* ---------------------------------------------------------------- context, tensors */

struct skim_context {
    skim_allocator alloc;
    skim_log_fn log;
    void *log_user;
    int64_t max_tensors;
    skim_status status;
    char msg[SKIM_MSG_LEN];
    skim_tensor **tensors; /* every tensor, by id */
    int64_t n_tensors, cap_tensors;
    skim_graph **graphs;
    int n_graphs, cap_graphs;
    struct skim_custom_op *custom_ops; /* graph/custom.c; freed with the context */
};

/* Selection storage, int32 words: counts[groups], then idx[groups][capacity], then one
 * word with the number of NaN scores kept active. ne[0] = capacity, ne[1] = groups. */
#define SKIM_SEL_WORDS(groups, cap) ((size_t)(groups) + (size_t)(groups) * (size_t)(cap) + 1)

struct skim_tensor {
    skim_context *ctx;
    int64_t id; /* index in ctx->tensors */
    skim_tensor_kind kind;
    skim_type type;
    int n_dims;
    int64_t ne[SKIM_MAX_DIMS]; /* unused dimensions are 1 */
    size_t nb[SKIM_MAX_DIMS];  /* byte strides; nb[0] = block bytes, for blocks: per block */
    skim_op op;
    skim_op_params params;
    skim_tensor *src[SKIM_MAX_SRC];
    /* Views: the tensor whose storage this is (never itself a view) and the byte offset. */
    skim_tensor *view_src;
    size_t view_offs;
    /* The selection bounding the outermost dimension (n_dims - 1), or NULL. */
    skim_tensor *bound;
    /* Selections (op HEAD_GATE, TOKEN_HALT, SELECT_TOPK): type I32, ne[0] = capacity,
     * ne[1] = groups, sel_kind != 0. */
    skim_sel_kind sel_kind;
    /* Weights */
    const void *data;
    /* States */
    float fill;
    /* Params */
    int32_t pmin, pmax, pdef;
    /* For set_rows/cpy chains: the state written (its base), else NULL. */
    skim_tensor *writes;
    char name[SKIM_MAX_NAME];
};

/* Records the first error on the context (later ones are ignored), logs it, returns NULL. */
SKIM_HIDDEN void *skim_ctx_fail(skim_context *ctx, skim_status s, const char *fmt, ...)
    SKIM_PRINTF(3, 4);
SKIM_HIDDEN void *skim_ctx_malloc(skim_context *ctx, size_t size);
SKIM_HIDDEN void skim_ctx_free(skim_context *ctx, void *p);
/* Frees the custom ops recorded on ctx (graph/custom.c; context destroy). */
SKIM_HIDDEN void skim_custom_free_all(skim_context *ctx);
/* Allocator helpers for any skim_allocator (zeroed means malloc/free). */
SKIM_INTERNAL void *skim_alloc(const skim_allocator *a, size_t size);
SKIM_INTERNAL void *skim_calloc(const skim_allocator *a, size_t n, size_t size); /* overflow-checked */
SKIM_INTERNAL void skim_free(const skim_allocator *a, void *p);
/* Overflow-checked arithmetic: false on overflow. */
SKIM_INTERNAL bool skim_mul_size(size_t a, size_t b, size_t *out);
SKIM_INTERNAL bool skim_add_size(size_t a, size_t b, size_t *out);

/* The storage base (itself when not a view) and byte offset of a tensor. */
static inline skim_tensor *skim_tensor_base(const skim_tensor *t) {
    return t->view_src ? t->view_src : (skim_tensor *)t;
}
/* Number of rows (product of ne[1..3]). */
static inline int64_t skim_tensor_nrows(const skim_tensor *t) {
    return t->ne[1] * t->ne[2] * t->ne[3];
}

/* ---------------------------------------------------------------- graphs */

typedef enum skim_mem_kind {
    SKIM_MEM_NONE = 0, /* views (see view_src), params (host values) */
    SKIM_MEM_ARENA,    /* an intermediate at arena offset */
    SKIM_MEM_WEIGHT,
    SKIM_MEM_INPUT,
    SKIM_MEM_STATE
} skim_mem_kind;

typedef struct skim_tensor_mem {
    skim_mem_kind kind;
    size_t offset; /* ARENA: offset in the arena */
    size_t size;   /* bytes reserved */
    int slot;      /* WEIGHT/INPUT/STATE/PARAM: index in the graph's list of that kind */
} skim_tensor_mem;

struct skim_graph {
    skim_context *ctx;
    /* Every tensor the outputs depend on, in execution order: leaves are not in nodes;
     * views and ops are. */
    int n_nodes;
    skim_tensor **nodes;
    int n_weights, n_inputs, n_states, n_params, n_sels, n_outputs;
    skim_tensor **weights, **inputs, **states, **params, **sels, **outputs;
    /* Per tensor id (0 .. n_ids-1, ids of the context when built); mem.kind NONE for
     * tensors outside the graph. For a view: the base's placement (add view_offs). */
    int64_t n_ids;
    skim_tensor_mem *mem;
    int *last_use; /* per id: index in nodes of the last reader, -1 none (INT_MAX outputs) */
    size_t arena_size;
    size_t unshared_size;
};

/* Index of t in g->params / g->sels / ..., or -1. */
SKIM_INTERNAL int skim_graph_slot(const skim_graph *g, const skim_tensor *t);
SKIM_HIDDEN bool skim_graph_contains(const skim_graph *g, const skim_tensor *t);

/* ---------------------------------------------------------------- backends and plans */

typedef struct skim_backend_i {
    const char *name;
    void (*destroy)(skim_backend *be);
    bool (*supports)(skim_backend *be, const skim_tensor *node);
    /* Fills p->impl. The common layer has validated the graph and filled params. */
    skim_status (*plan_create)(skim_backend *be, skim_plan *p);
    void (*plan_destroy)(skim_plan *p);
    skim_status (*set_input)(skim_plan *p, int slot, const void *data, size_t size);
    skim_status (*reset_states)(skim_plan *p);
    /* Starts a run with p->param_values; the CPU finishes it here. */
    skim_status (*run_async)(skim_plan *p);
    /* Finishes a run and copies every selection's words to p->sel_host[i]. */
    skim_status (*wait)(skim_plan *p);
    /* Copies t's data (contiguous bytes, skim_tensor_nbytes) to dst. */
    skim_status (*read)(skim_plan *p, const skim_tensor *t, void *dst, size_t size);
    /* Places s->weights and s->states (filled with their fill values) into s->impl; on
     * failure a message on the backend, and store_destroy is called when s->impl is set. */
    skim_status (*store_create)(skim_backend *be, skim_store *s);
    void (*store_destroy)(skim_store *s);
    /* Refills state slot i of the store. */
    skim_status (*store_fill)(skim_store *s, int i);
} skim_backend_i;

/* Atomic int counters (plans of one store may live on different threads); returns the
 * new value. */
static inline int skim_atomic_add(int *p, int v) {
#if defined(__GNUC__) || defined(__clang__)
    return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL);
#else
    _Static_assert(sizeof(int) == sizeof(int32_t), "int counters are 32-bit");
    return (int)skim_atomic_fetch_add32((volatile int32_t *)p, (int32_t)v) + v;
#endif
}

/* Weights and states placed once on a backend, shared by plans (graph/store.c). */
struct skim_store {
    skim_backend *be;
    skim_context *ctx;
    int refs;          /* the caller's (until skim_store_destroy) and one per plan */
    int running;       /* plans using it with a run in progress */
    int n_weights, n_states;
    skim_tensor **weights, **states;
    int64_t n_ids;     /* ids of ctx when created */
    int *slot;         /* per id: index in weights or states, -1 when not held */
    uint64_t weight_bytes, state_bytes; /* set by the backend */
    void *impl;
};

/* A store for the graphs (common checks, then the backend's store_create); the caller
 * holds one reference. */
SKIM_HIDDEN skim_status skim_store_make(skim_backend *be, skim_graph *const *graphs, int n,
                                        skim_store **out);
SKIM_HIDDEN void skim_store_release(skim_store *s);
/* The store a new plan of g uses: `shared` (checked to hold g's weights and states, one
 * more reference) or, when NULL, a new store of g alone. */
SKIM_HIDDEN skim_status skim_store_attach(skim_backend *be, skim_graph *g, skim_store *shared,
                                          skim_store **out);
/* The store slot of weight or state t, or -1. */
static inline int skim_store_slot(const skim_store *s, const skim_tensor *t) {
    return t->id < s->n_ids ? s->slot[t->id] : -1;
}

/* A backend's accounting (graph/memory.c): alloc of skim_mem_counter_init counts the
 * host blocks it hands out; the Vulkan backend reports its device memory. */
typedef struct skim_mem_counter {
    skim_allocator base; /* the caller's allocator */
    size_t host_bytes, host_blocks;
    uint64_t device_bytes, device_blocks;
} skim_mem_counter;
/* *out becomes a counting allocator in front of base (NULL: malloc/free); c must stay put
 * while out is used. */
SKIM_INTERNAL void skim_mem_counter_init(skim_mem_counter *c, const skim_allocator *base,
                                       skim_allocator *out);
SKIM_INTERNAL void skim_mem_counter_device(skim_mem_counter *c, uint64_t bytes, bool add);

struct skim_backend {
    const skim_backend_i *iface;
    void *impl;
    /* Counting (mem) in front of the caller's allocator (mem.base). The skim_backend block
     * itself comes from mem.base and goes back there. */
    skim_allocator alloc;
    skim_mem_counter mem;
    char device[SKIM_MSG_LEN];
    /* No message here: skim_backend_fail keeps it per thread (graph/run.c). */
};

struct skim_plan {
    skim_backend *be;
    skim_graph *graph;
    skim_plan_mode mode;
    uint32_t flags;         /* skim_plan_desc.flags */
    int32_t *param_values;  /* per g->params slot */
    bool *input_set;        /* per g->inputs slot */
    int32_t **sel_host;     /* per g->sels slot: SKIM_SEL_WORDS int32 words after a run */
    skim_sel_stats *sel_stats;
    skim_run_stats stats;
    bool running;           /* run_async started, wait pending */
    bool has_run;
    int64_t submits, recordings; /* set by the backend for the last run */
    int64_t dispatches, barriers; /* set by the backend: what a run records */
    int64_t workgroups;     /* set by the backend: what the last run launched */
    skim_store *store;      /* weights and states (the plan's own when not shared) */
    void *impl;
    char msg[SKIM_MSG_LEN];
};

SKIM_INTERNAL skim_status skim_plan_fail(skim_plan *p, skim_status s, const char *fmt, ...)
    SKIM_PRINTF(3, 4);
SKIM_INTERNAL skim_status skim_backend_fail(skim_backend *be, skim_status s, const char *fmt, ...)
    SKIM_PRINTF(3, 4);
/* Clears the calling thread's message of be (skim_backend_error reads ""). */
SKIM_INTERNAL void skim_backend_clear(const skim_backend *be);

/* Fills p->stats from p->sel_host after a run (graph/stats.c). */
SKIM_INTERNAL void skim_plan_compute_stats(skim_plan *p);

/* The run extent of a tensor: for a tensor bounded by a selection, in SKIP mode, the
 * outermost dimension holds `count` (sel words[0]) rows; otherwise ne. */
SKIM_HIDDEN void skim_tensor_extent(const skim_plan *p, const skim_tensor *t, int64_t ne[4]);

/* Row conversion helpers used by kernels and tests (graph/types.c). */
SKIM_INTERNAL void skim_row_to_f32(skim_type t, const void *src, float *dst, int64_t n);
/* BF16, Q4_K, Q6_K rows to and from floats (graph/quant_k.c); n a multiple of the block. */
SKIM_HIDDEN void skim_quant_k_to_f32(skim_type t, const uint8_t *src, float *dst, int64_t n);
SKIM_HIDDEN void skim_quant_k_from_f32(skim_type t, const float *src, uint8_t *dst, int64_t n);

#endif /* SKIM_IMPL_H */
