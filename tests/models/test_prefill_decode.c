/* test_prefill_decode - a prompt fed in one run of the prefill graph, then decode going on
 * from the caches it filled (the session's plans share one skim_store), equals the same
 * tokens fed one decode step each: the prompt's last logits and those of every later
 * step, within 1e-3 of the largest logit. Also: two plans of the model's graphs with one
 * store hold its weights and states once (the backend's memory accounting, against the
 * same plans each with a store of its own).
 *
 *   test_prefill_decode MODEL.gguf cpu|vulkan
 *
 * Exit 77 (ctest SKIP) when the backend is not there. */
#include "skim-cpu.h"
#include "skim-model.h"
#include "test_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SKIM_TEST_HAVE_VULKAN
skim_status test_vulkan_create(skim_backend **out);
#endif

enum { PROMPT = 11, STEPS = 6 };

static double nerr(const float *a, const float *b, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        e = isnan(d) ? INFINITY : fmax(e, d);
        m = fmax(m, fabs(b[i]));
    }
    return e / fmax(m, 1e-6);
}

/* logits[(STEPS + 1) * V]: the prompt's last, then each step's. */
static bool run(skim_model *m, skim_backend *be, bool prefill, const int32_t *ids, float *logits) {
    const size_t V = (size_t)skim_model_get_hparams(m)->n_vocab;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_session *s = NULL;
    skim_status st = skim_session_create(m, be, NULL, &s, msg, sizeof msg);
    CHECK(st == SKIM_OK, "session: %s", msg);
    if (!s) return false;
    if (prefill) {
        st = skim_session_prompt(s, ids, PROMPT, logits);
        skim_run_stats rs;
        skim_session_get_stats(s, false, &rs);
        CHECK(st == SKIM_OK && rs.runs == 1, "prompt: %s (%lld prefill runs, 1 expected)",
              skim_session_error(s), (long long)rs.runs);
    } else {
        for (int i = 0; i < PROMPT && st == SKIM_OK; i++) {
            st = skim_session_decode(s, ids[i], logits);
        }
        CHECK(st == SKIM_OK, "decode: %s", skim_session_error(s));
    }
    CHECK(skim_session_n_past(s) == PROMPT, "n_past %d after the prompt", skim_session_n_past(s));
    for (int t = 0; t < STEPS && st == SKIM_OK; t++) {
        st = skim_session_decode(s, ids[PROMPT + t], logits + (size_t)(t + 1) * V);
        CHECK(st == SKIM_OK, "step %d: %s", t, skim_session_error(s));
    }
    skim_session_destroy(s);
    return st == SKIM_OK;
}

/* Bytes the backend holds (device bytes on Vulkan, host bytes on the CPU). */
static uint64_t held(const skim_backend *be, bool device) {
    skim_memory_stats ms;
    skim_backend_query_memory(be, &ms);
    return device ? ms.device_bytes : (uint64_t)ms.host_bytes;
}

/* The model's two graphs planned with one store hold the store's weights and states once:
 * planned each with its own store they hold them twice, exactly one store's bytes more. */
static void check_shared(skim_model *m, skim_backend *be, bool device) {
    skim_graph *gs[2] = {skim_model_decode_graph(m), skim_model_prefill_graph(m)};
    skim_plan *p[2] = {NULL, NULL};
    uint64_t base = held(be, device), wb = 0, sb = 0;
    skim_store *st = NULL;
    CHECK(skim_store_create(be, gs, 2, &st) == SKIM_OK, "store: %s", skim_backend_error(be));
    skim_store_query_bytes(st, &wb, &sb);
    skim_plan_desc pd = {.mode = SKIM_MODE_SKIP, .store = st};
    for (int k = 0; k < 2; k++) {
        CHECK(skim_plan_create(be, gs[k], &pd, &p[k]) == SKIM_OK, "plan %d: %s", k,
              skim_backend_error(be));
    }
    uint64_t shared = held(be, device) - base;
    skim_store_destroy(st); /* the plans keep it */
    for (int k = 0; k < 2; k++) skim_plan_destroy(p[k]);
    CHECK(held(be, device) == base, "the store outlived its plans");
    for (int k = 0; k < 2; k++) {
        CHECK(skim_plan_create(be, gs[k], NULL, &p[k]) == SKIM_OK, "private plan %d", k);
    }
    uint64_t priv = held(be, device) - base;
    for (int k = 0; k < 2; k++) skim_plan_destroy(p[k]);
    /* What each plan's own store holds: the weights and states of its graph alone. */
    uint64_t own = 0;
    for (int k = 0; k < 2; k++) {
        uint64_t w = 0, sz = 0;
        skim_store *one = NULL;
        CHECK(skim_store_create(be, &gs[k], 1, &one) == SKIM_OK, "store of graph %d", k);
        skim_store_query_bytes(one, &w, &sz);
        skim_store_destroy(one);
        own += w + sz;
    }
    uint64_t saved = priv - shared, want = own - (wb + sb);
    printf("  held by two plans: %llu bytes with one store (weights %llu, states %llu), %llu "
           "with their own (%llu in their stores)\n", (unsigned long long)shared,
           (unsigned long long)wb, (unsigned long long)sb, (unsigned long long)priv,
           (unsigned long long)own);
    /* Device bytes are the stores' exactly; host bytes also count the stores' bookkeeping. */
    CHECK(device ? saved == want && wb > 0 : saved >= want && saved < want + 4096 && wb == 0,
          "sharing saved %llu bytes; the stores' data accounts for %llu",
          (unsigned long long)saved, (unsigned long long)want);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_prefill_decode MODEL.gguf cpu|vulkan\n");
        return 2;
    }
    skim_backend *be = NULL;
    skim_status bs = SKIM_ERR_UNSUPPORTED;
    if (strcmp(argv[2], "cpu") == 0) bs = skim_backend_create_cpu(NULL, &be);
#ifdef SKIM_TEST_HAVE_VULKAN
    else if (strcmp(argv[2], "vulkan") == 0) bs = test_vulkan_create(&be);
#endif
    if (bs != SKIM_OK) {
        printf("SKIP: no %s backend\n", argv[2]);
        return 77;
    }
    skim_model_desc md;
    memset(&md, 0, sizeof md);
    md.n_ctx = 32;
    md.n_batch = 16;
    skim_model *m = NULL;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_status st = skim_model_load_file(argv[1], &md, &m, msg, sizeof msg);
    CHECK(st == SKIM_OK, "load: %s", msg);
    if (m) {
        const int32_t V = skim_model_get_hparams(m)->n_vocab;
        int32_t ids[PROMPT + STEPS];
        for (int i = 0; i < PROMPT + STEPS; i++) ids[i] = (int32_t)((i * 7919 + 3) % V);
        size_t n = (size_t)(STEPS + 1) * (size_t)V;
        float *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b);
        if (a && b && run(m, be, true, ids, a) && run(m, be, false, ids, b)) {
            for (int t = 0; t <= STEPS; t++) {
                double e = nerr(a + (size_t)t * V, b + (size_t)t * V, (size_t)V);
                bool finite = true;
                for (int32_t k = 0; k < V; k++) finite = finite && isfinite(a[(size_t)t * V + k]);
                printf("  %s: position %d: prefill-then-decode vs decode %.2e\n", argv[2],
                       PROMPT - 1 + t, e);
                CHECK(finite && e <= 1e-3, "position %d: logits differ (%.3g) or are not finite",
                      PROMPT - 1 + t, e);
            }
        }
        free(a);
        free(b);
        check_shared(m, be, strcmp(argv[2], "vulkan") == 0);
    }
    skim_model_destroy(m);
    skim_backend_destroy(be);
    printf("%s: %s\n", argv[2], t_failures ? "FAILED" : "PASSED");
    return t_failures ? 1 : 0;
}
