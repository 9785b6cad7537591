/* skim.h - the core API of skim: contexts, tensors, ops, graphs, selections, errors.
 *
 * skim is a tensor compute-graph library whose graphs skip work at run time. A graph is
 * built once from builder calls that only record nodes; conditional nodes (head-gates,
 * token-halts, top-k) are resolved on every run into selections, compacted lists of the
 * active indices, and the ops that consume them compute the active rows, heads and tokens
 * only. Running a graph is in skim-backend.h.
 *
 * Conventions
 * - ne[0] is the contiguous dimension (ggml's order); tensors have up to 4 dimensions.
 * - Builders record the first error on the context and return NULL from then on, so a
 *   caller checks once: at skim_graph_build(), or with skim_context_status().
 * - Nothing here aborts, exits or prints. A log callback may be installed.
 * - A context and everything made from it may be used by one thread at a time; separate
 *   contexts are independent. There are no process globals.
 *
 * This header needs only <stddef.h>, <stdint.h> and <stdbool.h> and is C99 and C++ clean.
 */
#ifndef SKIM_H
#define SKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(SKIM_SHARED)
#  ifdef SKIM_BUILD
#    define SKIM_API __declspec(dllexport)
#  else
#    define SKIM_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define SKIM_API __attribute__((visibility("default")))
#else
#  define SKIM_API
#endif

#define SKIM_MAX_DIMS 4
#define SKIM_MAX_SRC 8
#define SKIM_MAX_NAME 64

/* ---------------------------------------------------------------- statuses */

typedef enum skim_status {
    SKIM_OK = 0,
    SKIM_ERR_INVALID_ARG,     /* NULL or malformed argument or desc */
    SKIM_ERR_SHAPE,           /* shapes do not fit the op */
    SKIM_ERR_TYPE,            /* a type the op does not take */
    SKIM_ERR_NOT_CONTIGUOUS,  /* a view where a contiguous tensor is required */
    SKIM_ERR_SELECTION,       /* wrong selection kind, capacity or bound */
    SKIM_ERR_TOO_LARGE,       /* size arithmetic overflows or passes a limit */
    SKIM_ERR_OUT_OF_MEMORY,   /* host allocation failed */
    SKIM_ERR_GRAPH,           /* cycle, aliasing write, foreign tensor, empty graph */
    SKIM_ERR_STATE,           /* call out of order: unplanned run, input never set */
    SKIM_ERR_RANGE,           /* a run parameter or index out of its declared range */
    SKIM_ERR_UNSUPPORTED,     /* the backend or build does not support this */
    SKIM_ERR_IO,              /* a file could not be opened, read or written */
    SKIM_ERR_FORMAT,          /* a file is malformed (GGUF, checkpoint, tokenizer) */
    SKIM_ERR_DEVICE,          /* the device failed (no loader, no device, a feature missing) */
    SKIM_ERR_DEVICE_MEMORY,   /* device memory exhausted */
    SKIM_ERR_DEVICE_LOST,     /* the device was lost; the backend must be destroyed */
    SKIM_STATUS_COUNT
} skim_status;

/* A static string for a status; never NULL, also for values out of range. */
SKIM_API const char *skim_status_str(skim_status s);

/* ---------------------------------------------------------------- types */

typedef enum skim_type {
    SKIM_TYPE_F32 = 0,
    SKIM_TYPE_F16,
    SKIM_TYPE_Q8_0, /* blocks of 32: fp16 scale, 32 x int8 (ggml's layout, 34 bytes) */
    SKIM_TYPE_Q4_0, /* blocks of 32: fp16 scale, 16 bytes of nibbles (ggml's layout, 18 bytes);
                       element j < 16 is the low nibble of byte j, j >= 16 the high nibble of
                       byte j-16; value = (nibble - 8) * scale */
    SKIM_TYPE_I32,
    SKIM_TYPE_BF16, /* the upper 16 bits of an IEEE float (conversion rounds to nearest even) */
    SKIM_TYPE_Q4_K, /* blocks of 256 (ggml's layout, 144 bytes): fp16 d, fp16 dmin, 12 bytes
                       packing eight 6-bit scales and eight 6-bit mins, 128 bytes of nibbles;
                       sub-block j of 32 elements is (nibble * scale_j) * d - min_j * dmin */
    SKIM_TYPE_Q6_K, /* blocks of 256 (ggml's layout, 210 bytes): 128 bytes of low nibbles,
                       64 bytes of high 2-bit pairs, sixteen int8 scales, fp16 d; element
                       i is d * scale[i / 16] * (6-bit q - 32) */
    SKIM_TYPE_COUNT
} skim_type;

SKIM_API const char *skim_type_name(skim_type t);
/* Elements per block (1 for F32, F16, I32, BF16; 32 for Q8_0, Q4_0; 256 for Q4_K, Q6_K) and
 * bytes per block. */
SKIM_API int64_t skim_type_block_size(skim_type t);
SKIM_API size_t skim_type_block_bytes(skim_type t);
/* Bytes of a row of n elements; 0 when n is not a multiple of the block size. */
SKIM_API size_t skim_row_size(skim_type t, int64_t n);

/* IEEE half conversions, round to nearest even. */
SKIM_API uint16_t skim_fp32_to_fp16(float f);
SKIM_API float skim_fp16_to_fp32(uint16_t h);
/* Quantise (or convert) n_rows rows of n_per_row floats into dst of type t (any type
 * but I32). Returns the bytes written, or 0 with nothing written when n_per_row is not a
 * multiple of the block size or t is I32. */
SKIM_API size_t skim_quantize(skim_type t, const float *src, void *dst, int64_t n_rows,
                              int64_t n_per_row);
/* The inverse: n elements of type t (a multiple of its block size) to floats. */
SKIM_API bool skim_dequantize(skim_type t, const void *src, float *dst, int64_t n);

/* ---------------------------------------------------------------- context */

typedef struct skim_context skim_context;
typedef struct skim_tensor skim_tensor;
typedef struct skim_graph skim_graph;

/* One allocator hook with user data (Lua's idea). alloc returns NULL on failure; free
 * accepts NULL. Zeroed: the C library's malloc and free. Allocations are aligned to 16. */
typedef struct skim_allocator {
    void *(*alloc)(void *user, size_t size);
    void (*free)(void *user, void *ptr);
    void *user;
} skim_allocator;

typedef enum skim_log_level {
    SKIM_LOG_DEBUG = 0,
    SKIM_LOG_INFO,
    SKIM_LOG_WARN,
    SKIM_LOG_ERROR
} skim_log_level;

typedef void (*skim_log_fn)(void *user, skim_log_level level, const char *message);

typedef struct skim_context_desc {
    skim_allocator allocator; /* zero: malloc/free */
    skim_log_fn log;          /* zero: silent */
    void *log_user;
    int64_t max_tensors;      /* zero: unlimited; past it, builders fail with TOO_LARGE */
} skim_context_desc;

/* Creates a context. desc may be NULL (all defaults). Returns OK, INVALID_ARG (out_ctx
 * NULL), OUT_OF_MEMORY. *out_ctx is untouched on failure. */
SKIM_API skim_status skim_context_create(const skim_context_desc *desc, skim_context **out_ctx);
/* Frees the context, its tensors and graphs. Plans made from its graphs must be destroyed
 * first. NULL is ignored. */
SKIM_API void skim_context_destroy(skim_context *ctx);
/* The first building error recorded (sticky), and its message ("" when OK). */
SKIM_API skim_status skim_context_status(const skim_context *ctx);
SKIM_API const char *skim_context_error(const skim_context *ctx);
/* Forgets the recorded error so that building can go on. */
SKIM_API void skim_context_clear_error(skim_context *ctx);

/* ---------------------------------------------------------------- tensors */

typedef enum skim_tensor_kind {
    SKIM_KIND_WEIGHT = 0, /* constant data set by the caller, read-only in a run */
    SKIM_KIND_INPUT,      /* data uploaded before each run (skim_plan_set_input) */
    SKIM_KIND_STATE,      /* persistent across runs of a plan (a KV cache); starts filled */
    SKIM_KIND_PARAM,      /* an integer run parameter (skim_plan_set_param) */
    SKIM_KIND_NODE,       /* the result of an op */
    SKIM_KIND_VIEW        /* a view of another tensor's storage */
} skim_tensor_kind;

/* Weights: data may be given now or later with skim_tensor_set_data; the caller keeps it
 * alive and unchanged while any plan of a graph using the tensor exists (the CPU backend
 * reads it in place; the Vulkan backend copies it when planning). n_dims in 1..4,
 * ne[i] >= 1, ne[0] a multiple of the type's block size. */
SKIM_API skim_tensor *skim_new_weight(skim_context *ctx, skim_type type, int n_dims,
                                      const int64_t *ne, const void *data);
SKIM_API skim_tensor *skim_new_input(skim_context *ctx, skim_type type, int n_dims,
                                     const int64_t *ne);
/* A state tensor keeps its contents between runs of a plan; planning (and
 * skim_plan_reset_states) fills every element with `fill` (F32/F16 states; 0 for I32). */
SKIM_API skim_tensor *skim_new_state(skim_context *ctx, skim_type type, int n_dims,
                                     const int64_t *ne, float fill);
/* An integer run parameter in [min, max], `def` until set (e.g. the number of cached
 * tokens). Ops that take a parameter say what it means. */
SKIM_API skim_tensor *skim_new_param(skim_context *ctx, int32_t min, int32_t max, int32_t def);

/* Shorthands for skim_new_weight / skim_new_input. */
SKIM_API skim_tensor *skim_new_weight_2d(skim_context *ctx, skim_type type, int64_t ne0,
                                         int64_t ne1, const void *data);
SKIM_API skim_tensor *skim_new_input_1d(skim_context *ctx, skim_type type, int64_t ne0);
SKIM_API skim_tensor *skim_new_input_2d(skim_context *ctx, skim_type type, int64_t ne0,
                                        int64_t ne1);

/* Sets a weight's data (size must be skim_tensor_nbytes). Returns OK, INVALID_ARG, STATE
 * (not a weight), SHAPE (size mismatch). Not recorded on the context. */
SKIM_API skim_status skim_tensor_set_data(skim_tensor *t, const void *data, size_t size);
/* Names are for messages and traces; copied, truncated to SKIM_MAX_NAME-1. Returns t. */
SKIM_API skim_tensor *skim_tensor_set_name(skim_tensor *t, const char *name);
SKIM_API const char *skim_tensor_name(const skim_tensor *t);
SKIM_API skim_type skim_tensor_type(const skim_tensor *t);
SKIM_API skim_tensor_kind skim_tensor_get_kind(const skim_tensor *t);
SKIM_API int skim_tensor_n_dims(const skim_tensor *t);
SKIM_API int64_t skim_tensor_ne(const skim_tensor *t, int dim);
SKIM_API size_t skim_tensor_nb(const skim_tensor *t, int dim);
SKIM_API int64_t skim_tensor_nelements(const skim_tensor *t);
/* Bytes of the tensor's data if it were contiguous (for a selection: its index storage). */
SKIM_API size_t skim_tensor_nbytes(const skim_tensor *t);
SKIM_API bool skim_tensor_is_contiguous(const skim_tensor *t);
/* The selection that bounds the tensor's rows (its outermost dimension), or NULL. */
SKIM_API skim_tensor *skim_tensor_bound(const skim_tensor *t);

/* ---------------------------------------------------------------- views (free) */

SKIM_API skim_tensor *skim_reshape(skim_context *ctx, skim_tensor *a, int n_dims,
                                   const int64_t *ne);
SKIM_API skim_tensor *skim_reshape_2d(skim_context *ctx, skim_tensor *a, int64_t ne0, int64_t ne1);
SKIM_API skim_tensor *skim_reshape_3d(skim_context *ctx, skim_tensor *a, int64_t ne0, int64_t ne1,
                                      int64_t ne2);
/* A strided window: ne, byte strides nb[1..n_dims-1] (nb[0] is the element size) and a
 * byte offset into a. Must stay inside a. */
SKIM_API skim_tensor *skim_view(skim_context *ctx, skim_tensor *a, int n_dims, const int64_t *ne,
                                const size_t *nb, size_t offset);
/* Dimension i of a becomes dimension axis[i] of the result. Not for bounded tensors. */
SKIM_API skim_tensor *skim_permute(skim_context *ctx, skim_tensor *a, int axis0, int axis1,
                                   int axis2, int axis3);
SKIM_API skim_tensor *skim_transpose(skim_context *ctx, skim_tensor *a);

/* ---------------------------------------------------------------- ops
 * Unless said otherwise: F32 in, F32 out; "rows" are everything but ne[0]; b broadcasts
 * to a when each ne of b divides a's; a result is bounded by its inputs' bound. */

/* w [n_embd, n_rows] (any type but I32), idx I32 [n] -> F32 [n_embd, n]. */
SKIM_API skim_tensor *skim_get_rows(skim_context *ctx, skim_tensor *w, skim_tensor *idx);
SKIM_API skim_tensor *skim_add(skim_context *ctx, skim_tensor *a, skim_tensor *b);
SKIM_API skim_tensor *skim_mul(skim_context *ctx, skim_tensor *a, skim_tensor *b);
SKIM_API skim_tensor *skim_scale(skim_context *ctx, skim_tensor *a, float s);
/* Over ne[0]: x / sqrt(mean(x^2) + eps). */
SKIM_API skim_tensor *skim_rms_norm(skim_context *ctx, skim_tensor *a, float eps);
/* Over ne[0]: (x - mean) / sqrt(var + eps); no affine part (use mul and add). */
SKIM_API skim_tensor *skim_layer_norm(skim_context *ctx, skim_tensor *a, float eps);
/* w [K, M] (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K), x F32 [K, N, B2, B3] ->
 * F32 [M, N, B2, B3]; w's ne[2], ne[3] broadcast over x's. y[m, n] = sum_k w[k, m] x[k, n]. */
SKIM_API skim_tensor *skim_mul_mat(skim_context *ctx, skim_tensor *w, skim_tensor *x);

typedef enum skim_rope_mode {
    SKIM_ROPE_NORM = 0, /* rotate interleaved pairs (x[2i], x[2i+1]) (llama2.c, GGUF llama) */
    SKIM_ROPE_NEOX      /* rotate half-split pairs (x[i], x[i + n_dims/2]) */
} skim_rope_mode;
/* x [head_dim, n_head, n_tok], pos I32 [n_tok]. Rotates the first n_dims (even, <=
 * head_dim) of each head by pos * freq_base^(-2i/n_dims). */
SKIM_API skim_tensor *skim_rope(skim_context *ctx, skim_tensor *x, skim_tensor *pos,
                                skim_rope_mode mode, int n_dims, float freq_base);
/* Softmax over ne[0] of x*scale + mask; mask (may be NULL) F32 [ne0, rows of x or 1...]
 * broadcasts over x's rows. */
SKIM_API skim_tensor *skim_soft_max(skim_context *ctx, skim_tensor *x, skim_tensor *mask,
                                    float scale);
SKIM_API skim_tensor *skim_silu(skim_context *ctx, skim_tensor *a);
/* The tanh approximation, as GPT-2 and ggml. */
SKIM_API skim_tensor *skim_gelu(skim_context *ctx, skim_tensor *a);
SKIM_API skim_tensor *skim_sigmoid(skim_context *ctx, skim_tensor *a);
/* silu(a) * b, same shapes. */
SKIM_API skim_tensor *skim_swiglu(skim_context *ctx, skim_tensor *a, skim_tensor *b);
/* A contiguous copy of a (any view), same type. */
SKIM_API skim_tensor *skim_cont(skim_context *ctx, skim_tensor *a);
/* Copies src into dst (a state or a view of one, same element count, F32 or F16 each),
 * converting the type. Returns a tensor standing for dst after the write: later readers
 * of the written data must use it. */
SKIM_API skim_tensor *skim_cpy(skim_context *ctx, skim_tensor *src, skim_tensor *dst);
/* Index of the largest value of each row (first on ties; NaN counts as largest), I32. */
SKIM_API skim_tensor *skim_argmax(skim_context *ctx, skim_tensor *a);
/* dst [n_embd, n_slots] (a state, F32 or F16, or what an earlier write to it returned),
 * src F32 [n_embd, n], idx I32 [n]: dst[idx[i]] = src[i]. An index outside 0..n_slots-1
 * is skipped and reported by the run (SKIM_ERR_RANGE). Returns dst after the write. */
SKIM_API skim_tensor *skim_set_rows(skim_context *ctx, skim_tensor *dst, skim_tensor *src,
                                    skim_tensor *idx);

/* Causal scaled-dot-product attention, grouped-query.
 *   q      F32 [head_dim, n_head, n_q]
 *   k, v   F32 or F16 [head_dim, n_kv_head, n_k]; n_kv_head divides n_head
 *   q_pos  I32 [n_q]: the position of each query
 *   k_pos  I32 [n_k] or NULL: the position of each key (NULL: key j is at position j)
 *   n_kv   a run parameter or NULL: only keys j < n_kv take part (NULL: all n_k)
 *   kmask  F32 [n_k] or NULL: added to every score of key j (0 or -INFINITY)
 *   heads  a head selection or NULL: unselected heads (or head-token pairs) output zero
 *   scale  0 means 1/sqrt(head_dim)
 * Key j is visible to query i when k_pos[j] <= q_pos[i]. Keys of a tensor bounded by a
 * token selection exist only for the selected tokens. Out: F32 [head_dim, n_head, n_q]. */
/* Sequence mixers: x F32 [C, T] (C channels, T tokens; rows contiguous, not bounded by a
 * selection). In a decode loop their state (skim_new_state) is read as a source, and the
 * part of the result that continues the sequence is written back with skim_cpy.
 *
 * Causal depthwise convolution along tokens with w F32 [K, C] (K taps per channel) and
 * state F32 [C, K-1] (the K-1 tokens before x, oldest first; NULL: zeros; NULL when K is 1):
 *   y[c, t] = sum_{j<K} w[j, c] * xs[c, t + j],  xs = the K-1 state rows, then x.
 * Out: F32 [C, T + K - 1]: rows 0..T-1 are y, rows T..T+K-2 are the last K-1 rows of xs,
 * the state for the next run (view them and skim_cpy them into the state). */
SKIM_API skim_tensor *skim_causal_conv(skim_context *ctx, skim_tensor *x, skim_tensor *w,
                                       skim_tensor *state);

/* Diagonal gated linear recurrence over tokens, per channel c: with x, a, b F32 [C, T]
 * (the same shape) and h F32 [C] (or [C, 1]; NULL: zeros) the value before token 0,
 *   h_t = a_t * h_{t-1} + b_t * x_t,  y_t = h_t.
 * Out: F32 [C, T]; its last row is the state for the next run (skim_cpy it into h).
 * a and b come from the graph (e.g. sigmoid of projections of the block's input). */
SKIM_API skim_tensor *skim_linear_rec(skim_context *ctx, skim_tensor *x, skim_tensor *a,
                                      skim_tensor *b, skim_tensor *h);

typedef struct skim_attn_desc {
    skim_tensor *q, *k, *v;
    skim_tensor *q_pos, *k_pos;
    skim_tensor *n_kv;
    skim_tensor *kmask;
    skim_tensor *heads;
    float scale;
} skim_attn_desc;
SKIM_API skim_tensor *skim_attn(skim_context *ctx, const skim_attn_desc *desc);

/* ---------------------------------------------------------------- selections
 * A selection is a runtime list of active indices: a capacity (fixed when built), a count
 * (known at run time), and `count` ascending indices. A grouped selection holds one such
 * list per group. Selections are tensors of their own kind: pass them to the consumers
 * below. A NaN score never skips work: the index stays active and the run counts it. */

typedef enum skim_sel_kind {
    SKIM_SEL_HEADS = 1,  /* one group: the active heads */
    SKIM_SEL_HEAD_TOKENS,/* one group per head: the tokens (rows) for which the head is active */
    SKIM_SEL_TOKENS      /* one group: the active tokens (rows) */
} skim_sel_kind;

/* Heads with score >= tau. scores F32 [n_head] -> HEADS (capacity n_head);
 * scores F32 [n_head, n_tok] -> HEAD_TOKENS (n_head groups of capacity n_tok). */
SKIM_API skim_tensor *skim_head_gate(skim_context *ctx, skim_tensor *scores, float tau);
/* Tokens of prev (all when prev is NULL) with p_halt < tau: a TOKENS selection with the
 * capacity of prev (or of p_halt's length). p_halt F32 [n] is either bounded by prev (its
 * entry i belongs to token prev[i]) or full-length. */
SKIM_API skim_tensor *skim_token_halt(skim_context *ctx, skim_tensor *p_halt, float tau,
                                      skim_tensor *prev);
/* The k highest of scores F32 [n] (ties: lower index first): TOKENS, capacity n. */
SKIM_API skim_tensor *skim_select_topk(skim_context *ctx, skim_tensor *scores, int k);

SKIM_API bool skim_tensor_is_selection(const skim_tensor *t);
SKIM_API skim_sel_kind skim_selection_kind(const skim_tensor *sel);
SKIM_API int32_t skim_selection_capacity(const skim_tensor *sel); /* per group */
SKIM_API int32_t skim_selection_groups(const skim_tensor *sel);

/* Gathers the selected rows of x [.., n] (sel TOKENS, capacity n) into a tensor of the
 * same shape whose rows are bounded by sel: ops on it run on `count` rows only. */
SKIM_API skim_tensor *skim_get_rows_sel(skim_context *ctx, skim_tensor *x, skim_tensor *sel);
/* x [d, n] plus compact y [d, n] bounded by sel: x[sel[i]] += y[i]; other rows of x pass
 * through bit-exactly. The result is unbounded. */
SKIM_API skim_tensor *skim_scatter_add_sel(skim_context *ctx, skim_tensor *x, skim_tensor *y,
                                           skim_tensor *sel);
/* mul_mat over the output row blocks (of `block` rows: a head) listed in a head
 * selection; unlisted blocks are zero. With HEAD_TOKENS, head h's block is computed for
 * that head's tokens only. w [K, M] with M = n_head * block, x [K, N]. */
SKIM_API skim_tensor *skim_mul_mat_sel(skim_context *ctx, skim_tensor *w, skim_tensor *x,
                                       skim_tensor *sel, int block);
/* mul_mat contracting only over the listed column blocks of w [K, M] (K = n_head *
 * block): y[m, n] = sum over listed h of sum_{k in block h} w[k, m] x[k, n]. */
SKIM_API skim_tensor *skim_mul_mat_sel_k(skim_context *ctx, skim_tensor *w, skim_tensor *x,
                                         skim_tensor *sel, int block);

/* ---------------------------------------------------------------- graphs */

/* Collects every tensor the outputs depend on, validates (shapes, types, cycles, aliasing
 * writes, foreign tensors), orders, and plans intermediate memory by liveness. Outputs
 * stay readable after a run. Fails with the context's recorded error if there is one.
 * The graph belongs to the context (freed with it) but may be destroyed earlier. */
SKIM_API skim_status skim_graph_build(skim_context *ctx, skim_tensor *const *outputs,
                                      int n_outputs, skim_graph **out_graph);
SKIM_API void skim_graph_destroy(skim_graph *g);
SKIM_API int skim_graph_n_nodes(const skim_graph *g);
SKIM_API skim_tensor *skim_graph_node(const skim_graph *g, int i);
/* Bytes of the intermediate arena, and what the intermediates would need without reuse. */
SKIM_API size_t skim_graph_arena_size(const skim_graph *g);
SKIM_API size_t skim_graph_unshared_size(const skim_graph *g);

#ifdef __cplusplus
}
#endif
#endif /* SKIM_H */
