/* text.c - see text.h. */
#include "text.h"

#include <stdio.h>
#include <string.h>

static bool load_chars(ex_text *t, const skim_gguf *g) {
    const skim_gguf_value *v = skim_gguf_find(g, "tokenizer.ggml.tokens");
    skim_gguf_type et;
    uint64_t n;
    if (!v || skim_gguf_value_arr(v, &et, &n) != SKIM_OK || et != SKIM_GGUF_STRING || n > 256) {
        fprintf(stderr, "tokenizer.ggml.tokens: missing, not strings or more than 256\n");
        return false;
    }
    for (int i = 0; i < 256; i++) t->char_id[i] = -1;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (skim_gguf_value_str(skim_gguf_arr_elem(v, i), &s, &len) != SKIM_OK || len != 1) {
            fprintf(stderr, "tokenizer.ggml.tokens[%llu] is not one byte\n", (unsigned long long)i);
            return false;
        }
        t->char_id[(unsigned char)s[0]] = (int32_t)i;
        t->piece[i] = s;
        t->piece_len[i] = 1;
    }
    t->n_vocab = (int32_t)n;
    return true;
}

bool ex_text_load(ex_text *t, const skim_gguf *g) {
    memset(t, 0, sizeof *t);
    const char *model = NULL;
    if (skim_gguf_get_str(g, "tokenizer.ggml.model", &model) == SKIM_OK &&
        strcmp(model, "char") == 0) {
        return load_chars(t, g);
    }
    skim_status s = skim_tokenizer_load_gguf(g, NULL, &t->bpe);
    if (s != SKIM_OK) {
        fprintf(stderr, "tokenizer: %s\n", skim_status_str(s));
        return false;
    }
    t->n_vocab = skim_tokenizer_n_vocab(t->bpe);
    return true;
}

void ex_text_free(ex_text *t) {
    skim_tokenizer_destroy(t->bpe);
    t->bpe = NULL;
}

int64_t ex_text_encode(const ex_text *t, const char *text, size_t len, int32_t *out, int64_t cap) {
    if (t->bpe) {
        int64_t n = 0;
        if (skim_tokenizer_encode(t->bpe, text, len, true, false, out, cap, &n) != SKIM_OK) {
            return -1;
        }
        return n;
    }
    int64_t n = 0;
    for (size_t i = 0; i < len && n < cap; i++) {
        int32_t id = t->char_id[(unsigned char)text[i]];
        if (id < 0) {
            fprintf(stderr, "the character 0x%02x is not in the vocabulary\n",
                    (unsigned char)text[i]);
            return -1;
        }
        out[n++] = id;
    }
    return n;
}

const char *ex_text_piece(const ex_text *t, int32_t prev, int32_t token, size_t *len) {
    if (t->bpe) {
        const char *p = skim_tokenizer_decode(t->bpe, prev, token, len);
        return p && skim_text_piece_printable(p, *len) ? p : NULL;
    }
    if (token < 0 || token >= t->n_vocab) return NULL;
    *len = t->piece_len[token];
    return t->piece[token];
}
