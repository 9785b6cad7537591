/* test_llama_golden.c - the external golden test: stories260K.bin and
 * tok512.bin converted to GGUF by convert_llama2c, decoded greedily for 64 positions from
 * BOS + "Once upon a time" through the decode graph and its KV cache, must give exactly
 * llama2.c run.c's token ids and its 181 bytes of text (shared/data/SOURCES.md). The
 * logits of every position, from decode steps and from one prefill window, must match the
 * top-5 of an independent float64 forward pass (stories260K_once_top5.json) within 1e-3
 * relative.
 *
 *   test_llama_golden CONVERTER DATA_DIR TMPDIR cpu|vulkan
 * Exit 77 (ctest SKIP) with a message when DATA_DIR lacks the files. */
#include "skim-cpu.h"
#include "skim-model.h"
#include "skim-text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SKIM_TEST_HAVE_VULKAN
skim_status test_vulkan_create(skim_backend **out);
#endif

#define N_POS 64
#define N_VOCAB 512

#include "model_check.h"

static const int32_t expected_tokens[N_POS + 1] = {
    1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338,
    401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328,
    432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335,
    312, 432, 398, 312, 286, 267, 414, 270, 333, 415, 426, 13,  438, 310};

static const char expected_text[] =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily\n";

typedef struct ref_pos {
    int32_t id[5];
    double logit[5];
} ref_pos;

static bool file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The top5 arrays of the reference file, in position order (a small scan, not a JSON
 * parser: the file is the one described in SOURCES.md). */
static bool load_reference(const char *path, ref_pos *ref) {
    char *text = read_all(path);
    if (!text) return false;
    const char *p = text;
    int n = 0;
    while (n < N_POS && (p = strstr(p, "\"top5\"")) != NULL) {
        p += 6;
        for (int k = 0; k < 10; k++) {
            while (*p && !(*p == '-' || (*p >= '0' && *p <= '9'))) p++;
            char *end;
            double v = strtod(p, &end);
            if (end == p) break;
            p = end;
            if (k % 2 == 0) ref[n].id[k / 2] = (int32_t)v;
            else ref[n].logit[k / 2] = v;
        }
        n++;
    }
    free(text);
    return n == N_POS;
}

static double check_logits(const char *what, int pos, const float *logits, const ref_pos *r) {
    double worst = 0.0;
    for (int k = 0; k < 5; k++) {
        double ref = r->logit[k], got = logits[r->id[k]];
        double rel = fabs(got - ref) / fmax(1.0, fabs(ref));
        worst = fmax(worst, rel);
        CHECK(rel <= 1e-3, "%s: position %d token %d: logit %.6f, reference %.6f", what, pos,
              r->id[k], got, ref);
    }
    CHECK(skim_sample_argmax(logits, N_VOCAB) == r->id[0], "%s: position %d: argmax %d, "
          "reference %d", what, pos, skim_sample_argmax(logits, N_VOCAB), r->id[0]);
    return worst;
}

static skim_status make_backend(const char *name, skim_backend **be) {
    if (strcmp(name, "cpu") == 0) {
        return skim_backend_create_cpu(NULL, be);
    }
#ifdef SKIM_TEST_HAVE_VULKAN
    if (strcmp(name, "vulkan") == 0) {
        return test_vulkan_create(be);
    }
#endif
    printf("unknown or unbuilt backend %s\n", name);
    return SKIM_ERR_UNSUPPORTED;
}

/* Greedy decode of 64 positions; returns the text as run.c prints it. */
static void decode_run(skim_session *s, const skim_tokenizer *tok, const int32_t *prompt,
                       int n_prompt, const ref_pos *ref, char *text, size_t cap) {
    float logits[N_VOCAB];
    int32_t token = prompt[0];
    size_t len = 0;
    double worst = 0.0;
    for (int pos = 0; pos < N_POS; pos++) {
        skim_status st = skim_session_decode(s, token, logits);
        CHECK(st == SKIM_OK, "decode at %d: %s: %s", pos, skim_status_str(st),
              skim_session_error(s));
        if (st != SKIM_OK) return;
        worst = fmax(worst, check_logits("decode", pos, logits, &ref[pos]));
        int32_t next = pos + 1 < n_prompt ? prompt[pos + 1] : skim_sample_argmax(logits, N_VOCAB);
        CHECK(next == expected_tokens[pos + 1], "position %d: token %d, run.c %d", pos, next,
              expected_tokens[pos + 1]);
        size_t n;
        const char *piece = skim_tokenizer_decode(tok, token, next, &n);
        if (piece && skim_text_piece_printable(piece, n) && len + n < cap) {
            memcpy(text + len, piece, n);
            len += n;
        }
        token = next;
    }
    text[len++] = '\n';
    text[len] = '\0';
    printf("decode: largest relative logit difference %.2e\n", worst);
}

static void prefill_run(skim_session *s, const ref_pos *ref) {
    float *logits = malloc(sizeof(float) * N_VOCAB * N_POS);
    skim_status st = skim_session_prefill(s, expected_tokens, N_POS, logits);
    CHECK(st == SKIM_OK, "prefill: %s: %s", skim_status_str(st), skim_session_error(s));
    if (st == SKIM_OK) {
        double worst = 0.0;
        for (int pos = 0; pos < N_POS; pos++) {
            worst = fmax(worst, check_logits("prefill", pos, logits + (size_t)pos * N_VOCAB,
                                             &ref[pos]));
        }
        printf("prefill: largest relative logit difference %.2e\n", worst);
    }
    free(logits);
}

static int run(const char *gguf_path, const char *ref_path, const char *backend) {
    static ref_pos ref[N_POS];
    CHECK(load_reference(ref_path, ref), "cannot read %s", ref_path);
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_model_desc md = {0};
    md.n_ctx = N_POS;
    skim_model *m = NULL;
    skim_status st = skim_model_load_file(gguf_path, &md, &m, msg, sizeof msg);
    CHECK(st == SKIM_OK, "model_load: %s: %s", skim_status_str(st), msg);
    skim_tokenizer *tok = NULL;
    if (m) {
        st = skim_tokenizer_load_gguf(skim_model_gguf(m), NULL, &tok);
        CHECK(st == SKIM_OK, "tokenizer: %s", skim_status_str(st));
    }
    skim_backend *be = NULL;
    if (m && tok && (st = make_backend(backend, &be)) == SKIM_OK) {
        int32_t prompt[32];
        int64_t n_prompt = 0;
        const char *ptext = "Once upon a time";
        st = skim_tokenizer_encode(tok, ptext, strlen(ptext), true, false, prompt, 32, &n_prompt);
        CHECK(st == SKIM_OK && n_prompt == 5 && memcmp(prompt, expected_tokens, 5 * 4) == 0,
              "prompt tokens differ from run.c's");
        skim_session *s = NULL;
        st = skim_session_create(m, be, NULL, &s, msg, sizeof msg);
        CHECK(st == SKIM_OK, "session: %s: %s", skim_status_str(st), msg);
        if (s && failures == 0) {
            char text[4096];
            decode_run(s, tok, prompt, (int)n_prompt, ref, text, sizeof text);
            CHECK(strcmp(text, expected_text) == 0 && strlen(text) == 181,
                  "text differs from run.c's (%zu bytes):\n%s", strlen(text), text);
            printf("%s", text);
            prefill_run(s, ref);
        }
        skim_session_destroy(s);
    } else if (m && tok) {
        CHECK(0, "backend %s: %s", backend, skim_status_str(st));
    }
    skim_backend_destroy(be);
    skim_tokenizer_destroy(tok);
    skim_model_destroy(m);
    printf("%s: %s\n", backend, failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: test_llama_golden CONVERTER DATA_DIR TMPDIR cpu|vulkan\n");
        return 2;
    }
    char ckpt[1024], tokp[1024], refp[1024], out[1024], cmd[4096];
    snprintf(ckpt, sizeof ckpt, "%s/stories260K.bin", argv[2]);
    snprintf(tokp, sizeof tokp, "%s/tok512.bin", argv[2]);
    snprintf(refp, sizeof refp, "%s/stories260K_once_top5.json", argv[2]);
    if (!file_exists(ckpt) || !file_exists(tokp) || !file_exists(refp)) {
        printf("SKIP: %s lacks stories260K.bin, tok512.bin or stories260K_once_top5.json "
               "(see shared/data/SOURCES.md)\n", argv[2]);
        return 77;
    }
    snprintf(out, sizeof out, "%s/stories260K_golden_%s.gguf", argv[3], argv[4]);
    snprintf(cmd, sizeof cmd, "\"%s\" \"%s\" \"%s\" \"%s\"", argv[1], ckpt, tokp, out);
    if (system(cmd) != 0) {
        printf("FAIL: %s\n", cmd);
        return 1;
    }
    return run(out, refp, argv[4]);
}
