/* test_gated_vectors.c - the C forward of the gated model against the PyTorch test vectors
 * (assets/vectors.json, assets/README.md section 7), gates on and off: logits of every
 * position within 1e-4 (absolute, scaled up for logits above 1) from the prefill graph
 * and from decode steps through the KV cache; the token and head masks exactly (from the
 * decode trace); the executed token-layer and head-ops of the run stats exactly.
 *
 *   test_gated_vectors MODEL.gguf VECTORS.json cpu|vulkan
 * Exit 77 (ctest SKIP) when either file is absent. */
#include "json_min.h"

#include "skim-cpu.h"
#include "skim-model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SKIM_TEST_HAVE_VULKAN
skim_status test_vulkan_create(skim_backend **out);
#endif

#include "model_check.h"

#define LOGIT_TOL 1e-4

static double num_at(const jm_value *v, size_t i) {
    const jm_value *e = jm_at(v, i);
    return e && e->kind == JM_NUM ? e->num : NAN;
}

/* Largest |got - ref| / max(1, |ref|) over a [n][V] array of arrays. */
static double logit_err(const float *got, const jm_value *ref, int n, int V) {
    double worst = 0;
    for (int t = 0; t < n; t++) {
        const jm_value *row = jm_at(ref, (size_t)t);
        for (int j = 0; j < V; j++) {
            double r = num_at(row, (size_t)j), e = fabs(got[(size_t)t * V + j] - r);
            e = isnan(e) ? INFINITY : e / fmax(1.0, fabs(r));
            worst = fmax(worst, e);
        }
    }
    return worst;
}

typedef struct run_out {
    float *pre, *dec;
    skim_token_trace *trace;
    skim_run_stats pre_stats, dec_stats;
} run_out;

static bool run_model(skim_model *m, skim_backend *be, const int32_t *ids, int n, run_out *o) {
    const int V = skim_model_get_hparams(m)->n_vocab;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_session *s = NULL;
    skim_status st = skim_session_create(m, be, NULL, &s, msg, sizeof msg);
    CHECK(st == SKIM_OK, "session: %s", msg);
    if (!s) return false;
    st = skim_session_prefill(s, ids, n, o->pre);
    CHECK(st == SKIM_OK, "prefill: %s", skim_session_error(s));
    /* The prefill filled the caches; decode the same tokens again from position 0. */
    if (st == SKIM_OK) st = skim_session_reset(s);
    for (int t = 0; t < n && st == SKIM_OK; t++) {
        st = skim_session_decode(s, ids[t], o->dec + (size_t)t * V);
        CHECK(st == SKIM_OK, "decode %d: %s", t, skim_session_error(s));
        if (st == SKIM_OK) st = skim_session_last_trace(s, &o->trace[t]);
    }
    skim_session_get_stats(s, false, &o->pre_stats);
    skim_session_get_stats(s, true, &o->dec_stats);
    skim_session_destroy(s);
    return st == SKIM_OK;
}

static void check_masks(const run_out *o, const jm_value *g, int n, int L, int H, const char *p) {
    const jm_value *ta = jm_get(g, "token_active"), *ha = jm_get(g, "head_active");
    int bad_tok = 0, bad_head = 0;
    for (int l = 0; l < L; l++) {
        for (int t = 0; t < n; t++) {
            int want = (int)num_at(jm_at(ta, (size_t)l), (size_t)t);
            bad_tok += (l < o->trace[t].depth) != (want != 0);
            const jm_value *hr = jm_at(jm_at(ha, (size_t)l), (size_t)t);
            for (int h = 0; h < H; h++) {
                int got = (int)((o->trace[t].head_mask[l] >> h) & 1);
                bad_head += got != ((int)num_at(hr, (size_t)h) != 0);
            }
        }
    }
    CHECK(bad_tok == 0 && bad_head == 0, "%s: %d token and %d head decisions differ from "
          "PyTorch's", p, bad_tok, bad_head);
    const jm_value *tl = jm_get(g, "token_layer_ops_executed");
    const jm_value *ho = jm_get(g, "head_ops_executed");
    if (tl && ho) {
        CHECK(o->pre_stats.token_layer_ops_executed == (int64_t)tl->num &&
              o->pre_stats.head_ops_executed == (int64_t)ho->num,
              "%s: prefill stats %lld token-layer, %lld head-ops; PyTorch %.0f, %.0f", p,
              (long long)o->pre_stats.token_layer_ops_executed,
              (long long)o->pre_stats.head_ops_executed, tl->num, ho->num);
        CHECK(o->dec_stats.token_layer_ops_executed == (int64_t)tl->num &&
              o->dec_stats.head_ops_executed == (int64_t)ho->num,
              "%s: decode stats %lld token-layer, %lld head-ops; PyTorch %.0f, %.0f", p,
              (long long)o->dec_stats.token_layer_ops_executed,
              (long long)o->dec_stats.head_ops_executed, tl->num, ho->num);
    }
}

static void check_prompt(const char *model, skim_backend *be, const jm_value *pr, int idx) {
    const jm_value *tk = jm_get(pr, "tokens");
    int n = tk ? (int)tk->n : 0;
    CHECK(n > 0 && n <= 128, "prompt %d: %d tokens", idx, n);
    if (n <= 0 || n > 128) return;
    int32_t ids[128];
    for (int t = 0; t < n; t++) ids[t] = (int32_t)num_at(tk, (size_t)t);
    for (int dense = 0; dense < 2; dense++) {
        skim_model_desc d;
        memset(&d, 0, sizeof d);
        d.dense = dense;
        d.n_batch = n; /* no padding: the prefill stats count exactly these tokens */
        skim_model *m = NULL;
        char msg[SKIM_MODEL_MSG_LEN] = "";
        CHECK(skim_model_load_file(model, &d, &m, msg, sizeof msg) == SKIM_OK, "load: %s", msg);
        if (!m) continue;
        const skim_model_hparams *hp = skim_model_get_hparams(m);
        const int V = hp->n_vocab;
        run_out o;
        memset(&o, 0, sizeof o);
        o.pre = calloc((size_t)n * V, sizeof(float));
        o.dec = calloc((size_t)n * V, sizeof(float));
        o.trace = calloc((size_t)n, sizeof *o.trace);
        const jm_value *ref = jm_get(pr, dense ? "dense" : "gated");
        char p[64];
        snprintf(p, sizeof p, "prompt %d %s", idx, dense ? "gates off" : "gated");
        if (o.pre && o.dec && o.trace && ref && run_model(m, be, ids, n, &o)) {
            double ep = logit_err(o.pre, jm_get(ref, "logits"), n, V);
            double ed = logit_err(o.dec, jm_get(ref, "logits"), n, V);
            printf("  %s (%d tokens): logits prefill %.2e, decode %.2e\n", p, n, ep, ed);
            CHECK(ep <= LOGIT_TOL && ed <= LOGIT_TOL, "%s: logits differ (%.3g, %.3g)", p, ep, ed);
            if (!dense) check_masks(&o, ref, n, hp->n_layer, hp->n_head, p);
        }
        free(o.pre);
        free(o.dec);
        free(o.trace);
        skim_model_destroy(m);
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: test_gated_vectors MODEL.gguf VECTORS.json cpu|vulkan\n");
        return 2;
    }
    char *text = jm_read_file(argv[2]);
    FILE *f = fopen(argv[1], "rb");
    if (f) fclose(f);
    if (!text || !f) {
        printf("SKIP: %s or %s is absent (made by tools/train)\n", argv[1], argv[2]);
        free(text);
        return 77;
    }
    jm_value *doc = jm_parse(text);
    free(text);
    const jm_value *prompts = jm_get(doc, "prompts");
    CHECK(prompts && prompts->n > 0, "%s: no prompts", argv[2]);
    skim_backend *be = NULL;
    skim_status st = SKIM_ERR_UNSUPPORTED;
    if (strcmp(argv[3], "cpu") == 0) st = skim_backend_create_cpu(NULL, &be);
#ifdef SKIM_TEST_HAVE_VULKAN
    if (strcmp(argv[3], "vulkan") == 0) st = test_vulkan_create(&be);
#endif
    CHECK(st == SKIM_OK, "backend %s: %s", argv[3], skim_status_str(st));
    for (size_t i = 0; be && prompts && i < prompts->n; i++) {
        check_prompt(argv[1], be, jm_at(prompts, i), (int)i);
    }
    skim_backend_destroy(be);
    jm_free(doc);
    printf("%s: %s\n", argv[3], failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
