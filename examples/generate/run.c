/* run.c - generation: the prompt in prefill chunks (skim_session_prompt; one decode step
 * per token with --trace, which draws every token), then sample, stream and time. */
#include "generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#endif

typedef struct gen {
    const options *o;
    skim_model *m;
    skim_session *s;
    const ex_text *text;
    float *logits;
    int32_t *hist; /* every token so far, for refilling the cache when it is full */
    int n_hist, cap_hist;
    ex_trace trace;
    int64_t prompt_n;  /* tokens fed by skim_session_prompt (0: none) */
    int64_t prompt_runs; /* its prefill runs and decode steps */
    double prompt_s;
} gen;

/* One token through the cache; when the cache is full, the newest half of the history
 * is fed again from position 0 (the model's window slides). */
static bool step(gen *g, int32_t prev, int32_t token) {
    int32_t n_ctx = skim_model_n_ctx(g->m);
    if (skim_session_n_past(g->s) >= n_ctx) {
        int keep = n_ctx / 2;
        skim_session_reset(g->s);
        if (skim_session_prompt(g->s, g->hist + g->n_hist - keep, keep, NULL) != SKIM_OK) {
            fprintf(stderr, "\n%s\n", skim_session_error(g->s));
            return false;
        }
    }
    if (skim_session_decode(g->s, token, g->logits) != SKIM_OK) {
        fprintf(stderr, "\n%s\n", skim_session_error(g->s));
        return false;
    }
    if (g->n_hist < g->cap_hist) g->hist[g->n_hist++] = token;
    if (g->o->trace) {
        skim_token_trace t;
        size_t len = 0;
        const char *piece = ex_text_piece(g->text, prev, token, &len);
        if (skim_session_last_trace(g->s, &t) == SKIM_OK) {
            ex_trace_push(&g->trace, &t, piece, piece ? len : 0);
        }
    }
    return true;
}

static void emit(const char *piece, size_t len, int generated, double t0) {
    if (!piece || len == 0) return;
    if (piece[len - 1] == '\n') {
        fwrite(piece, 1, len - 1, stdout);
        fflush(stdout);
        double dt = ex_now_s() - t0;
        fprintf(stderr, "   [%.1f tok/s]", dt > 0 ? generated / dt : 0.0);
        fflush(stderr);
        fputc('\n', stdout);
    } else {
        fwrite(piece, 1, len, stdout);
    }
    fflush(stdout);
}

static int generate_loop(gen *g, skim_sampler *smp, int32_t last) {
    double t0 = ex_now_s();
    clock_t c0 = clock(); /* CPU time of every thread (lavapipe's too): stable on a busy host */
    int generated = 0;
    for (int i = 0; i < g->o->n; i++) {
        int32_t next;
        skim_sampler_sample(smp, g->logits, &next);
        if (g->text->bpe && next == skim_tokenizer_bos(g->text->bpe)) break;
        size_t len = 0;
        const char *piece = ex_text_piece(g->text, last, next, &len);
        if (!step(g, last, next)) return 1;
        generated++;
        emit(piece, len, generated, t0);
        last = next;
    }
    double dt = ex_now_s() - t0;
    fputc('\n', stdout); /* the text ends with a newline, as llama2.c's run.c prints it */
    fflush(stdout);
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    if (g->prompt_n > 0) {
        fprintf(stderr, "\nprompt: %lld tokens in %lld run%s, %.3f s: prefill %.1f tokens/s",
                (long long)g->prompt_n, (long long)g->prompt_runs, g->prompt_runs == 1 ? "" : "s",
                g->prompt_s, g->prompt_s > 0 ? (double)g->prompt_n / g->prompt_s : 0.0);
    }
    fprintf(stderr, "\ngenerated %d tokens in %.3f s: %.1f tokens/s\n", generated, dt,
            dt > 0 ? generated / dt : 0.0);
    fprintf(stderr, "CPU time %.3f s (all threads): %.1f tokens per CPU-second\n", cpu,
            cpu > 0 ? generated / cpu : 0.0);
    return 0;
}

static int start(gen *g, skim_sampler *smp) {
    const options *o = g->o;
    const char *prompt = o->prompt ? o->prompt : g->text->bpe ? "Once upon a time" : "ROMEO:\n";
    size_t plen = strlen(prompt);
    int32_t *ptok = malloc((plen + 4) * sizeof *ptok);
    int64_t n = ptok ? ex_text_encode(g->text, prompt, plen, ptok, (int64_t)plen + 4) : -1;
    if (n < 1) {
        fprintf(stderr, "the prompt cannot be encoded (or is empty)\n");
        free(ptok);
        return 1;
    }
    fputs(prompt, stdout);
    fflush(stdout);
    int rc = 0;
    int32_t prev = -1, *feed = ptok;
    int32_t n_ctx = skim_model_n_ctx(g->m);
    if (!o->trace && n > n_ctx) { /* the newest half of the window, as the cache slides */
        fprintf(stderr, "\n(the prompt's %lld tokens pass the %d-position cache: its last %d "
                "are fed)\n", (long long)n, n_ctx, n_ctx / 2);
        feed = ptok + n - n_ctx / 2;
        n = n_ctx / 2;
    }
    if (!o->trace && n > 0) {
        skim_run_stats pre, dec;
        double t0 = ex_now_s();
        if (skim_session_prompt(g->s, feed, (int32_t)n, g->logits) != SKIM_OK) {
            fprintf(stderr, "\n%s\n", skim_session_error(g->s));
            free(ptok);
            return 1;
        }
        g->prompt_s = ex_now_s() - t0;
        g->prompt_n = n;
        skim_session_get_stats(g->s, false, &pre);
        skim_session_get_stats(g->s, true, &dec);
        g->prompt_runs = pre.runs + dec.runs;
        for (int64_t i = 0; i < n && g->n_hist < g->cap_hist; i++) g->hist[g->n_hist++] = feed[i];
        prev = feed[n - 1];
        n = 0;
    }
    for (int64_t i = 0; i < n && rc == 0; i++) {
        rc = step(g, prev, feed[i]) ? 0 : 1;
        prev = feed[i];
    }
    free(ptok);
    return rc ? rc : generate_loop(g, smp, prev);
}

/* The session (both plans; the weights placed, uploaded on Vulkan), timed. */
static bool session_timed(gen *g, skim_backend *be, char *msg, size_t size) {
    double t0 = ex_now_s();
    skim_session_desc sd = {.plan_flags = g->o->qact ? SKIM_PLAN_QUANTIZED_ACTIVATIONS : 0};
    if (skim_session_create(g->m, be, &sd, &g->s, msg, size) != SKIM_OK) return false;
    fprintf(stderr, "session: weights placed and plans made in %.3f s\n", ex_now_s() - t0);
    return true;
}

/* What the backend holds by its own accounting, and the process's peak resident set (a
 * memory-mapped model's pages that were read count there, not in the backend's bytes);
 * then the session's parts (weights placed, KV caches, arenas of the plans made) and
 * what the backend holds against their sum: device bytes on Vulkan, host bytes on the CPU
 * (whose weights stay in the mapped file, outside the backend's bytes). */
static void print_memory(skim_backend *be, const skim_session *s) {
    skim_memory_stats ms;
    if (skim_backend_query_memory(be, &ms) != SKIM_OK) return;
    uint64_t w = 0, kv = 0, ar = 0;
    if (skim_session_query_bytes(s, &w, &kv, &ar) == SKIM_OK) {
        const double mib = 1048576.0, sum = (double)(w + kv + ar);
        bool dev = ms.device_bytes > 0;
        double held = dev ? (double)ms.device_bytes : (double)ms.host_bytes;
        fprintf(stderr, "memory: weights %.1f MiB + KV %.1f MiB + arenas %.1f MiB = %.1f MiB; "
                "%s bytes %.1f MiB = %.3f of that\n", w / mib, kv / mib, ar / mib, sum / mib,
                dev ? "device" : "backend host", held / mib, sum > 0 ? held / sum : 0.0);
    }
    fprintf(stderr, "memory: backend host %.1f MiB, device %.1f MiB", ms.host_bytes / 1048576.0,
            (double)ms.device_bytes / 1048576.0);
#if defined(__unix__) || defined(__APPLE__)
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
#if defined(__APPLE__)
        fprintf(stderr, "; peak resident %.1f MiB", (double)ru.ru_maxrss / 1048576.0);
#else
        fprintf(stderr, "; peak resident %.1f MiB", (double)ru.ru_maxrss / 1024.0);
#endif
    }
#endif
    fputc('\n', stderr);
}

int run_generate(const options *o, skim_model *m, skim_backend *be, const ex_text *text) {
    gen g;
    memset(&g, 0, sizeof g);
    g.o = o;
    g.m = m;
    g.text = text;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    const skim_model_hparams *hp = skim_model_get_hparams(m);
    skim_sampler_desc sd;
    memset(&sd, 0, sizeof sd);
    sd.temperature = o->temp;
    sd.top_p = o->top_p;
    sd.seed = o->seed;
    skim_sampler *smp = NULL;
    g.cap_hist = skim_model_n_ctx(m) + o->n + 4096;
    g.hist = malloc((size_t)g.cap_hist * sizeof *g.hist);
    g.logits = malloc((size_t)hp->n_vocab * sizeof *g.logits);
    int rc = 1;
    if (!g.hist || !g.logits) {
        fprintf(stderr, "out of memory\n");
    } else if (!session_timed(&g, be, msg, sizeof msg)) {
        fprintf(stderr, "%s\n", msg);
    } else if (skim_sampler_create(&sd, hp->n_vocab, &smp) != SKIM_OK) {
        fprintf(stderr, "sampler: bad --temp or --top-p\n");
    } else {
        rc = start(&g, smp);
        print_memory(be, g.s);
        skim_run_stats st;
        skim_session_get_stats(g.s, true, &st);
        ex_print_skipped(skim_model_is_dense(m) ? "work skipped (no gates)" : "work skipped", &st,
                         hp->n_head);
        if (o->trace && rc == 0) {
            bool ok = ex_trace_write_svg(&g.trace, o->trace, m);
            fprintf(stderr, "%s %s\n", ok ? "trace written to" : "cannot write", o->trace);
        }
    }
    skim_sampler_destroy(smp);
    skim_session_destroy(g.s);
    ex_trace_free(&g.trace);
    free(g.hist);
    free(g.logits);
    return rc;
}
