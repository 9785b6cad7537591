/* test_vk_blocks.c - a store's weights and states, and a plan's arena, past the most one
 * device allocation holds are placed in several buffers (blocks), each tensor wholly in one:
 * with SKIM_VK_MAX_ALLOC=16384 as a stand-in for a device's maxMemoryAllocationSize (1-4
 * GiB against a 1B model's weights), a chain of products over weights of three types and
 * writes into four states agrees with the CPU backend over two runs, and the backend
 * really holds more buffers for the store (skim_vulkan_info's store_blocks) and for the
 * plan (skim_memory_stats' device_blocks) than without the limit. Guard bytes are on
 * (test_vulkan.c): a binding that names the wrong block or offset writes over guards or
 * reads the wrong data. A weight alone past the limit, and an intermediate, are refused
 * with TOO_LARGE, naming the bytes against the limit, and nothing is leaked.
 * Validation on (any message fails). Exits 77 without a device. */
#define _POSIX_C_SOURCE 200809L
#include "skim-cpu.h"
#include "skim-vulkan.h"
#include "test_backends.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int failures;
#define EXPECT(c, ...) do { if (!(c)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)

enum { D = 32, T = 16, L = 8, S = 4, SLOTS = 32 };
#define LIMIT 16384

static uint32_t rng = 4242u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

typedef struct outs {
    float h[D * T], st[S][D * SLOTS];
    int64_t blocks; /* store_blocks while the plan lives, less before (Vulkan) */
    int64_t allocs; /* device allocations (skim_memory_stats) likewise: stores and plan */
    skim_status st_run;
} outs;

static int64_t device_allocs(skim_backend *be) {
    skim_memory_stats m;
    skim_backend_query_memory(be, &m);
    return (int64_t)m.device_blocks;
}

static int64_t store_blocks(skim_backend *be) {
    skim_vulkan_info info;
    return skim_vulkan_query_info(be, &info) ? info.store_blocks : 0;
}

static unsigned char wdata[L][D * D * 4];
static float bias[L][D * T], x[D * T];
static const skim_type wtypes[3] = {SKIM_TYPE_F32, SKIM_TYPE_F16, SKIM_TYPE_Q8_0};

/* h = x; h = W_k h + b_k for k < L (weights F32, F16, Q8_0 in turn); state s gets h's
 * columns at every other slot. Two runs; the outputs of the second. */
static void run_case(skim_backend *be, outs *o) {
    memset(o, 0, sizeof *o);
    int64_t before = store_blocks(be), allocs = device_allocs(be);
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    skim_tensor *xi = skim_new_input_2d(ctx, SKIM_TYPE_F32, D, T);
    skim_tensor *h = xi;
    for (int k = 0; k < L; k++) {
        skim_tensor *w = skim_new_weight_2d(ctx, wtypes[k % 3], D, D, wdata[k]);
        skim_tensor *b = skim_new_weight_2d(ctx, SKIM_TYPE_F32, D, T, bias[k]);
        h = skim_add(ctx, skim_mul_mat(ctx, w, h), b);
    }
    skim_tensor *out[1 + S] = {h};
    skim_tensor *idx[S];
    const int64_t ne[2] = {D, SLOTS};
    for (int s = 0; s < S; s++) {
        skim_tensor *state = skim_new_state(ctx, SKIM_TYPE_F32, 2, ne, 0.5f);
        idx[s] = skim_new_input_1d(ctx, SKIM_TYPE_I32, T);
        out[1 + s] = skim_set_rows(ctx, state, h, idx[s]);
    }
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    skim_status st = skim_graph_build(ctx, out, 1 + S, &g);
    if (st == SKIM_OK) st = skim_plan_create(be, g, NULL, &p);
    o->blocks = store_blocks(be) - before;
    o->allocs = device_allocs(be) - allocs;
    for (int run = 0; run < 2 && st == SKIM_OK; run++) {
        skim_plan_set_input(p, xi, x, sizeof x);
        for (int s = 0; s < S; s++) {
            int32_t at[T];
            for (int i = 0; i < T; i++) at[i] = 2 * i + (run + s) % 2; /* distinct slots */
            skim_plan_set_input(p, idx[s], at, sizeof at);
        }
        st = skim_plan_run(p);
    }
    if (st == SKIM_OK) st = skim_plan_get_output(p, h, o->h, sizeof o->h);
    for (int s = 0; s < S && st == SKIM_OK; s++) {
        st = skim_plan_get_output(p, out[1 + s], o->st[s], sizeof o->st[s]);
    }
    if (st != SKIM_OK) {
        printf("run: %s: %s\n", skim_status_str(st), p ? skim_plan_error(p) : skim_backend_error(be));
    }
    o->st_run = st;
    skim_plan_destroy(p);
    skim_graph_destroy(g);
    skim_context_destroy(ctx);
    EXPECT(store_blocks(be) == before, "the store's blocks freed with its plan: %lld, before %lld",
           (long long)store_blocks(be), (long long)before);
}

static double max_rel(const float *a, const float *b, int n) {
    double e = 0, m = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) {
            return INFINITY; /* fmax would pass a NaN over */
        }
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? e / m : e;
}

/* A weight of exactly LIMIT bytes: with the guard bytes around it, past one block. */
static void refusal(skim_backend *vk) {
    int64_t before = store_blocks(vk);
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    static float big[64 * 64];
    skim_tensor *w = skim_new_weight_2d(ctx, SKIM_TYPE_F32, 64, 64, big);
    skim_tensor *xi = skim_new_input_1d(ctx, SKIM_TYPE_F32, 64);
    skim_tensor *y = skim_mul_mat(ctx, w, xi);
    skim_graph *g = NULL;
    skim_store *store = NULL;
    skim_status s = skim_graph_build(ctx, &y, 1, &g);
    if (s == SKIM_OK) s = skim_store_create(vk, &g, 1, &store);
    const char *msg = skim_backend_error(vk);
    EXPECT(s == SKIM_ERR_TOO_LARGE && strstr(msg, "needs 16384 bytes") &&
           strstr(msg, "past the 16384 bytes one device allocation holds"),
           "a weight past the limit -> %s (%s)", skim_status_str(s), msg);
    printf("weight past the limit: %s: %s\n", skim_status_str(s), msg);
    EXPECT(store_blocks(vk) == before, "blocks left after the refusal: %lld, before %lld",
           (long long)store_blocks(vk), (long long)before);
    skim_store_destroy(store);
    skim_graph_destroy(g);
    skim_context_destroy(ctx);

    /* An intermediate of LIMIT bytes: the arena cannot hold it in one block. */
    int64_t allocs = device_allocs(vk);
    skim_context_create(NULL, &ctx);
    skim_tensor *x2 = skim_new_input_2d(ctx, SKIM_TYPE_F32, 64, 64);
    y = skim_tensor_set_name(skim_scale(ctx, x2, 2.0f), "bigmid");
    skim_tensor *y2 = skim_scale(ctx, y, 0.5f);
    g = NULL;
    skim_plan *p = NULL;
    s = skim_graph_build(ctx, &y2, 1, &g);
    if (s == SKIM_OK) s = skim_plan_create(vk, g, NULL, &p);
    msg = skim_backend_error(vk);
    EXPECT(s == SKIM_ERR_TOO_LARGE && strstr(msg, "arena tensor bigmid") &&
           strstr(msg, "needs 16384 bytes, past the 16384 bytes"),
           "an intermediate past the limit -> %s (%s)", skim_status_str(s), msg);
    printf("intermediate past the limit: %s: %s\n", skim_status_str(s), msg);
    skim_plan_destroy(p);
    EXPECT(device_allocs(vk) == allocs, "allocations left after the refusal: %lld, before %lld",
           (long long)device_allocs(vk), (long long)allocs);
    skim_graph_destroy(g);
    skim_context_destroy(ctx);
}

int main(void) {
    skim_backend *cpu, *vk, *vk_lim;
    int rc = test_vulkan_pair_with("SKIM_VK_MAX_ALLOC", "16384", &cpu, &vk, &vk_lim);
    if (rc != 0) {
        return rc;
    }
    EXPECT(vk_lim, "no backend with a 16384-byte limit");
    skim_vulkan_info info;
    EXPECT(vk_lim && skim_vulkan_query_info(vk_lim, &info) && info.max_block == LIMIT,
           "max_block with the limit: %llu", vk_lim ? (unsigned long long)info.max_block : 0ull);
    for (int k = 0; k < L; k++) {
        float wf[D * D];
        for (int i = 0; i < D * D; i++) wf[i] = frand() * 0.3f;
        skim_quantize(wtypes[k % 3], wf, wdata[k], D, D);
        for (int i = 0; i < D * T; i++) bias[k][i] = frand() * 0.1f;
    }
    for (int i = 0; i < D * T; i++) x[i] = frand();
    outs *ref = malloc(sizeof *ref), *whole = malloc(sizeof *whole), *lim = malloc(sizeof *lim);
    run_case(cpu, ref);
    run_case(vk, whole);
    if (vk_lim) {
        run_case(vk_lim, lim);
        EXPECT(ref->st_run == SKIM_OK && whole->st_run == SKIM_OK && lim->st_run == SKIM_OK,
               "runs: cpu %s, vulkan %s, vulkan limited %s", skim_status_str(ref->st_run),
               skim_status_str(whole->st_run), skim_status_str(lim->st_run));
        /* Without the limit: one buffer for the weights, one for the states. */
        EXPECT(whole->blocks == 2, "blocks without the limit: %lld", (long long)whole->blocks);
        /* 8 weights of 4096/2048/1088 bytes and 8 biases of 512 (about 26 KiB with the
         * guards), 4 states of 4096: at least 2 + 2 buffers. */
        EXPECT(lim->blocks >= 4, "blocks with the limit: %lld", (long long)lim->blocks);
        /* The arena (16 intermediates of 2 KiB, about 37 KiB with the guards) in at least
         * 3 buffers: 2 more device allocations than the stores' extra ones. */
        int64_t extra = (lim->allocs - whole->allocs) - (lim->blocks - whole->blocks);
        EXPECT(extra >= 2, "the arena's extra buffers with the limit: %lld", (long long)extra);
        printf("store buffers: %lld without the limit, %lld with %d bytes; the arena's: %lld more\n",
               (long long)whole->blocks, (long long)lim->blocks, LIMIT, (long long)extra);
        const outs *vks[2] = {whole, lim};
        for (int v = 0; v < 2; v++) {
            double e = max_rel(vks[v]->h, ref->h, D * T);
            EXPECT(e < 1e-4, "%s: h max rel error %.3g", v ? "limited" : "whole", e);
            for (int st = 0; st < S; st++) {
                double es = max_rel(vks[v]->st[st], ref->st[st], D * SLOTS);
                EXPECT(es < 1e-4, "%s: state %d max rel error %.3g", v ? "limited" : "whole",
                       st, es);
            }
            printf("%s: h max rel error %.3g\n", v ? "limited" : "whole  ", e);
        }
        refusal(vk_lim);
    }
    free(ref);
    free(whole);
    free(lim);
    skim_backend_destroy(vk_lim);
    skim_backend_destroy(vk);
    skim_backend_destroy(cpu);
    if (failures) {
        printf("FAILED: %d\n", failures);
        return 1;
    }
    printf("OK\n");
    return 0;
}
