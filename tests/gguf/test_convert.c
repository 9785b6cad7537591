/* test_convert.c - convert_llama2c on stories260K.bin: the GGUF's metadata matches the
 * checkpoint's header (shared/data/SOURCES.md), its tensors hold the checkpoint's bytes,
 * its vocabulary tokenizes as tok512.bin does; F16 and Q8_0 output; bad checkpoints fail.
 *
 *   test_convert CONVERTER DATA_DIR TMPDIR    (skips, exit 77, without the data) */
#include "gguf_test.h"

#include <math.h>

static const char *g_conv, *g_data, *g_tmp;

static int run_converter(const char *ckpt, const char *out, const char *extra) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "\"%s\" \"%s\" \"%s/tok512.bin\" \"%s\" %s", g_conv, ckpt, g_data, out,
             extra);
    printf("$ %s\n", cmd);
    fflush(stdout);
    return system(cmd);
}

static void check_u32(const skim_gguf *g, const char *key, uint32_t want) {
    uint32_t v = 0;
    CHECK_STATUS(skim_gguf_value_u32(skim_gguf_find(g, key), &v), SKIM_OK);
    if (v != want) fprintf(stderr, "%s = %u, expected %u\n", key, v, want);
    CHECK(v == want);
}

static void check_metadata(const skim_gguf *g) {
    const char *s;
    CHECK_STATUS(skim_gguf_get_str(g, "general.architecture", &s), SKIM_OK);
    CHECK(strcmp(s, "llama") == 0);
    CHECK_STATUS(skim_gguf_get_str(g, "general.name", &s), SKIM_OK);
    CHECK(strcmp(s, "stories260K") == 0);
    check_u32(g, "llama.context_length", 512);
    check_u32(g, "llama.embedding_length", 64);
    check_u32(g, "llama.block_count", 5);
    check_u32(g, "llama.feed_forward_length", 172);
    check_u32(g, "llama.attention.head_count", 8);
    check_u32(g, "llama.attention.head_count_kv", 4);
    check_u32(g, "llama.rope.dimension_count", 8);
    check_u32(g, "tokenizer.ggml.bos_token_id", 1);
    check_u32(g, "tokenizer.ggml.eos_token_id", 2);
    float eps = 0, base = 0;
    CHECK_STATUS(skim_gguf_value_f32(skim_gguf_find(g, "llama.attention.layer_norm_rms_epsilon"), &eps), SKIM_OK);
    CHECK_STATUS(skim_gguf_value_f32(skim_gguf_find(g, "llama.rope.freq_base"), &base), SKIM_OK);
    CHECK(eps == 1e-5f && base == 10000.0f);
    CHECK_STATUS(skim_gguf_get_str(g, "tokenizer.ggml.model", &s), SKIM_OK);
    CHECK(strcmp(s, "llama") == 0);
    skim_gguf_type et;
    uint64_t n;
    CHECK_STATUS(skim_gguf_value_arr(skim_gguf_find(g, "tokenizer.ggml.tokens"), &et, &n), SKIM_OK);
    CHECK(et == SKIM_GGUF_STRING && n == 512);
    CHECK_STATUS(skim_gguf_value_arr(skim_gguf_find(g, "tokenizer.ggml.scores"), &et, &n), SKIM_OK);
    CHECK(et == SKIM_GGUF_FLOAT32 && n == 512);
    const skim_gguf_value *types = skim_gguf_find(g, "tokenizer.ggml.token_type");
    CHECK_STATUS(skim_gguf_value_arr(types, &et, &n), SKIM_OK);
    CHECK(et == SKIM_GGUF_INT32 && n == 512);
    const int32_t *tt = skim_gguf_arr_data(types);
    CHECK(tt[0] == 2 && tt[1] == 3 && tt[2] == 3 && tt[3] == 6 && tt[258] == 6 && tt[259] == 1);
    CHECK_STATUS(skim_gguf_value_str(skim_gguf_arr_elem(skim_gguf_find(g, "tokenizer.ggml.tokens"), 259), &s, NULL), SKIM_OK);
    CHECK(strcmp(s, "\xe2\x96\x81t") == 0); /* " t" with sentencepiece's space mark */
}

/* One expected tensor: its name, ne, and where its floats start in the checkpoint. */
typedef struct want_tensor {
    char name[64];
    int64_t ne0, ne1;
    size_t at; /* float index after the 7-int header */
} want_tensor;

/* The checkpoint layout of run.c's memory_map_weights, stories260K's dimensions. */
static int expected_tensors(want_tensor *w) {
    const size_t d = 64, h = 172, L = 5, kv = 32, v = 512;
    size_t emb = 0, att = emb + v * d, wq = att + L * d, wk = wq + L * d * d, wv = wk + L * d * kv;
    size_t wo = wv + L * d * kv, ffn = wo + L * d * d, w1 = ffn + L * d, w2 = w1 + L * d * h;
    size_t w3 = w2 + L * h * d, fin = w3 + L * d * h;
    int n = 0;
    w[n++] = (want_tensor){"token_embd.weight", 64, 512, emb};
    for (size_t l = 0; l < L; l++) {
#define W(suffix, a, b, base) snprintf(w[n].name, 64, "blk.%zu." suffix, l), w[n].ne0 = a, w[n].ne1 = b, w[n].at = base + l * (size_t)a * (size_t)b, n++
        W("attn_norm.weight", 64, 1, att);
        W("attn_q.weight", 64, 64, wq);
        W("attn_k.weight", 64, 32, wk);
        W("attn_v.weight", 64, 32, wv);
        W("attn_output.weight", 64, 64, wo);
        W("ffn_norm.weight", 64, 1, ffn);
        W("ffn_gate.weight", 64, 172, w1);
        W("ffn_down.weight", 172, 64, w2);
        W("ffn_up.weight", 64, 172, w3);
#undef W
    }
    w[n++] = (want_tensor){"output_norm.weight", 64, 1, fin};
    return n;
}

static void check_tensors(const skim_gguf *g, const float *ckpt, skim_type mtype) {
    want_tensor w[64];
    int n = expected_tensors(w);
    CHECK(skim_gguf_n_tensors(g) == n); /* no output.weight: the classifier is shared */
    CHECK(skim_gguf_find_tensor(g, "output.weight") == -1);
    float *buf = malloc(64 * 512 * sizeof(float));
    CHECK(buf);
    double max_err = 0;
    for (int i = 0; i < n; i++) {
        skim_gguf_tensor_info t;
        int64_t k = skim_gguf_find_tensor(g, w[i].name);
        if (k < 0) fprintf(stderr, "missing %s\n", w[i].name);
        CHECK(k >= 0 && skim_gguf_tensor_info_get(g, k, &t) == SKIM_OK);
        CHECK(t.ne[0] == w[i].ne0 && t.ne[1] == w[i].ne1 && t.n_dims == (w[i].ne1 > 1 ? 2 : 1));
        const float *src = ckpt + w[i].at;
        size_t count = (size_t)(w[i].ne0 * w[i].ne1);
        skim_type want = w[i].ne1 == 1 ? SKIM_TYPE_F32 : mtype;
        if (want == SKIM_TYPE_Q8_0 && w[i].ne0 % 32) want = SKIM_TYPE_F32;
        CHECK(t.type == want);
        if (want == SKIM_TYPE_F32) {
            CHECK(t.nbytes == count * 4 && memcmp(t.data, src, t.nbytes) == 0); /* same bytes */
            continue;
        }
        CHECK(skim_dequantize(t.type, t.data, buf, (int64_t)count));
        for (size_t j = 0; j < count; j++) {
            double e = fabs((double)buf[j] - src[j]);
            if (e > max_err) max_err = e;
        }
    }
    if (mtype != SKIM_TYPE_F32) {
        printf("%s: largest absolute error %.3g\n", skim_type_name(mtype), max_err);
        CHECK(max_err < (mtype == SKIM_TYPE_F16 ? 2e-3 : 2e-2));
    }
    free(buf);
}

static void check_vocab(const skim_gguf *g) {
    skim_tokenizer *a = NULL, *b = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/tok512.bin", g_data);
    CHECK_STATUS(skim_tokenizer_load_file(path, NULL, &a), SKIM_OK);
    CHECK_STATUS(skim_tokenizer_load_gguf(g, NULL, &b), SKIM_OK);
    CHECK(skim_tokenizer_n_vocab(b) == 512);
    for (int32_t i = 3; i < 512; i++) {
        size_t la, lb;
        const char *sa = skim_tokenizer_token(a, i, &la), *sb = skim_tokenizer_token(b, i, &lb);
        CHECK(la == lb && memcmp(sa, sb, la) == 0);
        CHECK(skim_tokenizer_score(a, i) == skim_tokenizer_score(b, i));
    }
    int32_t ia[64], ib[64];
    int64_t na, nb;
    const char *text = "Once upon a time, a little girl saw the sun.\nThe end";
    CHECK_STATUS(skim_tokenizer_encode(a, text, strlen(text), true, false, ia, 64, &na), SKIM_OK);
    CHECK_STATUS(skim_tokenizer_encode(b, text, strlen(text), true, false, ib, 64, &nb), SKIM_OK);
    CHECK(na == nb && memcmp(ia, ib, (size_t)na * 4) == 0);
    CHECK(na > 5 && ib[1] == 403 && ib[2] == 407 && ib[3] == 261 && ib[4] == 378);
    skim_tokenizer_destroy(a);
    skim_tokenizer_destroy(b);
}

static float *read_checkpoint(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *buf = malloc((size_t)n);
    CHECK(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void convert_and_check(const char *ckpt_path, const float *weights, skim_type type,
                              const char *opt) {
    char out[1024];
    snprintf(out, sizeof out, "%s/stories260K_%s.gguf", g_tmp, skim_type_name(type));
    CHECK(run_converter(ckpt_path, out, opt) == 0);
    skim_gguf *g = NULL;
    skim_gguf_error err;
    if (skim_gguf_open_file(out, NULL, &g, &err) != SKIM_OK) {
        fprintf(stderr, "%s: %s\n", out, err.msg);
        exit(1);
    }
    check_metadata(g);
    check_tensors(g, weights, type);
    if (type == SKIM_TYPE_F32) check_vocab(g);
    skim_gguf_destroy(g);
    remove(out);
}

/* A checkpoint one float short, and one with a bad header, must fail cleanly. */
static void check_bad_checkpoints(const float *ckpt, size_t size) {
    char bad[1024], out[1024];
    snprintf(bad, sizeof bad, "%s/bad_checkpoint.bin", g_tmp);
    snprintf(out, sizeof out, "%s/bad_checkpoint.gguf", g_tmp);
    FILE *f = fopen(bad, "wb");
    CHECK(f && fwrite(ckpt, 1, size - 4, f) == size - 4);
    fclose(f);
    CHECK(run_converter(bad, out, "") != 0);
    int32_t hdr[7];
    memcpy(hdr, ckpt, sizeof hdr);
    hdr[3] = 7; /* n_heads that does not divide dim */
    f = fopen(bad, "wb");
    CHECK(f && fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr);
    CHECK(fwrite((const char *)ckpt + sizeof hdr, 1, size - sizeof hdr, f) == size - sizeof hdr);
    fclose(f);
    CHECK(run_converter(bad, out, "") != 0);
    CHECK(run_converter(bad, out, "--type q3") != 0);
    remove(bad);
    remove(out);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: test_convert CONVERTER DATA_DIR TMPDIR\n");
        return 2;
    }
    g_conv = argv[1], g_data = argv[2], g_tmp = argv[3];
    char ckpt_path[1024];
    snprintf(ckpt_path, sizeof ckpt_path, "%s/stories260K.bin", g_data);
    size_t size = 0;
    float *ckpt = read_checkpoint(ckpt_path, &size);
    if (!ckpt) {
        printf("SKIP: %s is absent (the llama2.c test data, see shared/data/SOURCES.md)\n", ckpt_path);
        return TEST_SKIP;
    }
    CHECK(size == 1056540);
    const int32_t *hdr = (const int32_t *)(const void *)ckpt;
    CHECK(hdr[0] == 64 && hdr[1] == 172 && hdr[2] == 5 && hdr[3] == 8 && hdr[4] == 4 &&
          hdr[5] == 512 && hdr[6] == 512);
    const float *weights = ckpt + 7;
    convert_and_check(ckpt_path, weights, SKIM_TYPE_F32, "");
    convert_and_check(ckpt_path, weights, SKIM_TYPE_F16, "--type f16");
    convert_and_check(ckpt_path, weights, SKIM_TYPE_Q8_0, "--type q8_0");
    check_bad_checkpoints(ckpt, size);
    free(ckpt);
    printf("convert_llama2c: ok\n");
    return 0;
}
