/* gguf_walk.h - touches everything an open GGUF file exposes, so that a sanitizer sees
 * any read out of bounds. Shared by the fuzz target and the corpus test. */
#ifndef SKIM_GGUF_WALK_H
#define SKIM_GGUF_WALK_H

#include "skim-gguf.h"
#include "skim-text.h"

#include <string.h>

static unsigned gguf_walk_value(const skim_gguf_value *v, int depth) {
    unsigned h = (unsigned)skim_gguf_value_type(v);
    const char *s;
    size_t len;
    int64_t i;
    double d;
    skim_gguf_type et;
    uint64_t n;
    if (skim_gguf_value_str(v, &s, &len) == SKIM_OK) {
        for (size_t k = 0; k <= len; k++) h = h * 31u + (unsigned char)s[k];
    }
    if (skim_gguf_value_int(v, &i) == SKIM_OK) h += (unsigned)i;
    if (skim_gguf_value_float(v, &d) == SKIM_OK) h += (unsigned)(d == d);
    if (skim_gguf_value_arr(v, &et, &n) == SKIM_OK && depth < 16) {
        const unsigned char *data = skim_gguf_arr_data(v);
        size_t esz = et == SKIM_GGUF_UINT8 || et == SKIM_GGUF_INT8 || et == SKIM_GGUF_BOOL ? 1
                   : et == SKIM_GGUF_UINT16 || et == SKIM_GGUF_INT16                      ? 2
                   : et == SKIM_GGUF_UINT64 || et == SKIM_GGUF_INT64 || et == SKIM_GGUF_FLOAT64 ? 8
                   : 4;
        if (data) {
            for (uint64_t k = 0; k < n * esz; k++) h = h * 31u + data[k];
        } else {
            for (uint64_t k = 0; k < n; k++) h += gguf_walk_value(skim_gguf_arr_elem(v, k), depth + 1);
        }
    }
    return h;
}

static unsigned gguf_walk(const skim_gguf *g) {
    unsigned h = skim_gguf_version(g) + skim_gguf_alignment(g);
    for (int64_t i = 0; i < skim_gguf_n_kv(g); i++) {
        const char *key = skim_gguf_key(g, i);
        h += (unsigned)strlen(key);
        if (skim_gguf_find_key(g, key) != i) h += 1000000u; /* keys are unique */
        h += gguf_walk_value(skim_gguf_kv_value(g, i), 0);
    }
    for (int64_t i = 0; i < skim_gguf_n_tensors(g); i++) {
        skim_gguf_tensor_info t;
        if (skim_gguf_tensor_info_get(g, i, &t) != SKIM_OK) continue;
        h += (unsigned)strlen(t.name) + (unsigned)skim_gguf_find_tensor(g, t.name);
        const unsigned char *p = t.data;
        for (size_t k = 0; p && k < t.nbytes; k++) h = h * 31u + p[k];
    }
    skim_tokenizer *tok = NULL;
    if (skim_tokenizer_load_gguf(g, NULL, &tok) == SKIM_OK) {
        int32_t ids[32];
        int64_t n = 0;
        skim_tokenizer_encode(tok, "hi <0x01> \xe2\x96\x81x", 14, true, true, ids, 32, &n);
        for (int32_t id = 0; id < skim_tokenizer_n_vocab(tok); id++) {
            size_t len = 0;
            const char *piece = skim_tokenizer_decode(tok, 1, id, &len);
            if (piece && len) h += (unsigned char)piece[len - 1];
        }
        skim_tokenizer_destroy(tok);
    }
    return h;
}

#endif /* SKIM_GGUF_WALK_H */
