/* vk_record.c - the plan's command buffer, recorded once: a pass that only counts
 * (dispatches, and the indirect dispatches of bounded tensors), then the recording pass
 * that writes every descriptor set once and records dispatches with a barrier after each.
 * After each selection producer, indirect.comp writes the VkDispatchIndirectCommand of the
 * dispatches consuming it (SHADER_WRITE -> INDIRECT_COMMAND_READ barrier). */
#include "vk-int.h"

#include <string.h>

#define PFAIL(p, st, ...) skim_plan_fail((p), st, __VA_ARGS__)

typedef skim_status (*skim_vk_op_fn)(skim_vk_rec *r, const skim_tensor *node);
static const skim_vk_op_fn op_fns[SKIM_OP_COUNT] = {
    NULL,
#define SKIM_OP(E, n, s, p, t) skim_vk_op_##n,
#include "ops.def"
#undef SKIM_OP
};

bool skim_vk_locate(const skim_plan *p, const skim_tensor *t, skim_vk_buffer **buf,
                    VkDeviceSize *off, VkDeviceSize *region_end) {
    const skim_vk_plan *vp = p->impl;
    const skim_graph *g = p->graph;
    const skim_tensor *base = skim_tensor_base(t);
    if (base->id >= g->n_ids) {
        return false;
    }
    const skim_tensor_mem *m = &g->mem[base->id];
    VkDeviceSize o;
    switch (m->kind) {
    case SKIM_MEM_ARENA:
        *buf = (skim_vk_buffer *)&vp->arena;
        o = vp->a_off ? vp->a_off[base->id] : m->offset;
        break;
    case SKIM_MEM_WEIGHT: *buf = (skim_vk_buffer *)&vp->weights; o = vp->w_off[m->slot]; break;
    case SKIM_MEM_INPUT: *buf = (skim_vk_buffer *)&vp->inputs; o = vp->in_off[m->slot]; break;
    case SKIM_MEM_STATE: *buf = (skim_vk_buffer *)&vp->states; o = vp->st_off[m->slot]; break;
    default: return false;
    }
    *region_end = o + skim_tensor_nbytes(base);
    *off = o + (t->view_src ? t->view_offs : 0);
    if (t->view_src && !t->sel_kind) {
        /* A view binds only the bytes it spans, so that a small view of a large state
         * (one layer of a KV cache) stays under maxStorageBufferRange. */
        VkDeviceSize blocks = (VkDeviceSize)(t->ne[0] / skim_type_block_size(t->type));
        VkDeviceSize span = (blocks - 1) * t->nb[0] + skim_type_block_bytes(t->type);
        for (int k = 1; k < SKIM_MAX_DIMS; k++) {
            span += (VkDeviceSize)(t->ne[k] - 1) * t->nb[k];
        }
        if (*off + span < *region_end) {
            *region_end = *off + span;
        }
    }
    return true;
}

/* Binding k of d: buffer, aligned offset, range; the remainder (in the tensor's units)
 * goes to pc.off[k] for k < 4 and must be zero for the others. */
static skim_status bind_info(skim_vk_rec *r, skim_vk_dispatch *d, int k, const skim_tensor *t,
                             VkDescriptorBufferInfo *bi) {
    skim_vk_buffer *buf;
    VkDeviceSize off, end;
    if (!skim_vk_locate(r->p, t, &buf, &off, &end)) {
        return PFAIL(r->p, SKIM_ERR_STATE, "vulkan: tensor %s (#%lld) has no storage", t->name,
                     (long long)t->id);
    }
    VkDeviceSize align = r->vb->props.limits.minStorageBufferOffsetAlignment;
    VkDeviceSize al = off - off % align, rem = off - al;
    size_t unit = t->sel_kind ? 4 : skim_vk_unit(t->type);
    if (end - al > r->vb->props.limits.maxStorageBufferRange) {
        return PFAIL(r->p, SKIM_ERR_TOO_LARGE, "vulkan: tensor %s (%s) spans %llu bytes, past "
                     "the device's maxStorageBufferRange of %u", t->name[0] ? t->name : "#",
                     skim_op_name(t->op), (unsigned long long)(end - al),
                     r->vb->props.limits.maxStorageBufferRange);
    }
    if (k < 4) {
        d->pc.off[k] += (uint32_t)(rem / unit);
    } else if (rem != 0) {
        return PFAIL(r->p, SKIM_ERR_UNSUPPORTED, "vulkan: %s: source %d is a view at an offset "
                     "the device cannot bind (use cont)", skim_op_name(t->op), k - 1);
    }
    /* Whole words: shaders read F16 and block data as uint words (buffers are padded). */
    VkDeviceSize range = (end - al + 15) & ~(VkDeviceSize)15;
    bi->buffer = buf->buf;
    bi->offset = al;
    bi->range = range < buf->size - al ? range : buf->size - al;
    return SKIM_OK;
}

static void raw_info(const skim_vk_buffer *b, VkDeviceSize off, VkDescriptorBufferInfo *bi) {
    bi->buffer = b->buf;
    bi->offset = off;
    bi->range = b->size - off;
}

static void barrier(skim_vk_rec *r) {
    VkMemoryBarrier mb = {VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                       VK_ACCESS_INDIRECT_COMMAND_READ_BIT;
    r->vb->d.vkCmdPipelineBarrier(r->vp->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                  VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                                  VK_PIPELINE_STAGE_DRAW_INDIRECT_BIT, 0, 1, &mb, 0, NULL, 0,
                                  NULL);
}

static skim_status write_set(skim_vk_rec *r, skim_vk_dispatch *d, const skim_vk_buffer *raw[3],
                             VkDescriptorSet *out) {
    skim_vk_backend *vb = r->vb;
    skim_vk_plan *vp = r->vp;
    VkDescriptorSetAllocateInfo ai = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = vp->dpool;
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &vb->dsl;
    VkResult res = vb->d.vkAllocateDescriptorSets(vb->dev, &ai, out);
    if (res != VK_SUCCESS) {
        return PFAIL(r->p, skim_vk_status(res), "vulkan: descriptor set: %s", skim_vk_result_str(res));
    }
    VkDescriptorBufferInfo bi[SKIM_VK_N_BINDINGS];
    VkWriteDescriptorSet w[SKIM_VK_N_BINDINGS];
    for (int k = 0; k < SKIM_VK_N_BINDINGS; k++) {
        const skim_tensor *t = k < 9 ? d->bind[k] : (k == SKIM_VK_B_BOUND ? d->bind_bound : NULL);
        skim_status st = SKIM_OK;
        if (k < 3 && raw && raw[k]) {
            raw_info(raw[k], 0, &bi[k]);
        } else if (k == SKIM_VK_B_PARAMS) {
            raw_info(&vp->params, 0, &bi[k]);
        } else if (t) {
            st = bind_info(r, d, k, t, &bi[k]);
        } else {
            raw_info(&vp->dummy, 0, &bi[k]);
        }
        if (st != SKIM_OK) {
            return st;
        }
        memset(&w[k], 0, sizeof w[k]);
        w[k].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
        w[k].dstSet = *out;
        w[k].dstBinding = (uint32_t)k;
        w[k].descriptorCount = 1;
        w[k].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        w[k].pBufferInfo = &bi[k];
    }
    vb->d.vkUpdateDescriptorSets(vb->dev, SKIM_VK_N_BINDINGS, w, 0, NULL);
    return SKIM_OK;
}

/* A grid past the device's maxComputeWorkGroupCount is undefined behaviour (wrong numbers
 * at best), so the plan is refused instead, in every build: the check is one compare per
 * dispatch, once per plan. An indirect dispatch's grid is never larger than its dense one. */
static skim_status grid_ok(skim_vk_rec *r, const skim_vk_dispatch *d) {
    const uint32_t *lim = r->vb->props.limits.maxComputeWorkGroupCount;
    if (d->grid[0] <= lim[0] && d->grid[1] <= lim[1] && d->grid[2] <= lim[2]) {
        return SKIM_OK;
    }
    const skim_tensor *t = d->bind[0];
    return PFAIL(r->p, SKIM_ERR_TOO_LARGE, "vulkan: %s%s%s: a grid of %u x %u x %u workgroups "
                 "passes the device's limit of %u x %u x %u", t ? skim_op_name(t->op) : "dispatch",
                 t && t->name[0] ? " " : "", t ? t->name : "", d->grid[0], d->grid[1], d->grid[2],
                 lim[0], lim[1], lim[2]);
}

static skim_status emit_raw(skim_vk_rec *r, const skim_vk_dispatch *din, const skim_vk_buffer *raw[3]) {
    skim_vk_plan *vp = r->vp;
    bool indirect = din->bounded_sel >= 0 && vp->gpu_resolve;
    if (r->pass == 0) {
        skim_status gs = grid_ok(r, din);
        if (gs != SKIM_OK) {
            return gs;
        }
        vp->n_dispatch++;
        if (indirect) {
            if (vp->n_ind == vp->cap_ind) {
                int cap = vp->cap_ind ? vp->cap_ind * 2 : 64;
                skim_vk_indirect *n = skim_calloc(&r->p->be->alloc, (size_t)cap, sizeof *n);
                if (!n) {
                    return PFAIL(r->p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
                }
                if (vp->ind) memcpy(n, vp->ind, (size_t)vp->n_ind * sizeof *n);
                skim_free(&r->p->be->alloc, vp->ind);
                vp->ind = n;
                vp->cap_ind = cap;
            }
            skim_vk_indirect *e = &vp->ind[vp->n_ind++];
            e->sel = din->bounded_sel;
            e->mul = din->bmul;
            e->div = din->bdiv;
            e->dim = din->bdim;
            memcpy(e->xyz, din->grid, sizeof e->xyz);
        }
        return SKIM_OK;
    }
    skim_vk_dispatch d = *din;
    VkDescriptorSet set;
    VkPipeline pipe;
    skim_status st = write_set(r, &d, raw, &set);
    if (st == SKIM_OK && d.pipe) pipe = d.pipe;
    else if (st == SKIM_OK) st = skim_vk_pipeline_get(r->vb, d.shader, &pipe);
    if (st != SKIM_OK) {
        if (!r->p->msg[0]) PFAIL(r->p, st, "%s", r->vb->be->msg);
        return st;
    }
    VkCommandBuffer cb = vp->cmd;
    r->vb->d.vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    r->vb->d.vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, r->vb->layout, 0, 1,
                                     &set, 0, NULL);
    r->vb->d.vkCmdPushConstants(cb, r->vb->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof d.pc,
                                &d.pc);
    if (indirect) {
        VkDeviceSize at = vp->ind_cmd_off + (VkDeviceSize)vp->next_ind++ * 12u;
        r->vb->d.vkCmdDispatchIndirect(cb, vp->indirect.buf, at);
    } else if (d.grid[0] && d.grid[1] && d.grid[2]) {
        r->vb->d.vkCmdDispatch(cb, d.grid[0], d.grid[1], d.grid[2]);
    }
    barrier(r);
    return SKIM_OK;
}

skim_status skim_vk_emit(skim_vk_rec *r, const skim_vk_dispatch *d) {
    return emit_raw(r, d, NULL);
}

/* After selection slot `sel` is produced: fills its consumers' indirect commands. */
static skim_status emit_fill(skim_vk_rec *r, const skim_tensor *sel, int slot) {
    skim_vk_plan *vp = r->vp;
    if (!vp->gpu_resolve || (r->pass == 1 && vp->n_ind == 0)) {
        return SKIM_OK;
    }
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, SKIM_VK_SHADER_INDIRECT, NULL);
    d.pc.off[0] = (uint32_t)(vp->ind_cmd_off / 4);
    d.pc.i[0] = vp->n_ind;
    d.pc.i[1] = slot;
    d.bind[2] = sel;
    d.grid[0] = (uint32_t)(vp->n_ind + 63) / 64;
    const skim_vk_buffer *raw[3] = {&vp->indirect, &vp->indirect, NULL};
    return emit_raw(r, &d, raw);
}

skim_status skim_vk_record_pass(skim_vk_rec *r) {
    const skim_graph *g = r->p->graph;
    for (int i = 0; i < g->n_nodes; i++) {
        const skim_tensor *t = g->nodes[i];
        if (t->kind != SKIM_KIND_NODE) {
            continue;
        }
        skim_status st = op_fns[t->op](r, t);
        if (st == SKIM_OK && t->sel_kind) {
            st = emit_fill(r, t, skim_graph_slot(g, t));
        }
        if (st != SKIM_OK) {
            return st;
        }
    }
    return SKIM_OK;
}
