/* test_vk_indirect.c - skipped rows launch no work: the application (owning its device,
 * with pipeline-statistics queries) records skim's run into its own command buffer between
 * vkCmdBeginQuery / vkCmdEndQuery and counts compute-shader invocations for a token
 * selection of 0, 128 and 256 of 256 tokens. GPU resolve: the count of the bounded
 * dispatches follows the selection (0 tokens: only the producer and the indirect fill
 * run). SKIM_VK_RESOLVE_HOST: direct dispatches, the same count every time. Skipped heads
 * launch no attention workgroups either (a head gate, attention, its output projection
 * through mul_mat_sel_k), nor Q's product (mul_mat_sel) and rope: 0, 2 and 4 of 4 heads, gated for
 * the run or per token (one token). Exits 77 when there is no device or no
 * pipelineStatisticsQuery. */
#include <volk.h>

#include "skim-cpu.h"
#include "skim-vulkan.h"
#include "test_backends.h"

#include <stdio.h>
#include <string.h>

enum { D = 64, T = 256 };

typedef struct app {
    VkInstance inst;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t family;
    VkCommandPool pool;
    VkQueryPool qp;
} app;

static int app_create(app *a) {
    memset(a, 0, sizeof *a);
    if (volkInitialize() != VK_SUCCESS) return 77;
    VkApplicationInfo ai = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO};
    ai.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &ai;
    if (vkCreateInstance(&ci, NULL, &a->inst) != VK_SUCCESS) return 77;
    volkLoadInstance(a->inst);
    uint32_t n = 1;
    VkResult r = vkEnumeratePhysicalDevices(a->inst, &n, &a->phys);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || n == 0) return 77;
    VkPhysicalDeviceFeatures f;
    vkGetPhysicalDeviceFeatures(a->phys, &f);
    if (!f.pipelineStatisticsQuery) return 77;
    VkQueueFamilyProperties qf[8];
    uint32_t nq = 8;
    vkGetPhysicalDeviceQueueFamilyProperties(a->phys, &nq, qf);
    a->family = UINT32_MAX;
    for (uint32_t i = 0; i < nq && a->family == UINT32_MAX; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) a->family = i;
    if (a->family == UINT32_MAX) return 77;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qi.queueFamilyIndex = a->family;
    qi.queueCount = 1;
    qi.pQueuePriorities = &prio;
    VkPhysicalDeviceFeatures en;
    memset(&en, 0, sizeof en);
    en.pipelineStatisticsQuery = VK_TRUE;
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    di.queueCreateInfoCount = 1;
    di.pQueueCreateInfos = &qi;
    di.pEnabledFeatures = &en;
    if (vkCreateDevice(a->phys, &di, NULL, &a->dev) != VK_SUCCESS) return 1;
    volkLoadDevice(a->dev);
    vkGetDeviceQueue(a->dev, a->family, 0, &a->queue);
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pi.queueFamilyIndex = a->family;
    vkCreateCommandPool(a->dev, &pi, NULL, &a->pool);
    VkQueryPoolCreateInfo qpi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qpi.queryType = VK_QUERY_TYPE_PIPELINE_STATISTICS;
    qpi.queryCount = 1;
    qpi.pipelineStatistics = VK_QUERY_PIPELINE_STATISTIC_COMPUTE_SHADER_INVOCATIONS_BIT;
    return vkCreateQueryPool(a->dev, &qpi, NULL, &a->qp) == VK_SUCCESS ? 0 : 1;
}

static void app_destroy(app *a) {
    if (a->qp) vkDestroyQueryPool(a->dev, a->qp, NULL);
    if (a->pool) vkDestroyCommandPool(a->dev, a->pool, NULL);
    if (a->dev) vkDestroyDevice(a->dev, NULL);
    if (a->inst) vkDestroyInstance(a->inst, NULL);
}

/* One run of plan p inside a query; returns the compute-shader invocations, or -1. */
static long long counted_run(app *a, skim_plan *p) {
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = a->pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VkCommandBuffer cb;
    vkAllocateCommandBuffers(a->dev, &ai, &cb);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    vkBeginCommandBuffer(cb, &bi);
    vkCmdResetQueryPool(cb, a->qp, 0, 1);
    vkCmdBeginQuery(cb, a->qp, 0, 0);
    skim_status s = skim_vulkan_plan_record(p, cb);
    vkCmdEndQuery(cb, a->qp, 0);
    vkEndCommandBuffer(cb);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb;
    long long inv = -1;
    if (s == SKIM_OK && vkQueueSubmit(a->queue, 1, &si, VK_NULL_HANDLE) == VK_SUCCESS) {
        vkQueueWaitIdle(a->queue);
        uint64_t v = 0;
        if (skim_vulkan_plan_complete(p) == SKIM_OK &&
            vkGetQueryPoolResults(a->dev, a->qp, 0, 1, sizeof v, &v, sizeof v,
                                  VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS)
            inv = (long long)v;
    }
    vkFreeCommandBuffers(a->dev, a->pool, 1, &cb);
    return inv;
}

static skim_backend *app_backend(app *a, skim_vulkan_resolve mode) {
    skim_vulkan_external x;
    memset(&x, 0, sizeof x);
    x.instance = a->inst;
    x.physical_device = a->phys;
    x.device = a->dev;
    x.queue_family = a->family;
    x.queue = a->queue;
    x.get_instance_proc_addr = vkGetInstanceProcAddr;
    skim_vulkan_desc d;
    memset(&d, 0, sizeof d);
    d.external = &x;
    d.resolve = mode;
    skim_backend *be = NULL;
    return skim_backend_create_vulkan(&d, &be) == SKIM_OK ? be : NULL;
}

/* Invocations for 0, 128 and 256 active tokens with the given resolve mode. */
static int measure(app *a, skim_vulkan_resolve mode, long long inv[3]) {
    skim_backend *be = app_backend(a, mode);
    if (!be) return 1;
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    skim_tensor *tx = skim_new_input_2d(ctx, SKIM_TYPE_F32, D, T);
    skim_tensor *tp = skim_new_input_1d(ctx, SKIM_TYPE_F32, T);
    skim_tensor *sel = skim_token_halt(ctx, tp, 0.5f, NULL);
    skim_tensor *y = skim_scale(ctx, skim_get_rows_sel(ctx, tx, sel), 2.0f);
    skim_graph *g;
    skim_plan *p = NULL;
    static float xs[D * T], ps[T];
    int rc = skim_graph_build(ctx, &y, 1, &g) != SKIM_OK ||
             skim_plan_create(be, g, NULL, &p) != SKIM_OK;
    if (!rc) skim_plan_set_input(p, tx, xs, sizeof xs);
    static const int active[3] = {0, 128, 256};
    for (int k = 0; !rc && k < 3; k++) {
        for (int i = 0; i < T; i++) ps[i] = i < active[k] ? 0.0f : 1.0f;
        skim_plan_set_input(p, tp, ps, sizeof ps);
        inv[k] = counted_run(a, p);
        int32_t c = -1;
        skim_plan_get_selection(p, sel, &c, NULL);
        rc = inv[k] < 0 || c != active[k];
    }
    skim_plan_destroy(p);
    skim_context_destroy(ctx);
    skim_backend_destroy(be);
    return rc;
}

/* Invocations for 0, 2 and 4 active heads of NH (GPU resolve): q of one token projected
 * by mul_mat_sel over the selected heads and roped, keys and values of NK tokens,
 * attention over the selected heads, its output projected by mul_mat_sel_k (which reads
 * the selected heads' rows only). Nothing reads the skipped heads' rows of q: its
 * product runs over the selected heads only. The result must equal the CPU backend's, on
 * the application's device and on a backend with validation (and, with
 * SKIM_TEST_VK_SYNC=1, synchronization validation) on. */
enum { HD = 128, NH = 4, NK = 8, DH = HD * NH };
static float wo[DH * DH], wq[DH * DH], xs[DH], ks[HD * NH * NK], sc[NH];
static float ys[3][DH];

static uint32_t rng = 12345u;
static float rnd(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* mode 0: scores [NH] gate the run; 1: [NH, 1] gate each token (the per-token form, in
 * decode); 2: as 0, after a token halt (the token runs for inv[0..2]; inv[3] and inv[4]:
 * it halted, with 4 and 0 heads passing: the halted token runs no head's work). */
static int measure_heads(app *a, int mode, long long inv[5]) {
    bool per_token = mode == 1;
    skim_backend *be = app_backend(a, SKIM_VK_RESOLVE_GPU), *cpu = NULL, *val = NULL;
    if (!be || skim_backend_create_cpu(NULL, &cpu) != SKIM_OK ||
        test_vulkan_create(&val) != SKIM_OK) {
        skim_backend_destroy(be);
        skim_backend_destroy(cpu);
        return 1;
    }
    for (int i = 0; i < DH * DH; i++) {
        wo[i] = rnd() * 0.05f;
        wq[i] = rnd() * 0.05f;
    }
    for (int i = 0; i < DH; i++) xs[i] = rnd();
    for (int i = 0; i < HD * NH * NK; i++) ks[i] = rnd();
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    skim_tensor *x0 = skim_new_input_2d(ctx, SKIM_TYPE_F32, DH, 1), *x = x0;
    skim_tensor *k = skim_new_input(ctx, SKIM_TYPE_F32, 3, (const int64_t[]){HD, NH, NK});
    skim_tensor *pos0 = skim_new_input_1d(ctx, SKIM_TYPE_I32, 1), *pos = pos0;
    skim_tensor *ph = skim_new_input_1d(ctx, SKIM_TYPE_F32, 1);
    if (mode == 2) {
        skim_tensor *tok = skim_token_halt(ctx, ph, 0.5f, NULL);
        x = skim_get_rows_sel(ctx, x0, tok);
        pos = skim_get_rows_sel(ctx, pos0, tok);
    }
    skim_tensor *ts = per_token ? skim_new_input_2d(ctx, SKIM_TYPE_F32, NH, 1)
                                : skim_new_input_1d(ctx, SKIM_TYPE_F32, NH);
    skim_tensor *heads = skim_head_gate(ctx, ts, 0.5f);
    skim_tensor *q = skim_mul_mat_sel(ctx, skim_new_weight_2d(ctx, SKIM_TYPE_F32, DH, DH, wq), x,
                                      heads, HD);
    q = skim_rope(ctx, skim_reshape_3d(ctx, q, HD, NH, 1), pos, SKIM_ROPE_NORM, HD, 10000.0f);
    skim_attn_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.q = q;
    ad.k = k;
    ad.v = k;
    ad.q_pos = pos;
    ad.heads = heads;
    skim_tensor *at = skim_reshape_2d(ctx, skim_attn(ctx, &ad), HD * NH, 1);
    skim_tensor *w = skim_new_weight_2d(ctx, SKIM_TYPE_F32, HD * NH, HD * NH, wo);
    skim_tensor *y = skim_mul_mat_sel_k(ctx, w, at, heads, HD);
    skim_graph *g;
    skim_plan *p[3] = {NULL, NULL, NULL};
    int32_t p0 = NK;
    int rc = skim_graph_build(ctx, &y, 1, &g) != SKIM_OK ||
             skim_plan_create(be, g, NULL, &p[0]) != SKIM_OK ||
             skim_plan_create(cpu, g, NULL, &p[1]) != SKIM_OK ||
             skim_plan_create(val, g, NULL, &p[2]) != SKIM_OK;
    for (int b = 0; !rc && b < 3; b++) {
        skim_plan_set_input(p[b], x0, xs, sizeof xs);
        skim_plan_set_input(p[b], k, ks, sizeof ks);
        skim_plan_set_input(p[b], pos0, &p0, sizeof p0);
    }
    /* Heads 1 and 3 pass at 2 active: a listed head that is not the first. */
    static const int active[5] = {0, 2, 4, 4, 0};
    for (int c = 0; !rc && c < (mode == 2 ? 5 : 3); c++) {
        float halt = c >= 3 ? 1.0f : 0.0f;
        for (int i = 0; i < NH; i++) sc[i] = active[c] == 4 || (active[c] == 2 && i % 2) ? 1.0f : 0.0f;
        for (int b = 0; b < 3; b++) {
            skim_plan_set_input(p[b], ts, sc, sizeof sc);
            if (mode == 2) skim_plan_set_input(p[b], ph, &halt, sizeof halt);
        }
        inv[c] = counted_run(a, p[0]);
        rc = inv[c] < 0 || skim_plan_run(p[1]) != SKIM_OK || skim_plan_run(p[2]) != SKIM_OK;
        if (c >= 3) {
            continue; /* the token halted: y has no rows */
        }
        for (int b = 0; !rc && b < 3; b++) {
            rc = skim_plan_get_output(p[b], y, ys[b], sizeof ys[b]) != SKIM_OK;
        }
        for (int b = 0; !rc && b < 3; b += 2) {
            double err = 0, ref = 0;
            for (int i = 0; i < DH; i++) {
                err += (ys[b][i] - ys[1][i]) * (double)(ys[b][i] - ys[1][i]);
                ref += (double)ys[1][i] * ys[1][i];
            }
            if (err > 1e-10 * (ref > 1e-30 ? ref : 1e-30) || (c > 0 && ref == 0)) {
                printf("FAILED: %d heads: Vulkan (%s) and CPU differ (squared error %g of %g)\n",
                       active[c], b ? "validated" : "application's device", err, ref);
                rc = 1;
            }
        }
    }
    for (int b = 0; b < 3; b++) skim_plan_destroy(p[b]);
    skim_context_destroy(ctx);
    skim_backend_destroy(be);
    skim_backend_destroy(cpu);
    skim_backend_destroy(val);
    return rc;
}

int main(void) {
    app a;
    int rc = app_create(&a);
    if (rc != 0) {
        printf("SKIP: no Vulkan device with pipeline statistics (%d)\n", rc);
        app_destroy(&a);
        return rc == 77 ? 77 : 1;
    }
    long long gpu[3], host[3], hd[5], ht[5], hh[5];
    int fail = measure(&a, SKIM_VK_RESOLVE_GPU, gpu) || measure(&a, SKIM_VK_RESOLVE_HOST, host) ||
               measure_heads(&a, 0, hd) || measure_heads(&a, 1, ht) || measure_heads(&a, 2, hh);
    app_destroy(&a);
    if (fail) {
        printf("FAILED: a run did not complete\n");
        return 1;
    }
    printf("compute invocations for 0 / 128 / 256 active tokens of %d:\n", T);
    printf("  GPU resolve (indirect): %lld / %lld / %lld\n", gpu[0], gpu[1], gpu[2]);
    printf("  host mode (direct):     %lld / %lld / %lld\n", host[0], host[1], host[2]);
    /* The bounded work is get_rows_sel and scale: D invocations per token each. */
    bool ok = gpu[0] < gpu[1] && gpu[1] < gpu[2] && gpu[2] - gpu[0] == 2LL * D * T &&
              gpu[1] - gpu[0] == (long long)D * T && host[0] == host[2] && host[0] > gpu[1];
    printf("compute invocations for 0 / 2 / 4 active heads of %d: %lld / %lld / %lld\n", NH,
           hd[0], hd[1], hd[2]);
    printf("  the same, gated per token: %lld / %lld / %lld\n", ht[0], ht[1], ht[2]);
    printf("  the same after a token halt: %lld / %lld / %lld; the token halted, 4 / 0 heads: "
           "%lld / %lld\n", hh[0], hh[1], hh[2], hh[3], hh[4]);
    /* attn.comp: one workgroup of 64 invocations per active head and query; mul_mat_sel's
     * Q: one workgroup of 64 per 256 rows of the active heads (0, 1, 2); the rope: one
     * workgroup of 256 per 256 elements of the active heads' rows (0, 1, 2 of HD = 128);
     * the rest of the work does not depend on the heads. */
    const long long r2 = 2LL * 64 + 64 + 256, r4 = 4LL * 64 + 128 + 512;
    bool heads_ok = hd[1] - hd[0] == r2 && hd[2] - hd[0] == r4 && ht[1] - ht[0] == r2 &&
                    ht[2] - ht[0] == r4 && hh[1] - hh[0] == r2 && hh[2] - hh[0] == r4 &&
                    hh[3] == hh[4] && hh[4] < hh[0];
    printf("%s\n", !ok ? "FAILED: skipped tokens launched work"
                      : !heads_ok ? "FAILED: skipped heads launched attention, Q or rope workgroups" : "PASSED");
    return ok && heads_ok ? 0 : 1;
}
