/* test_prefill_chunks - prompts longer than the largest prefill chunk, and prompts that
 * start after earlier positions are cached, fed through skim_session_prompt chunk by
 * chunk (each chunk attending to the cache before it), against the same tokens fed one
 * decode step each. n_ctx 384, n_batch 128: chunks of 16, 64 and 128 tokens.
 *   A: 300 tokens: 128 + 128 + 44 (in the 64-token chunk, padded): 3 runs;
 *   B: 128 tokens, exactly the largest chunk: 1 run;
 *   C: 40 tokens (1 run), 5 greedy decode steps, then 150 more at position 45:
 *      128 + 16 + 6 (in a 16-token chunk, padded): 4 runs in all.
 * Held equal: the logits after each prompt and at each of the next STEPS greedy tokens
 * (normalised MSE at most 1e-9, the op table's tolerance of the products and attention
 * that make them, and the same greedy tokens), and every cache state (K, V, and the gated
 * model's key masks) at every position written, within the same bound. No prompt token
 * is fed as a decode step: the session's decode runs are the greedy steps only.
 *
 *   test_prefill_chunks MODEL.gguf cpu|vulkan
 *
 * Exit 77 (ctest SKIP) when the backend or the model file is not there. */
#include "prefill_setup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_CTX = 384, N_BATCH = 128, STEPS = 8, MAX_LAYERS = 64, N_IDS = 300 };

typedef struct scenario {
    const char *name;
    int n_first, n_gen, n_second; /* prompt, greedy decode steps, prompt again */
    int runs;                     /* chunk runs expected in the chunked session */
} scenario;

/* What one feeding left: logits [(2 + STEPS) * V] (after the first prompt, after the
 * second or a copy, after each greedy step), the greedy tokens, the caches' rows written. */
typedef struct result {
    float *logits;
    int32_t tokens[STEPS + 8];
    float *state[MAX_LAYERS][3]; /* K, V, key mask of each block (NULL: none) */
    size_t row[MAX_LAYERS][3];   /* floats per position */
    int32_t n_past;
    int64_t pre_runs, dec_runs;
} result;

/* n tokens at n_past: chunked through skim_session_prompt, or one decode step each. */
static skim_status feed(skim_session *s, bool chunked, const int32_t *ids, int n, float *logits) {
    if (chunked) return skim_session_prompt(s, ids, n, logits);
    skim_status st = SKIM_OK;
    for (int i = 0; i < n && st == SKIM_OK; i++) st = skim_session_decode(s, ids[i], logits);
    return st;
}

/* The caches and key masks of every block, read back. */
static void read_states(skim_model *m, skim_session *s, result *r) {
    skim_plan *p = skim_session_decode_plan(s);
    r->n_past = skim_session_n_past(s);
    for (int il = 0; il < skim_model_get_hparams(m)->n_layer && il < MAX_LAYERS; il++) {
        for (int w = 0; w < 3; w++) {
            skim_tensor *t = skim_model_cache(m, il, w);
            if (!t) continue;
            size_t nb = skim_tensor_nbytes(t);
            r->state[il][w] = malloc(nb);
            r->row[il][w] = (size_t)skim_tensor_ne(t, 0);
            CHECK(r->state[il][w] && skim_plan_get_output(p, t, r->state[il][w], nb) == SKIM_OK,
                  "reading %s", skim_tensor_name(t));
        }
    }
}

static bool play(skim_model *m, skim_backend *be, bool chunked, const int32_t *ids,
                 const scenario *sc, result *r) {
    const int32_t V32 = skim_model_get_hparams(m)->n_vocab;
    const size_t V = (size_t)V32;
    skim_session *s = prefill_session(m, be);
    if (!s) return false;
    skim_status st = SKIM_OK;
    float *lg = r->logits;
    st = feed(s, chunked, ids, sc->n_first, lg);
    for (int t = 0; t < sc->n_gen && st == SKIM_OK; t++) {
        r->tokens[STEPS + t] = prefill_argmax(lg, V32);
        st = skim_session_decode(s, r->tokens[STEPS + t], lg + V);
        memcpy(lg, lg + V, V * sizeof *lg);
    }
    if (st == SKIM_OK && sc->n_second > 0) {
        st = feed(s, chunked, ids + sc->n_first, sc->n_second, lg + V);
    } else {
        memcpy(lg + V, lg, V * sizeof *lg);
    }
    CHECK(st == SKIM_OK, "%s: feeding the prompt: %s", sc->name, skim_session_error(s));
    for (int t = 0; t < STEPS && st == SKIM_OK; t++) {
        r->tokens[t] = prefill_argmax(lg + (size_t)(1 + t) * V, V32);
        st = skim_session_decode(s, r->tokens[t], lg + (size_t)(2 + t) * V);
        CHECK(st == SKIM_OK, "%s: step %d: %s", sc->name, t, skim_session_error(s));
    }
    if (st == SKIM_OK) read_states(m, s, r);
    skim_run_stats ps, ds;
    skim_session_get_stats(s, false, &ps);
    skim_session_get_stats(s, true, &ds);
    r->pre_runs = ps.runs;
    r->dec_runs = ds.runs;
    skim_session_destroy(s);
    return st == SKIM_OK;
}

static double nmse(const float *out, const float *ref, size_t n) {
    double *r = malloc((n ? n : 1) * sizeof *r);
    if (!r) return INFINITY;
    for (size_t i = 0; i < n; i++) r[i] = ref[i];
    double e = nmse_f32(out, r, n);
    free(r);
    return e;
}

/* Block il's states of a against b at positions 0..n_past-1: the key mask exactly (0 or
 * -inf), K and V at the positions present as keys (a halted token writes none: its rows
 * hold whatever was there, a padded chunk's row or the fill, and its mask hides them). */
static double compare_block(const result *a, const result *b, int il) {
    double worst = 0;
    const float *km = b->state[il][2];
    for (int w = 0; w < 2 && a->state[il][w] && b->state[il][w]; w++) {
        size_t row = b->row[il][w], n = 0;
        float *x = malloc(row * (size_t)b->n_past * sizeof *x);
        float *y = malloc(row * (size_t)b->n_past * sizeof *y);
        for (int32_t j = 0; x && y && j < b->n_past; j++) {
            if (km && isinf(km[j])) continue;
            memcpy(x + n, a->state[il][w] + (size_t)j * row, row * sizeof *x);
            memcpy(y + n, b->state[il][w] + (size_t)j * row, row * sizeof *y);
            n += row;
        }
        double e = x && y ? nmse(x, y, n) : INFINITY;
        CHECK(n > 0, "block %d: no position present as a key", il);
        worst = isnan(e) ? INFINITY : fmax(worst, e);
        free(x);
        free(y);
    }
    if (km) {
        double e = nmse(a->state[il][2], km, (size_t)b->n_past);
        worst = isnan(e) ? INFINITY : fmax(worst, e);
    }
    return worst;
}

static void compare(skim_model *m, skim_backend *be, const char *label, const int32_t *ids,
                    const scenario *sc) {
    const size_t V = (size_t)skim_model_get_hparams(m)->n_vocab;
    result a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.logits = calloc((2 + STEPS) * V, sizeof(float));
    b.logits = calloc((2 + STEPS) * V, sizeof(float));
    if (a.logits && b.logits && play(m, be, true, ids, sc, &a) && play(m, be, false, ids, sc, &b)) {
        printf("  %s %s: %d chunk runs, %lld decode steps (token by token: %lld)\n", label,
               sc->name, (int)a.pre_runs, (long long)a.dec_runs, (long long)b.dec_runs);
        CHECK(a.pre_runs == sc->runs && a.dec_runs == sc->n_gen + STEPS, "%s: %lld chunk runs "
              "(%d expected) and %lld decode steps (%d expected)", sc->name,
              (long long)a.pre_runs, sc->runs, (long long)a.dec_runs, sc->n_gen + STEPS);
        for (int t = 0; t < sc->n_gen; t++) {
            CHECK(a.tokens[STEPS + t] == b.tokens[STEPS + t], "%s: generated token %d differs",
                  sc->name, t);
        }
        double worst = 0;
        for (int t = 0; t < 2 + STEPS; t++) {
            double e = nmse(a.logits + (size_t)t * V, b.logits + (size_t)t * V, V);
            worst = isnan(e) ? INFINITY : fmax(worst, e);
            CHECK(e <= 1e-9, "%s: logits %d: normalised MSE %.3g against decode steps",
                  sc->name, t, e);
            CHECK(t < 2 || a.tokens[t - 2] == b.tokens[t - 2], "%s: greedy step %d: token %d vs "
                  "%d", sc->name, t - 2, a.tokens[t - 2], b.tokens[t - 2]);
        }
        double sworst = 0;
        int n_blocks = 0;
        for (int il = 0; il < MAX_LAYERS; il++) {
            if (!b.state[il][0]) continue;
            double e = compare_block(&a, &b, il);
            sworst = isnan(e) ? INFINITY : fmax(sworst, e);
            n_blocks++;
            CHECK(e <= 1e-9, "%s: block %d's caches: normalised MSE %.3g", sc->name, il, e);
        }
        CHECK(n_blocks > 0 && a.n_past == b.n_past, "%s: %d blocks with caches, n_past %d vs %d",
              sc->name, n_blocks, a.n_past, b.n_past);
        printf("  %s %s: chunked vs decode steps: logits NMSE <= %.2e, caches of %d blocks "
               "NMSE <= %.2e\n", label, sc->name, worst, n_blocks, sworst);
    }
    for (int il = 0; il < MAX_LAYERS; il++) {
        for (int w = 0; w < 3; w++) {
            free(a.state[il][w]);
            free(b.state[il][w]);
        }
    }
    free(a.logits);
    free(b.logits);
}

int main(int argc, char **argv) {
    skim_backend *be = NULL;
    skim_model *m = NULL;
    int rc = prefill_setup(argc, argv, N_CTX, N_BATCH, &be, &m);
    if (rc != 0) return rc;
    if (m) {
        const int32_t V = skim_model_get_hparams(m)->n_vocab;
        int32_t ids[N_IDS];
        for (int i = 0; i < N_IDS; i++) ids[i] = (int32_t)((i * 7919 + 3) % V);
        const scenario sc[3] = {{"A (300 tokens)", 300, 0, 0, 3},
                                {"B (128 tokens)", 128, 0, 0, 1},
                                {"C (40, 5 decoded, 150)", 40, 5, 150, 4}};
        for (int k = 0; k < 3; k++) compare(m, be, argv[2], ids, &sc[k]);
    }
    skim_model_destroy(m);
    skim_backend_destroy(be);
    printf("%s: %s\n", argv[2], t_failures ? "FAILED" : "PASSED");
    return t_failures ? 1 : 0;
}
