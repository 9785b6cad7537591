/* convert_llama2c - a llama2.c checkpoint and its tokenizer to GGUF (llama architecture).
 *
 *   convert_llama2c CHECKPOINT.bin TOKENIZER.bin OUT.gguf [--type f32|f16|q8_0] [--name NAME]
 *
 * The checkpoint is llama2.c's legacy format (karpathy/llama2.c run.c): 7 int32 (dim,
 * hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size
 * means the classifier is not shared with the embedding), then float32 weights in run.c's
 * order, including the old freq_cis tables (skipped here), then the classifier when not
 * shared. llama2.c rotates interleaved pairs in RoPE, which is ggml's NORM mode (the
 * GGUF llama convention), so Q and K are written as they are.
 *
 * llama2.c stores a matrix [out][in] row-major; GGUF dims are ggml's (ne[0] contiguous),
 * so it becomes ne = {in, out} with the same bytes. --type converts the 2-D weights
 * (norms stay F32); a matrix whose row length is not a multiple of 32 stays F32 with q8_0.
 * The vocabulary is written as GGUF llama vocabularies are (llama.cpp's
 * convert-llama2c-to-ggml does the same): spaces as U+2581, ids 0, 1, 2 named <unk>, <s>,
 * </s>, token types normal (1), unknown (2), control (3) and byte (6).
 *
 * The checkpoint's floats are used as they are in memory: a little-endian host is assumed
 * (llama2.c makes the same assumption). */
#include "skim-gguf.h"
#include "skim-text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cv_config {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    bool shared; /* classifier shared with the token embedding */
} cv_config;

typedef struct cv_weights {
    const float *embd, *rms_att, *wq, *wk, *wv, *wo, *rms_ffn, *w1, *w2, *w3, *rms_final, *wcls;
} cv_weights;

typedef struct cv_args {
    const char *checkpoint, *tokenizer, *out, *name;
    skim_type type;
} cv_args;

/* Buffers that live until the file is written. */
typedef struct cv_store {
    void **ptrs;
    size_t n, cap;
} cv_store;

static void *cv_keep(cv_store *st, size_t size) {
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        void **p = realloc(st->ptrs, cap * sizeof *p);
        if (!p) return NULL;
        st->ptrs = p;
        st->cap = cap;
    }
    void *m = malloc(size ? size : 1);
    if (m) st->ptrs[st->n++] = m;
    return m;
}

static void cv_store_free(cv_store *st) {
    for (size_t i = 0; i < st->n; i++) free(st->ptrs[i]);
    free(st->ptrs);
}

static int cv_usage(void) {
    fprintf(stderr, "usage: convert_llama2c CHECKPOINT.bin TOKENIZER.bin OUT.gguf "
                    "[--type f32|f16|q8_0] [--name NAME]\n");
    return 2;
}

static bool cv_parse_args(int argc, char **argv, cv_args *a) {
    int pos = 0;
    memset(a, 0, sizeof *a);
    a->type = SKIM_TYPE_F32;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--type") == 0 && i + 1 < argc) {
            const char *t = argv[++i];
            if (strcmp(t, "f32") == 0) a->type = SKIM_TYPE_F32;
            else if (strcmp(t, "f16") == 0) a->type = SKIM_TYPE_F16;
            else if (strcmp(t, "q8_0") == 0) a->type = SKIM_TYPE_Q8_0;
            else return false;
        } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            a->name = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return false;
        } else if (pos == 0) {
            a->checkpoint = argv[i], pos++;
        } else if (pos == 1) {
            a->tokenizer = argv[i], pos++;
        } else if (pos == 2) {
            a->out = argv[i], pos++;
        } else {
            return false;
        }
    }
    return pos == 3;
}

/* Reads a whole file into a float-aligned buffer. */
static void *cv_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    void *buf = NULL;
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0) buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) *size = (size_t)len;
    return buf;
}

/* Overflow-checked a * b + acc; *ok turns false on overflow. */
static uint64_t cv_mad(uint64_t acc, uint64_t a, uint64_t b, bool *ok) {
    if (a && b > UINT64_MAX / a) *ok = false;
    else if (acc > UINT64_MAX - a * b) *ok = false;
    return *ok ? acc + a * b : 0;
}

/* Floats the legacy checkpoint must hold after its header, or 0 on overflow. */
static uint64_t cv_expected_floats(const cv_config *c) {
    uint64_t d = (uint64_t)c->dim, h = (uint64_t)c->hidden_dim, L = (uint64_t)c->n_layers;
    uint64_t hs = d / (uint64_t)c->n_heads, kv = hs * (uint64_t)c->n_kv_heads;
    uint64_t v = (uint64_t)c->vocab_size, s = (uint64_t)c->seq_len;
    bool ok = true;
    uint64_t per_layer = cv_mad(0, 2, d, &ok);       /* the two norms */
    per_layer = cv_mad(per_layer, 2 * d, d, &ok);    /* wq, wo */
    per_layer = cv_mad(per_layer, 2 * d, kv, &ok);   /* wk, wv */
    per_layer = cv_mad(per_layer, 3 * d, h, &ok);    /* w1, w2, w3 */
    uint64_t n = cv_mad(0, L, per_layer, &ok);
    n = cv_mad(n, c->shared ? 1 : 2, v * d, &ok);    /* embedding (and classifier) */
    n = cv_mad(n, 1, d, &ok);                        /* final norm */
    n = cv_mad(n, s, hs, &ok);                       /* freq_cis, real and imaginary halves */
    return ok ? n : 0;
}

static bool cv_check_config(const cv_config *c, size_t file_size) {
    if (c->dim <= 0 || c->hidden_dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 ||
        c->n_kv_heads <= 0 || c->vocab_size <= 0 || c->seq_len <= 0) {
        fprintf(stderr, "error: header has a value <= 0 (not a legacy llama2.c checkpoint?)\n");
        return false;
    }
    if (c->dim % c->n_heads != 0 || c->n_heads % c->n_kv_heads != 0 ||
        (c->dim / c->n_heads) % 2 != 0) {
        fprintf(stderr, "error: dim %d, n_heads %d, n_kv_heads %d do not divide evenly\n", c->dim,
                c->n_heads, c->n_kv_heads);
        return false;
    }
    uint64_t n = cv_expected_floats(c);
    if (n == 0 || n > (UINT64_MAX - 28) / 4 || 28 + 4 * n != (uint64_t)file_size) {
        fprintf(stderr, "error: the file has %zu bytes, the legacy layout of this header needs "
                        "%llu\n", file_size, (unsigned long long)(28 + 4 * n));
        return false;
    }
    return true;
}

static void cv_map_weights(const cv_config *c, const float *p, cv_weights *w) {
    size_t d = (size_t)c->dim, h = (size_t)c->hidden_dim, L = (size_t)c->n_layers;
    size_t hs = d / (size_t)c->n_heads, kv = hs * (size_t)c->n_kv_heads;
    w->embd = p, p += (size_t)c->vocab_size * d;
    w->rms_att = p, p += L * d;
    w->wq = p, p += L * d * d;
    w->wk = p, p += L * d * kv;
    w->wv = p, p += L * d * kv;
    w->wo = p, p += L * d * d;
    w->rms_ffn = p, p += L * d;
    w->w1 = p, p += L * d * h;
    w->w2 = p, p += L * h * d;
    w->w3 = p, p += L * d * h;
    w->rms_final = p, p += d;
    p += (size_t)c->seq_len * hs; /* freq_cis_real and freq_cis_imag, seq_len * hs/2 each */
    w->wcls = c->shared ? NULL : p;
}

/* Adds one tensor: ne = {in, out} (out 1 for vectors), converted to `type` if a matrix. */
static bool cv_add(skim_gguf_writer *gw, cv_store *st, const char *name, const float *src,
                   int64_t in, int64_t out, skim_type type) {
    int64_t ne[2] = {in, out};
    int n_dims = out > 1 ? 2 : 1;
    if (n_dims == 1 || (type == SKIM_TYPE_Q8_0 && in % 32 != 0)) type = SKIM_TYPE_F32;
    size_t bytes = skim_row_size(type, in) * (size_t)out;
    const void *data = src;
    if (type != SKIM_TYPE_F32) {
        void *dst = cv_keep(st, bytes);
        if (!dst || skim_quantize(type, src, dst, out, in) != bytes) {
            fprintf(stderr, "error: converting %s failed\n", name);
            return false;
        }
        data = dst;
    }
    skim_status s = skim_gguf_writer_add_tensor(gw, name, type, n_dims, ne, data, bytes);
    if (s != SKIM_OK) {
        fprintf(stderr, "error: %s\n", skim_gguf_writer_error(gw));
        return false;
    }
    return true;
}

static bool cv_add_layer(skim_gguf_writer *gw, cv_store *st, const cv_config *c,
                         const cv_weights *w, int64_t l, skim_type type) {
    int64_t d = c->dim, h = c->hidden_dim, kv = c->dim / c->n_heads * c->n_kv_heads;
    char name[SKIM_GGUF_MAX_NAME + 1];
#define CV_ADD(suffix, base, in, out)                                                         \
    (snprintf(name, sizeof name, "blk.%lld." suffix, (long long)l),                           \
     cv_add(gw, st, name, (base) + (size_t)l * (size_t)(in) * (size_t)(out), in, out, type))
    bool ok = CV_ADD("attn_norm.weight", w->rms_att, d, 1) &&
              CV_ADD("attn_q.weight", w->wq, d, d) && CV_ADD("attn_k.weight", w->wk, d, kv) &&
              CV_ADD("attn_v.weight", w->wv, d, kv) && CV_ADD("attn_output.weight", w->wo, d, d) &&
              CV_ADD("ffn_norm.weight", w->rms_ffn, d, 1) &&
              CV_ADD("ffn_gate.weight", w->w1, d, h) && CV_ADD("ffn_down.weight", w->w2, h, d) &&
              CV_ADD("ffn_up.weight", w->w3, d, h);
#undef CV_ADD
    return ok;
}

static bool cv_add_tensors(skim_gguf_writer *gw, cv_store *st, const cv_config *c,
                           const cv_weights *w, skim_type type) {
    if (!cv_add(gw, st, "token_embd.weight", w->embd, c->dim, c->vocab_size, type)) return false;
    for (int64_t l = 0; l < c->n_layers; l++) {
        if (!cv_add_layer(gw, st, c, w, l, type)) return false;
    }
    if (!cv_add(gw, st, "output_norm.weight", w->rms_final, c->dim, 1, type)) return false;
    if (w->wcls && !cv_add(gw, st, "output.weight", w->wcls, c->dim, c->vocab_size, type)) {
        return false;
    }
    return true;
}

/* One vocabulary entry as GGUF llama vocabularies store it. */
static bool cv_token(cv_store *st, const skim_tokenizer *tok, int32_t i, const char **str,
                     size_t *len, int32_t *type) {
    static const char *const special[3] = {"<unk>", "<s>", "</s>"};
    static const int32_t special_type[3] = {2, 3, 3};
    if (i < 3) {
        *str = special[i];
        *len = strlen(special[i]);
        *type = special_type[i];
        return true;
    }
    size_t n;
    const char *s = skim_tokenizer_token(tok, i, &n);
    char *e = cv_keep(st, 3 * n + 1);
    if (!e) return false;
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        if (s[j] == ' ') {
            memcpy(e + k, "\xE2\x96\x81", 3);
            k += 3;
        } else {
            e[k++] = s[j];
        }
    }
    *str = e;
    *len = k;
    bool byte = n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>';
    *type = n == 0 ? 3 : byte ? 6 : 1;
    return true;
}

static bool cv_add_vocab(skim_gguf_writer *gw, cv_store *st, const skim_tokenizer *tok) {
    int32_t n = skim_tokenizer_n_vocab(tok);
    const char **strs = cv_keep(st, (size_t)n * sizeof *strs);
    size_t *lens = cv_keep(st, (size_t)n * sizeof *lens);
    float *scores = cv_keep(st, (size_t)n * sizeof *scores);
    int32_t *types = cv_keep(st, (size_t)n * sizeof *types);
    if (!strs || !lens || !scores || !types) return false;
    for (int32_t i = 0; i < n; i++) {
        if (!cv_token(st, tok, i, &strs[i], &lens[i], &types[i])) return false;
        scores[i] = skim_tokenizer_score(tok, i);
    }
    return skim_gguf_writer_set_str(gw, "tokenizer.ggml.model", "llama") == SKIM_OK &&
           skim_gguf_writer_set_arr_str(gw, "tokenizer.ggml.tokens", strs, lens, (uint64_t)n) ==
               SKIM_OK &&
           skim_gguf_writer_set_arr(gw, "tokenizer.ggml.scores", SKIM_GGUF_FLOAT32, scores,
                                    (uint64_t)n) == SKIM_OK &&
           skim_gguf_writer_set_arr(gw, "tokenizer.ggml.token_type", SKIM_GGUF_INT32, types,
                                    (uint64_t)n) == SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "tokenizer.ggml.unknown_token_id", 0) == SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "tokenizer.ggml.bos_token_id", 1) == SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "tokenizer.ggml.eos_token_id", 2) == SKIM_OK;
}

/* general.file_type as llama.cpp numbers it (enum llama_ftype). */
static uint32_t cv_file_type(skim_type t) {
    return t == SKIM_TYPE_F16 ? 1u : t == SKIM_TYPE_Q8_0 ? 7u : 0u;
}

static bool cv_add_metadata(skim_gguf_writer *gw, const cv_config *c, const char *name,
                            skim_type type) {
    uint32_t head_dim = (uint32_t)(c->dim / c->n_heads);
    return skim_gguf_writer_set_str(gw, "general.architecture", "llama") == SKIM_OK &&
           skim_gguf_writer_set_str(gw, "general.name", name) == SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "general.file_type", cv_file_type(type)) == SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "llama.context_length", (uint32_t)c->seq_len) == SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "llama.embedding_length", (uint32_t)c->dim) == SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "llama.block_count", (uint32_t)c->n_layers) == SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "llama.feed_forward_length", (uint32_t)c->hidden_dim) ==
               SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "llama.attention.head_count", (uint32_t)c->n_heads) ==
               SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "llama.attention.head_count_kv",
                                    (uint32_t)c->n_kv_heads) == SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "llama.rope.dimension_count", head_dim) == SKIM_OK &&
           skim_gguf_writer_set_f32(gw, "llama.attention.layer_norm_rms_epsilon", 1e-5f) ==
               SKIM_OK &&
           skim_gguf_writer_set_f32(gw, "llama.rope.freq_base", 10000.0f) == SKIM_OK &&
           skim_gguf_writer_set_u32(gw, "llama.vocab_size", (uint32_t)c->vocab_size) == SKIM_OK;
}

/* The model name: --name, else the checkpoint's file name without directory and ".bin". */
static void cv_default_name(const char *path, char *out, size_t cap) {
    const char *base = path;
    for (const char *p = path; *p; p++) {
        if (*p == '/' || *p == '\\') base = p + 1;
    }
    snprintf(out, cap, "%s", base);
    size_t n = strlen(out);
    if (n > 4 && strcmp(out + n - 4, ".bin") == 0) out[n - 4] = '\0';
}

static int cv_convert(const cv_args *a, const cv_config *c, const float *weights) {
    cv_weights w;
    cv_map_weights(c, weights, &w);
    skim_tokenizer_desc td = {0};
    td.vocab_size = c->vocab_size;
    skim_tokenizer *tok = NULL;
    skim_status s = skim_tokenizer_load_file(a->tokenizer, &td, &tok);
    if (s != SKIM_OK) {
        fprintf(stderr, "error: tokenizer '%s': %s\n", a->tokenizer, skim_status_str(s));
        return 1;
    }
    char name[256];
    if (a->name) snprintf(name, sizeof name, "%s", a->name);
    else cv_default_name(a->checkpoint, name, sizeof name);
    skim_gguf_writer *gw = NULL;
    cv_store st = {0};
    bool ok = skim_gguf_writer_create(NULL, &gw) == SKIM_OK &&
              cv_add_metadata(gw, c, name, a->type) && cv_add_vocab(gw, &st, tok) &&
              cv_add_tensors(gw, &st, c, &w, a->type);
    if (ok && skim_gguf_writer_write_file(gw, a->out) != SKIM_OK) {
        fprintf(stderr, "error: %s\n", skim_gguf_writer_error(gw));
        ok = false;
    } else if (!ok) {
        fprintf(stderr, "error: building the GGUF file failed: %s\n",
                gw ? skim_gguf_writer_error(gw) : "out of memory");
    }
    skim_gguf_writer_destroy(gw);
    skim_tokenizer_destroy(tok);
    cv_store_free(&st);
    if (!ok) return 1;
    printf("%s: dim %d, hidden %d, %d layers, %d heads, %d kv heads, vocab %d, seq_len %d, "
           "%s classifier -> %s\n", a->checkpoint, c->dim, c->hidden_dim, c->n_layers, c->n_heads,
           c->n_kv_heads, c->vocab_size, c->seq_len, c->shared ? "shared" : "separate", a->out);
    return 0;
}

int main(int argc, char **argv) {
    cv_args a;
    if (!cv_parse_args(argc, argv, &a)) return cv_usage();
    size_t size = 0;
    uint8_t *buf = cv_read_file(a.checkpoint, &size);
    if (!buf) {
        fprintf(stderr, "error: cannot read '%s'\n", a.checkpoint);
        return 1;
    }
    cv_config c;
    int32_t hdr[7];
    if (size < 28) {
        fprintf(stderr, "error: '%s' is too short for a llama2.c header\n", a.checkpoint);
        free(buf);
        return 1;
    }
    memcpy(hdr, buf, sizeof hdr);
    c.dim = hdr[0], c.hidden_dim = hdr[1], c.n_layers = hdr[2], c.n_heads = hdr[3];
    c.n_kv_heads = hdr[4], c.seq_len = hdr[6];
    c.shared = hdr[5] > 0;
    c.vocab_size = hdr[5] == INT32_MIN ? 0 : (hdr[5] < 0 ? -hdr[5] : hdr[5]);
    int rc = 1;
    if (cv_check_config(&c, size)) rc = cv_convert(&a, &c, (const float *)(void *)(buf + 28));
    free(buf);
    return rc;
}
