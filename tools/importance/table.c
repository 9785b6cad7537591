/* table.c - importance --table: attention sublayers dropped in importance order, against
 * the full model, on the full model's own greedy text. */
#include "importance.h"

#include "skim-text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 4 x 500 = 2,000 teacher-forced positions; more prompts where the context is shorter. */
static const char *const eval_prompts[] = {
    "Lily wanted to play", "There was a big tree", "The sun was shining", "A boy named Max",
    "The cat sat", "Once there was a bird", "Mom said", "The girl found a box",
    "It was a rainy day", "The old man", "Sam liked to run", "A little fish",
    "The machine", "Deep in the forest", "Anna had a red ball", "The stars",
    "Ben and Mia", "The big dog barked", "At the park", "The queen",
    "A small boat", "The teacher smiled", "Grandma baked", "The robot said"};
#define EVAL_NEW 500
#define EVAL_TOTAL 2000
#define SPEED_NEW 64

/* KL(p || q) of two logit rows and whether their argmaxes agree. */
static double kl_row(const float *p, const float *q, int32_t n, bool *agree) {
    double mp = p[0], mq = q[0], zp = 0, zq = 0, kl = 0;
    for (int32_t i = 1; i < n; i++) mp = fmax(mp, p[i]), mq = fmax(mq, q[i]);
    for (int32_t i = 0; i < n; i++) zp += exp(p[i] - mp), zq += exp(q[i] - mq);
    for (int32_t i = 0; i < n; i++) {
        double lp = p[i] - mp - log(zp), lq = q[i] - mq - log(zq);
        kl += exp(lp) * (lp - lq);
    }
    *agree = skim_sample_argmax(p, n) == skim_sample_argmax(q, n);
    return kl;
}

/* Decode tokens per second: the best of 3 runs of SPEED_NEW greedy steps after a
 * one-token prompt (the best, as the machine may be shared). */
static double decode_speed(skim_model *m, const char *backend, int threads) {
    skim_backend *be = imp_backend(backend, threads);
    skim_session *s = NULL;
    char msg[SKIM_MODEL_MSG_LEN];
    if (!be || skim_session_create(m, be, NULL, &s, msg, sizeof msg) != SKIM_OK) {
        skim_backend_destroy(be);
        return 0;
    }
    int32_t nv = skim_model_get_hparams(m)->n_vocab;
    float *logits = malloc((size_t)nv * sizeof *logits);
    bool ok = logits != NULL;
    double best = 0;
    for (int rep = 0; ok && rep < 3; rep++) {
        int32_t tok = 1;
        ok = skim_session_reset(s) == SKIM_OK && skim_session_decode(s, tok, logits) == SKIM_OK;
        double t0 = imp_now_s();
        for (int i = 0; ok && i < SPEED_NEW; i++) {
            tok = skim_sample_argmax(logits, nv);
            ok = skim_session_decode(s, tok, logits) == SKIM_OK;
        }
        double dt = imp_now_s() - t0;
        best = ok && dt > 0 && SPEED_NEW / dt > best ? SPEED_NEW / dt : best;
    }
    free(logits);
    skim_session_destroy(s);
    skim_backend_destroy(be);
    return ok ? best : 0;
}

int imp_table(const imp_opts *o, const int *order, int n_layer) {
    imp_seqs sq;
    if (!imp_greedy(o, eval_prompts, 24, EVAL_NEW, EVAL_TOTAL, &sq)) return 1;
    skim_backend *be = imp_backend("cpu", o->threads);
    skim_model *full = be ? imp_load(o, 0, NULL, false, imp_seqs_window(&sq)) : NULL;
    float *ref = full ? imp_logits(full, be, &sq) : NULL;
    skim_model_destroy(full);
    int64_t rows = imp_seqs_rows(&sq);
    int rc = ref ? 0 : 1;
    printf("\n%s: %lld teacher-forced positions of the full model's greedy text\n", o->model,
           (long long)rows);
    printf("| dropped | blocks | KL(full, dropped), nats | top-1 agreement | decode tok/s CPU | "
           "decode tok/s Vulkan |\n|---|---|---|---|---|---|\n");
    for (int k = 0; rc == 0 && k < n_layer; k++) {
        uint64_t drop = 0;
        char list[256] = "";
        for (int i = 0; i < k; i++) {
            drop |= (uint64_t)1 << order[i];
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i ? "," : "", order[i]);
        }
        skim_model *m = imp_load(o, drop, NULL, false, imp_seqs_window(&sq));
        float *lg = m ? imp_logits(m, be, &sq) : NULL;
        if (!lg) {
            rc = 1;
            skim_model_destroy(m);
            break;
        }
        int32_t nv = skim_model_get_hparams(m)->n_vocab;
        double kl = 0;
        int64_t agree = 0;
        for (int64_t r = 0; r < rows; r++) {
            bool a;
            kl += kl_row(ref + r * nv, lg + r * nv, nv, &a);
            agree += a;
        }
        double cpu = decode_speed(m, "cpu", o->threads);
#ifdef SKIM_HAVE_VULKAN
        double vk = decode_speed(m, "vulkan", 0);
#else
        double vk = 0;
#endif
        printf("| %d | %s | %.4f | %.1f%% | %.0f | %.0f |\n", k, k ? list : "-", kl / (double)rows,
               100.0 * (double)agree / (double)rows, cpu, vk);
        fflush(stdout);
        free(lg);
        skim_model_destroy(m);
    }
    free(ref);
    skim_backend_destroy(be);
    imp_seqs_free(&sq);
    return rc;
}
