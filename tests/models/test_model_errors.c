/* test_model_errors.c - the model loader on files that lie and on allocators that fail:
 * a tiny llama GGUF written in memory loads and decodes on the CPU; the same with a key
 * missing, a tensor missing, a tensor of the wrong shape or an unknown architecture fails
 * with its own status and a message naming the key or tensor; and the fail-the-N-th
 * allocation sweep over loading and sessions returns OUT_OF_MEMORY (never crashes) with
 * every allocation freed. Needs no data files. */
#include "skim-cpu.h"
#include "skim-model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_check.h"

enum { D = 8, H = 2, HKV = 1, F = 16, V = 10, CTX = 8, HD = D / H };

typedef enum defect { NONE, NO_KEY, NO_TENSOR, BAD_SHAPE, BAD_ARCH } defect;

static float weights[1 << 12];

static size_t make_file(defect df, void **out) {
    skim_gguf_writer *w = NULL;
    if (skim_gguf_writer_create(NULL, &w) != SKIM_OK) return 0;
    skim_gguf_writer_set_str(w, "general.architecture", df == BAD_ARCH ? "mamba" : "llama");
    skim_gguf_writer_set_u32(w, "llama.context_length", CTX);
    if (df != NO_KEY) skim_gguf_writer_set_u32(w, "llama.embedding_length", D);
    skim_gguf_writer_set_u32(w, "llama.block_count", 1);
    skim_gguf_writer_set_u32(w, "llama.feed_forward_length", F);
    skim_gguf_writer_set_u32(w, "llama.attention.head_count", H);
    skim_gguf_writer_set_u32(w, "llama.attention.head_count_kv", HKV);
    struct { const char *name; int64_t ne0, ne1; } t[] = {
        {"token_embd.weight", D, V},       {"output_norm.weight", D, 1},
        {"blk.0.attn_norm.weight", D, 1},  {"blk.0.attn_q.weight", D, D},
        {"blk.0.attn_k.weight", D, HD * HKV}, {"blk.0.attn_v.weight", D, HD * HKV},
        {"blk.0.attn_output.weight", D, D}, {"blk.0.ffn_norm.weight", D, 1},
        {"blk.0.ffn_gate.weight", D, F},   {"blk.0.ffn_up.weight", D, F},
        {"blk.0.ffn_down.weight", F, D},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (df == NO_TENSOR && i == 5) continue;
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        if (df == BAD_SHAPE && i == 3) ne[1] = D + 1;
        skim_gguf_writer_add_tensor(w, t[i].name, SKIM_TYPE_F32, 2, ne, weights,
                                    (size_t)(ne[0] * ne[1]) * sizeof(float));
    }
    size_t size = 0;
    *out = model_check_write(w, &size);
    return *out ? size : 0;
}

/* An allocator that fails the n-th allocation and counts what is live. */
typedef struct counting { long n_alloc, fail_at, live; } counting;
static void *c_alloc(void *user, size_t size) {
    counting *c = user;
    if (c->n_alloc++ == c->fail_at) return NULL;
    void *p = malloc(size);
    if (p) c->live++;
    return p;
}
static void c_free(void *user, void *p) {
    counting *c = user;
    if (p) c->live--;
    free(p);
}

static skim_status load_and_decode(const skim_gguf *g, counting *c, skim_backend *be) {
    skim_model_desc d;
    memset(&d, 0, sizeof d);
    if (c) d.allocator = (skim_allocator){c_alloc, c_free, c};
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_model *m = NULL;
    skim_session *s = NULL;
    skim_status st = skim_model_load(g, &d, &m, msg, sizeof msg);
    if (st == SKIM_OK) st = skim_session_create(m, be, NULL, &s, msg, sizeof msg);
    float logits[V];
    for (int i = 0; st == SKIM_OK && i < 3; i++) st = skim_session_decode(s, i, logits);
    if (st == SKIM_OK) st = skim_session_prefill(s, (const int32_t[]){1, 2, 3}, 3, NULL);
    skim_session_destroy(s);
    skim_model_destroy(m);
    return st;
}

static void check_defect(defect df, skim_status want, const char *needle) {
    void *buf = NULL;
    size_t size = make_file(df, &buf);
    skim_gguf *g = NULL;
    CHECK(size && skim_gguf_open_memory(buf, size, NULL, &g, NULL) == SKIM_OK, "defect %d: file",
          (int)df);
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_model *m = NULL, *sentinel = (skim_model *)&m;
    m = sentinel;
    skim_status st = g ? skim_model_load(g, NULL, &m, msg, sizeof msg) : SKIM_ERR_IO;
    CHECK(st == want && m == sentinel && strstr(msg, needle), "defect %d: %s (%s), want %s "
          "naming %s", (int)df, skim_status_str(st), msg, skim_status_str(want), needle);
    skim_gguf_destroy(g);
    free(buf);
}

int main(void) {
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
        weights[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    }
    skim_backend *be = NULL;
    CHECK(skim_backend_create_cpu(NULL, &be) == SKIM_OK, "cpu backend");
    void *buf = NULL;
    size_t size = make_file(NONE, &buf);
    skim_gguf *g = NULL;
    CHECK(size && skim_gguf_open_memory(buf, size, NULL, &g, NULL) == SKIM_OK, "tiny file");
    if (g && be) {
        skim_status st = load_and_decode(g, NULL, be);
        CHECK(st == SKIM_OK, "tiny model: %s", skim_status_str(st));
        long n;
        for (n = 0; n < 100000; n++) {
            counting c = {0, n, 0};
            st = load_and_decode(g, &c, be);
            CHECK(st == SKIM_OK || st == SKIM_ERR_OUT_OF_MEMORY, "fail at %ld: %s", n,
                  skim_status_str(st));
            CHECK(c.live == 0, "fail at %ld: %ld allocations leaked", n, c.live);
            if (st == SKIM_OK) break;
        }
        printf("allocation sweep: %ld failure points\n", n);
    }
    skim_gguf_destroy(g);
    free(buf);
    check_defect(NO_KEY, SKIM_ERR_FORMAT, "llama.embedding_length");
    check_defect(NO_TENSOR, SKIM_ERR_FORMAT, "blk.0.attn_v.weight");
    check_defect(BAD_SHAPE, SKIM_ERR_FORMAT, "blk.0.attn_q.weight");
    check_defect(BAD_ARCH, SKIM_ERR_UNSUPPORTED, "mamba");
    char msg[64] = "";
    CHECK(skim_model_load(NULL, NULL, NULL, msg, sizeof msg) == SKIM_ERR_INVALID_ARG, "NULL");
    CHECK(skim_model_load_file("/nonexistent/x.gguf", NULL, &(skim_model *){NULL}, msg,
                               sizeof msg) == SKIM_ERR_IO, "missing file: %s", msg);
    skim_backend_destroy(be);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
