/* test_vk_indirect.c - skipped rows launch no work: the application (owning its device,
 * with pipeline-statistics queries) records skim's run into its own command buffer between
 * vkCmdBeginQuery / vkCmdEndQuery and counts compute-shader invocations for a token
 * selection of 0, 128 and 256 of 256 tokens. GPU resolve: the count of the bounded
 * dispatches follows the selection (0 tokens: only the producer and the indirect fill
 * run). SKIM_VK_RESOLVE_HOST: direct dispatches, the same count every time. Skipped heads
 * launch no attention workgroups either (a head gate, attention, its output projection
 * through mul_mat_sel_k), nor Q's product (mul_mat_sel) and rope: 0, 2 and 4 of 4 heads, gated for
 * the run or per token (one token); in prefill (many tokens, heads gated per token),
 * attention launches one workgroup per active (head, token) pair, Q's product one per 64
 * rows of a head and run of up to 16 of that head's tokens, and the rope one per 256
 * elements of the active pairs' rows. Exits 77 when there is
 * no device or no pipelineStatisticsQuery. */
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

/* be[0] on the application's device (GPU resolve), be[1] the CPU backend, be[2] a Vulkan
 * backend with validation (and, with SKIM_TEST_VK_SYNC=1, synchronization validation);
 * new weights wq and wo. */
static int backends_create(app *a, skim_backend *be[3]) {
    be[0] = app_backend(a, SKIM_VK_RESOLVE_GPU);
    be[1] = be[2] = NULL;
    if (!be[0] || skim_backend_create_cpu(NULL, &be[1]) != SKIM_OK ||
        test_vulkan_create(&be[2]) != SKIM_OK) {
        for (int b = 0; b < 3; b++) skim_backend_destroy(be[b]);
        return 1;
    }
    for (int i = 0; i < DH * DH; i++) {
        wo[i] = rnd() * 0.05f;
        wq[i] = rnd() * 0.05f;
    }
    return 0;
}

/* q of the n rows x projected by mul_mat_sel over `heads` and roped at pos, attention
 * over the selected heads with keys and values k (positions k_pos, or 0.. when NULL), its
 * output projected by mul_mat_sel_k (which reads the selected heads' rows only). */
static skim_tensor *heads_block(skim_context *ctx, skim_tensor *x, skim_tensor *pos,
                                skim_tensor *k, skim_tensor *k_pos, skim_tensor *heads, int n) {
    skim_tensor *q = skim_mul_mat_sel(ctx, skim_new_weight_2d(ctx, SKIM_TYPE_F32, DH, DH, wq), x,
                                      heads, HD);
    q = skim_rope(ctx, skim_reshape_3d(ctx, q, HD, NH, n), pos, SKIM_ROPE_NORM, HD, 10000.0f);
    skim_attn_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.q = q;
    ad.k = k;
    ad.v = k;
    ad.q_pos = pos;
    ad.k_pos = k_pos;
    ad.heads = heads;
    skim_tensor *at = skim_reshape_2d(ctx, skim_attn(ctx, &ad), DH, n);
    skim_tensor *w = skim_new_weight_2d(ctx, SKIM_TYPE_F32, DH, DH, wo);
    return skim_mul_mat_sel_k(ctx, w, at, heads, HD);
}

/* The graph of y and a plan of it on each backend; nonzero on failure. */
static int plans_create(skim_context *ctx, skim_tensor *y, skim_backend *be[3], skim_plan *p[3]) {
    skim_graph *g;
    p[0] = p[1] = p[2] = NULL;
    int rc = skim_graph_build(ctx, &y, 1, &g) != SKIM_OK;
    for (int b = 0; !rc && b < 3; b++) rc = skim_plan_create(be[b], g, NULL, &p[b]) != SKIM_OK;
    return rc;
}

static void plans_destroy(skim_plan *p[3], skim_context *ctx, skim_backend *be[3]) {
    for (int b = 0; b < 3; b++) skim_plan_destroy(p[b]);
    skim_context_destroy(ctx);
    for (int b = 0; b < 3; b++) skim_backend_destroy(be[b]);
}

/* After a run of each plan: whether y's first n values on the Vulkan plans equal the CPU
 * plan's (and are all zero exactly when zero is expected); prints what differs. */
static int compare_y(skim_plan *p[3], const skim_tensor *y, float *out[3], size_t size, int n,
                     bool zero, const char *what) {
    for (int b = 0; b < 3; b++) {
        if (skim_plan_get_output(p[b], y, out[b], size) != SKIM_OK) return 1;
    }
    int rc = 0;
    for (int b = 0; b < 3; b += 2) {
        double err = 0, ref = 0;
        for (int i = 0; i < n; i++) {
            err += (out[b][i] - out[1][i]) * (double)(out[b][i] - out[1][i]);
            ref += (double)out[1][i] * out[1][i];
        }
        if (err > 1e-10 * (ref > 1e-30 ? ref : 1e-30) || zero != (ref == 0)) {
            printf("FAILED: %s: Vulkan (%s) and CPU differ (squared error %g of %g)\n", what,
                   b ? "validated" : "application's device", err, ref);
            rc = 1;
        }
    }
    return rc;
}

/* mode 0: scores [NH] gate the run; 1: [NH, 1] gate each token (the per-token form, in
 * decode); 2: as 0, after a token halt (the token runs for inv[0..2]; inv[3] and inv[4]:
 * it halted, with 4 and 0 heads passing: the halted token runs no head's work). */
static int measure_heads(app *a, int mode, long long inv[5]) {
    bool per_token = mode == 1;
    skim_backend *be[3];
    if (backends_create(a, be)) return 1;
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
    skim_tensor *y = heads_block(ctx, x, pos, k, NULL, heads, 1);
    skim_plan *p[3];
    int32_t p0 = NK;
    int rc = plans_create(ctx, y, be, p);
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
        char what[32];
        snprintf(what, sizeof what, "%d heads", active[c]);
        float *out[3] = {ys[0], ys[1], ys[2]};
        rc = rc || compare_y(p, y, out, sizeof ys[0], DH, c == 0, what);
    }
    plans_destroy(p, ctx, be);
    return rc;
}

/* Prefill: scores [NH, nt] gate each (head, token) pair, over nt tokens (6; 3, where a
 * plain product of so few columns takes the 4-column layout; and 260, past one chunk of
 * the producer, whose second dispatch writes the pairs), with or without a token halt before the block (then the scores, q and its positions
 * are the running tokens' compact rows). Attention goes over the active (head, query)
 * pairs only: one workgroup of 64 invocations per pair; Q's product (mul_mat_sel) over
 * each head's own tokens: one workgroup of 64 per 64 rows of the head (HD / 64) and run
 * of up to 16 of its active tokens; the rope over the active pairs' rows: one workgroup
 * of 256 per 256 of their elements; the rest of the run the same whatever the gates. Cases: no pair; heads 0 and 2 with no token and the others on part
 * of the tokens; every pair; two pairs, at the first and last token. x changes every
 * case, so that a pair the list dropped cannot find its row from an earlier run. */
enum { NTMAX = 260 };
static float pxs[DH * NTMAX], pks[HD * NH * NTMAX], psc[NH * NTMAX], pph[NTMAX];
static int32_t ppos[NTMAX];
static float pys[3][DH * NTMAX];

static bool pair_on(int c, int h, int i, int nt) {
    switch (c) {
    case 0: return false;
    case 1: return h % 2 == 1 && (i + h) % 3 != 0;
    case 2: return true;
    default: return (h == 0 && i == nt - 1) || (h == NH - 1 && i == 0);
    }
}

/* Per case: compute invocations, run-stats workgroups, and the active pairs and the
 * heads' runs of up to 16 active tokens, counted here from the inputs. */
static int measure_pairs(app *a, int nt, bool halt, long long inv[4], long long wg[4],
                         long long pairs[4], long long runs[4]) {
    skim_backend *be[3];
    if (backends_create(a, be)) return 1;
    for (int i = 0; i < HD * NH * nt; i++) pks[i] = rnd();
    int n_run = 0;
    for (int i = 0; i < nt; i++) {
        ppos[i] = i;
        pph[i] = halt && i % 3 == 1 ? 1.0f : 0.0f;
        n_run += pph[i] < 0.5f;
    }
    skim_context *ctx;
    skim_context_create(NULL, &ctx);
    skim_tensor *x0 = skim_new_input_2d(ctx, SKIM_TYPE_F32, DH, nt), *x = x0;
    skim_tensor *k = skim_new_input(ctx, SKIM_TYPE_F32, 3, (const int64_t[]){HD, NH, nt});
    skim_tensor *pos0 = skim_new_input_1d(ctx, SKIM_TYPE_I32, nt), *pos = pos0;
    skim_tensor *ts = skim_new_input_2d(ctx, SKIM_TYPE_F32, NH, nt), *sc2 = ts;
    skim_tensor *ph = skim_new_input_1d(ctx, SKIM_TYPE_F32, nt);
    skim_tensor *tok = halt ? skim_token_halt(ctx, ph, 0.5f, NULL) : NULL;
    if (tok) {
        x = skim_get_rows_sel(ctx, x0, tok);
        pos = skim_get_rows_sel(ctx, pos0, tok);
        sc2 = skim_get_rows_sel(ctx, ts, tok);
    }
    skim_tensor *heads = skim_head_gate(ctx, sc2, 0.5f);
    skim_tensor *y = heads_block(ctx, x, pos, k, pos0, heads, nt);
    skim_plan *p[3];
    int rc = plans_create(ctx, y, be, p);
    for (int c = 0; !rc && c < 4; c++) {
        pairs[c] = runs[c] = 0;
        for (int h = 0; h < NH; h++) {
            long long on = 0; /* head h's running tokens */
            for (int i = 0; i < nt; i++) {
                psc[i * NH + h] = pair_on(c, h, i, nt) ? 1.0f : 0.0f;
                on += pair_on(c, h, i, nt) && pph[i] < 0.5f;
            }
            pairs[c] += on;
            runs[c] += (on + 15) / 16;
        }
        for (int i = 0; i < DH * nt; i++) pxs[i] = rnd();
        for (int b = 0; b < 3; b++) {
            skim_plan_set_input(p[b], x0, pxs, sizeof pxs[0] * (size_t)(DH * nt));
            skim_plan_set_input(p[b], k, pks, sizeof pks[0] * (size_t)(HD * NH * nt));
            skim_plan_set_input(p[b], pos0, ppos, sizeof ppos[0] * (size_t)nt);
            skim_plan_set_input(p[b], ts, psc, sizeof psc[0] * (size_t)(NH * nt));
            skim_plan_set_input(p[b], ph, pph, sizeof pph[0] * (size_t)nt);
        }
        inv[c] = counted_run(a, p[0]);
        skim_run_stats st;
        rc = inv[c] < 0 || skim_plan_get_stats(p[0], &st) != SKIM_OK ||
             skim_plan_run(p[1]) != SKIM_OK || skim_plan_run(p[2]) != SKIM_OK;
        wg[c] = rc ? -1 : st.workgroups;
        char what[64];
        snprintf(what, sizeof what, "%d tokens%s, %lld pairs", nt, halt ? " (halting)" : "",
                 pairs[c]);
        float *out[3] = {pys[0], pys[1], pys[2]};
        rc = rc || compare_y(p, y, out, sizeof pys[0][0] * (size_t)(DH * nt), DH * n_run,
                             pairs[c] == 0, what);
    }
    plans_destroy(p, ctx, be);
    return rc;
}

/* Whether each case launched, more than the case of none, one attention workgroup (64
 * invocations) per active pair, HD / 64 Q workgroups (64 each) per run and a rope
 * workgroup (256) per 256 elements of the pairs' rows; prints the figures. */
static bool pairs_ok(int nt, bool halt, const long long inv[4], const long long wg[4],
                     const long long pairs[4], const long long runs[4]) {
    bool ok = pairs[0] == 0 && pairs[3] > 0 && pairs[1] > pairs[3] && pairs[2] > pairs[1];
    for (int c = 1; c < 4; c++) {
        long long want = pairs[c] + HD / 64 * runs[c], rope = (pairs[c] * HD + 255) / 256;
        ok = ok && inv[c] - inv[0] == 64 * want + 256 * rope && wg[c] - wg[0] == want + rope;
    }
    printf("prefill, heads gated per token, %d tokens%s: active pairs %lld / %lld / %lld / %lld;"
           " Q runs %lld / %lld / %lld / %lld; invocations %lld / %lld / %lld / %lld;"
           " workgroups %lld / %lld / %lld / %lld%s\n",
           nt, halt ? " (every third halted)" : "", pairs[0], pairs[1], pairs[2], pairs[3],
           runs[0], runs[1], runs[2], runs[3], inv[0], inv[1], inv[2], inv[3], wg[0], wg[1],
           wg[2], wg[3], ok ? "" : "  <- not one attention workgroup per pair, HD / 64 Q "
           "workgroups per run and a rope workgroup per 256 elements of the pairs' rows");
    return ok;
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
    /* 3 tokens without a halt only: with it, the cases' pair counts do not grow. */
    static const int pnt[5] = {6, 6, 3, NTMAX, NTMAX};
    static const bool phalt[5] = {false, true, false, false, true};
    bool prefill_ok = true;
    for (int v = 0; v < 5 && !fail; v++) {
        long long inv[4], wg[4], pairs[4], runs[4];
        fail = measure_pairs(&a, pnt[v], phalt[v], inv, wg, pairs, runs);
        prefill_ok = !fail && pairs_ok(pnt[v], phalt[v], inv, wg, pairs, runs) && prefill_ok;
    }
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
                      : !heads_ok ? "FAILED: skipped heads launched attention, Q or rope workgroups"
                      : !prefill_ok ? "FAILED: prefill's skipped (head, token) pairs launched "
                                      "attention, Q or rope workgroups"
                      : "PASSED");
    return ok && heads_ok && prefill_ok ? 0 : 1;
}
