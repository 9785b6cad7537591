/* test_concurrency.c - two application threads, each with its own context, graph and
 * backend, run the representative graph (host_graph.c) RUNS times each, at the same time;
 * every run's outputs must equal, byte for byte, those of the same inputs run before on
 * one thread. The inputs change every RUNS/VARIANTS runs (new gate and halting scores, so
 * that the selections change between runs). On the CPU backend (one thread with a pool of
 * 2 workers, the other with none: results do not depend on the pool, skim-cpu.h) and, on
 * the Vulkan backend, two backends on one device (each its own VkInstance and VkDevice on
 * device 0). Then two threads share one backend and make it fail at once, each in its own
 * way: each must read its own message from skim_backend_error (the message is the calling
 * thread's). Built for ThreadSanitizer by scripts/test-sanitizers.sh.
 *   test_concurrency [runs]   (default 1000) */
#include "host_graph.h"

#include "skim-cpu.h"
#ifdef SKIM_TEST_HAVE_VULKAN
#  include "skim-vulkan.h"
#endif

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VARIANTS 8

static int g_runs = 1000;

static uint64_t variant_seed(int v) {
    return 1000u + (uint64_t)v * 7919u;
}

static skim_status make_backend(int kind, int n_threads, skim_backend **out) {
    if (kind == 0) {
        skim_cpu_desc d = {0};
        d.n_threads = n_threads;
        return skim_backend_create_cpu(&d, out);
    }
#ifdef SKIM_TEST_HAVE_VULKAN
    skim_vulkan_desc d;
    memset(&d, 0, sizeof d);
    d.device_index = 1; /* device 0 for both threads */
    return skim_backend_create_vulkan(&d, out);
#else
    return SKIM_ERR_UNSUPPORTED;
#endif
}

typedef struct worker {
    int kind, n_threads;
    const unsigned char *want; /* VARIANTS outputs */
    long runs, differ, errors;
    skim_status first_error;
} worker;

/* Everything a thread owns: its graph on its own context, its backend, its plan. */
static void *work(void *arg) {
    worker *w = arg;
    size_t size = hg_output_size();
    unsigned char *got = malloc(size);
    host_graph h;
    skim_context *ctx = NULL;
    skim_backend *be = NULL;
    skim_plan *p = NULL;
    skim_status s = got && hg_init(&h, 42) ? SKIM_OK : SKIM_ERR_OUT_OF_MEMORY;
    if (s == SKIM_OK) s = skim_context_create(NULL, &ctx);
    if (s == SKIM_OK) s = hg_build(&h, ctx);
    if (s == SKIM_OK) s = make_backend(w->kind, w->n_threads, &be);
    if (s == SKIM_OK) s = skim_plan_create(be, h.graph, NULL, &p);
    for (long i = 0; s == SKIM_OK && i < g_runs; i++) {
        int v = (int)(i * VARIANTS / g_runs);
        if (i == 0 || v != (int)((i - 1) * VARIANTS / g_runs)) {
            hg_new_gates(&h, variant_seed(v));
            s = hg_set_inputs(&h, p);
        }
        if (s == SKIM_OK) s = skim_plan_run(p);
        if (s == SKIM_OK) s = hg_read(&h, p, got);
        if (s == SKIM_OK) {
            w->runs++;
            if (memcmp(got, w->want + (size_t)v * size, size) != 0) w->differ++;
        }
    }
    if (s != SKIM_OK) {
        w->errors++;
        w->first_error = s;
    }
    skim_plan_destroy(p);
    skim_backend_destroy(be);
    skim_context_destroy(ctx);
    if (got) hg_free(&h);
    free(got);
    return NULL;
}

/* The reference: every variant on one thread, a backend of the same kind. */
static bool reference(int kind, unsigned char *want) {
    size_t size = hg_output_size();
    host_graph h;
    skim_context *ctx = NULL;
    skim_backend *be = NULL;
    skim_plan *p = NULL;
    skim_status s = hg_init(&h, 42) ? SKIM_OK : SKIM_ERR_OUT_OF_MEMORY;
    if (s == SKIM_OK) s = skim_context_create(NULL, &ctx);
    if (s == SKIM_OK) s = hg_build(&h, ctx);
    if (s == SKIM_OK) s = make_backend(kind, 1, &be);
    if (s == SKIM_OK) s = skim_plan_create(be, h.graph, NULL, &p);
    for (int v = 0; s == SKIM_OK && v < VARIANTS; v++) {
        hg_new_gates(&h, variant_seed(v));
        s = hg_set_inputs(&h, p);
        if (s == SKIM_OK) s = skim_plan_run(p);
        if (s == SKIM_OK) s = hg_read(&h, p, want + (size_t)v * size);
    }
    if (s != SKIM_OK)
        printf("%s reference: %s: %s\n", kind ? "vulkan" : "cpu", skim_status_str(s),
               p ? skim_plan_error(p) : be ? skim_backend_error(be) : ctx ? skim_context_error(ctx) : "");
    skim_plan_destroy(p);
    skim_backend_destroy(be);
    skim_context_destroy(ctx);
    hg_free(&h);
    return s == SKIM_OK;
}

/* Returns false when the backend kind is not available here. */
static bool concurrent(int kind) {
    size_t size = hg_output_size();
    unsigned char *want = malloc(size * VARIANTS);
    if (!want) return true;
    if (!reference(kind, want)) {
        free(want);
        if (kind == 0) t_fail(__FILE__, __LINE__, "the CPU reference failed");
        return false;
    }
    int distinct = 0;
    for (int v = 1; v < VARIANTS; v++) distinct += memcmp(want, want + (size_t)v * size, size) != 0;
    CHECK(distinct == VARIANTS - 1, "%s: only %d of %d input variants change the outputs", kind ? "vulkan" : "cpu",
          distinct, VARIANTS - 1);
    worker w[2] = {{kind, 2, want, 0, 0, 0, SKIM_OK}, {kind, 1, want, 0, 0, 0, SKIM_OK}};
    double t0 = t_now();
    pthread_t th[2];
    int started = 0;
    for (int i = 0; i < 2; i++) started += pthread_create(&th[i], NULL, work, &w[i]) == 0;
    CHECK(started == 2, "pthread_create failed");
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(w[i].errors == 0, "%s thread %d: %s after %ld runs", kind ? "vulkan" : "cpu", i,
              skim_status_str(w[i].first_error), w[i].runs);
        CHECK(w[i].runs == g_runs && w[i].differ == 0, "%s thread %d: %ld of %ld runs differ from the "
              "single-threaded run", kind ? "vulkan" : "cpu", i, w[i].differ, w[i].runs);
    }
    printf("%s: 2 threads x %ld runs (%d input variants), %ld + %ld runs equal to the single-threaded run "
           "(%.2f s)\n", kind ? "vulkan" : "cpu", (long)g_runs, VARIANTS, w[0].runs - w[0].differ,
           w[1].runs - w[1].differ, t_now() - t0);
    free(want);
    return true;
}

typedef struct failer {
    skim_backend *be;
    skim_graph *graph;
    uint32_t flag; /* an unknown plan flag: plan_create fails naming it */
    long fails, wrong;
    char seen[160];
} failer;

static void *fail_often(void *arg) {
    failer *f = arg;
    char want[64];
    snprintf(want, sizeof want, "unknown flags 0x%x", (unsigned)f->flag);
    for (long i = 0; i < g_runs * 4L; i++) {
        skim_plan_desc d = {.flags = f->flag};
        skim_plan *p = NULL;
        skim_status s = skim_plan_create(f->be, f->graph, &d, &p);
        if (s == SKIM_OK) skim_plan_destroy(p);
        f->fails += s == SKIM_ERR_INVALID_ARG;
        if (s != SKIM_ERR_INVALID_ARG || !strstr(skim_backend_error(f->be), want)) {
            if (!f->wrong++) snprintf(f->seen, sizeof f->seen, "%s", skim_backend_error(f->be));
        }
    }
    return NULL;
}

/* Two threads fail on one backend at once; each reads its own message. */
static bool own_messages(int kind) {
    host_graph h;
    skim_context *ctx = NULL;
    skim_backend *be = NULL;
    bool init = hg_init(&h, 42);
    skim_status s = init ? SKIM_OK : SKIM_ERR_OUT_OF_MEMORY;
    if (s == SKIM_OK) s = skim_context_create(NULL, &ctx);
    if (s == SKIM_OK) s = hg_build(&h, ctx);
    if (s == SKIM_OK) s = make_backend(kind, 1, &be);
    if (s == SKIM_OK) {
        failer f[2] = {{be, h.graph, 1u << 20, 0, 0, ""}, {be, h.graph, 1u << 21, 0, 0, ""}};
        pthread_t th[2];
        int started = 0;
        for (int i = 0; i < 2; i++) started += pthread_create(&th[i], NULL, fail_often, &f[i]) == 0;
        CHECK(started == 2, "pthread_create failed");
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        for (int i = 0; i < started; i++) {
            CHECK(f[i].fails == g_runs * 4L && f[i].wrong == 0, "%s thread %d: %ld of %ld failures "
                  "read another message (first: \"%s\")", kind ? "vulkan" : "cpu", i, f[i].wrong,
                  g_runs * 4L, f[i].seen);
        }
        printf("%s: 2 threads x %ld failing plan_create on one backend, each read its own "
               "message\n", kind ? "vulkan" : "cpu", g_runs * 4L);
    } else if (kind == 0) {
        t_fail(__FILE__, __LINE__, "own_messages: setup failed");
    }
    skim_backend_destroy(be);
    skim_context_destroy(ctx);
    if (init) hg_free(&h);
    return s == SKIM_OK;
}

int main(int argc, char **argv) {
    if (argc > 1) g_runs = atoi(argv[1]);
    if (g_runs < VARIANTS) g_runs = VARIANTS;
    concurrent(0);
    own_messages(0);
    bool vk = false;
    (void)vk; /* used only when the Vulkan backend is built */
#ifdef SKIM_TEST_HAVE_VULKAN
    vk = concurrent(1);
    if (vk) own_messages(1);
    if (!vk) printf("note: no Vulkan device: the Vulkan threads were not run\n");
#endif
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    if (t_failures) return 1;
#ifdef SKIM_TEST_HAVE_VULKAN
    if (!vk) return 77;
#endif
    return 0;
}
