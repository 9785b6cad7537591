/* importance.h - the parts of tools/importance shared by its files. */
#ifndef SKIM_TOOL_IMPORTANCE_H
#define SKIM_TOOL_IMPORTANCE_H

#include "skim-model.h"

#include <stdint.h>

typedef struct imp_opts {
    const char *model, *backend, *text, *drop_out, *mask_out;
    int n_drop, n_prune, threads;
    int64_t max_tokens; /* of --text */
    bool table;
} imp_opts;

#define IMP_MAX_SEQS 32

/* Token sequences, each at most the model's window, fed from position 0. */
typedef struct imp_seqs {
    int n;
    int32_t *tok[IMP_MAX_SEQS];
    int32_t len[IMP_MAX_SEQS];
    int32_t first[IMP_MAX_SEQS]; /* positions before first are the prompt: not scored */
} imp_seqs;

void imp_seqs_free(imp_seqs *s);
/* A model from the file with these layer choices and a prefill window of n_batch tokens
 * (0: the context); NULL with a message. */
skim_model *imp_load(const imp_opts *o, uint64_t drop_attn, const float *head_mask, bool debug,
                     int32_t n_batch);
/* The longest sequence (the window that teacher forcing needs). */
int32_t imp_seqs_window(const imp_seqs *s);
skim_backend *imp_backend(const char *name, int threads);
/* Greedy continuations of prompts by the full model: n_new tokens each, or fewer where
 * the context is shorter, with as many prompts as it takes to reach `total` scored
 * tokens (at most n_prompts). */
bool imp_greedy(const imp_opts *o, const char *const *prompts, int n_prompts, int n_new,
                int total, imp_seqs *out);
/* Teacher-forced logits of every sequence (rows first..len-2 predict first+1..len-1),
 * concatenated: the number of rows is imp_seqs_rows. NULL on failure. */
float *imp_logits(skim_model *m, skim_backend *be, const imp_seqs *s);
int64_t imp_seqs_rows(const imp_seqs *s);
double imp_now_s(void);

/* The table: attention sublayers dropped in the order given, against the full model. */
int imp_table(const imp_opts *o, const int *order, int n_layer);

#endif
