/* test_vk_threads.c - the thread rule of skim-backend.h on Vulkan: plans of one backend
 * created, run and destroyed on four threads at once, each checking every value of every
 * run (y = 2x + w, with its own x per run). The validation layer (on, with its thread
 * checks) fails the test on any unsynchronised use of the queue or the command pool; with
 * SKIM_VK_STAGING set (a second ctest entry) the threads also share the staging area.
 * Exits 77 without a device. */
#define _POSIX_C_SOURCE 200809L
#include "skim-vulkan.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

skim_status test_vulkan_create(skim_backend **out);

enum { THREADS = 4, PLANS = 3, RUNS = 20, N = 3000 };

typedef struct job {
    skim_backend *be;
    int id, bad;
    char msg[256];
} job;

static void *worker(void *arg) {
    job *j = arg;
    static float w[THREADS][N];
    float x[N], y[N];
    for (int i = 0; i < N; i++) w[j->id][i] = (float)(j->id * 7 + i % 11);
    for (int k = 0; k < PLANS && !j->bad; k++) {
        skim_context *ctx = NULL;
        skim_graph *g = NULL;
        skim_plan *p = NULL;
        skim_context_create(NULL, &ctx);
        skim_tensor *xi = skim_new_input_1d(ctx, SKIM_TYPE_F32, N);
        skim_tensor *wt = skim_new_weight_2d(ctx, SKIM_TYPE_F32, N, 1, w[j->id]);
        skim_tensor *out = skim_add(ctx, skim_scale(ctx, xi, 2.0f), wt);
        skim_status s = skim_graph_build(ctx, &out, 1, &g);
        if (s == SKIM_OK) s = skim_plan_create(j->be, g, NULL, &p);
        if (s != SKIM_OK) {
            snprintf(j->msg, sizeof j->msg, "plan: %s", skim_status_str(s));
            j->bad = 1;
        }
        for (int r = 0; r < RUNS && !j->bad; r++) {
            for (int i = 0; i < N; i++) x[i] = (float)(r - i % 5 + 100 * j->id);
            s = skim_plan_set_input(p, xi, x, sizeof x);
            if (s == SKIM_OK) s = skim_plan_run(p);
            if (s == SKIM_OK) s = skim_plan_get_output(p, out, y, sizeof y);
            for (int i = 0; s == SKIM_OK && i < N; i++) {
                if (y[i] != 2.0f * x[i] + w[j->id][i]) {
                    snprintf(j->msg, sizeof j->msg, "run %d: y[%d] = %g, want %g", r, i, y[i],
                             2.0f * x[i] + w[j->id][i]);
                    j->bad = 1;
                    break;
                }
            }
            if (s != SKIM_OK) {
                snprintf(j->msg, sizeof j->msg, "run %d: %s (%s)", r, skim_status_str(s),
                         skim_plan_error(p));
                j->bad = 1;
            }
        }
        skim_plan_destroy(p);
        skim_graph_destroy(g);
        skim_context_destroy(ctx);
    }
    return NULL;
}

int main(void) {
    skim_backend *be = NULL;
    if (test_vulkan_create(&be) != SKIM_OK) {
        return 77; /* test_vulkan_create printed why */
    }
    job jobs[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t].be = be;
        jobs[t].id = t;
        pthread_create(&th[t], NULL, worker, &jobs[t]);
    }
    int failures = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        if (jobs[t].bad) {
            printf("FAIL thread %d: %s\n", t, jobs[t].msg);
            failures++;
        }
    }
    skim_backend_destroy(be);
    printf("%s: %d threads x %d plans x %d runs, %d failure(s)\n", failures ? "FAILED" : "PASSED",
           THREADS, PLANS, RUNS, failures);
    return failures != 0;
}
