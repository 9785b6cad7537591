/* vk_engine.c - runs recorded into an engine's own command buffer: the plan's secondary
 * command buffer is executed there; the engine submits and synchronises, then completes
 * the run here. */
#include "vk-int.h"

bool skim_vk_is_plan(const skim_plan *p) {
    return p && p->be && p->be->iface && p->be->iface->run_async == skim_vk_run_async && p->impl;
}

skim_status skim_vulkan_plan_record(skim_plan *p, VkCommandBuffer cmd) {
    if (!skim_vk_is_plan(p)) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (!cmd) {
        return skim_plan_fail(p, SKIM_ERR_INVALID_ARG, "vulkan_plan_record: cmd is VK_NULL_HANDLE");
    }
    if (p->running) {
        return skim_plan_fail(p, SKIM_ERR_STATE, "vulkan_plan_record: a run is in progress");
    }
    const skim_graph *g = p->graph;
    for (int i = 0; i < g->n_inputs; i++) {
        if (!p->input_set[i]) {
            return skim_plan_fail(p, SKIM_ERR_STATE, "vulkan_plan_record: input %s was never set",
                                  g->inputs[i]->name);
        }
    }
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    skim_vk_write_params(p);
    vb->d.vkCmdExecuteCommands(cmd, 1, &vp->cmd);
    vp->external_pending = true;
    p->running = true;
    skim_atomic_add(&p->store->running, 1);
    skim_vk_lock(vb);
    vp->submit_mark = vb->n_submits; /* the engine submits: this run counts none of skim's */
    vp->begin_mark = vb->n_begins;
    skim_vk_unlock(vb);
    return SKIM_OK;
}

skim_status skim_vulkan_plan_complete(skim_plan *p) {
    if (!skim_vk_is_plan(p)) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_vk_plan *vp = p->impl;
    if (!p->running || !vp->external_pending) {
        return skim_plan_fail(p, SKIM_ERR_STATE, "vulkan_plan_complete: no recorded run pending");
    }
    skim_status st = skim_vk_finish(p);
    vp->external_pending = false;
    p->running = false;
    skim_atomic_add(&p->store->running, -1);
    if (st == SKIM_OK || st == SKIM_ERR_RANGE) {
        p->has_run = true;
        p->stats.runs++;
        skim_plan_compute_stats(p);
    }
    return st;
}
