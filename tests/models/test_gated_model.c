/* test_gated_model.c - the gated model (assets/gated-shakespeare.gguf, or any GGUF given)
 * computed three ways must agree, gates on and gates off:
 * - the decode graph, token by token through the KV caches and the per-block key masks;
 * - the prefill graph over the whole window (keys bounded by each block's selection);
 * - the prefill graph in masked-dense mode (the dense-equivalence law).
 * With a raw reference (REF_IDS, REF_LOGITS: int32 ids and float32 [n][n_vocab] logits,
 * as a PyTorch forward_infer writes them) the logits must match it too.
 *
 *   test_gated_model MODEL.gguf cpu|vulkan [REF_IDS REF_GATED REF_DENSE]
 * Exit 77 (ctest SKIP) when the model file is absent. */
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

#include "model_check.h"

static const char prompt[] =
    "ROMEO:\nWhat light through yonder window breaks?\nJULIET:\nIt is the east, and Juliet "
    "is the sun.\n";

/* max |a-b| / max |b| over n values. */
static double nerr(const float *a, const float *b, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        e = isnan(d) ? INFINITY : fmax(e, d);
        m = fmax(m, fabs(b[i]));
    }
    return e / fmax(m, 1e-6);
}

static float *read_raw(const char *path, size_t bytes) {
    FILE *f = fopen(path, "rb");
    float *buf = f ? malloc(bytes) : NULL;
    if (buf && fread(buf, 1, bytes, f) != bytes) {
        free(buf);
        buf = NULL;
    }
    if (f) fclose(f);
    return buf;
}

static skim_status make_backend(const char *name, skim_backend **be) {
    if (strcmp(name, "cpu") == 0) return skim_backend_create_cpu(NULL, be);
#ifdef SKIM_TEST_HAVE_VULKAN
    if (strcmp(name, "vulkan") == 0) return test_vulkan_create(be);
#endif
    return SKIM_ERR_UNSUPPORTED;
}

static void encode(const skim_gguf *g, int32_t *ids, int n) {
    const skim_gguf_value *v = skim_gguf_find(g, "tokenizer.ggml.tokens");
    uint64_t nv = 0;
    skim_gguf_type et;
    skim_gguf_value_arr(v, &et, &nv);
    for (int i = 0; i < n; i++) {
        ids[i] = 0;
        for (uint64_t j = 0; j < nv; j++) {
            const char *s;
            if (skim_gguf_value_str(skim_gguf_arr_elem(v, j), &s, NULL) == SKIM_OK &&
                s[0] == prompt[i]) {
                ids[i] = (int32_t)j;
            }
        }
    }
}

static void report_stats(skim_session *s, const char *what) {
    skim_run_stats st;
    skim_session_get_stats(s, false, &st);
    printf("  %s prefill: head-ops %lld/%lld, token-layer ops %lld/%lld\n", what,
           (long long)st.head_ops_executed, (long long)st.head_ops_dense,
           (long long)st.token_layer_ops_executed, (long long)st.token_layer_ops_dense);
}

/* Prefill (skip), decode steps and, on the CPU, masked-dense prefill on one model. */
static void check_model(skim_model *m, skim_backend *be, bool cpu, const int32_t *ids, int n,
                        const float *ref, const char *label) {
    const int32_t V = skim_model_get_hparams(m)->n_vocab;
    size_t nl = (size_t)n * (size_t)V;
    float *pre = calloc(nl, sizeof *pre), *dec = calloc(nl, sizeof *dec),
          *msk = calloc(nl, sizeof *msk);
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_session *s = NULL, *sm = NULL;
    skim_status st = skim_session_create(m, be, NULL, &s, msg, sizeof msg);
    CHECK(st == SKIM_OK, "%s: session: %s", label, msg);
    if (s) {
        CHECK(skim_session_prefill(s, ids, n, pre) == SKIM_OK, "%s: prefill: %s", label,
              skim_session_error(s));
        /* The prefill filled the caches; decode the same tokens again from position 0. */
        CHECK(skim_session_reset(s) == SKIM_OK, "%s: reset: %s", label, skim_session_error(s));
        for (int i = 0; i < n; i++) {
            st = skim_session_decode(s, ids[i], dec + (size_t)i * V);
            CHECK(st == SKIM_OK, "%s: decode %d: %s", label, i, skim_session_error(s));
            if (st != SKIM_OK) break;
        }
        double e = nerr(dec, pre, nl);
        printf("  %s: decode vs prefill %.2e\n", label, e);
        CHECK(e <= 1e-3, "%s: decode and prefill logits differ (%.3g)", label, e);
        report_stats(s, label);
        if (ref) {
            double r = nerr(pre, ref, nl);
            printf("  %s: prefill vs reference %.2e\n", label, r);
            CHECK(r <= 1e-3, "%s: logits differ from the reference (%.3g)", label, r);
        }
    }
    skim_session_desc md = {.mode = SKIM_MODE_MASKED_DENSE};
    if (cpu && skim_session_create(m, be, &md, &sm, msg, sizeof msg) == SKIM_OK) {
        CHECK(skim_session_prefill(sm, ids, n, msk) == SKIM_OK, "%s: masked prefill: %s", label,
              skim_session_error(sm));
        double e = nerr(msk, pre, nl);
        printf("  %s: masked-dense vs skip %.2e\n", label, e);
        CHECK(e <= 1e-4, "%s: masked-dense and skip differ (%.3g)", label, e);
    }
    skim_session_destroy(sm);
    skim_session_destroy(s);
    free(pre);
    free(dec);
    free(msk);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_gated_model MODEL.gguf cpu|vulkan [REF_IDS REF_GATED "
                        "REF_DENSE]\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        printf("SKIP: %s is absent (the gated model is trained by tools/train)\n", argv[1]);
        return 77;
    }
    fclose(f);
    const int n = (int)strlen(prompt);
    int32_t ids[sizeof prompt];
    skim_backend *be = NULL;
    skim_status st = make_backend(argv[2], &be);
    CHECK(st == SKIM_OK, "backend %s: %s", argv[2], skim_status_str(st));
    for (int dense = 0; dense < 2 && be; dense++) {
        skim_model_desc d;
        memset(&d, 0, sizeof d);
        d.dense = dense;
        skim_model *m = NULL;
        char msg[SKIM_MODEL_MSG_LEN] = "";
        st = skim_model_load_file(argv[1], &d, &m, msg, sizeof msg);
        CHECK(st == SKIM_OK, "load: %s", msg);
        if (!m) continue;
        encode(skim_model_gguf(m), ids, n);
        float *ref = NULL;
        if (argc >= 6) {
            ref = read_raw(argv[4 + dense], (size_t)n * skim_model_get_hparams(m)->n_vocab * 4);
            CHECK(ref != NULL, "cannot read %s", argv[4 + dense]);
        }
        check_model(m, be, strcmp(argv[2], "cpu") == 0, ids, n, ref,
                    dense ? "gates off" : "gated");
        free(ref);
        skim_model_destroy(m);
    }
    skim_backend_destroy(be);
    printf("%s: %s\n", argv[2], failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
