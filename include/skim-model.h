/* skim-model.h - llama-family and gated models from GGUF files, and a runtime around them.
 *
 * A skim_model holds the hyper-parameters and the weights of a GGUF file (used in place:
 * the tensors point into the mapped file) and two graphs built once from them, sharing
 * the weight tensors:
 *
 * - the decode graph: one token per run at a position given as an input, a KV cache per
 *   block (state tensors written with skim_set_rows at that position; attention reads the
 *   keys 0..n_kv-1, n_kv a run parameter; grouped-query heads);
 * - the prefill graph: a window of up to n_batch tokens at positions 0..n-1, causal
 *   attention within the window, logits for every position; it also writes the window's
 *   keys and values (and the gated model's key masks) into the decode graph's caches;
 * - prefill chunks of 16, 64, 256, ... tokens below n_batch and of n_batch (not public):
 *   the decode graph's form for several tokens at once, each chunk writing its keys and
 *   values into the caches and attending to every cached position before it and causally
 *   within itself; the logits of one row (the last token's).
 * A session places every graph's weights and caches in one skim_store (skim-backend.h),
 * so a prompt of any length is fed chunk by chunk and decode goes on from there.
 *
 * Architectures (general.architecture):
 * - "llama": RMSNorm, RoPE in NORM mode (interleaved pairs), grouped-query attention,
 *   SwiGLU feed-forward, tied (no output.weight) or separate classifier. Keys as written
 *   by tools/convert_llama2c and llama.cpp: llama.embedding_length, ... .
 * - "skim-gated": assets/README.md's model: plain GELU feed-forward, a per-token head gate
 *   in every block (skim_head_gate on sigmoid scores -> HEAD_TOKENS; Q through
 *   skim_mul_mat_sel, attention for the active heads only, the output projection through
 *   skim_mul_mat_sel_k) and a halting MLP before blocks >= skim.halt.first_block
 *   (skim_token_halt chained over the blocks; the active tokens are gathered with
 *   skim_get_rows_sel and their updates added back with skim_scatter_add_sel). Halted
 *   tokens are absent as keys: in prefill the keys are bounded by the block's selection;
 *   in decode each block has a key-mask state (filled with -INFINITY, set to 0 by
 *   skim_set_rows for the tokens that ran the block) passed to skim_attn as kmask.
 *   With desc.dense ("gates off") the gated model is built WITHOUT any selection: every
 *   head runs, no token halts, the gate and halting weights are not used.
 *
 * Nothing here aborts, exits or prints. A model is immutable once loaded; a session is
 * used by one thread at a time.
 */
#ifndef SKIM_MODEL_H
#define SKIM_MODEL_H

#include "skim-backend.h"
#include "skim-gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum skim_model_arch {
    SKIM_ARCH_LLAMA = 0,
    SKIM_ARCH_GATED
} skim_model_arch;

typedef enum skim_model_ffn {
    SKIM_FFN_SWIGLU = 0, /* down(silu(gate x) * up x) */
    SKIM_FFN_GELU        /* down(gelu(up x)), tanh approximation */
} skim_model_ffn;

typedef struct skim_model_hparams {
    skim_model_arch arch;
    skim_model_ffn ffn;
    int32_t n_vocab;
    int32_t n_ctx_train; /* the file's context length */
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_ff;
    int32_t rope_dims;
    float rope_base;
    float eps;
    bool tied;           /* the classifier is token_embd */
    /* Gated only. */
    float gate_tau;      /* heads with score >= gate_tau run */
    float halt_tau;      /* tokens with p_halt >= halt_tau halt */
    int32_t halt_hidden;
    int32_t halt_first;  /* first block with a halting MLP */
} skim_model_hparams;

typedef struct skim_model skim_model;

/* Zero means default. */
typedef struct skim_model_desc {
    skim_allocator allocator; /* zero: malloc/free; the graphs' contexts use it too */
    int32_t n_ctx;            /* positions of the decode cache; zero: the file's */
    int32_t n_batch;          /* tokens of the prefill window; zero: n_ctx; -1: no prefill */
    bool dense;               /* gated model: build without gates (see above) */
    float gate_tau, halt_tau; /* gated model: thresholds; zero: the file's */
    /* Every node of the prefill graph becomes an output, for golden comparisons between
     * backends (costs memory: no arena reuse); prompts then run through that one window,
     * not the smaller ones. */
    bool debug_outputs;
    /* Layer drop: bit l set leaves block l's attention (drop_attn) or feed-forward
     * (drop_mlp) sublayer out of both graphs: the residual stream passes the block's
     * sublayer unchanged and nothing of it is computed or cached. A bit past n_layer is
     * INVALID_ARG. The sessions' stats count the dropped sublayers (sublayers_dropped)
     * and keep them in the dense figures (head_ops_dense and token_layer_ops_dense with
     * every head and token; flops_dense with their matrix products and attention, not
     * their norms and elementwise ops), so that the saving shows as for skipped heads. */
    uint64_t drop_attn, drop_mlp;
    /* A static head mask: n_layer * n_head values, block-major; head j of block l is
     * pruned when head_mask[l * n_head + j] < 0.5 (a NaN keeps it, as in every gate).
     * It is a head-gate whose scores never change: the llama builder gates Q, attention
     * and the output projection of each block by skim_head_gate on a weight holding the
     * block's mask as 0/1 scores with tau 0.5; the gated builder multiplies its gate's
     * scores by them (a pruned head's score becomes 0). Copied at load. NULL: none. */
    const float *head_mask;
} skim_model_desc;

#define SKIM_MODEL_MSG_LEN 256

/* The text forms of the layer choices. A layer list is blocks and ranges separated by
 * commas ("3,5-7"; "" is none) of a model with n_layer (1 to 64) blocks, written to *out
 * as drop_attn / drop_mlp bits: INVALID_ARG for malformed text, RANGE for a block past
 * n_layer. A head-mask file holds n_layer * n_head numbers separated by white space,
 * block-major ('#' starts a comment to the end of the line), read into out: IO, FORMAT
 * (not numbers, or not exactly that many). Nothing is written to *out / out on failure. */
SKIM_API skim_status skim_model_parse_layers(const char *list, int n_layer, uint64_t *out,
                                             char *msg, size_t msg_size);
SKIM_API skim_status skim_model_read_head_mask(const char *path, int n_layer, int n_head,
                                               float *out, char *msg, size_t msg_size);

/* Loads a model from an open GGUF file, which must outlive the model (its tensor data is
 * used in place). desc may be NULL. msg (may be NULL) receives why on failure. Returns
 * OK, INVALID_ARG, FORMAT (missing or malformed keys and tensors, naming them),
 * UNSUPPORTED (an architecture or tensor type skim does not run), OUT_OF_MEMORY, or a
 * graph building status. *out is untouched on failure. */
SKIM_API skim_status skim_model_load(const skim_gguf *g, const skim_model_desc *desc,
                                     skim_model **out, char *msg, size_t msg_size);
/* The same from a file path; the model owns the opened file. */
SKIM_API skim_status skim_model_load_file(const char *path, const skim_model_desc *desc,
                                          skim_model **out, char *msg, size_t msg_size);
/* Sessions of the model must be destroyed first. NULL is ignored. */
SKIM_API void skim_model_destroy(skim_model *m);

SKIM_API const skim_model_hparams *skim_model_get_hparams(const skim_model *m);
SKIM_API const skim_gguf *skim_model_gguf(const skim_model *m);
SKIM_API bool skim_model_is_dense(const skim_model *m);
/* Cache positions (decode) and window (prefill; 0 when built without prefill). */
SKIM_API int32_t skim_model_n_ctx(const skim_model *m);
SKIM_API int32_t skim_model_n_batch(const skim_model *m);
/* The layer choices of the desc: whether block `layer`'s attention (mlp false) or
 * feed-forward (mlp true) sublayer was dropped, and whether head `head` of it is pruned
 * by the static head mask. false when out of range. */
SKIM_API bool skim_model_sublayer_dropped(const skim_model *m, int layer, bool mlp);
SKIM_API bool skim_model_head_pruned(const skim_model *m, int layer, int head);
/* The graphs, for callers that plan them themselves (NULL for a missing prefill). */
SKIM_API skim_graph *skim_model_decode_graph(const skim_model *m);
SKIM_API skim_graph *skim_model_prefill_graph(const skim_model *m);
/* The prefill graph's residual stream after block `layer` (layer == n_layer: the final
 * norm's input is the same as block n_layer-1's output), F32 [n_embd, n_batch]; and its
 * logits [n_vocab, n_batch]. NULL when out of range or built without prefill. */
SKIM_API skim_tensor *skim_model_prefill_hidden(const skim_model *m, int layer);
SKIM_API skim_tensor *skim_model_prefill_logits(const skim_model *m);
SKIM_API skim_tensor *skim_model_prefill_tokens(const skim_model *m);
/* Block `layer`'s decode states, F32: which 0 the K cache and 1 the V cache [kv_dim,
 * n_ctx], 2 the gated model's key mask [1, n_ctx]; readable with skim_plan_get_output on
 * a session's decode plan. NULL when out of range or absent (a dropped attention, a block
 * without halting). */
SKIM_API skim_tensor *skim_model_cache(const skim_model *m, int layer, int which);

/* ---------------------------------------------------------------- sessions */

typedef struct skim_session skim_session;

typedef struct skim_session_desc {
    skim_plan_mode mode; /* SKIP (default) or the masked-dense reference */
    uint32_t plan_flags; /* skim_plan_desc.flags of both plans (SKIM_PLAN_*) */
} skim_session_desc;

/* Plans the model's graphs on be (which must outlive the session). desc may be NULL.
 * Returns OK, INVALID_ARG, OUT_OF_MEMORY or a planning status (msg says why). */
SKIM_API skim_status skim_session_create(skim_model *m, skim_backend *be,
                                         const skim_session_desc *desc, skim_session **out,
                                         char *msg, size_t msg_size);
SKIM_API void skim_session_destroy(skim_session *s);
SKIM_API const char *skim_session_error(const skim_session *s);

/* Starts a new sequence: empties the cache. */
SKIM_API skim_status skim_session_reset(skim_session *s);
/* Positions used so far in the cache. */
SKIM_API int32_t skim_session_n_past(const skim_session *s);
/* Runs one token at position n_past through the decode graph and advances n_past;
 * logits (may be NULL) receives n_vocab floats. RANGE when the cache is full. */
SKIM_API skim_status skim_session_decode(skim_session *s, int32_t token, float *logits);
/* Feeds n tokens at positions n_past..n_past+n-1, at the start of a sequence or after
 * earlier tokens; logits (may be NULL) receives those of the last one. The tokens run in
 * prefill chunks (16, 64, 256, ... or n_batch tokens; the last chunk may be padded past
 * the prompt into free cache positions), each attending to the cache before it, chosen to
 * compute the fewest rows (a run counting as 8 rows); one or two tokens, or a model built
 * without prefill, run as decode steps. RANGE (and nothing fed) for a token id out of
 * range or past n_ctx. The first use of a chunk size plans it (a planning status then). */
SKIM_API skim_status skim_session_prompt(skim_session *s, const int32_t *tokens, int32_t n,
                                         float *logits);
/* Runs tokens[0..n-1] at positions 0..n-1 through the prefill graph, the full n_batch
 * window whose tensors skim_model_prefill_* name (planned by the first call; n <= n_batch; the
 * window is padded after the n tokens, which causal attention keeps from changing them)
 * and starts a new sequence from them: the caches hold positions 0..n-1 and n_past
 * becomes n, so skim_session_decode goes on at position n. logits (may be NULL) receives
 * n * n_vocab floats. */
SKIM_API skim_status skim_session_prefill(skim_session *s, const int32_t *tokens, int32_t n,
                                          float *logits);
/* Reads back the prefill graph's tensor t (an output) after skim_session_prefill. */
SKIM_API skim_status skim_session_prefill_read(skim_session *s, const skim_tensor *t, void *dst,
                                               size_t size);

/* What the last decode step did: depth = the blocks the token ran (n_layer when it never
 * halted), head_mask[l] = bit j set when head j ran in block l (0 for blocks not run and
 * for a dropped attention sublayer). */
typedef struct skim_token_trace {
    int32_t depth;
    uint64_t head_mask[64];
} skim_token_trace;
SKIM_API skim_status skim_session_last_trace(skim_session *s, skim_token_trace *out);

/* Run stats summed over every decode step (decode = true) or prefill run since the
 * session was created (skim_session_reset keeps them); `selections` is NULL in the sums. */
SKIM_API skim_status skim_session_get_stats(const skim_session *s, bool decode,
                                            skim_run_stats *out);
/* What the session holds on its backend, by part: the store's weights (0 on the CPU,
 * which reads them in place) and states (the KV caches and key masks), and the arenas of
 * the graphs planned so far (skim_graph_arena_size summed: a plan is made when a chunk
 * size or the prefill window is first used). Any pointer may be NULL. */
SKIM_API skim_status skim_session_query_bytes(const skim_session *s, uint64_t *weights,
                                              uint64_t *states, uint64_t *arenas);
/* The plans, for callers that want them (the prefill plan: NULL until the first
 * skim_session_prefill, or for a missing prefill). */
SKIM_API skim_plan *skim_session_decode_plan(const skim_session *s);
SKIM_API skim_plan *skim_session_prefill_plan(const skim_session *s);

#ifdef __cplusplus
}
#endif
#endif /* SKIM_MODEL_H */
