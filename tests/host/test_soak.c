/* test_soak.c - STEPS decode steps of the shipped gated model on one backend; the memory
 * in use must not change after the first step. The cache holds n_ctx (128) positions and
 * the session API can only start over (skim_session_reset; it has no sliding window), so
 * the soak decodes greedily from a fixed token, resets when the cache is full and starts
 * again: each full segment must then give the same tokens as the first one (nothing
 * drifts over the steps). Memory is read after every step from the library's own
 * accounting (skim_backend_query_memory: the backend's host blocks and bytes, and on
 * Vulkan its device memory) and, for the model, from the allocator this test gives it.
 * The process's resident set (RssAnon, RssFile) is printed for information only: it moves
 * with the C library's and the driver's caches and with the pages of the mapped model file
 * that open gates touch for the first time, none of which is skim's accounting.
 *   test_soak <model.gguf> <cpu|vulkan> [steps]   (default 10000; 77: no such backend) */
#include "test_common.h"
#include "test_backends.h"

#include "skim-cpu.h"
#include "skim-model.h"
#ifdef SKIM_TEST_HAVE_VULKAN
#  include "skim-vulkan.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct counting {
    long blocks;
} counting;
/* The model's allocator: blocks held (the model frees every block it takes). */
static void *c_alloc(void *user, size_t size) {
    void *p = malloc(size);
    if (p) ((counting *)user)->blocks++;
    return p;
}
static void c_free(void *user, void *p) {
    if (p) {
        ((counting *)user)->blocks--;
        free(p);
    }
}

/* A line of /proc/self/status in KiB ("RssAnon:": heap and driver memory; "RssFile:" holds
 * the model file's pages, mapped and touched as gates open: not a leak), or -1. */
static long status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0) kib = atol(line + n);
    if (f) fclose(f);
    return kib;
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static bool same(const skim_memory_stats *a, const skim_memory_stats *b) {
    return a->host_bytes == b->host_bytes && a->host_blocks == b->host_blocks && a->device_bytes == b->device_bytes &&
           a->device_blocks == b->device_blocks;
}

typedef struct soak {
    skim_session *s;
    skim_backend *be;
    counting *model_mem;
    int n_vocab, n_ctx;
    long steps;
} soak;

/* The decode loop; returns the number of steps whose memory differed from step 1's. */
static long decode_loop(const soak *k, float *logits, int32_t *first, skim_memory_stats *m1, long *model1) {
    long changed = 0, segments = 0, seg_len = 0, seg_bad = 0;
    int32_t tok = 1;
    size_t max_host = 0;
    uint64_t max_dev = 0;
    for (long i = 0; i < k->steps; i++) {
        if (skim_session_n_past(k->s) == k->n_ctx) {
            CHECK_OK(skim_session_reset(k->s), skim_session_error(k->s));
            segments++;
            seg_len = 0;
            tok = 1;
        }
        skim_status st = skim_session_decode(k->s, tok, logits);
        if (st != SKIM_OK) {
            t_fail(__FILE__, __LINE__, "step %ld: decode -> %s: %s", i, skim_status_str(st), skim_session_error(k->s));
            return changed + 1;
        }
        tok = argmax(logits, k->n_vocab);
        if (segments == 0)
            first[seg_len] = tok;
        else if (first[seg_len] != tok)
            seg_bad++;
        seg_len++;
        skim_memory_stats m;
        CHECK_OK(skim_backend_query_memory(k->be, &m), "query_memory");
        if (i == 0) {
            *m1 = m;
            *model1 = k->model_mem->blocks;
            printf("after step 1: backend %zu bytes in %zu blocks, device %llu bytes in %llu allocations; model %ld "
                   "blocks; RssAnon %ld KiB, RssFile %ld KiB\n", m.host_bytes, m.host_blocks,
                   (unsigned long long)m.device_bytes, (unsigned long long)m.device_blocks, *model1,
                   status_kib("RssAnon:"), status_kib("RssFile:"));
        } else if (!same(&m, m1) || k->model_mem->blocks != *model1) {
            if (changed++ < 5)
                printf("step %ld: backend %zu bytes in %zu blocks, device %llu bytes, model %ld blocks\n", i + 1,
                       m.host_bytes, m.host_blocks, (unsigned long long)m.device_bytes, k->model_mem->blocks);
        }
        if (m.host_bytes > max_host) max_host = m.host_bytes;
        if (m.device_bytes > max_dev) max_dev = m.device_bytes;
    }
    printf("after step %ld: backend at most %zu bytes, device at most %llu bytes over the run; %ld resets; RssAnon "
           "%ld KiB, RssFile %ld KiB\n", k->steps, max_host, (unsigned long long)max_dev, segments,
           status_kib("RssAnon:"), status_kib("RssFile:"));
    CHECK(seg_bad == 0, "%ld tokens of later segments differ from the first segment's", seg_bad);
    CHECK(segments == (k->steps - 1) / k->n_ctx, "%ld resets for %ld steps of %d", segments, k->steps, k->n_ctx);
    return changed;
}

/* Vulkan without the validation layer and guard bytes (test_vulkan_create's defaults):
 * 10,000 submits with them take minutes, and the golden and property tests run them. */
static skim_status open_backend(const char *name, skim_backend **be) {
    if (strcmp(name, "cpu") == 0) return test_backend_create(0, be);
#ifdef SKIM_TEST_HAVE_VULKAN
    if (strcmp(name, "vulkan") == 0) {
        skim_vulkan_desc d;
        memset(&d, 0, sizeof d);
        return skim_backend_create_vulkan(&d, be);
    }
#endif
    return SKIM_ERR_UNSUPPORTED;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        printf("usage: test_soak <model.gguf> <cpu|vulkan> [steps]\n");
        return 2;
    }
    soak k = {0};
    k.steps = argc > 3 ? atol(argv[3]) : 10000;
    counting mm = {0};
    k.model_mem = &mm;
    skim_model_desc md = {0};
    md.allocator.alloc = c_alloc;
    md.allocator.free = c_free;
    md.allocator.user = &mm;
    md.n_batch = -1; /* decode only */
    skim_model *m = NULL;
    char msg[256] = "";
    skim_status st = skim_model_load_file(argv[1], &md, &m, msg, sizeof msg);
    if (st == SKIM_ERR_IO) {
        printf("SKIP: %s: %s\n", argv[1], msg);
        return 77;
    }
    if (st != SKIM_OK) {
        printf("FAIL: model: %s: %s\n", skim_status_str(st), msg);
        return 1;
    }
    st = open_backend(argv[2], &k.be);
    if (st != SKIM_OK) {
        printf("SKIP: backend %s: %s\n", argv[2], skim_status_str(st));
        skim_model_destroy(m);
        return 77;
    }
    test_backend_print(strcmp(argv[2], "cpu") != 0, k.be);
    st = skim_session_create(m, k.be, NULL, &k.s, msg, sizeof msg);
    CHECK(st == SKIM_OK, "session: %s: %s", skim_status_str(st), msg);
    k.n_vocab = skim_model_get_hparams(m)->n_vocab;
    k.n_ctx = skim_model_n_ctx(m);
    float *logits = malloc((size_t)k.n_vocab * sizeof *logits);
    int32_t *first = malloc((size_t)k.n_ctx * sizeof *first);
    if (st == SKIM_OK && logits && first && k.steps > 0) {
        skim_memory_stats m1;
        memset(&m1, 0, sizeof m1);
        long model1 = 0;
        double t0 = t_now();
        long changed = decode_loop(&k, logits, first, &m1, &model1);
        CHECK(changed == 0, "memory in use changed after step 1 in %ld of %ld steps", changed, k.steps - 1);
        CHECK(m1.host_blocks > 0 && model1 > 0, "the accounting saw nothing (%zu backend blocks, %ld model blocks)",
              m1.host_blocks, model1);
        skim_run_stats rs;
        CHECK_OK(skim_session_get_stats(k.s, true, &rs), skim_session_error(k.s));
        CHECK(rs.runs == k.steps, "the session counted %lld decode runs of %ld", (long long)rs.runs, k.steps);
        printf("%ld decode steps on %s in %.1f s (n_ctx %d)\n", k.steps, argv[2], t_now() - t0, k.n_ctx);
    }
    skim_session_destroy(k.s);
    skim_memory_stats end;
    CHECK_OK(skim_backend_query_memory(k.be, &end), "query_memory");
    printf("after the session: backend %zu bytes in %zu blocks, device %llu bytes\n", end.host_bytes, end.host_blocks,
           (unsigned long long)end.device_bytes);
    skim_backend_destroy(k.be);
    skim_model_destroy(m);
    CHECK(mm.blocks == 0, "the model left %ld blocks", mm.blocks);
    free(logits);
    free(first);
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures != 0;
}
