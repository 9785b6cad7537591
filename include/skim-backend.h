/* skim-backend.h - running a graph: backends, plans, runs, outputs, run stats.
 *
 * A backend (CPU: skim-cpu.h, Vulkan: skim-vulkan.h) plans a built graph once: memory for
 * intermediates, weights placed, and on Vulkan the command buffer recorded. A plan then
 * runs many times; between runs the caller sets inputs and run parameters.
 *
 * Threads: one plan is used by one thread at a time, and plans of one backend may be
 * created, run and destroyed on different threads at once (the backend locks what they
 * share).
 *
 * Every call returns a status; on failure the plan's message (skim_plan_error) or the
 * backend's (skim_backend_error) says why, and the caller's buffers are untouched.
 */
#ifndef SKIM_BACKEND_H
#define SKIM_BACKEND_H

#include "skim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct skim_backend skim_backend;
typedef struct skim_plan skim_plan;

/* Frees the backend. Its plans must be destroyed first. NULL is ignored. */
SKIM_API void skim_backend_destroy(skim_backend *be);
/* "cpu", "vulkan". */
SKIM_API const char *skim_backend_name(const skim_backend *be);
/* A line describing the device ("lavapipe (LLVM 15.0.6, 256 bits), Vulkan 1.3"). */
SKIM_API const char *skim_backend_device(const skim_backend *be);
/* The message of the calling thread's last failed call on be ("" when none, or after a
 * successful plan or store creation). It is per thread, as errno is: two threads failing
 * on one backend at once each read their own. Valid until that thread's next call on be. */
SKIM_API const char *skim_backend_error(const skim_backend *be);
/* Whether the backend runs this node (an op result or view); no silent fallback. */
SKIM_API bool skim_backend_supports(skim_backend *be, const skim_tensor *node);

typedef enum skim_plan_mode {
    SKIM_MODE_SKIP = 0,    /* default: selections compact the work */
    SKIM_MODE_MASKED_DENSE /* the reference: compute everything, mask skipped results */
} skim_plan_mode;

typedef struct skim_store skim_store;

/* Plan options (skim_plan_desc.flags), each off by default. */
enum {
    /* Products with Q8_0, Q4_0, Q4_K or Q6_K weights and at most 64 x rows per matrix (x's
     * ne[1] <= 64, a static shape: decode and small batches) round their activations to
     * 8 bits first and sum products in integers.
     * Q8_0 and Q4_0: each run of 32 values of an x row becomes int8 q = rint(x / d),
     * d = max|x| / 127 (a float), and each block's dot product is summed in integers.
     * Q4_K and Q6_K: each run of 256 values (one super-block, counted from the start of
     * the contraction range) becomes int8 q = rint(x * (1 / d_s)), d_s = max|x| / 127
     * (ties to even), and the super-block s is summed in int32 (exact): Q4_K (weights
     * d sc q' - dmin m, a 6-bit sc and m per 32 values) isum_s = sum over its 8 blocks of
     * sc * sum(q' q), msum_s = sum of m * sum(q); y = a - m, a summing
     * fma((d d_s), isum_s) and m summing fma((dmin d_s), msum_s) over the super-blocks in
     * order. Q6_K (weights d sc_i (q' - 32), an int8 scale per 16) S_s = sum over its 16
     * sub-blocks of sc_i * sum((q' - 32) q); y sums fma((d d_s), S_s) in order. Each scale
     * product rounds once, each integer sum is rounded to float (to nearest even; exact
     * below 2^24), and is added with a fused multiply-add, the same bits on every CPU.
     * This applies to contraction ranges of whole super-blocks of 256 (mul_mat,
     * mul_mat_sel; mul_mat_sel_k when its head block is a multiple of 256); other ranges
     * stay exact.
     * Every output is that of its x row alone (as if the product had one x row). Products
     * with more x rows are left exact. Faster on the CPU (integer dot products), less
     * exact: per output the extra error is at most sum over blocks (K quants: super-blocks)
     * of (d / 2) * sum |w| (plus float rounding); a block (super-block) holding an
     * infinity or a NaN gives NaN. Results still do not depend on the thread count.
     * On Vulkan: plain products (mul_mat) with Q8_0 or Q4_0 weights and one x row only,
     * on devices with subgroup arithmetic (skim_vulkan_info.quantized_activations); it
     * ignores the flag elsewhere (Q4_K and Q6_K weights, head-selected products,
     * 2..64 x rows: exact there). */
    SKIM_PLAN_QUANTIZED_ACTIVATIONS = 1u << 0,
    /* Products with F16 weights computed in half precision, for GPUs whose f16 arithmetic
     * is faster than their f32 (packed f16: AMD, Arm Mali, Qualcomm Adreno, Apple-class
     * mobile parts), where a prefill product is bound by arithmetic.
     * Where: on Vulkan, plain products (mul_mat, not the head-selected mul_mat_sel and
     * mul_mat_sel_k) with F16 weights and F32 x of at least 32 x rows per matrix (x's
     * ne[1] >= 32: prefill), K (ne[0]) a multiple of 4, and x's rows contiguous and
     * starting at multiples of 4 elements (a plain or fused product's x; a view of x that
     * starts elsewhere does not qualify); a fused epilogue (bias, activation) still
     * follows in f32. Every other product stays exact (f32 arithmetic), as do all
     * products of a matrix-vector form (fewer than 32 x rows: bound by memory, not by
     * arithmetic) and every product on the CPU backend, which ignores the flag.
     * The rule, per output y = sum over k of w[k] x[k]:
     * - x[k] is rounded to the nearest f16 (ties to even): from 65520 in magnitude on it
     *   becomes an infinity of its sign; NaN stays NaN; below 2^-14 it becomes a
     *   multiple of 2^-24 (an f16 subnormal, or zero);
     * - k is taken in runs of 8 (k = 8j .. 8j + 7; when K is 4 mod 8 the last run has
     *   4, its missing products are 0 * 0). In a run, each product p_i = w x of element
     *   i is rounded to f16, the lane sums a_i = p_i + p_(i+4) (i = 0..3) are rounded to
     *   f16, then s = (a_0 + a_1) + (a_2 + a_3) with each sum rounded to f16;
     * - each run's s is added to y in f32 arithmetic, runs in order of k, y starting
     *   at 0.
     * Where no f16 product or sum reaches 65520 in magnitude and K <= 65536:
     *   |y - sum_k w[k] x[k]| <= 2^-8 * sum_k |w[k] x[k]| + 2^-24 * sum_k (|w[k]| + 1).
     * Else the output is an infinity or NaN, as the rule gives; a NaN or infinite x[k]
     * (or one past f16's range) or w[k] makes the output NaN or infinite.
     * Devices: with shaderFloat16 (skim_vulkan_info.path_float16) in f16 arithmetic;
     * without it the same rule in f32 arithmetic with each value rounded to f16 (slower
     * than the exact product: it is there for the same results on every device). Both
     * give the same bits where the device's f16 arithmetic rounds to nearest even and
     * keeps f16 subnormals (NaN payloads aside), as Vulkan allows but does not require.
     * A device that rounds f16 toward zero or flushes f16 subnormals stays within twice
     * the first term of the bound plus 2^-12 * K; one that keeps some f16 results at
     * f32 precision, as lavapipe (Mesa 22.3.6) does with products and their sums, within
     * the bound, with other bits than the rule's. */
    SKIM_PLAN_HALF_PRODUCTS = 1u << 1
};

typedef struct skim_plan_desc {
    skim_plan_mode mode;
    /* Where the plan's weights and states live: NULL gives the plan a store of its own
     * (its weights placed for it alone, its states private); a store from
     * skim_store_create shares both with the other plans made with it. */
    skim_store *store;
    uint32_t flags; /* SKIM_PLAN_* options; zero: none */
} skim_plan_desc;

/* ---------------------------------------------------------------- stores
 * A store holds, on one backend, the weights and the states of one or more graphs of
 * one context, once, for every plan created with it (skim_plan_desc.store), as ggml's
 * backend buffers do: two plans of a model (decode, prefill) do not hold its weights
 * twice, and a state tensor used by several graphs is one buffer, so what a run of one
 * plan writes into it (a prefill filling a KV cache) is what the next run of another
 * plan reads. On the CPU backend the weights are read where their data is (in place,
 * e.g. in a memory-mapped GGUF: no copy); on Vulkan they are uploaded once, when the
 * store is created; states are allocated and filled with their fill values then.
 * Plans of one store may be created, run and destroyed on different threads, as plans of
 * one backend may; but plans that share a state must not run at the same time (one
 * writes what the other reads), and skim_store_reset_states refuses while any runs. */

/* Creates a store for every weight and state of graphs[0 .. n_graphs-1], which must be
 * of one context and outlive the store. Returns OK, INVALID_ARG (NULL, n_graphs < 1,
 * graphs of different contexts), STATE (a context with an error, a weight without
 * data), OUT_OF_MEMORY, DEVICE_MEMORY, TOO_LARGE (a tensor past the most one device
 * allocation holds), DEVICE; skim_backend_error says why. */
SKIM_API skim_status skim_store_create(skim_backend *be, skim_graph *const *graphs, int n_graphs,
                                       skim_store **out_store);
/* Releases the caller's reference: the memory goes when the last plan using the store is
 * destroyed too. NULL is ignored. Destroy stores before their backend. */
SKIM_API void skim_store_destroy(skim_store *s);
/* Refills every state of the store with its fill value. STATE while a plan using the
 * store is running. */
SKIM_API skim_status skim_store_reset_states(skim_store *s);
/* Bytes the store holds on its backend: weights (0 on the CPU, which reads them in
 * place) and states. */
SKIM_API skim_status skim_store_query_bytes(const skim_store *s, uint64_t *weight_bytes,
                                            uint64_t *state_bytes);

/* Plans graph g on backend be. desc may be NULL. Returns OK, INVALID_ARG (also: a
 * desc.store of another backend or another context, or lacking one of g's weights or
 * states, naming it; unknown flags), STATE (graph of a context with an error),
 * UNSUPPORTED (naming the op), OUT_OF_MEMORY, TOO_LARGE, DEVICE_MEMORY, DEVICE. The
 * graph must outlive the plan. */
SKIM_API skim_status skim_plan_create(skim_backend *be, skim_graph *g, const skim_plan_desc *desc,
                                      skim_plan **out_plan);
SKIM_API void skim_plan_destroy(skim_plan *p);
SKIM_API const char *skim_plan_error(const skim_plan *p);

/* Copies size bytes (exactly skim_tensor_nbytes) into an input tensor of the graph; they
 * are used by every later run until set again. Returns OK, INVALID_ARG (NULL, not an input
 * of this graph), SHAPE (size). */
SKIM_API skim_status skim_plan_set_input(skim_plan *p, const skim_tensor *input, const void *data,
                                         size_t size);
/* Sets a run parameter of the graph. RANGE when outside [min, max]. */
SKIM_API skim_status skim_plan_set_param(skim_plan *p, const skim_tensor *param, int32_t value);
/* Refills every state tensor of the plan's graph with its fill value (a new sequence);
 * states shared through a store are refilled for every plan using them. */
SKIM_API skim_status skim_plan_reset_states(skim_plan *p);

/* Runs the plan and waits. STATE when an input was never set; RANGE when a set_rows index
 * was out of range (the rest of the run completed); DEVICE_LOST. */
SKIM_API skim_status skim_plan_run(skim_plan *p);
/* Starts a run and returns (on the CPU backend it runs to completion here). Then
 * skim_plan_wait before reading outputs or starting another run. */
SKIM_API skim_status skim_plan_run_async(skim_plan *p);
SKIM_API skim_status skim_plan_wait(skim_plan *p);

/* Copies a tensor of the graph after a run: outputs always; states; inputs. For F32, F16
 * and I32 tensors. size must equal skim_tensor_nbytes. */
SKIM_API skim_status skim_plan_get_output(skim_plan *p, const skim_tensor *t, void *dst,
                                          size_t size);
/* Copies a selection of the last run: counts[groups], then for each group g the indices
 * idx[g * capacity + i] for i < counts[g]. Buffers must hold groups and groups*capacity
 * entries; idx may be NULL. */
SKIM_API skim_status skim_plan_get_selection(skim_plan *p, const skim_tensor *sel, int32_t *counts,
                                             int32_t *idx);

/* ---------------------------------------------------------------- run stats */

typedef struct skim_sel_stats {
    const skim_tensor *sel;
    int64_t count;    /* active entries, summed over groups */
    int64_t capacity; /* groups * capacity */
    int64_t nan_count;/* NaN scores that were kept active */
} skim_sel_stats;

/* What the last run executed against what the dense graph would have.
 * head-ops: (head, query) pairs of every attention op;
 * token-layer ops: query rows of every attention op (one per token per block);
 * flops: multiply-adds counted as 2 for every op. */
typedef struct skim_run_stats {
    int n_selections;
    const skim_sel_stats *selections; /* owned by the plan, valid until its next run */
    int64_t head_ops_executed, head_ops_dense;
    int64_t token_layer_ops_executed, token_layer_ops_dense;
    double flops_executed, flops_dense;
    int64_t nan_scores;
    int64_t runs;             /* runs of this plan so far */
    int64_t submits;          /* queue submissions made by the last run (0 on the CPU) */
    /* Command buffers begun (vkBeginCommandBuffer calls) by the last run, from its start
     * until its wait returned; the first run also reports those the plan began when it
     * was created (its recording: the plan's work and the primary that executes it).
     * Uploads and downloads through a staging buffer inside a run count too. 0 on the CPU. */
    int64_t recordings;
    int64_t dispatches;       /* compute dispatches the last run recorded, indirect ones with a
                                 count of zero included (0 on the CPU) */
    int64_t barriers;         /* pipeline barriers between those dispatches (0 on the CPU) */
    /* Sublayers a model builder left out of the graph (skim_model_desc drop_attn and
     * drop_mlp), summed over runs by the model's sessions; 0 from a plan. */
    int64_t sublayers_dropped;
    /* Compute workgroups the last run launched: the grids of its direct dispatches, and of
     * its indirect dispatches as the run's selections made them (0 on the CPU). */
    int64_t workgroups;
} skim_run_stats;

SKIM_API skim_status skim_plan_get_stats(const skim_plan *p, skim_run_stats *out);

/* ---------------------------------------------------------------- memory in use */

/* What a backend holds now, from its own accounting (for leak and soak checks).
 * host: blocks from the backend's allocator (skim_cpu_desc / skim_vulkan_desc .allocator)
 *   not yet freed: the backend's structures, its plans, CPU arenas, inputs and states. The
 *   bytes are those skim asked for; each block asks the caller's allocator for 16 bytes
 *   more (the size is kept in front of the block). The skim_backend object itself is not
 *   counted. Contexts, graphs and models use their own allocators and are not counted.
 * device: VkDeviceMemory allocated and not freed (Vulkan; zero on the CPU). Memory the
 *   driver takes for itself (through VkAllocationCallbacks or not) is not counted. */
typedef struct skim_memory_stats {
    size_t host_bytes;
    size_t host_blocks;
    uint64_t device_bytes;
    uint64_t device_blocks;
} skim_memory_stats;

/* Fills *out. Returns OK, INVALID_ARG (NULL). May be called from any thread, also while
 * a plan of the backend runs (the counters are atomic). */
SKIM_API skim_status skim_backend_query_memory(const skim_backend *be, skim_memory_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* SKIM_BACKEND_H */
