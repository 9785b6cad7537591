/* vk_plan.c - plans: buffers (arena, weights, inputs, states, run parameters, indirect
 * commands), the recording (vk_record.c) done once here, and runs: write the parameter
 * buffer, one vkQueueSubmit, a fence; after the wait, every selection's words are copied
 * to p->sel_host for the stats. */
#include "vk-int.h"

#include <string.h>

/* Offsets of a list of leaves packed into one buffer; returns the total. */
static skim_status pack(skim_plan *p, skim_tensor **list, int n, VkDeviceSize **offs,
                        VkDeviceSize *total) {
    *offs = skim_calloc(&p->be->alloc, (size_t)(n ? n : 1), sizeof **offs);
    if (!*offs) {
        return PFAIL(p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    *total = skim_vk_guard_pack(((skim_vk_backend *)p->be->impl)->guard != 0, *offs, list, n);
    return SKIM_OK;
}

static uint32_t fill_word(const skim_tensor *s) {
    uint32_t w = 0;
    if (s->type == SKIM_TYPE_F32) {
        memcpy(&w, &s->fill, 4);
    } else if (s->type == SKIM_TYPE_F16) {
        uint16_t h = skim_fp32_to_fp16(s->fill);
        w = (uint32_t)h | ((uint32_t)h << 16);
    }
    return w;
}

skim_status skim_vk_reset_states(skim_plan *p) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    for (int i = 0; i < g->n_states; i++) {
        skim_status st = skim_vk_fill(vb, &vp->states.b[vp->st_blk[i]], vp->st_off[i],
                                      skim_tensor_nbytes(g->states[i]), fill_word(g->states[i]));
        if (st != SKIM_OK) {
            return PFAIL_BE(p, st);
        }
    }
    return SKIM_OK;
}

/* ---------------------------------------------------------------- stores
 * The weights uploaded once and the states, each packed into device buffers (one, or
 * several past vb->block_max: vk_memory.c's blocks; with guard gaps in guard mode, which
 * the plans using them fill and check); a plan binds these buffers as its own
 * (vp->weights, vp->states: the store's arrays, not copied). */

typedef struct skim_vk_store {
    skim_vk_blocks weights, states;
    VkDeviceSize *w_off, *st_off; /* per store slot: offset in its block */
    int *w_blk, *st_blk;          /* per store slot: its block */
} skim_vk_store;

void skim_vk_store_destroy(skim_store *s) {
    skim_vk_backend *vb = s->be->impl;
    skim_vk_store *vs = s->impl;
    skim_vk_lock(vb);
    vb->n_blocks -= vs->weights.n + vs->states.n; /* skim_vulkan_info.store_blocks */
    skim_vk_blocks_destroy(vb, &vs->weights);
    skim_vk_blocks_destroy(vb, &vs->states);
    skim_vk_unlock(vb);
    skim_free(&s->be->alloc, vs->w_off);
    skim_free(&s->be->alloc, vs->st_off);
    skim_free(&s->be->alloc, vs->w_blk);
    skim_free(&s->be->alloc, vs->st_blk);
    skim_free(&s->be->alloc, vs);
    s->impl = NULL;
}

skim_status skim_vk_store_fill(skim_store *s, int i) {
    skim_vk_backend *vb = s->be->impl;
    skim_vk_store *vs = s->impl;
    return skim_vk_fill(vb, &vs->states.b[vs->st_blk[i]], vs->st_off[i],
                        skim_tensor_nbytes(s->states[i]),
                        fill_word(s->states[i]));
}

static skim_status store_create(skim_backend *be, skim_store *s);

skim_status skim_vk_store_create(skim_backend *be, skim_store *s) {
    skim_vk_backend *vb = be->impl;
    skim_vk_lock(vb);
    skim_status st = store_create(be, s);
    skim_vk_unlock(vb);
    return st;
}

static skim_status store_create(skim_backend *be, skim_store *s) {
    skim_vk_backend *vb = be->impl;
    skim_vk_store *vs = skim_calloc(&be->alloc, 1, sizeof *vs);
    if (!vs) {
        return skim_backend_fail(be, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    s->impl = vs;
    vs->w_off = skim_calloc(&be->alloc, (size_t)s->n_weights + 1, sizeof *vs->w_off);
    vs->st_off = skim_calloc(&be->alloc, (size_t)s->n_states + 1, sizeof *vs->st_off);
    vs->w_blk = skim_calloc(&be->alloc, (size_t)s->n_weights + 1, sizeof *vs->w_blk);
    vs->st_blk = skim_calloc(&be->alloc, (size_t)s->n_states + 1, sizeof *vs->st_blk);
    if (!vs->w_off || !vs->st_off || !vs->w_blk || !vs->st_blk) {
        return skim_backend_fail(be, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    for (int i = 0; i < s->n_weights; i++) {
        if (!s->weights[i]->data) {
            return skim_backend_fail(be, SKIM_ERR_STATE, "vulkan: weight %s has no data",
                                     s->weights[i]->name);
        }
    }
    bool guard = vb->guard != 0;
    skim_status st = skim_vk_blocks_create(vb, &vs->weights, s->weights, s->n_weights, vs->w_off,
                                           vs->w_blk, guard, "weights");
    if (st == SKIM_OK) {
        st = skim_vk_blocks_create(vb, &vs->states, s->states, s->n_states, vs->st_off,
                                   vs->st_blk, guard, "states");
    }
    vb->n_blocks += vs->weights.n + vs->states.n; /* held now */
    for (int i = 0; st == SKIM_OK && i < s->n_weights; i++) {
        const skim_tensor *w = s->weights[i];
        st = skim_vk_upload(vb, &vs->weights.b[vs->w_blk[i]], vs->w_off[i], w->data,
                            skim_tensor_nbytes(w));
    }
    for (int i = 0; st == SKIM_OK && i < s->n_states; i++) {
        st = skim_vk_store_fill(s, i);
    }
    s->weight_bytes = s->state_bytes = 0;
    for (int b = 0; b < vs->weights.n; b++) s->weight_bytes += vs->weights.b[b].mem_bytes;
    for (int b = 0; b < vs->states.n; b++) s->state_bytes += vs->states.b[b].mem_bytes;
    return st;
}

static skim_status make_buffers(skim_plan *p) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    VkDeviceSize isz = 0;
    skim_status st = pack(p, g->inputs, g->n_inputs, &vp->in_off, &isz);
    if (st != SKIM_OK) {
        return st;
    }
    /* Weights and states: the store's buffers, at the store's offsets. */
    const skim_vk_store *vs = p->store->impl;
    vp->weights = vs->weights;
    vp->states = vs->states;
    vp->w_off = skim_calloc(&p->be->alloc, (size_t)g->n_weights + 1, sizeof *vp->w_off);
    vp->st_off = skim_calloc(&p->be->alloc, (size_t)g->n_states + 1, sizeof *vp->st_off);
    vp->w_blk = skim_calloc(&p->be->alloc, (size_t)g->n_weights + 1, sizeof *vp->w_blk);
    vp->st_blk = skim_calloc(&p->be->alloc, (size_t)g->n_states + 1, sizeof *vp->st_blk);
    if (!vp->w_off || !vp->st_off || !vp->w_blk || !vp->st_blk) {
        return PFAIL(p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    for (int i = 0; i < g->n_weights; i++) {
        int k = skim_store_slot(p->store, g->weights[i]);
        vp->w_off[i] = vs->w_off[k];
        vp->w_blk[i] = vs->w_blk[k];
    }
    for (int i = 0; i < g->n_states; i++) {
        int k = skim_store_slot(p->store, g->states[i]);
        vp->st_off[i] = vs->st_off[k];
        vp->st_blk[i] = vs->st_blk[k];
    }
    VkDeviceSize asz = 0;
    int n_ab = 0;
    st = skim_vk_arena_layout(p, &asz);
    if (st == SKIM_OK) st = skim_vk_arena_split(p, &asz, &n_ab);
    if (st != SKIM_OK) {
        return st;
    }
    VkDeviceSize rbsz = 0;
    for (int i = 0; i < g->n_sels; i++) {
        rbsz += skim_tensor_nbytes(g->sels[i]);
    }
    const VkBufferUsageFlags sb = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    struct { skim_vk_buffer *b; VkDeviceSize size; bool host; const char *what; } bufs[] = {
        {&vp->inputs, isz, true, "inputs"},
        {&vp->params, 4u * (SKIM_VK_PARAM_BASE + (VkDeviceSize)g->n_params), true, "parameters"},
        {&vp->dummy, 256, false, "dummy"},
        {&vp->readback, rbsz, true, "selection readback"},
    };
    VkDeviceSize *sizes = skim_calloc(&p->be->alloc, (size_t)n_ab, sizeof *sizes);
    if (!sizes) {
        return PFAIL(p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    for (int j = 0; j < n_ab; j++) {
        sizes[j] = vp->a_start[j + 1] - vp->a_start[j];
    }
    st = skim_vk_blocks_make(vb, &vp->arena, sizes, n_ab, "arena");
    skim_free(&p->be->alloc, sizes);
    for (size_t k = 0; st == SKIM_OK && k < sizeof bufs / sizeof bufs[0]; k++) {
        st = skim_vk_buffer_create(vb, bufs[k].b, bufs[k].size, sb, bufs[k].host, bufs[k].what);
    }
    if (st != SKIM_OK) {
        return PFAIL_BE(p, st);
    }
    return vb->guard ? skim_vk_guard_fill(p) : SKIM_OK;
}

/* The end of a run: every selection's words are copied into the host-visible readback
 * buffer inside the run (no extra submission to fetch them on a discrete GPU), and all
 * writes are made visible to the host and to later transfers (downloads of outputs). */
static void record_readback(skim_plan *p) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
    vb->d.vkCmdPipelineBarrier(vp->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                               VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VkDeviceSize at = 0;
    for (int i = 0; i < g->n_sels; i++) {
        skim_vk_buffer *buf;
        VkDeviceSize off, end;
        if (skim_vk_locate(p, g->sels[i], &buf, &off, &end)) {
            VkBufferCopy c = {off, at, skim_tensor_nbytes(g->sels[i])};
            vb->d.vkCmdCopyBuffer(vp->cmd, buf->buf, vp->readback.buf, 1, &c);
        }
        at += skim_tensor_nbytes(g->sels[i]);
    }
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT;
    vb->d.vkCmdPipelineBarrier(vp->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                               VK_PIPELINE_STAGE_TRANSFER_BIT,
                               VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1,
                               &mb, 0, NULL, 0, NULL);
}

static skim_status record(skim_plan *p) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    skim_vk_rec r = {.vb = vb, .p = p, .vp = vp, .pass = 0, .st = SKIM_OK};
    skim_status st = skim_vk_record_pass(&r);
    if (st == SKIM_OK && vb->profile) {
        st = skim_vk_profile_create(p, vp->n_dispatch);
    }
    if (st != SKIM_OK) {
        return st;
    }
    uint32_t n_sets = (uint32_t)(vp->n_dispatch + p->graph->n_sels + 1);
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, n_sets * SKIM_VK_N_BINDINGS};
    VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    pi.maxSets = n_sets;
    pi.poolSizeCount = 1;
    pi.pPoolSizes = &ps;
    VkResult res = vb->d.vkCreateDescriptorPool(vb->dev, &pi, vb->vka, &vp->dpool);
    if (res != VK_SUCCESS) {
        return PFAIL(p, skim_vk_status(res), "vulkan: descriptor pool: %s", skim_vk_result_str(res));
    }
    /* The indirect table (8 words per entry), then the commands (3 words each), then the
     * pair lists (a count and capacity x groups pairs), each at a multiple of 256 bytes
     * (any device's storage-buffer offset alignment: consumers bind them from there). */
    VkDeviceSize tbl = 32u * (VkDeviceSize)vp->n_ind;
    vp->ind_cmd_off = tbl;
    VkDeviceSize ind_end = tbl + 12u * (VkDeviceSize)vp->n_ind + 16;
    for (int i = 0; vp->hl_off && i < p->graph->n_sels; i++) {
        if (vp->hl_off[i]) {
            ind_end = (ind_end + 255u) & ~(VkDeviceSize)255u;
            vp->hl_off[i] = ind_end;
            const skim_tensor *sel = p->graph->sels[i];
            ind_end += 4u * (1u + (VkDeviceSize)sel->ne[0] * (VkDeviceSize)sel->ne[1]);
        }
    }
    /* Then each producer's scratch (select.comp). */
    vp->sc_off = skim_calloc(&p->be->alloc, (size_t)(p->graph->n_sels ? p->graph->n_sels : 1),
                             sizeof *vp->sc_off);
    if (!vp->sc_off) {
        return PFAIL(p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    VkDeviceSize sc_begin = ind_end = (ind_end + 15u) & ~(VkDeviceSize)15u;
    for (int i = 0; i < p->graph->n_sels; i++) {
        vp->sc_off[i] = ind_end;
        ind_end += 4u * (VkDeviceSize)skim_vk_sel_scratch_words(p->graph->sels[i]);
    }
    st = skim_vk_buffer_create(vb, &vp->indirect, ind_end,
                               VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                               VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT, false, "indirect");
    for (int k = 0; st == SKIM_OK && k < vp->n_ind; k++) {
        const skim_vk_indirect *e = &vp->ind[k];
        uint32_t w[8] = {(uint32_t)e->sel, e->mul, e->div, e->dim, e->xyz[0], e->xyz[1],
                         e->xyz[2], e->src};
        st = skim_vk_upload(vb, &vp->indirect, 32u * (VkDeviceSize)k, w, sizeof w);
    }
    if (st == SKIM_OK) {
        st = skim_vk_fill(vb, &vp->indirect, sc_begin, ind_end - sc_begin, 0);
    }
    if (st != SKIM_OK) {
        return PFAIL_BE(p, st);
    }
    /* The work goes into a secondary command buffer, recorded once; the plan's primary
     * only executes it, and an engine's own primary can execute it too
     * (skim_vulkan_plan_record). */
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = vb->pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_SECONDARY;
    ai.commandBufferCount = 1;
    res = vb->d.vkAllocateCommandBuffers(vb->dev, &ai, &vp->cmd);
    if (res == VK_SUCCESS) {
        ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        res = vb->d.vkAllocateCommandBuffers(vb->dev, &ai, &vp->primary);
    }
    if (res != VK_SUCCESS) {
        return PFAIL(p, skim_vk_status(res), "vulkan: command buffer: %s", skim_vk_result_str(res));
    }
    VkCommandBufferInheritanceInfo inh = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_INHERITANCE_INFO};
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.pInheritanceInfo = &inh;
    skim_vk_begin(vb, vp->cmd, &bi);
    /* What earlier runs, uploads and reads did is finished before this run touches it
     * (the host's writes are made visible by the submission). */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    vb->d.vkCmdPipelineBarrier(vp->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                               VK_PIPELINE_STAGE_TRANSFER_BIT,
                               VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    r.pass = 1;
    st = skim_vk_record_pass(&r);
    if (vb->guard == 2) {
        skim_vk_guard_record_stray(p);
    }
    record_readback(p);
    res = vb->d.vkEndCommandBuffer(vp->cmd);
    if (res == VK_SUCCESS) {
        VkCommandBufferBeginInfo pb = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        skim_vk_begin(vb, vp->primary, &pb);
        vb->d.vkCmdExecuteCommands(vp->primary, 1, &vp->cmd);
        res = vb->d.vkEndCommandBuffer(vp->primary);
    }
    if (st == SKIM_OK && res != VK_SUCCESS) {
        st = PFAIL(p, skim_vk_status(res), "vulkan: recording: %s", skim_vk_result_str(res));
    }
    return st;
}

static skim_status plan_create(skim_backend *be, skim_plan *p);

/* Plan creation and destruction hold the backend's lock: the command pool, pipelines made
 * on first use and the staging area are the backend's. */
skim_status skim_vk_plan_create(skim_backend *be, skim_plan *p) {
    skim_vk_backend *vb = be->impl;
    skim_vk_lock(vb);
    skim_status st = plan_create(be, p);
    skim_vk_unlock(vb);
    return st;
}

static skim_status plan_create(skim_backend *be, skim_plan *p) {
    skim_vk_backend *vb = be->impl;
    if (p->mode != SKIM_MODE_SKIP) {
        return PFAIL(p, SKIM_ERR_UNSUPPORTED, "vulkan: plan mode MASKED_DENSE is the CPU "
                     "backend's reference; the Vulkan backend runs SKIP plans");
    }
    skim_vk_plan *vp = skim_calloc(&be->alloc, 1, sizeof *vp);
    if (!vp) {
        return PFAIL(p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    p->impl = vp;
    vp->gpu_resolve = vb->info.gpu_resolve;
    int64_t begins = vb->n_begins;
    skim_status st = make_buffers(p);
    if (st == SKIM_OK) st = record(p);
    if (st == SKIM_OK) {
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        VkResult res = vb->d.vkCreateFence(vb->dev, &fi, vb->vka, &vp->fence);
        if (res != VK_SUCCESS) {
            st = PFAIL(p, skim_vk_status(res), "vulkan: fence: %s", skim_vk_result_str(res));
        }
    }
    vp->plan_begins = vb->n_begins - begins; /* reported by the first run */
    return st;
}

void skim_vk_plan_destroy(skim_plan *p) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    if (!vp) {
        return;
    }
    skim_vk_lock(vb);
    if (vp->fence) vb->d.vkDestroyFence(vb->dev, vp->fence, vb->vka);
    if (vp->cmd) vb->d.vkFreeCommandBuffers(vb->dev, vb->pool, 1, &vp->cmd);
    if (vp->primary) vb->d.vkFreeCommandBuffers(vb->dev, vb->pool, 1, &vp->primary);
    if (vp->dpool) vb->d.vkDestroyDescriptorPool(vb->dev, vp->dpool, vb->vka);
    skim_vk_profile_destroy(p);
    /* vp->weights and vp->states are the store's. */
    skim_vk_blocks_destroy(vb, &vp->arena);
    skim_vk_buffer *bufs[] = {&vp->inputs, &vp->params, &vp->indirect, &vp->dummy,
                              &vp->readback};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) {
        skim_vk_buffer_destroy(vb, bufs[k]);
    }
    skim_vk_unlock(vb);
    skim_free(&p->be->alloc, vp->w_off);
    skim_free(&p->be->alloc, vp->in_off);
    skim_free(&p->be->alloc, vp->st_off);
    skim_free(&p->be->alloc, vp->w_blk);
    skim_free(&p->be->alloc, vp->st_blk);
    skim_free(&p->be->alloc, vp->a_off);
    skim_free(&p->be->alloc, (void *)vp->alias);
    skim_free(&p->be->alloc, vp->a_start);
    skim_free(&p->be->alloc, vp->ind);
    skim_free(&p->be->alloc, vp->hl_off);
    skim_free(&p->be->alloc, vp->sc_off);
    skim_free(&p->be->alloc, vp->gate_by);
    skim_free(&p->be->alloc, vp);
    p->impl = NULL;
}

skim_status skim_vk_set_input(skim_plan *p, int slot, const void *data, size_t size) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    skim_status st = skim_vk_upload(vb, &vp->inputs, vp->in_off[slot], data, size);
    return st == SKIM_OK ? st : PFAIL_BE(p, st);
}

void skim_vk_write_params(skim_plan *p) {
    skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    uint32_t *w = vp->params.map;
    memset(w, 0, 4 * SKIM_VK_PARAM_BASE);
    for (int i = 0; i < g->n_params; i++) {
        w[SKIM_VK_PARAM_BASE + i] = (uint32_t)p->param_values[i];
    }
}

skim_status skim_vk_run_async(skim_plan *p) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    skim_vk_write_params(p);
    VkResult r = vb->d.vkResetFences(vb->dev, 1, &vp->fence);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &vp->primary;
    if (r == VK_SUCCESS) {
        skim_vk_lock(vb); /* the queue is the backend's */
        vp->submit_mark = vb->n_submits;
        vp->begin_mark = vb->n_begins;
        r = vb->d.vkQueueSubmit(vb->queue, 1, &si, vp->fence);
        vb->n_submits++;
        skim_vk_unlock(vb);
    }
    if (r != VK_SUCCESS) {
        return PFAIL(p, skim_vk_status(r), "vulkan: vkQueueSubmit: %s", skim_vk_result_str(r));
    }
    return SKIM_OK;
}

skim_status skim_vk_wait(skim_plan *p) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    if (vp->external_pending) {
        /* A run an engine submitted: only the engine knows when it ends, and its queue and
         * device are its own (never waited for here). skim_plan_destroy comes here too:
         * the engine must have waited for its submission before destroying the plan. */
        vp->external_pending = false;
        return PFAIL(p, SKIM_ERR_STATE, "vulkan: a run recorded into an engine's command "
                     "buffer ends with skim_vulkan_plan_complete, after the engine's own wait");
    }
    VkResult r = vb->d.vkWaitForFences(vb->dev, 1, &vp->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS) {
        return PFAIL(p, skim_vk_status(r), "vulkan: waiting for the run: %s", skim_vk_result_str(r));
    }
    return skim_vk_finish(p);
}

/* The workgroups the run's indirect dispatches launched: each command as select.comp and
 * indirect.comp wrote it (skim_indirect_grid), from the selection counts read back. */
static int64_t indirect_workgroups(const skim_plan *p) {
    const skim_vk_plan *vp = p->impl;
    int64_t n = 0;
    for (int k = 0; vp->gpu_resolve && k < vp->n_ind; k++) {
        const skim_vk_indirect *e = &vp->ind[k];
        const int32_t *w = p->sel_host[e->sel];
        int32_t c = w[0];
        uint32_t per = e->div ? e->div : 1u, xyz[3] = {e->xyz[0], e->xyz[1], e->xyz[2]};
        if (e->src == 1 || e->src == 3) {
            /* 1: the pair list's length, the sum of the groups' counts; 3: the sum of
             * their runs of at most div entries */
            const skim_tensor *sel = p->graph->sels[e->sel];
            uint32_t run = e->src == 3 ? per : 1u;
            c = 0;
            for (int64_t gi = 0; gi < sel->ne[1]; gi++) {
                int32_t cg = w[gi] < 0 ? 0 : w[gi] > sel->ne[0] ? (int32_t)sel->ne[0] : w[gi];
                c += (int32_t)(((uint32_t)cg + run - 1u) / run);
            }
            per = e->src == 3 ? 1u : per;
        }
        if (e->src == 2 && p->sel_host[e->gate][0] <= 0) {
            c = 0;
        }
        xyz[e->dim] = ((uint32_t)(c > 0 ? c : 0) * e->mul + per - 1u) / per;
        n += (int64_t)xyz[0] * xyz[1] * xyz[2];
    }
    return n;
}

skim_status skim_vk_finish(skim_plan *p) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    VkDeviceSize at = 0;
    for (int i = 0; i < g->n_sels; i++) {
        size_t n = skim_tensor_nbytes(g->sels[i]);
        skim_status st = skim_vk_download(vb, &vp->readback, at, p->sel_host[i], n);
        if (st != SKIM_OK) {
            return PFAIL_BE(p, st);
        }
        at += n;
    }
    /* The submissions of this run (a recorded run: the engine's, 0), before the guard
     * check's own downloads. */
    /* With plans of this backend running on other threads, their submissions in the
     * meantime count here too. */
    skim_vk_lock(vb);
    p->submits = vb->n_submits - vp->submit_mark;
    p->recordings = vb->n_begins - vp->begin_mark + (p->has_run ? 0 : vp->plan_begins);
    skim_vk_unlock(vb);
    p->workgroups = vp->wg_direct + indirect_workgroups(p);
    skim_status ps = skim_vk_profile_collect(p);
    if (ps != SKIM_OK) {
        return ps;
    }
    uint32_t flags = ((const uint32_t *)vp->params.map)[0];
    if (vb->guard) {
        skim_status st = skim_vk_guard_check(p);
        if (st != SKIM_OK) {
            return st;
        }
    }
    if (flags & SKIM_VK_FLAG_RANGE) {
        return PFAIL(p, SKIM_ERR_RANGE, "vulkan: a set_rows index was out of range (skipped)");
    }
    return SKIM_OK;
}

/* A strided view (never bounded: only reshapes of bounded tensors exist): the bytes it
 * spans are downloaded and its blocks gathered in order, as the CPU backend reads it. */
static skim_status read_strided(skim_plan *p, skim_vk_buffer *buf, VkDeviceSize off,
                                const skim_tensor *t, uint8_t *dst) {
    skim_vk_backend *vb = p->be->impl;
    size_t bb = skim_type_block_bytes(t->type);
    int64_t nblk = t->ne[0] / skim_type_block_size(t->type);
    size_t span = bb + (size_t)(nblk - 1) * t->nb[0];
    for (int i = 1; i < SKIM_MAX_DIMS; i++) {
        span += (size_t)(t->ne[i] - 1) * t->nb[i]; /* within its base: checked by skim_view */
    }
    uint8_t *tmp = skim_calloc(&p->be->alloc, span, 1);
    if (!tmp) {
        return PFAIL(p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    skim_status st = skim_vk_download(vb, buf, off, tmp, span);
    for (int64_t i3 = 0; st == SKIM_OK && i3 < t->ne[3]; i3++) {
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++) {
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++) {
                const uint8_t *r = tmp + (size_t)i1 * t->nb[1] + (size_t)i2 * t->nb[2] +
                                   (size_t)i3 * t->nb[3];
                for (int64_t b = 0; b < nblk; b++, dst += bb) {
                    memcpy(dst, r + (size_t)b * t->nb[0], bb);
                }
            }
        }
    }
    skim_free(&p->be->alloc, tmp);
    return st == SKIM_OK ? st : PFAIL_BE(p, st);
}

skim_status skim_vk_read(skim_plan *p, const skim_tensor *t, void *dst, size_t size) {
    skim_vk_backend *vb = p->be->impl;
    skim_vk_buffer *buf;
    VkDeviceSize off, end;
    if (!skim_vk_locate(p, t, &buf, &off, &end)) {
        return PFAIL(p, SKIM_ERR_STATE, "vulkan: %s has no storage", t->name);
    }
    if (!skim_tensor_is_contiguous(t)) {
        return read_strided(p, buf, off, t, dst);
    }
    skim_status st = skim_vk_download(vb, buf, off, dst, size);
    return st == SKIM_OK ? st : PFAIL_BE(p, st);
}

