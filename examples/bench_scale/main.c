/* bench_scale - the figures of a model of real size (e.g. the TinyLlama shape written by
 * tools/gen_model) on one backend configuration, as one row of a table:
 *   load     the model file mapped and its graphs built, then the session made (the store:
 *            weights placed, uploaded on Vulkan; the decode plan);
 *   prefill  a prompt of P tokens through skim_session_prompt (n_batch P: one run of the
 *            P-token chunk; the runs taken are printed), tokens per second;
 *   decode   D greedy tokens after it (context P to P + D), tokens per second;
 *   memory   what the backend holds (device bytes on Vulkan, host bytes on the CPU, whose
 *            weights stay in the mapped file) against the session's parts, weights placed
 *            + KV caches + arenas of the plans made (the ratio), and the process's peak
 *            resident set (which also counts the mapped file's pages read) and, on the CPU
 *            backend under Linux, the anonymous part of the resident set now (the
 *            process's own memory, the mapped file left out) against KV + arenas + 5%;
 *   bound    decode's weight bytes read per token (every tensor but the token embedding,
 *            of which one row is read, unless it is also the classifier) times decode
 *            tokens per second, over the copy bandwidth measured here (memcpy of 256 MiB,
 *            bytes read plus written per second, median of 5): the fraction of the
 *            memory-bandwidth bound that decode reaches.
 * The prompt is token ids (i * 7919 + 3) mod n_vocab: no tokenizer needed.
 *
 *   bench_scale MODEL.gguf [--backend cpu|vulkan] [--threads N] [--prompt P (512)]
 *               [--decode D (16)] [--header] [--profile] [--dense]
 *
 * --header prints the table's header line first. --profile (Vulkan) times every dispatch
 * on the device and prints, per op and shader, the device time of a run of the prefill
 * window (the prompt then runs through skim_session_prefill, whose logits are every
 * row's) and of a decode step (averaged over the steps); a profiled plan runs one
 * dispatch at a time, so its tokens/s are lower than the table's. --dense runs the model
 * with its gates off (skim_model_desc.dense), for gated against dense. tools/bench/bench_scale.sh runs the
 * configurations of the table (CPU 1 and 2 threads, Vulkan) each in its own process. */
#include "skim-cpu.h"
#include "skim-model.h"
#ifdef SKIM_HAVE_VULKAN
#include "skim-vulkan.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#endif

static double now(void) {
    struct timespec ts;
#if defined(_WIN32) && !defined(TIME_UTC) /* MinGW's msvcrt: winpthreads' clock */
    clock_gettime(CLOCK_REALTIME, &ts);
#else
    timespec_get(&ts, TIME_UTC);
#endif
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Bytes read plus written per second by memcpy of 256 MiB, median of 5. */
static double copy_bandwidth(void) {
    size_t n = (size_t)256 << 20;
    char *a = malloc(n), *b = malloc(n);
    double t[5], bw = 0.0;
    if (a && b) {
        memset(a, 1, n);
        memset(b, 2, n);
        for (int i = 0; i < 5; i++) {
            double t0 = now();
            memcpy(i % 2 ? a : b, i % 2 ? b : a, n);
            t[i] = now() - t0;
        }
        qsort(t, 5, sizeof t[0], cmp_double);
        volatile char sink = a[n / 2] + b[n / 3];
        (void)sink;
        bw = 2.0 * (double)n / t[2];
    }
    free(a);
    free(b);
    return bw;
}

/* Weight bytes a decode step reads: every tensor of the file, less the token embedding
 * when a separate classifier exists (then only one row of it is read). */
static double decode_weight_bytes(const skim_gguf *g) {
    double sum = 0.0, embd = 0.0;
    bool tied = skim_gguf_find_tensor(g, "output.weight") < 0;
    for (int64_t i = 0; i < skim_gguf_n_tensors(g); i++) {
        skim_gguf_tensor_info ti;
        if (skim_gguf_tensor_info_get(g, i, &ti) != SKIM_OK) continue;
        sum += (double)ti.nbytes;
        if (strcmp(ti.name, "token_embd.weight") == 0) embd = (double)ti.nbytes;
    }
    return tied ? sum : sum - embd;
}

static double peak_rss_mib(void) {
#if defined(__unix__) || defined(__APPLE__)
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
#if defined(__APPLE__)
        return (double)ru.ru_maxrss / 1048576.0;
#else
        return (double)ru.ru_maxrss / 1024.0;
#endif
    }
#endif
    return -1.0;
}

/* The resident set now, split into anonymous memory (the process's own: heap, stacks, the
 * backend's host bytes) and file-backed pages (the mapped model and the program's code), in
 * MiB, from /proc/self/status; false where that file does not exist (not Linux). */
static bool rss_split(double *anon, double *file) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return false;
    char line[256];
    double kib;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "RssAnon: %lf", &kib) == 1) *anon = kib / 1024.0, found |= 1;
        if (sscanf(line, "RssFile: %lf", &kib) == 1) *file = kib / 1024.0, found |= 2;
    }
    fclose(f);
    return found == 3;
}

typedef struct opts {
    const char *model, *backend;
    int threads, prompt, decode;
    bool header, profile, dense;
} opts;

static bool parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->backend = "cpu";
    o->threads = 1;
    o->prompt = 512;
    o->decode = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--header") == 0 || strcmp(a, "--profile") == 0 || strcmp(a, "--dense") == 0) {
            *(a[2] == 'h' ? &o->header : a[2] == 'p' ? &o->profile : &o->dense) = true;
            continue;
        }
        if (a[0] != '-') {
            o->model = a;
            continue;
        }
        if (!v) return false;
        if (strcmp(a, "--backend") == 0) o->backend = v;
        else if (strcmp(a, "--threads") == 0) o->threads = atoi(v);
        else if (strcmp(a, "--prompt") == 0) o->prompt = atoi(v);
        else if (strcmp(a, "--decode") == 0) o->decode = atoi(v);
        else return false;
        i++;
    }
    return o->model && o->prompt >= 1 && o->decode >= 1 && o->threads >= 1;
}

static skim_status make_backend(const opts *o, skim_backend **be, char *label, size_t size) {
    if (strcmp(o->backend, "cpu") == 0) {
        skim_cpu_desc d;
        memset(&d, 0, sizeof d);
        d.n_threads = o->threads;
        snprintf(label, size, "cpu %d thread%s", o->threads, o->threads > 1 ? "s" : "");
        return skim_backend_create_cpu(&d, be);
    }
#ifdef SKIM_HAVE_VULKAN
    if (strcmp(o->backend, "vulkan") == 0) {
        char msg[256] = "";
        skim_vulkan_desc d;
        memset(&d, 0, sizeof d);
        d.profile = o->profile;
        skim_status s = skim_backend_create_vulkan_msg(&d, be, msg, sizeof msg);
        if (s != SKIM_OK) fprintf(stderr, "vulkan: %s\n", msg);
        snprintf(label, size, "vulkan");
        return s;
    }
#endif
    fprintf(stderr, "backend '%s' is not built in\n", o->backend);
    return SKIM_ERR_UNSUPPORTED;
}

/* The prompt, then greedy decode steps: times and the prefill runs taken. */
static skim_status run(skim_session *s, const opts *o, int32_t n_vocab, double *t_pre,
                       double *t_dec, int64_t *runs) {
    int32_t *ids = malloc((size_t)o->prompt * sizeof *ids);
    /* Profiling times the prefill window's plan (the one a caller can reach), whose
     * logits are every row's. */
    size_t n_logits = (size_t)n_vocab * (size_t)(o->profile ? o->prompt : 1);
    float *logits = malloc(n_logits * sizeof *logits);
    skim_status st = ids && logits ? SKIM_OK : SKIM_ERR_OUT_OF_MEMORY;
    for (int i = 0; st == SKIM_OK && i < o->prompt; i++) {
        ids[i] = (int32_t)(((int64_t)i * 7919 + 3) % n_vocab);
    }
    double t0 = now();
    if (st == SKIM_OK && o->profile) st = skim_session_prefill(s, ids, o->prompt, logits);
    else if (st == SKIM_OK) st = skim_session_prompt(s, ids, o->prompt, logits);
    if (st == SKIM_OK && o->profile) { /* the last row's logits lead decode on */
        memmove(logits, logits + (size_t)(o->prompt - 1) * (size_t)n_vocab,
                (size_t)n_vocab * sizeof *logits);
    }
    *t_pre = now() - t0;
    skim_run_stats pre, dec;
    skim_session_get_stats(s, false, &pre);
    skim_session_get_stats(s, true, &dec);
    *runs = pre.runs + dec.runs;
    t0 = now();
    for (int i = 0; st == SKIM_OK && i < o->decode; i++) {
        int32_t k = 0;
        for (int32_t j = 1; j < n_vocab; j++) k = logits[j] > logits[k] ? j : k;
        st = skim_session_decode(s, k, logits);
    }
    *t_dec = now() - t0;
    free(ids);
    free(logits);
    return st;
}

#ifdef SKIM_HAVE_VULKAN
/* A profiled plan's device time per op and shader, the largest first. */
static void print_profile(const char *what, const skim_plan *p) {
    int n = 0;
    if (!p || skim_vulkan_plan_profile(p, NULL, 0, &n) != SKIM_OK || n == 0) {
        printf("  profile of %s: none\n", what);
        return;
    }
    skim_vulkan_profile_row *rows = calloc((size_t)n, sizeof *rows);
    typedef struct { const char *op, *shader; int count; double ms; } agg;
    agg *a = calloc((size_t)n, sizeof *a);
    int na = 0;
    double total = 0.0;
    if (rows && a && skim_vulkan_plan_profile(p, rows, n, &n) == SKIM_OK) {
        for (int i = 0; i < n; i++) {
            double ms = rows[i].runs > 0 ? rows[i].ms / (double)rows[i].runs : 0.0;
            const char *op = rows[i].op[0] ? rows[i].op : "(fill)";
            int k = 0;
            while (k < na && (strcmp(a[k].op, op) != 0 || strcmp(a[k].shader, rows[i].shader) != 0))
                k++;
            if (k == na) a[na++] = (agg){op, rows[i].shader, 0, 0.0};
            a[k].count++;
            a[k].ms += ms;
            total += ms;
        }
        for (int i = 1; i < na; i++) { /* insertion sort, largest time first */
            agg t = a[i];
            int j = i;
            for (; j > 0 && a[j - 1].ms < t.ms; j--) a[j] = a[j - 1];
            a[j] = t;
        }
        printf("  profile of %s (%d dispatches, %.1f ms of device time per run):\n", what, n,
               total);
        printf("    %-16s %-24s %10s %12s %7s\n", "op", "shader", "dispatches", "ms per run",
               "share");
        for (int i = 0; i < na; i++) {
            printf("    %-16s %-24s %10d %12.3f %6.1f%%\n", a[i].op, a[i].shader, a[i].count,
                   a[i].ms, total > 0 ? 100.0 * a[i].ms / total : 0.0);
        }
    }
    free(rows);
    free(a);
}
#endif

int main(int argc, char **argv) {
    opts o;
    if (!parse(argc, argv, &o)) {
        fprintf(stderr, "usage: bench_scale MODEL.gguf [--backend cpu|vulkan] [--threads N] "
                        "[--prompt P (512)] [--decode D (16)] [--header] [--profile] [--dense]\n");
        return 2;
    }
    if (o.header) {
        printf("%-15s %8s %5s %12s %11s %10s %10s %6s %9s %9s %6s\n", "config", "load s",
               "runs", "prefill t/s", "decode t/s", "held MiB", "parts MiB", "ratio",
               "peak MiB", "copy GB/s", "bound");
    }
    char msg[SKIM_MODEL_MSG_LEN] = "", label[64] = "";
    skim_model_desc md;
    memset(&md, 0, sizeof md);
    md.n_ctx = o.prompt + o.decode;
    md.n_batch = o.prompt;
    md.dense = o.dense;
    double t0 = now();
    skim_model *m = NULL;
    skim_status st = skim_model_load_file(o.model, &md, &m, msg, sizeof msg);
    if (st != SKIM_OK) {
        fprintf(stderr, "%s: %s\n", skim_status_str(st), msg);
        return 1;
    }
    skim_backend *be = NULL;
    skim_session *s = NULL;
    if (make_backend(&o, &be, label, sizeof label) != SKIM_OK) {
        skim_model_destroy(m);
        return 1;
    }
    st = skim_session_create(m, be, NULL, &s, msg, sizeof msg);
    double t_load = now() - t0, t_pre = 0, t_dec = 0;
    int64_t runs = 0;
    if (st == SKIM_OK) {
        st = run(s, &o, skim_model_get_hparams(m)->n_vocab, &t_pre, &t_dec, &runs);
        if (st != SKIM_OK) snprintf(msg, sizeof msg, "%s", skim_session_error(s));
    }
    int rc = 1;
    skim_memory_stats ms;
    uint64_t w = 0, kv = 0, ar = 0;
    if (st == SKIM_OK && skim_backend_query_memory(be, &ms) == SKIM_OK &&
        skim_session_query_bytes(s, &w, &kv, &ar) == SKIM_OK) {
        const double mib = 1048576.0, parts = (double)(w + kv + ar);
        double held = ms.device_bytes > 0 ? (double)ms.device_bytes : (double)ms.host_bytes;
        double dec_tps = o.decode / t_dec, wb = decode_weight_bytes(skim_model_gguf(m));
        double peak = peak_rss_mib(), anon = 0.0, file = 0.0;
        bool split = rss_split(&anon, &file);
        double copy = copy_bandwidth(); /* after reading the process's memory: its buffers */
        printf("%-15s %8.2f %5lld %12.2f %11.3f %10.1f %10.1f %6.3f %9.1f %9.2f %5.1f%%\n",
               label, t_load, (long long)runs, (double)o.prompt / t_pre, dec_tps,
               held / mib, parts / mib, parts > 0 ? held / parts : 0.0, peak,
               copy * 1e-9, copy > 0 ? 100.0 * wb * dec_tps / copy : 0.0);
        printf("  %s: prompt %d tokens in %.2f s; decode %d tokens in %.2f s (context %d to "
               "%d); parts: weights %.1f + KV %.1f + arenas %.1f MiB; decode reads %.1f MiB "
               "of weights per token\n", label, o.prompt, t_pre, o.decode, t_dec, o.prompt,
               o.prompt + o.decode, (double)w / mib, (double)kv / mib, (double)ar / mib,
               wb / mib);
        if (split && ms.device_bytes == 0) /* on lavapipe, device memory is host memory too */
            printf("  %s: process resident now: anonymous %.1f MiB (the bound: KV + arenas "
                   "+ 5%% = %.1f MiB), file-backed %.1f MiB (the mapped model's pages read "
                   "and the program)\n", label, anon, 1.05 * (double)(kv + ar) / mib, file);
#ifdef SKIM_HAVE_VULKAN
        if (o.profile && ms.device_bytes > 0) {
            print_profile("the prefill window", skim_session_prefill_plan(s));
            print_profile("a decode step", skim_session_decode_plan(s));
        }
#endif
        rc = 0;
    } else {
        fprintf(stderr, "%s: %s: %s\n", label, skim_status_str(st), msg);
    }
    skim_session_destroy(s);
    skim_backend_destroy(be);
    skim_model_destroy(m);
    return rc;
}
