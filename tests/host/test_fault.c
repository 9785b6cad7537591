/* test_fault.c - fail the N-th allocation, for every N, over a whole cycle of the
 * representative graph (host_graph.c): context, building, backend creation, planning,
 * inputs, a run and the outputs; on the CPU backend (the context and the backend share
 * the failing allocator) and on the Vulkan backend (the backend's allocator fails; its
 * context does not, the CPU sweep covers building). test_misuse.c sweeps building and
 * CPU planning of a smaller graph; this adds runs, the Vulkan backend, and checks that
 *   - every call returns OK or OUT_OF_MEMORY (never another status, never a crash);
 *   - nothing is written to an out pointer on failure;
 *   - after a failed plan the backend is still usable: with allocations succeeding again
 *     it plans and runs, bytes equal to a run without failures;
 *   - the backend's own accounting (skim_backend_query_memory) is back where it was after
 *     a failed or destroyed plan, and every block is freed at the end (counted here).
 * A sweep ends at the first N past the cycle's last allocation (no failure injected). */
#include "host_graph.h"

#include "skim-cpu.h"
#include "failing_alloc.h"
#ifdef SKIM_TEST_HAVE_VULKAN
#  include "skim-vulkan.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL ((void *)0x5e5e5e5e)

#ifdef SKIM_TEST_HAVE_VULKAN
static int g_vk_messages;
static void vk_message(void *user, uint32_t severity, uint32_t type, const char *message) {
    (void)user;
    g_vk_messages++;
    printf("VULKAN VALIDATION (severity 0x%x, type 0x%x): %s\n", severity, type, message);
}
static bool g_vk_validation = true;
#endif

/* kind 0: CPU (2 threads), 1: Vulkan (validation on when installed). */
static skim_status backend(int kind, failing *f, skim_backend **out, char *msg, size_t msg_size) {
    if (kind == 0) {
        skim_cpu_desc d = {0};
        d.n_threads = 2;
        if (f) d.allocator = f_allocator(f);
        snprintf(msg, msg_size, "cpu");
        return skim_backend_create_cpu(&d, out);
    }
#ifdef SKIM_TEST_HAVE_VULKAN
    skim_vulkan_desc d;
    memset(&d, 0, sizeof d);
    if (f) d.allocator = f_allocator(f);
    d.validation = g_vk_validation ? SKIM_VK_ON : SKIM_VK_OFF;
    d.debug = vk_message;
    return skim_backend_create_vulkan_msg(&d, out, msg, msg_size);
#else
    return SKIM_ERR_UNSUPPORTED;
#endif
}

static bool same_memory(const skim_memory_stats *a, const skim_memory_stats *b) {
    return a->host_bytes == b->host_bytes && a->host_blocks == b->host_blocks &&
           a->device_bytes == b->device_bytes && a->device_blocks == b->device_blocks;
}

/* Plans, runs and reads h's graph on be. OK or the first failing status; *stage names it. */
static skim_status plan_run(skim_backend *be, const host_graph *h, unsigned char *got, const char **stage) {
    skim_plan *p = SENTINEL;
    *stage = "plan_create";
    skim_status s = skim_plan_create(be, h->graph, NULL, &p);
    if (s != SKIM_OK) {
        CHECK(p == SENTINEL, "plan_create wrote out_plan on failure");
        return s;
    }
    *stage = "set_inputs";
    s = hg_set_inputs(h, p);
    if (s == SKIM_OK) {
        *stage = "run";
        s = skim_plan_run(p);
    }
    if (s == SKIM_OK) {
        *stage = "outputs";
        s = hg_read(h, p, got);
    }
    skim_plan_destroy(p);
    return s;
}

typedef struct sweep_stats {
    long points, ooms, retries;
} sweep_stats;

/* The part of a cycle after the graph exists: backend, plan, run, checks. */
static void cycle_backend(int kind, failing *f, const host_graph *h, const unsigned char *want,
                          unsigned char *got, sweep_stats *ss) {
    skim_backend *be = SENTINEL;
    char msg[256] = "";
    long at = f->fail_at;
    skim_status s = backend(kind, f, &be, msg, sizeof msg);
    if (s != SKIM_OK) {
        CHECK(s == SKIM_ERR_OUT_OF_MEMORY, "kind %d, failing allocation %ld: backend create -> %s (%s)", kind,
              at, skim_status_str(s), msg);
        CHECK(be == SENTINEL, "backend create wrote *out on failure");
        ss->ooms++;
        return;
    }
    skim_memory_stats m0, m1;
    CHECK_OK(skim_backend_query_memory(be, &m0), "query_memory");
    const char *stage = "";
    s = plan_run(be, h, got, &stage);
    CHECK_OK(skim_backend_query_memory(be, &m1), "query_memory");
    CHECK(same_memory(&m0, &m1), "kind %d, failing allocation %ld (%s): backend holds %zu bytes in %zu blocks "
          "(device %llu) after the plan, %zu in %zu (device %llu) before", kind, at, stage, m1.host_bytes,
          m1.host_blocks, (unsigned long long)m1.device_bytes, m0.host_bytes, m0.host_blocks,
          (unsigned long long)m0.device_bytes);
    if (s != SKIM_OK) {
        CHECK(s == SKIM_ERR_OUT_OF_MEMORY, "kind %d, failing allocation %ld: %s -> %s (%s)", kind, at, stage,
              skim_status_str(s), skim_backend_error(be));
        ss->ooms++;
        /* The backend stays usable: the same cycle with allocations succeeding. */
        f->fail_at = -1;
        s = plan_run(be, h, got, &stage);
        CHECK(s == SKIM_OK, "kind %d, failing allocation %ld: retry %s -> %s (%s)", kind, at, stage,
              skim_status_str(s), skim_backend_error(be));
        ss->retries++;
    }
    if (s == SKIM_OK)
        CHECK(memcmp(got, want, hg_output_size()) == 0, "kind %d, failing allocation %ld: outputs differ from "
              "a run without failures", kind, at);
    skim_backend_destroy(be);
}

/* One cycle with the N-th allocation failing. For kind 0 the context shares f. */
static void cycle(int kind, failing *f, const unsigned char *want, unsigned char *got, sweep_stats *ss) {
    host_graph h;
    if (!hg_init(&h, 42)) {
        t_fail(__FILE__, __LINE__, "out of test memory");
        return;
    }
    skim_context_desc cd = {0};
    if (kind == 0) cd.allocator = f_allocator(f);
    skim_context *ctx = SENTINEL;
    skim_status s = skim_context_create(&cd, &ctx);
    if (s != SKIM_OK) {
        CHECK(s == SKIM_ERR_OUT_OF_MEMORY && ctx == SENTINEL, "context_create, failing allocation %ld -> %s",
              f->fail_at, skim_status_str(s));
        ss->ooms++;
        hg_free(&h);
        return;
    }
    s = hg_build(&h, ctx);
    if (s != SKIM_OK) {
        CHECK(s == SKIM_ERR_OUT_OF_MEMORY, "failing allocation %ld: build -> %s (%s)", f->fail_at,
              skim_status_str(s), skim_context_error(ctx));
        ss->ooms++;
    } else {
        cycle_backend(kind, f, &h, want, got, ss);
    }
    skim_context_destroy(ctx);
    hg_free(&h);
}

/* Every N until a cycle makes no N-th allocation. Returns false when the backend is not
 * available here. */
static bool sweep(int kind) {
    size_t size = hg_output_size();
    unsigned char *want = malloc(size), *got = malloc(size);
    if (!want || !got) {
        free(want);
        free(got);
        t_fail(__FILE__, __LINE__, "out of test memory");
        return true;
    }
    /* The reference: the same cycle, nothing failing. */
    failing f0 = {0, -1, 0};
    sweep_stats ss = {0, 0, 0};
    memset(want, 0, size);
    {
        skim_backend *be = NULL;
        char msg[256] = "";
        skim_status s = backend(kind, NULL, &be, msg, sizeof msg);
        if (s != SKIM_OK) {
            printf("note: backend %d not available here: %s: %s\n", kind, skim_status_str(s), msg);
            free(want);
            free(got);
            return false;
        }
        skim_backend_destroy(be);
    }
    double t0 = t_now();
    cycle(kind, &f0, want, want, &ss); /* compares want with itself: fills it */
    CHECK(ss.ooms == 0 && f0.live == 0, "the cycle without failures failed or leaked");
    long total = f0.n;
    long at = 0;
    for (; at <= total + 1; at++) {
        failing f = {0, at, 0};
        cycle(kind, &f, want, got, &ss);
        ss.points++;
        CHECK(f.live == 0, "kind %d, failing allocation %ld: %ld blocks never freed", kind, at, f.live);
        if (f.n <= at && f.fail_at == at) break; /* nothing failed: past the last allocation */
    }
    CHECK(at <= total, "kind %d: the sweep did not end at the last allocation (%ld of %ld)", kind, at, total);
    printf("backend %d: %ld allocations per cycle; %ld failure points swept, %ld returned OUT_OF_MEMORY, "
           "%ld plans retried after a failure (%.1f s)\n", kind, total, ss.points, ss.ooms, ss.retries,
           t_now() - t0);
    CHECK(ss.ooms > 0, "kind %d: no failure was reported", kind);
    free(want);
    free(got);
    return true;
}

int main(void) {
    bool vk = false;
    sweep(0);
#ifdef SKIM_TEST_HAVE_VULKAN
    {
        skim_vulkan_desc d;
        memset(&d, 0, sizeof d);
        d.validation = SKIM_VK_ON;
        skim_backend *be = NULL;
        char msg[256] = "";
        if (skim_backend_create_vulkan_msg(&d, &be, msg, sizeof msg) != SKIM_OK && strstr(msg, "not installed")) {
            printf("note: %s; the Vulkan sweep runs without validation\n", msg);
            g_vk_validation = false;
        }
        skim_backend_destroy(be);
    }
    vk = sweep(1);
    CHECK(g_vk_messages == 0, "%d Vulkan validation message(s)", g_vk_messages);
#endif
    printf("%s: %d failure(s)%s\n", t_failures ? "FAILED" : "PASSED", t_failures,
           vk ? "" : " (the Vulkan backend was not tested)");
    if (t_failures) return 1;
#ifdef SKIM_TEST_HAVE_VULKAN
    if (!vk) return 77;
#endif
    return 0;
}
