/* tokenizer.c - the llama2.c BPE tokenizer (karpathy/llama2.c run.c: encode, decode),
 * loaded from its tokenizer.bin format or from GGUF metadata. Tokens are kept with their
 * lengths, so vocabulary strings may hold any byte. */
#include "gguf_impl.h"
#include "skim-text.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct tok_entry {
    const char *s;
    size_t len;
    int32_t id;
} tok_entry;

struct skim_tokenizer {
    skim_allocator alloc;
    int32_t n_vocab, bos, eos;
    size_t max_len;          /* longest vocabulary string */
    const char **vocab;      /* NUL-terminated copies */
    size_t *lens;
    float *scores;
    tok_entry *sorted;       /* by bytes, then id */
    int32_t byte_token[256]; /* the "<0xXX>" token of each byte, or -1 */
    char bytes[256];         /* decode()'s single-byte pieces */
    void *block;
};

/* A token string being collected by a loader. */
typedef struct tok_src {
    const char *s;
    size_t len;
    float score;
} tok_src;

static int tok_cmp(const void *a, const void *b) {
    const tok_entry *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->s, y->s, n) : 0;
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The lowest id whose string is s[0..len), or -1. */
static int32_t tok_lookup(const skim_tokenizer *t, const char *s, size_t len) {
    tok_entry key = {s, len, -1};
    size_t lo = 0, hi = (size_t)t->n_vocab;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tok_cmp(&t->sorted[mid], &key) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo < (size_t)t->n_vocab && t->sorted[lo].len == len &&
        (len == 0 || memcmp(t->sorted[lo].s, s, len) == 0)) {
        return t->sorted[lo].id;
    }
    return -1;
}

static int tok_hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte of a "<0xXX>" piece (as run.c's sscanf "<0x%02hhX>": one or two hex digits
 * after "<0x"), or -1. */
static int tok_byte_piece(const char *s, size_t len) {
    if (len < 4 || memcmp(s, "<0x", 3) != 0 || tok_hex(s[3]) < 0) return -1;
    int v = tok_hex(s[3]);
    if (len > 4 && tok_hex(s[4]) >= 0) v = v * 16 + tok_hex(s[4]);
    return v;
}

/* Copies a token; with unescape, sentencepiece's U+2581 (as GGUF llama vocabularies
 * store spaces) becomes ' ', as llama2.c's tokenizer.bin has it. Returns the length. */
static size_t tok_copy(char *dst, const char *s, size_t len, bool unescape) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (unescape && i + 2 < len && (unsigned char)s[i] == 0xE2 &&
            (unsigned char)s[i + 1] == 0x96 && (unsigned char)s[i + 2] == 0x81) {
            dst[n++] = ' ';
            i += 2;
        } else {
            dst[n++] = s[i];
        }
    }
    dst[n] = '\0';
    return n;
}

/* Builds a tokenizer from n collected tokens (copied). */
static skim_status tok_build(const skim_allocator *a, const tok_src *src, int32_t n, int32_t bos,
                             int32_t eos, bool unescape, skim_tokenizer **out) {
    size_t strs = 0;
    for (int32_t i = 0; i < n; i++) {
        if (src[i].len > SIZE_MAX / 2 - strs - 1) return SKIM_ERR_TOO_LARGE;
        strs += src[i].len + 1;
    }
    size_t un = (size_t)n;
    size_t o_vocab = (sizeof(skim_tokenizer) + 15) & ~(size_t)15;
    size_t o_lens = o_vocab + un * sizeof(char *);
    size_t o_scores = o_lens + un * sizeof(size_t);
    size_t o_sorted = (o_scores + un * sizeof(float) + 15) & ~(size_t)15;
    size_t o_strs = o_sorted + un * sizeof(tok_entry);
    uint8_t *b = skim_gguf_mem_alloc(a, o_strs + strs);
    if (!b) return SKIM_ERR_OUT_OF_MEMORY;
    skim_tokenizer *t = (skim_tokenizer *)b;
    memset(t, 0, sizeof *t);
    if (a) t->alloc = *a;
    t->block = b;
    t->n_vocab = n;
    t->bos = bos;
    t->eos = eos;
    t->vocab = (const char **)(void *)(b + o_vocab);
    t->lens = (size_t *)(void *)(b + o_lens);
    t->scores = (float *)(void *)(b + o_scores);
    t->sorted = (tok_entry *)(void *)(b + o_sorted);
    char *p = (char *)(b + o_strs);
    for (int32_t i = 0; i < n; i++) {
        size_t len = tok_copy(p, src[i].s, src[i].len, unescape);
        t->vocab[i] = p;
        t->lens[i] = len;
        t->scores[i] = src[i].score;
        t->sorted[i] = (tok_entry){p, len, i};
        if (len > t->max_len) t->max_len = len;
        p += len + 1;
    }
    qsort(t->sorted, un, sizeof(tok_entry), tok_cmp);
    for (int c = 0; c < 256; c++) {
        char name[8];
        static const char hex[] = "0123456789ABCDEF";
        memcpy(name, "<0x", 3);
        name[3] = hex[c >> 4];
        name[4] = hex[c & 15];
        name[5] = '>';
        t->byte_token[c] = tok_lookup(t, name, 6);
        t->bytes[c] = (char)c;
    }
    *out = t;
    return SKIM_OK;
}

SKIM_API void skim_tokenizer_destroy(skim_tokenizer *t) {
    if (!t) return;
    skim_allocator a = t->alloc;
    skim_gguf_mem_free(&a, t->block);
}

/* ---------------------------------------------------------------- loading */

/* Walks the tokenizer.bin tokens: counts them (src NULL) or collects them. */
static skim_status tok_walk(const uint8_t *p, size_t size, int32_t want, int32_t *n_out,
                            tok_src *src) {
    size_t off = 4;
    uint32_t max_len = (uint32_t)skim_gguf_load_le(p, 4);
    if (max_len > INT32_MAX) return SKIM_ERR_FORMAT;
    int32_t n = 0;
    while (want ? n < want : off < size) {
        if (size - off < 8) return SKIM_ERR_FORMAT;
        uint32_t bits = (uint32_t)skim_gguf_load_le(p + off, 4);
        uint32_t len = (uint32_t)skim_gguf_load_le(p + off + 4, 4);
        off += 8;
        if (len > max_len || len > size - off) return SKIM_ERR_FORMAT;
        if (src) {
            memcpy(&src[n].score, &bits, 4);
            src[n].s = (const char *)(p + off);
            src[n].len = len;
        }
        off += len;
        if (n == INT32_MAX) return SKIM_ERR_TOO_LARGE;
        n++;
    }
    *n_out = n;
    return SKIM_OK;
}

SKIM_API skim_status skim_tokenizer_load_memory(const void *data, size_t size,
                                                const skim_tokenizer_desc *desc,
                                                skim_tokenizer **out) {
    if (!out || (!data && size)) return SKIM_ERR_INVALID_ARG;
    if (desc && desc->vocab_size < 0) return SKIM_ERR_INVALID_ARG;
    if (size < 4) return SKIM_ERR_FORMAT;
    const skim_allocator *a = desc ? &desc->allocator : NULL;
    int32_t want = desc ? desc->vocab_size : 0, n = 0;
    skim_status s = tok_walk(data, size, want, &n, NULL);
    if (s != SKIM_OK) return s;
    if (n < 3) return SKIM_ERR_FORMAT;
    tok_src *src = skim_gguf_mem_alloc(a, (size_t)n * sizeof(tok_src));
    if (!src) return SKIM_ERR_OUT_OF_MEMORY;
    s = tok_walk(data, size, want, &n, src);
    if (s == SKIM_OK) s = tok_build(a, src, n, 1, 2, false, out);
    skim_gguf_mem_free(a, src);
    return s;
}

SKIM_API skim_status skim_tokenizer_load_file(const char *path, const skim_tokenizer_desc *desc,
                                              skim_tokenizer **out) {
    if (!path || !out) return SKIM_ERR_INVALID_ARG;
    const skim_allocator *a = desc ? &desc->allocator : NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return SKIM_ERR_IO;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return SKIM_ERR_IO;
    }
    uint8_t *buf = skim_gguf_mem_alloc(a, (size_t)len);
    if (!buf) {
        fclose(f);
        return SKIM_ERR_OUT_OF_MEMORY;
    }
    size_t got = len ? fread(buf, 1, (size_t)len, f) : 0;
    fclose(f);
    skim_status s = got == (size_t)len ? skim_tokenizer_load_memory(buf, got, desc, out)
                                       : SKIM_ERR_IO;
    skim_gguf_mem_free(a, buf);
    return s;
}

/* An optional token id key: absent gives def. */
static skim_status tok_gguf_id(const skim_gguf *g, const char *key, int32_t def, int32_t n,
                               int32_t *out) {
    const skim_gguf_value *v = skim_gguf_find(g, key);
    int64_t id = def;
    if (v && skim_gguf_value_int(v, &id) != SKIM_OK) return SKIM_ERR_FORMAT;
    if (id < 0 || id >= n) return SKIM_ERR_FORMAT;
    *out = (int32_t)id;
    return SKIM_OK;
}

SKIM_API skim_status skim_tokenizer_load_gguf(const skim_gguf *g, const skim_tokenizer_desc *desc,
                                              skim_tokenizer **out) {
    if (!g || !out) return SKIM_ERR_INVALID_ARG;
    const skim_allocator *a = desc ? &desc->allocator : NULL;
    const skim_gguf_value *tokens = skim_gguf_find(g, "tokenizer.ggml.tokens");
    const skim_gguf_value *scores = skim_gguf_find(g, "tokenizer.ggml.scores");
    skim_gguf_type et;
    uint64_t n, ns;
    if (skim_gguf_value_arr(tokens, &et, &n) != SKIM_OK || et != SKIM_GGUF_STRING || n < 1 ||
        n > INT32_MAX) {
        return SKIM_ERR_FORMAT;
    }
    const float *sc = NULL;
    if (scores) {
        if (skim_gguf_value_arr(scores, &et, &ns) != SKIM_OK || et != SKIM_GGUF_FLOAT32 || ns != n) {
            return SKIM_ERR_FORMAT;
        }
        sc = skim_gguf_arr_data(scores);
    }
    int32_t bos, eos;
    if (tok_gguf_id(g, "tokenizer.ggml.bos_token_id", 1, (int32_t)n, &bos) != SKIM_OK ||
        tok_gguf_id(g, "tokenizer.ggml.eos_token_id", 2, (int32_t)n, &eos) != SKIM_OK) {
        return SKIM_ERR_FORMAT;
    }
    tok_src *src = skim_gguf_mem_alloc(a, (size_t)n * sizeof(tok_src));
    if (!src) return SKIM_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < n; i++) {
        skim_gguf_value_str(skim_gguf_arr_elem(tokens, i), &src[i].s, &src[i].len);
        src[i].score = sc ? sc[i] : 0.0f;
    }
    /* sentencepiece vocabularies ("llama") store spaces as U+2581. */
    const char *model = NULL;
    bool spm = skim_gguf_get_str(g, "tokenizer.ggml.model", &model) == SKIM_OK &&
               strcmp(model, "llama") == 0;
    skim_status s = tok_build(a, src, (int32_t)n, bos, eos, spm, out);
    skim_gguf_mem_free(a, src);
    return s;
}

/* ---------------------------------------------------------------- queries */

SKIM_API int32_t skim_tokenizer_n_vocab(const skim_tokenizer *t) { return t ? t->n_vocab : 0; }
SKIM_API int32_t skim_tokenizer_bos(const skim_tokenizer *t) { return t ? t->bos : -1; }
SKIM_API int32_t skim_tokenizer_eos(const skim_tokenizer *t) { return t ? t->eos : -1; }

SKIM_API const char *skim_tokenizer_token(const skim_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n_vocab) return NULL;
    if (len) *len = t->lens[id];
    return t->vocab[id];
}

SKIM_API float skim_tokenizer_score(const skim_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_vocab) return 0.0f;
    return t->scores[id];
}

/* ---------------------------------------------------------------- encode, decode */

/* The text's code points (a lead byte and up to 3 continuation bytes, as run.c groups
 * them) as tokens, with byte fallback. Returns the new count or -1 (no byte token). */
static int64_t tok_code_points(const skim_tokenizer *t, const char *text, size_t len,
                               int32_t *toks, int64_t n) {
    size_t i = 0;
    while (i < len) {
        size_t k = 1;
        while (i + k < len && ((unsigned char)text[i + k] & 0xC0) == 0x80 && k < 4) k++;
        int32_t id = tok_lookup(t, text + i, k);
        if (id >= 0) {
            toks[n++] = id;
        } else {
            for (size_t j = 0; j < k; j++) {
                int32_t b = t->byte_token[(unsigned char)text[i + j]];
                if (b < 0) return -1;
                toks[n++] = b;
            }
        }
        i += k;
    }
    return n;
}

/* run.c's merge rule: repeatedly merge the adjacent pair whose concatenation is a token with
 * the highest score (the leftmost pair on ties; a score must exceed -1e10, run.c's start),
 * until none merges. run.c rescans the whole text for every merge (quadratic: a megabyte of
 * text never finishes); here the tokens are a linked list and the candidate pairs a heap
 * ordered by (score, then leftmost), each checked when it comes out that its two tokens are
 * still neighbours and unchanged. A token only changes by growing, so an unchanged id means
 * an unchanged token. The result is run.c's, in O(n log n). */
typedef struct tok_pair {
    float score;
    int32_t id, tl, tr; /* the merged token; the left and right tokens when pushed */
    int64_t i, r;       /* the left and right nodes */
} tok_pair;

typedef struct tok_list {
    int32_t *toks; /* per node; -1 once merged into its left neighbour */
    int64_t *prev, *next;
    tok_pair *heap;
    int64_t n_heap;
    char *buf;
} tok_list;

static bool tok_pair_first(const tok_pair *a, const tok_pair *b) {
    return a->score != b->score ? a->score > b->score : a->i < b->i;
}

static void tok_push(const skim_tokenizer *t, tok_list *l, int64_t i) {
    int64_t r = i < 0 ? -1 : l->next[i];
    if (r < 0) return;
    int32_t a = l->toks[i], b = l->toks[r];
    size_t la = t->lens[a], lb = t->lens[b];
    if (la + lb > t->max_len) return;
    memcpy(l->buf, t->vocab[a], la);
    memcpy(l->buf + la, t->vocab[b], lb);
    int32_t id = tok_lookup(t, l->buf, la + lb);
    if (id < 0 || !(t->scores[id] > -1e10f)) return;
    tok_pair p = {t->scores[id], id, a, b, i, r};
    int64_t k = l->n_heap++;
    while (k > 0 && tok_pair_first(&p, &l->heap[(k - 1) / 2])) {
        l->heap[k] = l->heap[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    l->heap[k] = p;
}

static tok_pair tok_pop(tok_list *l) {
    tok_pair top = l->heap[0], last = l->heap[--l->n_heap];
    int64_t k = 0, n = l->n_heap;
    for (;;) {
        int64_t c = 2 * k + 1;
        if (c >= n) break;
        if (c + 1 < n && tok_pair_first(&l->heap[c + 1], &l->heap[c])) c++;
        if (!tok_pair_first(&l->heap[c], &last)) break;
        l->heap[k] = l->heap[c];
        k = c;
    }
    if (n > 0) l->heap[k] = last;
    return top;
}

/* Merges toks[0..n) in place (l's arrays hold n nodes, its heap 3n pairs); the new count. */
static int64_t tok_merge(const skim_tokenizer *t, tok_list *l, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        l->prev[i] = i - 1;
        l->next[i] = i + 1 < n ? i + 1 : -1;
    }
    l->n_heap = 0;
    for (int64_t i = 0; i + 1 < n; i++) tok_push(t, l, i);
    while (l->n_heap > 0) {
        tok_pair p = tok_pop(l);
        if (l->toks[p.i] != p.tl || l->next[p.i] != p.r || l->toks[p.r] != p.tr) continue; /* stale */
        l->toks[p.i] = p.id;
        l->toks[p.r] = -1;
        l->next[p.i] = l->next[p.r];
        if (l->next[p.r] >= 0) l->prev[l->next[p.r]] = p.i;
        tok_push(t, l, l->prev[p.i]);
        tok_push(t, l, p.i);
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (l->toks[i] >= 0) l->toks[m++] = l->toks[i];
    return m;
}

SKIM_API skim_status skim_tokenizer_encode(const skim_tokenizer *t, const char *text, size_t len,
                                           bool bos, bool eos, int32_t *tokens,
                                           int64_t max_tokens, int64_t *n_tokens) {
    if (!t || (!text && len) || !n_tokens || (!tokens && max_tokens > 0) || max_tokens < 0) {
        return SKIM_ERR_INVALID_ARG;
    }
    /* per node: a token, two links and three heap pairs */
    size_t node = sizeof(int32_t) + 2 * sizeof(int64_t) + 3 * sizeof(tok_pair);
    if (len > (SIZE_MAX - 2 * t->max_len - 64) / node - 3) return SKIM_ERR_TOO_LARGE;
    size_t cap = len + 3;
    uint8_t *mem = skim_gguf_mem_alloc(&t->alloc, cap * node + 2 * t->max_len + 1);
    if (!mem) return SKIM_ERR_OUT_OF_MEMORY;
    tok_list l;
    l.heap = (tok_pair *)(void *)mem;
    l.prev = (int64_t *)(void *)(mem + cap * 3 * sizeof(tok_pair));
    l.next = l.prev + cap;
    l.toks = (int32_t *)(void *)(l.next + cap);
    l.buf = (char *)(l.toks + cap);
    int32_t *toks = l.toks;
    int64_t n = 0;
    if (bos) toks[n++] = t->bos;
    if (len > 0) {
        int32_t space = tok_lookup(t, " ", 1);
        if (space >= 0) toks[n++] = space;
    }
    n = tok_code_points(t, text, len, toks, n);
    if (n < 0) {
        skim_gguf_mem_free(&t->alloc, mem);
        return SKIM_ERR_FORMAT;
    }
    n = tok_merge(t, &l, n);
    if (eos) toks[n++] = t->eos;
    skim_status s = SKIM_OK;
    if (n > max_tokens) {
        s = SKIM_ERR_RANGE;
    } else if (n) {
        memcpy(tokens, toks, (size_t)n * sizeof(int32_t));
    }
    *n_tokens = n;
    skim_gguf_mem_free(&t->alloc, mem);
    return s;
}

SKIM_API const char *skim_tokenizer_decode(const skim_tokenizer *t, int32_t prev, int32_t token,
                                           size_t *len) {
    if (!t || token < 0 || token >= t->n_vocab) return NULL;
    const char *piece = t->vocab[token];
    size_t n = t->lens[token];
    if (prev == t->bos && n > 0 && piece[0] == ' ') {
        piece++;
        n--;
    }
    int b = tok_byte_piece(piece, n);
    if (b >= 0) {
        piece = &t->bytes[b];
        n = 1;
    }
    if (len) *len = n;
    return piece;
}

SKIM_API bool skim_text_piece_printable(const char *piece, size_t len) {
    if (!piece || len == 0 || piece[0] == '\0') return false;
    if (len > 1) return true;
    unsigned char c = (unsigned char)piece[0];
    bool print = c >= 0x20 && c < 0x7f;
    bool space = c == ' ' || (c >= '\t' && c <= '\r');
    return print || space;
}
