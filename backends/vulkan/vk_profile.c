/* vk_profile.c - time per dispatch on the device (skim_vulkan_desc.profile or
 * SKIM_VK_PROFILE=1). A profiled plan records its dispatches one per level (a barrier
 * between any two, so none overlaps another) with a timestamp after each and one before
 * the first; after each run the ticks between neighbours are added to that dispatch's
 * sum. The order and barriers differ from an unprofiled plan, the results do not. */
#include "vk-int.h"

#include <string.h>

struct skim_vk_profile {
    VkQueryPool pool;
    uint32_t n;          /* dispatches recorded (queries: n + 1) */
    uint32_t cap;        /* dispatches the pool has room for */
    uint64_t mask;       /* timestampValidBits as a mask */
    double ns_per_tick;  /* timestampPeriod */
    const skim_tensor **node; /* per dispatch: the node it writes (bind[0]), or NULL */
    int *shader;         /* per dispatch: its SKIM_VK_SHADER_*, or -1 (a custom op) */
    uint64_t *ticks;     /* per query, the last run's */
    double *ms;          /* per dispatch: the sum over runs */
    int64_t runs;
};

skim_status skim_vk_profile_create(skim_plan *p, int n_dispatch) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    uint32_t bits = vb->timestamp_bits;
    if (bits == 0 || vb->props.limits.timestampPeriod <= 0.0f) {
        return skim_plan_fail(p, SKIM_ERR_UNSUPPORTED, "vulkan: profiling: the queue family writes no "
                     "timestamps (timestampValidBits 0)");
    }
    skim_vk_profile *pr = skim_calloc(&p->be->alloc, 1, sizeof *pr);
    uint32_t cap = (uint32_t)(n_dispatch > 0 ? n_dispatch : 1);
    if (pr) {
        pr->node = skim_calloc(&p->be->alloc, cap, sizeof *pr->node);
        pr->shader = skim_calloc(&p->be->alloc, cap, sizeof *pr->shader);
        pr->ms = skim_calloc(&p->be->alloc, cap, sizeof *pr->ms);
        pr->ticks = skim_calloc(&p->be->alloc, (size_t)cap + 1u, sizeof *pr->ticks);
    }
    vp->prof = pr;
    if (!pr || !pr->node || !pr->shader || !pr->ms || !pr->ticks) {
        return skim_plan_fail(p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    pr->cap = cap;
    pr->mask = bits >= 64 ? UINT64_MAX : (((uint64_t)1 << bits) - 1u);
    pr->ns_per_tick = (double)vb->props.limits.timestampPeriod;
    VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                .queryCount = cap + 1u};
    VkResult r = vb->d.vkCreateQueryPool(vb->dev, &qi, vb->vka, &pr->pool);
    if (r != VK_SUCCESS) {
        return skim_plan_fail(p, skim_vk_status(r), "vulkan: query pool: %s", skim_vk_result_str(r));
    }
    return SKIM_OK;
}

void skim_vk_profile_destroy(skim_plan *p) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    skim_vk_profile *pr = vp->prof;
    if (!pr) {
        return;
    }
    if (pr->pool) vb->d.vkDestroyQueryPool(vb->dev, pr->pool, vb->vka);
    skim_free(&p->be->alloc, pr->node);
    skim_free(&p->be->alloc, pr->shader);
    skim_free(&p->be->alloc, pr->ms);
    skim_free(&p->be->alloc, pr->ticks);
    skim_free(&p->be->alloc, pr);
    vp->prof = NULL;
}

/* Before the first dispatch: the pool reset and the start's timestamp. */
void skim_vk_profile_start(skim_vk_rec *r) {
    skim_vk_profile *pr = r->vp->prof;
    VkCommandBuffer cb = r->vp->cmd;
    r->vb->d.vkCmdResetQueryPool(cb, pr->pool, 0, pr->cap + 1u);
    r->vb->d.vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, pr->pool, 0);
    pr->n = 0;
}

/* After a dispatch: its end's timestamp (written once the compute work before it ends). */
void skim_vk_profile_mark(skim_vk_rec *r, const skim_tensor *node, int shader) {
    skim_vk_profile *pr = r->vp->prof;
    if (pr->n == pr->cap) {
        return; /* cannot happen: the counting pass sized the pool */
    }
    pr->node[pr->n] = node;
    pr->shader[pr->n] = shader;
    pr->n++;
    r->vb->d.vkCmdWriteTimestamp(r->vp->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, pr->pool,
                                 pr->n);
}

/* After a run has completed: its ticks, added per dispatch. */
skim_status skim_vk_profile_collect(skim_plan *p) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_profile *pr = ((skim_vk_plan *)p->impl)->prof;
    if (!pr || pr->n == 0) {
        return SKIM_OK;
    }
    VkResult r = vb->d.vkGetQueryPoolResults(vb->dev, pr->pool, 0, pr->n + 1u,
                                             sizeof(uint64_t) * (pr->n + 1u), pr->ticks,
                                             sizeof(uint64_t), VK_QUERY_RESULT_64_BIT);
    if (r != VK_SUCCESS) {
        return skim_plan_fail(p, skim_vk_status(r), "vulkan: profiling: the timestamps: %s",
                     skim_vk_result_str(r));
    }
    for (uint32_t i = 0; i < pr->n; i++) {
        uint64_t d = (pr->ticks[i + 1] - pr->ticks[i]) & pr->mask;
        pr->ms[i] += (double)d * pr->ns_per_tick * 1e-6;
    }
    pr->runs++;
    return SKIM_OK;
}

skim_status skim_vulkan_plan_profile(const skim_plan *p, skim_vulkan_profile_row *rows,
                                     int cap, int *n) {
    if (!skim_vk_is_plan(p) || !n || cap < 0 || (cap > 0 && !rows)) {
        return SKIM_ERR_INVALID_ARG;
    }
    const skim_vk_profile *pr = ((const skim_vk_plan *)p->impl)->prof;
    if (!pr) {
        return SKIM_ERR_UNSUPPORTED;
    }
    *n = (int)pr->n;
    for (int i = 0; i < cap && i < (int)pr->n; i++) {
        const skim_tensor *t = pr->node[i];
        skim_vulkan_profile_row *w = &rows[i];
        w->op = t ? skim_op_name(t->op) : "";
        w->name = t ? t->name : "";
        w->shader = pr->shader[i] >= 0 ? skim_vk_spirv_table[pr->shader[i]].name : "custom";
        w->runs = pr->runs;
        w->ms = pr->ms[i];
    }
    return SKIM_OK;
}
