/* eval.c - generate --eval FILE: bits per character of a character model over the last
 * 10% of FILE (tinyshakespeare's validation split: the first 90% is the training text),
 * in consecutive windows of the context length through the prefill graph: position t of a
 * window predicts character t+1, so every validation character after the first is
 * predicted once. Prints the skipped fractions from the run stats of the same runs. */
#include "generate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        if (len > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len)) != NULL &&
            fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        }
        *n = len > 0 ? (size_t)len : 0;
    }
    fclose(f);
    return buf;
}

/* -log2 softmax(logits)[target]. */
static double bits(const float *logits, int32_t n_vocab, int32_t target) {
    double mx = logits[0], sum = 0.0;
    for (int32_t i = 1; i < n_vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp(logits[i] - mx);
    return (log(sum) - (logits[target] - mx)) / log(2.0);
}

/* Windows [start, start + len) of the split through session s (len <= its window). */
static int eval_range(skim_session *s, const int32_t *ids, size_t start, size_t end, int32_t T,
                      int32_t n_vocab, double *total_bits, size_t *count) {
    float *logits = malloc((size_t)T * (size_t)n_vocab * sizeof *logits);
    if (!logits) return 1;
    for (; start < end; start += (size_t)T) {
        int32_t len = (int32_t)(end - start < (size_t)T ? end - start : (size_t)T);
        if (skim_session_prefill(s, ids + start, len, logits) != SKIM_OK) {
            fprintf(stderr, "%s\n", skim_session_error(s));
            free(logits);
            return 1;
        }
        for (int32_t t = 0; t < len; t++) {
            *total_bits += bits(logits + (size_t)t * n_vocab, n_vocab, ids[start + t + 1]);
        }
        *count += (size_t)len;
    }
    free(logits);
    return 0;
}

/* The last, shorter window runs on a model whose window is exactly its length, so that
 * the run stats count no padding (as tools/train/eval.py counts). */
static int eval_tail(const options *o, skim_backend *be, const int32_t *ids, size_t start,
                     size_t end, double *total_bits, size_t *count, skim_run_stats *sum) {
    skim_model_desc md;
    memset(&md, 0, sizeof md);
    md.dense = o->dense;
    md.gate_tau = o->tau_g;
    md.halt_tau = o->tau_h;
    md.n_batch = (int32_t)(end - start);
    skim_model *m = NULL;
    skim_session *s = NULL;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    int rc = 1;
    if (skim_model_load_file(o->model, &md, &m, msg, sizeof msg) == SKIM_OK &&
        skim_session_create(m, be, NULL, &s, msg, sizeof msg) == SKIM_OK) {
        rc = eval_range(s, ids, start, end, md.n_batch, skim_model_get_hparams(m)->n_vocab,
                        total_bits, count);
        skim_run_stats st;
        skim_session_get_stats(s, false, &st);
        sum->head_ops_executed += st.head_ops_executed;
        sum->head_ops_dense += st.head_ops_dense;
        sum->token_layer_ops_executed += st.token_layer_ops_executed;
        sum->token_layer_ops_dense += st.token_layer_ops_dense;
        sum->flops_executed += st.flops_executed;
        sum->flops_dense += st.flops_dense;
    } else {
        fprintf(stderr, "%s\n", msg);
    }
    skim_session_destroy(s);
    skim_model_destroy(m);
    return rc;
}

int run_eval(const options *o, skim_model *m, skim_backend *be, const ex_text *text) {
    if (text->bpe) {
        fprintf(stderr, "--eval measures bits per character: it needs a character model\n");
        return 1;
    }
    size_t n = 0;
    char *data = read_file(o->eval, &n);
    if (!data || n < 20) {
        fprintf(stderr, "cannot read %s\n", o->eval);
        free(data);
        return 1;
    }
    size_t split = (size_t)(0.9 * (double)n), nv = n - split;
    int32_t *ids = malloc(nv * sizeof *ids);
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_session *s = NULL;
    int rc = 1;
    if (ids && ex_text_encode(text, data + split, nv, ids, (int64_t)nv) == (int64_t)nv &&
        skim_session_create(m, be, NULL, &s, msg, sizeof msg) == SKIM_OK) {
        double total = 0.0, t0 = ex_now_s();
        size_t count = 0;
        const int32_t T = skim_model_n_batch(m);
        size_t n_pred = nv - 1, full = n_pred - n_pred % (size_t)T;
        rc = eval_range(s, ids, 0, full, T, skim_model_get_hparams(m)->n_vocab, &total, &count);
        skim_run_stats st;
        skim_session_get_stats(s, false, &st);
        if (rc == 0 && full < n_pred) {
            rc = eval_tail(o, be, ids, full, n_pred, &total, &count, &st);
        }
        double dt = ex_now_s() - t0;
        if (rc == 0 && count > 0) {
            printf("validation split of %s: %zu characters from byte %zu; windows of %d\n",
                   o->eval, nv, split, skim_model_n_batch(m));
            printf("bits per character (%s): %.5f over %zu predictions (%.1f s, %.0f tokens/s)\n",
                   skim_model_is_dense(m) ? "gates off" : "gated", total / (double)count, count,
                   dt, dt > 0 ? count / dt : 0.0);
            fflush(stdout);
            ex_print_skipped("eval", &st, skim_model_get_hparams(m)->n_head);
        }
    } else if (msg[0]) {
        fprintf(stderr, "%s\n", msg);
    }
    skim_session_destroy(s);
    free(ids);
    free(data);
    return rc;
}
