/* text.h - tokens in and out for the examples: the llama2.c tokenizer of skim-text.h, or
 * a character vocabulary (tokenizer.ggml.model "char", assets/README.md section 1). */
#ifndef SKIM_EXAMPLE_TEXT_H
#define SKIM_EXAMPLE_TEXT_H

#include "skim-gguf.h"
#include "skim-text.h"

typedef struct ex_text {
    skim_tokenizer *bpe;   /* NULL for a character vocabulary */
    int32_t char_id[256];  /* byte -> token, -1 when absent */
    const char *piece[256];/* token -> its character (char vocabularies) */
    size_t piece_len[256];
    int32_t n_vocab;
} ex_text;

/* Loads the vocabulary of g. Returns false with a message on stderr. */
bool ex_text_load(ex_text *t, const skim_gguf *g);
void ex_text_free(ex_text *t);
/* Encodes text (BOS first for a BPE vocabulary). Returns the count, -1 on error. */
int64_t ex_text_encode(const ex_text *t, const char *text, size_t len, int32_t *out, int64_t cap);
/* The text of `token` following `prev`; NULL when unprintable. */
const char *ex_text_piece(const ex_text *t, int32_t prev, int32_t token, size_t *len);

#endif
