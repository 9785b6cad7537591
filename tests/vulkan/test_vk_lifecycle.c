/* test_vk_lifecycle.c - create, plan, run, destroy cycles of the Vulkan backend leak
 * nothing: every host allocation through the skim allocator and every allocation the
 * driver makes through our VkAllocationCallbacks is returned. Then the fail-the-N-th-
 * allocation sweep: each failure gives OUT_OF_MEMORY (or the device's own status), the
 * process lives and nothing leaks. Validation on: leaked Vulkan objects are reported by
 * the layer at vkDestroyDevice and fail the test too. */
#include "skim-vulkan.h"
#include "vk_counting_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

skim_status test_vulkan_create(skim_backend **out);

static int failures;
#define EXPECT(c, ...) do { if (!(c)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)

typedef struct counter {
    long live, total;
    long fail_at; /* the total at which to fail (-1 never) */
} counter;

static void *c_alloc(void *user, size_t size) {
    counter *c = user;
    if (c->fail_at >= 0 && c->total == c->fail_at) {
        c->total++;
        return NULL;
    }
    void *p = malloc(size);
    if (p) {
        c->live++;
        c->total++;
    }
    return p;
}

static void c_free(void *user, void *p) {
    counter *c = user;
    if (p) {
        c->live--;
        free(p);
    }
}

/* The live count of vk_counting_alloc.h's callbacks. */
typedef struct { long live; } vk_counter;

static void vk_msg(void *user, uint32_t sev, uint32_t type, const char *m) {
    (void)type;
    (*(int *)user)++;
    printf("VULKAN VALIDATION (0x%x): %s\n", sev, m);
}

/* One cycle; returns the status of the first failing step. */
static skim_status cycle(counter *c, vk_counter *vc, int *msgs, bool validate) {
    skim_vulkan_desc d;
    memset(&d, 0, sizeof d);
    d.allocator.alloc = c_alloc;
    d.allocator.free = c_free;
    d.allocator.user = c;
    VkAllocationCallbacks cb = {&vc->live, vk_alloc, vk_realloc, vk_free, NULL, NULL};
    d.vk_allocator = &cb;
    d.validation = validate ? SKIM_VK_ON : SKIM_VK_OFF;
    d.debug = vk_msg;
    d.debug_user = msgs;
    skim_backend *be = NULL;
    skim_status s = skim_backend_create_vulkan(&d, &be);
    if (s != SKIM_OK) return s;
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    enum { D = 16, T = 40 };
    float x[D * T], sc[T];
    for (int i = 0; i < D * T; i++) x[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < T; i++) sc[i] = (float)(i % 5) - 2.0f;
    skim_tensor *tx = skim_new_input_2d(ctx, SKIM_TYPE_F32, D, T);
    skim_tensor *ts = skim_new_input_1d(ctx, SKIM_TYPE_F32, T);
    skim_tensor *sel = skim_token_halt(ctx, ts, 0.5f, NULL);
    skim_tensor *y = skim_scatter_add_sel(ctx, tx,
        skim_rms_norm(ctx, skim_get_rows_sel(ctx, tx, sel), 1e-5f), sel);
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    s = skim_graph_build(ctx, &y, 1, &g);
    if (s == SKIM_OK) s = skim_plan_create(be, g, NULL, &p);
    if (s == SKIM_OK) s = skim_plan_set_input(p, tx, x, sizeof x);
    if (s == SKIM_OK) s = skim_plan_set_input(p, ts, sc, sizeof sc);
    for (int r = 0; r < 2 && s == SKIM_OK; r++) s = skim_plan_run(p);
    skim_plan_destroy(p);
    skim_context_destroy(ctx);
    skim_backend_destroy(be);
    return s;
}

int main(void) {
    skim_backend *probe = NULL;
    if (test_vulkan_create(&probe) != SKIM_OK) return 1; /* exits 77 without a device */
    skim_backend_destroy(probe);
    int msgs = 0;
    for (int i = 0; i < 3; i++) {
        counter c = {0, 0, -1};
        vk_counter vc = {0};
        skim_status s = cycle(&c, &vc, &msgs, true);
        EXPECT(s == SKIM_OK, "cycle %d: %s", i, skim_status_str(s));
        EXPECT(c.live == 0 && vc.live == 0, "cycle %d: %ld host and %ld driver allocations "
               "leaked", i, c.live, vc.live);
        if (i == 0) printf("one cycle: %ld skim allocations\n", c.total);
    }
    counter c0 = {0, 0, -1};
    vk_counter v0 = {0};
    cycle(&c0, &v0, &msgs, false);
    int swept = 0;
    for (long n = 0; n < c0.total; n++) {
        counter c = {0, 0, n};
        vk_counter vc = {0};
        skim_status s = cycle(&c, &vc, &msgs, false);
        EXPECT(s == SKIM_ERR_OUT_OF_MEMORY || s == SKIM_OK, "failing allocation %ld: %s", n,
               skim_status_str(s));
        EXPECT(c.live == 0 && vc.live == 0, "failing allocation %ld: %ld host, %ld driver "
               "allocations leaked", n, c.live, vc.live);
        swept++;
    }
    printf("swept %d failing allocations\n", swept);
    EXPECT(msgs == 0, "%d validation messages", msgs);
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures != 0;
}
