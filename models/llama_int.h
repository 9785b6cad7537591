/* llama_int.h - the model object shared by models/llama*.c (not installed). */
#ifndef SKIM_LLAMA_INT_H
#define SKIM_LLAMA_INT_H

#include "skim-model.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define SKIM_LLAMA_MAX_LAYERS 64
/* Prefill chunks (cached form): 16, 64, 256, ... tokens below n_batch, then n_batch. */
#define SKIM_LLAMA_MIN_WINDOW 16
#define SKIM_LLAMA_WINDOW_STEP 4
#define SKIM_LLAMA_MAX_WINDOWS 8

typedef struct skim_llama_layer {
    skim_tensor *attn_norm, *wq, *wk, *wv, *wo;
    skim_tensor *ffn_norm, *ffn_gate, *ffn_up, *ffn_down;
    /* skim-gated */
    skim_tensor *gate_w, *gate_b;
    skim_tensor *halt_norm, *halt_up, *halt_up_b, *halt_down, *halt_down_b;
    /* a block whose attention is a linear recurrence (assets/README.md section 9) */
    skim_tensor *rec_x, *rec_a, *rec_a_b, *rec_b, *rec_b_b, *rec_out;
    skim_tensor *rec_state; /* its state [n_embd, 1] */
    /* decode states: K and V caches [kv_dim, n_ctx], key mask [1, n_ctx] (gated) */
    skim_tensor *k_cache, *v_cache, *kmask;
} skim_llama_layer;

/* The tensors of one built graph that the session touches. */
typedef struct skim_llama_graph {
    skim_graph *graph;
    skim_tensor *tokens, *pos, *n_kv; /* n_kv: cached form only */
    skim_tensor *last; /* I32 [1], the last real token's row: a chunk's logits and the
                        * recurrences' state (chunks, and the window with recurrences) */
    skim_tensor *logits;
    skim_tensor *hidden[SKIM_LLAMA_MAX_LAYERS];
    skim_tensor *tok_sel[SKIM_LLAMA_MAX_LAYERS];  /* token selection per block, or NULL */
    skim_tensor *head_sel[SKIM_LLAMA_MAX_LAYERS]; /* head selection per block, or NULL */
    /* the state writes, outputs: caches in prefill, recurrence states in both graphs */
    skim_tensor *writes[3 * SKIM_LLAMA_MAX_LAYERS];
    int n_writes;
    int32_t n_tokens;
} skim_llama_graph;

struct skim_model {
    skim_allocator alloc;
    skim_gguf *owned;
    const skim_gguf *gguf;
    skim_model_hparams hp;
    bool dense, gated; /* gated: the graph has selections */
    int32_t n_ctx, n_batch;
    skim_context *ctx;
    skim_tensor *tok_embd, *out_norm, *output;
    skim_tensor *zeros; /* weight [1, 1] of 0: the key mask's value for a present key */
    float zero_value;
    skim_tensor *ninf1, *ninf_batch; /* weights [1, 1] and [1, n_batch] of -inf */
    skim_tensor *zeros_batch;        /* [1, n_batch] of 0: prefill's key mask values */
    float *ninf_values, *zero_values;
    skim_llama_layer layers[SKIM_LLAMA_MAX_LAYERS];
    skim_llama_graph dec, pre; /* pre: the full n_batch window, whose tensors are public */
    skim_llama_graph win[SKIM_LLAMA_MAX_WINDOWS]; /* prefill chunks, ascending to n_batch */
    int n_win;
    uint64_t drop_attn, drop_mlp; /* skim_model_desc's layer drop */
    uint64_t rec_layers;          /* blocks whose attention is a linear recurrence */
    float *head_mask_values;      /* n_layer * n_head scores 0/1, or NULL */
    skim_tensor *head_mask[SKIM_LLAMA_MAX_LAYERS]; /* weights [n_head] of them, or NULL */
};

static inline int skim_llama_popcount(uint64_t v) {
    int n = 0;
    for (; v; v &= v - 1) n++;
    return n;
}

/* The model's allocator hook (zeroed: malloc/free); zero-filled memory. */
static inline void *skim_llama_alloc(const skim_allocator *a, size_t n) {
    void *p = a->alloc ? a->alloc(a->user, n) : malloc(n);
    if (p) memset(p, 0, n);
    return p;
}
static inline void skim_llama_free(const skim_allocator *a, void *p) {
    if (!p) return;
    if (a->alloc) {
        if (a->free) a->free(a->user, p);
    } else {
        free(p);
    }
}

/* Formats a message into msg (when not NULL) and returns s. */
skim_status skim_llama_msg(char *msg, size_t size, skim_status s, const char *fmt, ...)
#if defined(__MINGW32__) /* C99 printf there (__USE_MINGW_ANSI_STDIO), not msvcrt's */
    __attribute__((format(gnu_printf, 4, 5)))
#elif defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Reads the hyper-parameters and creates the weight tensors on m->ctx (llama_load.c). */
skim_status skim_llama_load_weights(skim_model *m, char *msg, size_t size);
/* Builds the decode graph and, when n_batch > 0, the prefill graph (llama.c). */
skim_status skim_llama_build(skim_model *m, bool debug_outputs, char *msg, size_t size);

#endif /* SKIM_LLAMA_INT_H */
