/* test_tokenizer.c - the llama2.c tokenizer against llama2.c's run.c, with tok512.bin and
 * the reference output in shared/data/SOURCES.md; plus malformed tokenizer files.
 *
 *   test_tokenizer DATA_DIR        (skips, exit 77, when DATA_DIR/tok512.bin is absent) */
#include "gguf_test.h"

/* SOURCES.md: run.c's stdout for "Once upon a time" at temperature 0, 64 positions,
 * without its final newline, and the token ids after BOS. */
static const char REF_TEXT[] =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily";
static const int32_t REF_PROMPT[] = {403, 407, 261, 378};
static const int32_t REF_GEN[] = {
    432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408,
    419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352,
    266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270,
    333, 415, 426, 13, 438, 310};

#define N_GEN ((int)(sizeof REF_GEN / sizeof REF_GEN[0]))

/* Decodes BOS + ids as run.c prints them (safe_printf's filter). */
static size_t decode_all(const skim_tokenizer *t, const int32_t *ids, int n, char *out, size_t cap) {
    size_t len = 0;
    int32_t prev = skim_tokenizer_bos(t);
    for (int i = 0; i < n; i++) {
        size_t plen = 0;
        const char *piece = skim_tokenizer_decode(t, prev, ids[i], &plen);
        CHECK(piece != NULL);
        if (skim_text_piece_printable(piece, plen)) {
            CHECK(len + plen < cap);
            memcpy(out + len, piece, plen);
            len += plen;
        }
        prev = ids[i];
    }
    out[len] = '\0';
    return len;
}

static void test_reference(const skim_tokenizer *t) {
    CHECK(skim_tokenizer_n_vocab(t) == 512 && skim_tokenizer_bos(t) == 1 && skim_tokenizer_eos(t) == 2);
    int32_t ids[64];
    int64_t n = 0;
    const char *prompt = "Once upon a time";
    CHECK_STATUS(skim_tokenizer_encode(t, prompt, strlen(prompt), true, false, ids, 64, &n), SKIM_OK);
    CHECK(n == 5 && ids[0] == 1);
    CHECK(memcmp(ids + 1, REF_PROMPT, sizeof REF_PROMPT) == 0);
    printf("encode(\"%s\") = [%d, %d, %d, %d, %d]\n", prompt, ids[0], ids[1], ids[2], ids[3], ids[4]);
    CHECK_STATUS(skim_tokenizer_encode(t, prompt, strlen(prompt), true, true, ids, 64, &n), SKIM_OK);
    CHECK(n == 6 && ids[5] == 2);
    /* decode: the prompt then the generated tokens give run.c's text exactly */
    int32_t all[4 + N_GEN];
    memcpy(all, REF_PROMPT, sizeof REF_PROMPT);
    memcpy(all + 4, REF_GEN, sizeof REF_GEN);
    char text[1024];
    size_t len = decode_all(t, all, 4 + N_GEN, text, sizeof text);
    if (len != strlen(REF_TEXT) || strcmp(text, REF_TEXT) != 0) {
        fprintf(stderr, "decoded:\n%s\nexpected:\n%s\n", text, REF_TEXT);
        exit(1);
    }
    CHECK(len + 1 == 181); /* run.c's stdout: the text and a newline, 181 bytes */
    printf("decoded %d reference tokens: %zu bytes, identical\n", 4 + N_GEN, len);
}

static void test_encode_edges(const skim_tokenizer *t) {
    int32_t ids[64];
    int64_t n = -1;
    CHECK_STATUS(skim_tokenizer_encode(t, "", 0, true, false, ids, 64, &n), SKIM_OK);
    CHECK(n == 1 && ids[0] == 1);
    CHECK_STATUS(skim_tokenizer_encode(t, "", 0, false, false, NULL, 0, &n), SKIM_OK);
    CHECK(n == 0);
    /* too small: RANGE, the count needed, tokens untouched */
    ids[0] = -7;
    CHECK_STATUS(skim_tokenizer_encode(t, "Once upon", 9, true, false, ids, 2, &n), SKIM_ERR_RANGE);
    CHECK(n == 3 && ids[0] == -7);
    /* a code point in the vocabulary (U+00E9) is one token */
    CHECK_STATUS(skim_tokenizer_encode(t, "\xc3\xa9", 2, false, false, ids, 64, &n), SKIM_OK);
    CHECK(n == 2 && strcmp(skim_tokenizer_token(t, ids[1], NULL), "\xc3\xa9") == 0);
    /* byte fallback: U+4E2D is not: <0xE4> <0xB8> <0xAD>, ids 3 + byte */
    CHECK_STATUS(skim_tokenizer_encode(t, "\xe4\xb8\xad", 3, false, false, ids, 64, &n), SKIM_OK);
    CHECK(n == 4 && ids[1] == 3 + 0xE4 && ids[2] == 3 + 0xB8 && ids[3] == 3 + 0xAD);
    size_t plen;
    const char *p = skim_tokenizer_decode(t, 5, 3 + 0xE4, &plen);
    CHECK(plen == 1 && (unsigned char)p[0] == 0xE4);
    CHECK(!skim_text_piece_printable(p, plen)); /* a lone byte >= 0x80: run.c skips it */
    /* after BOS the leading space goes; elsewhere it stays */
    int32_t id_space_t = 259; /* " t" */
    CHECK(strcmp(skim_tokenizer_token(t, id_space_t, NULL), " t") == 0);
    CHECK(skim_tokenizer_decode(t, 1, id_space_t, &plen)[0] == 't' && plen == 1);
    CHECK(skim_tokenizer_decode(t, 7, id_space_t, &plen)[0] == ' ' && plen == 2);
    CHECK(skim_tokenizer_decode(t, 1, 512, &plen) == NULL);
    CHECK(skim_tokenizer_decode(t, 1, -1, &plen) == NULL);
    /* encode(decode(x)) == x on the reference text */
    int32_t back[512];
    CHECK_STATUS(skim_tokenizer_encode(t, REF_TEXT, strlen(REF_TEXT), true, false, back, 512, &n), SKIM_OK);
    char text[1024];
    decode_all(t, back + 1, (int)n - 1, text, sizeof text);
    CHECK(strcmp(text, REF_TEXT) == 0);
    CHECK_STATUS(skim_tokenizer_encode(t, NULL, 3, true, false, back, 512, &n), SKIM_ERR_INVALID_ARG);
}

static unsigned char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    CHECK(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* ---- run.c's encoder, written again here from its tokenizer.bin as the reference for the
 * fast merge: tokens looked up by bsearch, byte fallback id = byte + 3, and the quadratic
 * merge loop (rescan all pairs, merge the best, leftmost on ties). */
typedef struct ref_tok {
    char **str;
    int *len;
    float *score;
    int n, max_len;
    int *sorted; /* ids by string */
} ref_tok;

static const ref_tok *g_ref;

static int ref_cmp_str(const char *a, int la, const char *b, int lb) {
    int n = la < lb ? la : lb;
    int c = memcmp(a, b, (size_t)n);
    return c ? c : la - lb;
}

static int ref_sort_cmp(const void *x, const void *y) {
    int a = *(const int *)x, b = *(const int *)y;
    int c = ref_cmp_str(g_ref->str[a], g_ref->len[a], g_ref->str[b], g_ref->len[b]);
    return c ? c : a - b;
}

static int ref_lookup(const ref_tok *r, const char *s, int len) {
    int lo = 0, hi = r->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (ref_cmp_str(r->str[r->sorted[mid]], r->len[r->sorted[mid]], s, len) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo < r->n && ref_cmp_str(r->str[r->sorted[lo]], r->len[r->sorted[lo]], s, len) == 0) return r->sorted[lo];
    return -1;
}

static void ref_load(ref_tok *r, const unsigned char *file, size_t size, int n) {
    size_t off = 4;
    memcpy(&r->max_len, file, 4);
    r->n = n;
    r->str = calloc((size_t)n, sizeof *r->str);
    r->len = calloc((size_t)n, sizeof *r->len);
    r->score = calloc((size_t)n, sizeof *r->score);
    r->sorted = calloc((size_t)n, sizeof *r->sorted);
    CHECK(r->str && r->len && r->score && r->sorted);
    for (int i = 0; i < n; i++) {
        CHECK(off + 8 <= size);
        memcpy(&r->score[i], file + off, 4);
        memcpy(&r->len[i], file + off + 4, 4);
        off += 8;
        CHECK(r->len[i] >= 0 && off + (size_t)r->len[i] <= size);
        r->str[i] = malloc((size_t)r->len[i] + 1);
        CHECK(r->str[i]);
        memcpy(r->str[i], file + off, (size_t)r->len[i]);
        off += (size_t)r->len[i];
        r->sorted[i] = i;
    }
    g_ref = r;
    qsort(r->sorted, (size_t)n, sizeof(int), ref_sort_cmp);
}

static void ref_free(ref_tok *r) {
    for (int i = 0; i < r->n; i++) free(r->str[i]);
    free(r->str);
    free(r->len);
    free(r->score);
    free(r->sorted);
}

/* BOS (id 1), " ", the code points, then the merges: the token count, written to out. */
static int ref_encode(const ref_tok *r, const char *text, int len, int *out) {
    int n = 0, k = 0;
    char buf[8], *pair = malloc((size_t)r->max_len * 2 + 1);
    CHECK(pair);
    out[n++] = 1;
    if (len > 0) out[n++] = ref_lookup(r, " ", 1);
    for (int i = 0; i < len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) k = 0;
        buf[k++] = text[i];
        if (i + 1 < len && ((unsigned char)text[i + 1] & 0xC0) == 0x80 && k < 4) continue;
        int id = ref_lookup(r, buf, k);
        if (id >= 0) out[n++] = id;
        else
            for (int j = 0; j < k; j++) out[n++] = (unsigned char)buf[j] + 3;
        k = 0;
    }
    for (;;) {
        float best = -1e10f;
        int best_id = -1, best_i = -1;
        for (int i = 0; i + 1 < n; i++) {
            int la = r->len[out[i]], lb = r->len[out[i + 1]];
            if (la + lb > r->max_len) continue;
            memcpy(pair, r->str[out[i]], (size_t)la);
            memcpy(pair + la, r->str[out[i + 1]], (size_t)lb);
            int id = ref_lookup(r, pair, la + lb);
            if (id >= 0 && r->score[id] > best) {
                best = r->score[id];
                best_id = id;
                best_i = i;
            }
        }
        if (best_i < 0) break;
        out[best_i] = best_id;
        memmove(&out[best_i + 1], &out[best_i + 2], (size_t)(n - best_i - 2) * sizeof(int));
        n--;
    }
    free(pair);
    return n;
}

/* The fast merge against the reference: pieces of Tiny Shakespeare (its capitals, newlines
 * and punctuation merge differently from the stories) and random bytes (invalid UTF-8,
 * lone continuation bytes, bytes no token holds); then all of Tiny Shakespeare at once,
 * which the quadratic loop could not finish, decoded back to the text. */
static void test_against_runc(const skim_tokenizer *t, const unsigned char *file, size_t size,
                              const char *data_dir) {
    ref_tok r;
    ref_load(&r, file, size, 512);
    char path[1024];
    snprintf(path, sizeof path, "%s/tinyshakespeare.txt", data_dir);
    size_t text_len = 0;
    unsigned char *text = read_all(path, &text_len);
    CHECK(text && text_len > 100000);
    int *want = malloc(sizeof(int) * 4096);
    int32_t *got = malloc(sizeof(int32_t) * 4096);
    CHECK(want && got);
    uint32_t seed = 12345;
    int pieces = 0;
    for (int trial = 0; trial < 120; trial++) {
        char buf[700];
        int len;
        seed = seed * 1664525u + 1013904223u;
        len = (int)(seed >> 8) % 600;
        if (trial < 80) { /* a piece of the text */
            seed = seed * 1664525u + 1013904223u;
            size_t at = (size_t)(seed >> 4) % (text_len - 600);
            memcpy(buf, text + at, (size_t)len);
        } else { /* random bytes, mostly letters and spaces */
            for (int i = 0; i < len; i++) {
                seed = seed * 1664525u + 1013904223u;
                unsigned v = seed >> 16;
                buf[i] = v % 4 == 0 ? (char)((v >> 8) & 0xff) : "etaoin shrdlu\n"[(v >> 8) % 14];
            }
        }
        int n_want = ref_encode(&r, buf, len, want);
        int64_t n_got = -1;
        CHECK_STATUS(skim_tokenizer_encode(t, buf, (size_t)len, true, false, got, 4096, &n_got), SKIM_OK);
        CHECK(n_got == n_want);
        for (int i = 0; i < n_want; i++) CHECK(got[i] == want[i]);
        pieces++;
    }
    printf("fast merge = run.c's loop on %d pieces of text and random bytes\n", pieces);
    int32_t *all = malloc(sizeof(int32_t) * (text_len + 3));
    char *back = malloc(text_len + 16);
    CHECK(all && back);
    int64_t n_all = -1;
    CHECK_STATUS(skim_tokenizer_encode(t, (const char *)text, text_len, true, false, all, (int64_t)text_len + 3, &n_all),
                 SKIM_OK);
    CHECK(n_all > 1 && n_all < (int64_t)text_len); /* merges happened */
    size_t at = 0;
    int32_t prev = all[0];
    for (int64_t i = 1; i < n_all; i++) { /* decode drops the leading space after BOS */
        size_t pl = 0;
        const char *p = skim_tokenizer_decode(t, prev, all[i], &pl);
        CHECK(p && at + pl <= text_len + 1);
        memcpy(back + at, p, pl);
        at += pl;
        prev = all[i];
    }
    CHECK(at == text_len && memcmp(back, text, text_len) == 0);
    printf("all of tinyshakespeare.txt: %zu bytes -> %lld tokens, decoded back to the same bytes\n", text_len,
           (long long)n_all);
    free(all);
    free(back);
    free(want);
    free(got);
    free(text);
    ref_free(&r);
}

static void test_malformed(const unsigned char *file, size_t size) {
    skim_tokenizer *t = NULL;
    skim_tokenizer_desc d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(skim_tokenizer_load_memory(file, 3, NULL, &t), SKIM_ERR_FORMAT);
    CHECK_STATUS(skim_tokenizer_load_memory(file, size - 1, NULL, &t), SKIM_ERR_FORMAT);
    d.vocab_size = 513;
    CHECK_STATUS(skim_tokenizer_load_memory(file, size, &d, &t), SKIM_ERR_FORMAT);
    d.vocab_size = 2;
    CHECK_STATUS(skim_tokenizer_load_memory(file, size, &d, &t), SKIM_ERR_FORMAT);
    d.vocab_size = -1;
    CHECK_STATUS(skim_tokenizer_load_memory(file, size, &d, &t), SKIM_ERR_INVALID_ARG);
    unsigned char *bad = malloc(size);
    memcpy(bad, file, size);
    bad[4 + 4] = 0xFF, bad[4 + 5] = 0xFF, bad[4 + 6] = 0xFF, bad[4 + 7] = 0xFF; /* length -1 */
    CHECK_STATUS(skim_tokenizer_load_memory(bad, size, NULL, &t), SKIM_ERR_FORMAT);
    memcpy(bad, file, size);
    bad[0] = 2, bad[1] = bad[2] = bad[3] = 0; /* max_token_length 2 < "<unk>" */
    CHECK_STATUS(skim_tokenizer_load_memory(bad, size, NULL, &t), SKIM_ERR_FORMAT);
    free(bad);
    CHECK(t == NULL);
    CHECK_STATUS(skim_tokenizer_load_file("/nonexistent/tok.bin", NULL, &t), SKIM_ERR_IO);
    /* out of memory at every allocation, nothing leaked */
    for (long n = 0;; n++) {
        test_alloc ta = {0, 0, 0, n};
        d.vocab_size = 0;
        d.allocator = test_allocator(&ta);
        skim_status s = skim_tokenizer_load_memory(file, size, &d, &t);
        if (s == SKIM_OK) {
            int32_t ids[8];
            int64_t k;
            s = skim_tokenizer_encode(t, "Once", 4, true, false, ids, 8, &k);
            skim_tokenizer_destroy(t);
        }
        CHECK(test_live(&ta) == 0);
        if (ta.n_alloc <= n) {
            CHECK_STATUS(s, SKIM_OK);
            break;
        }
        CHECK_STATUS(s, SKIM_ERR_OUT_OF_MEMORY);
    }
}

/* A vocabulary in GGUF (as the converter writes one, spaces as U+2581), built in memory. */
static skim_gguf *vocab_gguf(int variant, unsigned char **buf) {
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b",
                                       "\xe2\x96\x81" "a", "ab", "\xe2\x96\x81" "ab"};
    static const float scores[] = {0, 0, 0, 0, 0, 0, 1, 2, 3};
    skim_gguf_writer *w = NULL;
    CHECK_STATUS(skim_gguf_writer_create(NULL, &w), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama"), SKIM_OK);
    if (variant == 1) {
        CHECK_STATUS(skim_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", SKIM_GGUF_FLOAT32, scores, 9), SKIM_OK);
    } else if (variant != 2) {
        CHECK_STATUS(skim_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 9), SKIM_OK);
    }
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "tokenizer.ggml.scores", SKIM_GGUF_FLOAT32, scores,
                                          variant == 3 ? 8 : 9), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_i32(w, "tokenizer.ggml.bos_token_id", variant == 4 ? 9 : 1), SKIM_OK);
    uint64_t size;
    CHECK_STATUS(skim_gguf_writer_query_size(w, &size), SKIM_OK);
    *buf = malloc((size_t)size);
    CHECK_STATUS(skim_gguf_writer_write_memory(w, *buf, (size_t)size), SKIM_OK);
    skim_gguf_writer_destroy(w);
    skim_gguf *g = NULL;
    CHECK_STATUS(skim_gguf_open_memory(*buf, (size_t)size, NULL, &g, NULL), SKIM_OK);
    return g;
}

static void test_gguf_vocab(void) {
    unsigned char *buf;
    skim_gguf *g = vocab_gguf(0, &buf);
    skim_tokenizer *t = NULL;
    CHECK_STATUS(skim_tokenizer_load_gguf(g, NULL, &t), SKIM_OK);
    skim_gguf_destroy(g);
    free(buf); /* the tokenizer keeps copies */
    CHECK(skim_tokenizer_n_vocab(t) == 9 && skim_tokenizer_bos(t) == 1 && skim_tokenizer_eos(t) == 2);
    CHECK(strcmp(skim_tokenizer_token(t, 8, NULL), " ab") == 0);
    int32_t ids[8];
    int64_t n;
    /* [BOS, " ", a, b] -> "ab" (score 2) -> " ab" (score 3) */
    CHECK_STATUS(skim_tokenizer_encode(t, "ab", 2, true, true, ids, 8, &n), SKIM_OK);
    CHECK(n == 3 && ids[0] == 1 && ids[1] == 8 && ids[2] == 2);
    size_t len;
    const char *p = skim_tokenizer_decode(t, 1, 8, &len);
    CHECK(len == 2 && memcmp(p, "ab", 2) == 0);
    /* no <0xXX> tokens: a byte outside the vocabulary cannot be encoded */
    CHECK_STATUS(skim_tokenizer_encode(t, "c", 1, true, false, ids, 8, &n), SKIM_ERR_FORMAT);
    skim_tokenizer_destroy(t);
    for (int variant = 1; variant <= 4; variant++) { /* wrong type, absent, lengths, bos */
        g = vocab_gguf(variant, &buf);
        t = NULL;
        CHECK_STATUS(skim_tokenizer_load_gguf(g, NULL, &t), SKIM_ERR_FORMAT);
        CHECK(t == NULL);
        skim_gguf_destroy(g);
        free(buf);
    }
}

int main(int argc, char **argv) {
    test_gguf_vocab();
    char path[1024];
    snprintf(path, sizeof path, "%s/tok512.bin", argc > 1 ? argv[1] : "../shared/data");
    size_t size = 0;
    unsigned char *file = read_all(path, &size);
    if (!file) {
        printf("SKIP: %s is absent (the llama2.c test data, see shared/data/SOURCES.md)\n", path);
        return TEST_SKIP;
    }
    skim_tokenizer *t = NULL;
    CHECK_STATUS(skim_tokenizer_load_file(path, NULL, &t), SKIM_OK);
    test_reference(t);
    test_encode_edges(t);
    test_against_runc(t, file, size, argc > 1 ? argv[1] : "../shared/data");
    skim_tokenizer_destroy(t);
    skim_tokenizer_desc d;
    memset(&d, 0, sizeof d);
    d.vocab_size = 512;
    CHECK_STATUS(skim_tokenizer_load_memory(file, size, &d, &t), SKIM_OK);
    test_reference(t);
    skim_tokenizer_destroy(t);
    test_malformed(file, size);
    free(file);
    printf("tokenizer: ok\n");
    return 0;
}
